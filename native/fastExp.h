// A vectorisable exp for float kernels (klRows.c, activations.c): with -fno-trapping-math the
// compiler turns its clamps into selects and vectorises loops that call it. Error ≤ 2 ulp against
// expf on [−87, 88]; below −87.3 it returns 0 (as expf and WGSL do), above 88 e^88 ≈ 1.65e38.
#ifndef SAELAB_FAST_EXP_H
#define SAELAB_FAST_EXP_H
#include <stdint.h>
#include <string.h>

// exp(x) for x ≤ ~88: 2^n · e^r with n = round(x·log2 e), |r| ≤ ln2/2, degree-6 polynomial for e^r.
static inline float fast_exp(float x) {
  const int underflow = x < -87.3f; // e^x below the smallest normal float: 0, as expf and WGSL give
  if (x < -87.3f) x = -87.3f;
  if (x > 88.0f) x = 88.0f; // n ≤ 127: 2^n stays a normal float
  const float t = x * 1.44269504088896341f;
  const int32_t ni = (int32_t)(t + (t >= 0.0f ? 0.5f : -0.5f)); // round to nearest (a truncating convert vectorises)
  const float n = (float)ni;
  float r = x - n * 0.693359375f; // ln 2 split in two for an exact product with n
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits = (ni + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return underflow ? 0.0f : p * scale;
}

#endif
