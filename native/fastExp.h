// exp for float kernels (klRows.c, activations.c, attentionRows.c), scalar and 8 lanes at a time.
// Error ≤ 2 ulp against expf on [−87, 88]; below −87.3 it returns 0 (as expf and WGSL do), above 88
// e^88 ≈ 1.65e38. The lane version does the same float operations in the same order as the scalar
// one (no FMA contraction: -ffp-contract=off), so the two give the same bits and a loop's tail may
// use either. Loops call fast_exp8 explicitly: GCC 12 leaves a loop over the scalar version with
// its clamps as branches (not vectorised) on AVX2/AVX-512 targets and barely vectorised on SSE2
// (2.4 ns an element against 0.3 for fast_exp8, BENCHMARKS.md).
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

// Hot loops over fast_exp8 are compiled twice on x86-64 with glibc (an ifunc picks at load time):
// for AVX2 (one 8-lane register, 0.6 ns an element here) and for the SSE2 baseline. FMA stays off in
// both clones, so they give the same bits.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__)
#define SAELAB_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SAELAB_VECTOR_CLONES
#endif

// 8 floats as one GCC vector: SSE2 runs it as two 4-lane halves, AVX2/AVX-512 targets as one register.
typedef float f32x8 __attribute__((vector_size(32)));
typedef int32_t i32x8 __attribute__((vector_size(32)));

static inline f32x8 f32x8_load(const float *p) {
  f32x8 v;
  memcpy(&v, p, sizeof v);
  return v;
}

static inline void f32x8_store(float *p, f32x8 v) { memcpy(p, &v, sizeof v); }

static inline f32x8 f32x8_splat(float x) { return (f32x8){x, x, x, x, x, x, x, x}; }

// Lane-wise m ? a : b, m from a vector comparison (all ones or all zeros per lane).
static inline f32x8 f32x8_select(i32x8 m, f32x8 a, f32x8 b) {
  return (f32x8)(((i32x8)a & m) | ((i32x8)b & ~m));
}

// fast_exp on 8 lanes: the same clamps, rounding and polynomial, as lane selects.
static inline f32x8 fast_exp8(f32x8 x) {
  const i32x8 underflow = x < f32x8_splat(-87.3f);
  x = f32x8_select(underflow, f32x8_splat(-87.3f), x);
  x = f32x8_select(x > f32x8_splat(88.0f), f32x8_splat(88.0f), x);
  const f32x8 t = x * 1.44269504088896341f;
  const f32x8 half = f32x8_select(t >= f32x8_splat(0.0f), f32x8_splat(0.5f), f32x8_splat(-0.5f));
  const i32x8 ni = __builtin_convertvector(t + half, i32x8); // truncates, as the scalar cast does
  const f32x8 n = __builtin_convertvector(ni, f32x8);
  f32x8 r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  f32x8 p = f32x8_splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const f32x8 scale = (f32x8)((ni + 127) << 23);
  return f32x8_select(underflow, f32x8_splat(0.0f), p * scale);
}

#endif
