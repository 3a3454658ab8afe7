// exp for float kernels (klRows.c, activations.c, attentionRows.c), scalar and 8 lanes at a time.
// Error ≤ 2 ulp against expf on [−87, 88]; below −87.3 it returns 0 (as expf and WGSL do), above 88
// e^88 ≈ 1.65e38. The scalar fast_exp is fast_exp8's lane 0, so a loop's tail gives the bits of its
// lanes (no FMA contraction anywhere: -ffp-contract=off). Loops call fast_exp8 on 8 elements at a
// time: GCC 12 left a loop over a scalar exp with clamps as branches (not vectorised) on AVX2/AVX-512
// targets and barely vectorised on SSE2 (2.4 ns an element against 0.6 now, BENCHMARKS.md).
#ifndef SAELAB_FAST_EXP_H
#define SAELAB_FAST_EXP_H
#include <stdint.h>
#include <string.h>

// Hot loops over fast_exp8 are compiled twice on x86-64 with glibc (an ifunc picks at load time):
// for AVX2 (one 8-lane register, 0.6 ns an element here) and for the SSE2 baseline. FMA stays off in
// both clones, so they give the same bits.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__)
#define SAELAB_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SAELAB_VECTOR_CLONES
#endif

// Every helper that takes or returns a vector is inlined into its caller, so it is compiled for the
// caller's clone: a call between an AVX2 clone and a baseline helper would pass 32-byte vectors
// under two different ABIs.
#define SAELAB_VECTOR_INLINE static inline __attribute__((always_inline))

// 8 floats as one GCC vector: SSE2 runs it as two 4-lane halves, AVX2/AVX-512 targets as one register.
typedef float f32x8 __attribute__((vector_size(32)));
typedef int32_t i32x8 __attribute__((vector_size(32)));

SAELAB_VECTOR_INLINE f32x8 f32x8_load(const float *p) {
  f32x8 v;
  memcpy(&v, p, sizeof v);
  return v;
}

SAELAB_VECTOR_INLINE void f32x8_store(float *p, f32x8 v) { memcpy(p, &v, sizeof v); }

SAELAB_VECTOR_INLINE f32x8 f32x8_splat(float x) { return (f32x8){x, x, x, x, x, x, x, x}; }

// Lane-wise m ? a : b, m from a vector comparison (all ones or all zeros per lane).
SAELAB_VECTOR_INLINE f32x8 f32x8_select(i32x8 m, f32x8 a, f32x8 b) {
  return (f32x8)(((i32x8)a & m) | ((i32x8)b & ~m));
}

// exp(x) for x ≤ ~88 on 8 lanes: 2^n · e^r with n = round(x·log2 e), |r| ≤ ln2/2, a degree-6
// polynomial for e^r; the clamps and the rounding as lane selects.
SAELAB_VECTOR_INLINE f32x8 fast_exp8(f32x8 x) {
  const i32x8 underflow = x < f32x8_splat(-87.3f);
  x = f32x8_select(underflow, f32x8_splat(-87.3f), x);
  x = f32x8_select(x > f32x8_splat(88.0f), f32x8_splat(88.0f), x);
  const f32x8 t = x * 1.44269504088896341f;
  const f32x8 half = f32x8_select(t >= f32x8_splat(0.0f), f32x8_splat(0.5f), f32x8_splat(-0.5f));
  const i32x8 ni = __builtin_convertvector(t + half, i32x8); // t ± ½ truncated: round half away from 0
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

// exp of one float: fast_exp8's lane 0, so a loop's scalar tail gives its lanes' bits by construction.
static inline float fast_exp(float x) { return fast_exp8(f32x8_splat(x))[0]; }

// exp in double on 4 lanes, for the eval's logit losses (logitLosses.c), whose TypeScript twin uses
// Math.exp: 2^n · e^r, n = round(x·log2 e) by the 1.5·2^52 shift, r = x − n·ln2 in two parts
// (fdlibm's split), e^r by its Taylor series to r^13 (truncation < 2.4e-16 relative at |r| ≤ ln2/2);
// ≤ 2 ulp on [−708, 0]. Below −708 it returns 0 (e^−708 ≈ 3e−308, nothing next to a softmax sum
// ≥ 1); the callers pass x ≤ ~0.
typedef double f64x4 __attribute__((vector_size(32)));
typedef int64_t i64x4 __attribute__((vector_size(32)));

SAELAB_VECTOR_INLINE f64x4 f64x4_splat(double x) { return (f64x4){x, x, x, x}; }

SAELAB_VECTOR_INLINE f64x4 exp_f64x4(f64x4 x) {
  const i64x4 underflow = x < f64x4_splat(-708.0);
  x = (f64x4)(((i64x4)x & ~underflow) | ((i64x4)f64x4_splat(-708.0) & underflow));
  const f64x4 shift = f64x4_splat(6755399441055744.0); // 1.5·2^52: adding it rounds to an integer
  const f64x4 k = x * 1.4426950408889634 + shift;
  const f64x4 n = k - shift;
  const f64x4 r = (x - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
  f64x4 p = f64x4_splat(1.0 / 6227020800.0); // 1/13!
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  // n sits in k's low mantissa bits (two's complement): 2^n = (n + 1023) << 52.
  const i64x4 ni = (i64x4)k - (i64x4)shift;
  const f64x4 scale = (f64x4)((ni + 1023) << 52);
  return (f64x4)((i64x4)(p * scale) & ~underflow);
}

#endif
