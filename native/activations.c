// gelu_new on the CPU, vectorised (src/compute/ops/activations.ts holds the TypeScript twin, the
// specification, and the WGSL kernel this follows): 0.5·(1 + tanh u) = σ(2u), so y = x·σ(2u) with
// u = √(2/π)(x + 0.044715x³), x clamped to ±20 inside u; σ from e = e^−|z| so nothing overflows.

#include "activations.h"
#include "fastExp.h"

#define GELU_C 0.7978845608028654f
#define GELU_A 0.044715f

static inline float clamp20(float x) {
  x = x < -20.0f ? -20.0f : x;
  return x > 20.0f ? 20.0f : x;
}

void gelu_forward(const float *x, int64_t n, float *y) {
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    const float xc = clamp20(v);
    const float z = 2.0f * GELU_C * (xc + GELU_A * xc * xc * xc);
    const float az = z < 0.0f ? -z : z;
    const float e = fast_exp(-az);
    y[i] = v * ((z >= 0.0f ? 1.0f : e) / (1.0f + e));
  }
}

void gelu_backward(const float *x, const float *dy, int64_t n, float *dx) {
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    const float xc = clamp20(v);
    const float z = 2.0f * GELU_C * (xc + GELU_A * xc * xc * xc);
    const float du = GELU_C * (1.0f + 3.0f * GELU_A * xc * xc);
    const float az = z < 0.0f ? -z : z;
    const float e = fast_exp(-az);
    const float sig = (z >= 0.0f ? 1.0f : e) / (1.0f + e);
    const float dsig = e / ((1.0f + e) * (1.0f + e));
    dx[i] = dy[i] * (sig + v * (2.0f * dsig * du));
  }
}
