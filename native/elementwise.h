// Elementwise f32 kernels for the CPU forward (elementwise.c): the TypeScript twins are in
// src/compute/ops/elementwise.ts.
#ifndef SAELAB_ELEMENTWISE_H
#define SAELAB_ELEMENTWISE_H
#include <stdint.h>

// out = a + b over n floats (out may be a or b), in contiguous pieces over `threads`.
void add_arrays(const float *a, const float *b, int64_t n, float *out, int threads);
#endif
