// AdamW in place over float arrays, threaded (src/compute/ops/adamw.ts's adamwCpu is the twin): the
// same f64 arithmetic in the same order, each result rounded to f32 where the twin stores it, so the
// results equal the twin's bit for bit whatever the thread count.
#ifndef SAELAB_ADAMW_H
#define SAELAB_ADAMW_H
#include <stdint.h>

void adamw_update(float *param, const float *grad, float *m, float *v, int64_t n, double beta1, double beta2, double eps,
                  double decay, double stepSize, double bc2Sqrt, int threads);
#endif
