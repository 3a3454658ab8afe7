// Elementwise f32 kernels for the CPU (elementwise.c): the TypeScript twins are addCpu
// (src/compute/ops/elementwise.ts), reluCpu / reluBackwardCpu (activations.ts), sumColumnsCpu
// (reductions.ts) and firedCounts' count (src/sae/saeCommon.ts).
#ifndef SAELAB_ELEMENTWISE_H
#define SAELAB_ELEMENTWISE_H
#include <stdint.h>

// out = a + b over n floats (out may be a or b), in contiguous pieces over `threads`.
void add_arrays(const float *a, const float *b, int64_t n, float *out, int threads);
// y = x > 0 ? x : 0 (NaN → 0, as reluCpu), n floats, pieces over threads.
void relu_forward(const float *x, int64_t n, float *y, int threads);

// dx = x > 0 ? dy : 0 (reluBackwardCpu), n floats, pieces over threads.
void relu_backward(const float *x, const float *dy, int64_t n, float *dx, int threads);

// out[c] = #{r : x[r, c] > 0} for x [rows, cols] (exact integer counts as floats), rows over threads.
void count_positive_columns(const float *x, int64_t rows, int64_t cols, float *out, int threads);
// out[c] = Σ_r x[r, c] summed in double in row order, then rounded to float (sumColumnsCpu's
// order exactly); columns over threads.
void sum_columns(const float *x, int64_t rows, int64_t cols, float *out, int threads);
#endif
