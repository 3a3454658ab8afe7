// LayerNorm forward over the last dimension on the CPU (layerNorm.c); src/compute/ops/layerNorm.ts
// holds the TypeScript twin (the specification).
#ifndef SAELAB_LAYER_NORM_H
#define SAELAB_LAYER_NORM_H
#include <stdint.h>

// y = (x − mean)·rstd·gamma + beta per row of x [rows, d]; mean and rstd [rows] (biased variance,
// two passes); sums in fixed double lanes, so any thread split gives the same bits.
void layer_norm_forward(const float *x, const float *gamma, const float *beta, int64_t rows, int64_t d, float eps, float *y,
                        float *mean, float *rstd, int threads);
#endif
