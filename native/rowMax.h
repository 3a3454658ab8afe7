// The max of a row of floats in 8 fixed lanes (the compiler vectorises it), for the softmax rows of
// klRows.c, logitLosses.c and attentionRows.c. Max is exact, so any lane order gives the same value;
// NaN never wins a comparison, as in the TypeScript twins' `x > m ? x : m`.
#ifndef SAELAB_ROW_MAX_H
#define SAELAB_ROW_MAX_H
#include <math.h>
#include <stdint.h>

static inline float row_max_f32(const float *x, int64_t n) {
  float m[8];
  for (int l = 0; l < 8; l++) m[l] = -INFINITY;
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int l = 0; l < 8; l++) m[l] = x[j + l] > m[l] ? x[j + l] : m[l];
  float out = -INFINITY;
  for (int l = 0; l < 8; l++) out = m[l] > out ? m[l] : out;
  for (; j < n; j++) out = x[j] > out ? x[j] : out;
  return out;
}
#endif
