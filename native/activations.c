// gelu_new on the CPU, vectorised (src/compute/ops/activations.ts holds the TypeScript twin, the
// specification, and the WGSL kernel this follows): 0.5·(1 + tanh u) = σ(2u), so y = x·σ(2u) with
// u = √(2/π)(x + 0.044715x³), x clamped to ±20 inside u; σ from e = e^−|z| so nothing overflows.
// Long arrays are cut into contiguous pieces over OpenBLAS's thread count (elementwise: any cut
// gives the same bits).

#include "activations.h"
#include "fastExp.h"
#include "parallelFor.h"

#if defined(__GNUC__)
extern int openblas_get_num_threads(void) __attribute__((weak));
#endif

#define GELU_C 0.7978845608028654f
#define GELU_A 0.044715f

static inline float clamp20(float x) {
  x = x < -20.0f ? -20.0f : x;
  return x > 20.0f ? 20.0f : x;
}

// One element of the forward (the scalar tail; gelu_forward_range's lanes do the same operations).
static inline float gelu_forward_one(float v) {
  const float xc = clamp20(v);
  const float z = 2.0f * GELU_C * (xc + GELU_A * xc * xc * xc);
  const float az = z < 0.0f ? -z : z;
  const float e = fast_exp(-az);
  return v * ((z >= 0.0f ? 1.0f : e) / (1.0f + e));
}

static inline float gelu_backward_one(float v, float dy) {
  const float xc = clamp20(v);
  const float z = 2.0f * GELU_C * (xc + GELU_A * xc * xc * xc);
  const float du = GELU_C * (1.0f + 3.0f * GELU_A * xc * xc);
  const float az = z < 0.0f ? -z : z;
  const float e = fast_exp(-az);
  const float sig = (z >= 0.0f ? 1.0f : e) / (1.0f + e);
  const float dsig = e / ((1.0f + e) * (1.0f + e));
  return dy * (sig + v * (2.0f * dsig * du));
}

// clamp20 on 8 lanes.
SAELAB_VECTOR_INLINE f32x8 clamp20x8(f32x8 x) {
  x = f32x8_select(x < f32x8_splat(-20.0f), f32x8_splat(-20.0f), x);
  return f32x8_select(x > f32x8_splat(20.0f), f32x8_splat(20.0f), x);
}

// What forward and backward share on 8 lanes: xc = clamp20(v), z = 2u, e = e^−|z|, σ(z) = sig.
typedef struct {
  f32x8 xc, e, sig;
} gelu_lanes_t;

SAELAB_VECTOR_INLINE gelu_lanes_t gelu_lanes(f32x8 v) {
  const f32x8 zero = f32x8_splat(0.0f);
  gelu_lanes_t g;
  g.xc = clamp20x8(v);
  const f32x8 z = 2.0f * GELU_C * (g.xc + GELU_A * g.xc * g.xc * g.xc);
  g.e = fast_exp8(-f32x8_select(z < zero, -z, z));
  g.sig = f32x8_select(z >= zero, f32x8_splat(1.0f), g.e) / (1.0f + g.e);
  return g;
}

SAELAB_VECTOR_CLONES
static void gelu_forward_range(const float *x, int64_t n, float *y) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const f32x8 v = f32x8_load(x + i);
    f32x8_store(y + i, v * gelu_lanes(v).sig);
  }
  for (; i < n; i++) y[i] = gelu_forward_one(x[i]);
}

SAELAB_VECTOR_CLONES
static void gelu_backward_range(const float *x, const float *dy, int64_t n, float *dx) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const f32x8 v = f32x8_load(x + i);
    const gelu_lanes_t g = gelu_lanes(v);
    const f32x8 du = GELU_C * (1.0f + 3.0f * GELU_A * g.xc * g.xc);
    const f32x8 dsig = g.e / ((1.0f + g.e) * (1.0f + g.e));
    f32x8_store(dx + i, f32x8_load(dy + i) * (g.sig + v * (2.0f * dsig * du)));
  }
  for (; i < n; i++) dx[i] = gelu_backward_one(x[i], dy[i]);
}

typedef struct {
  const float *x, *dy;
  float *out;
} job_t;

static void run_forward(void *ctx, int64_t i0, int64_t i1, int tid) {
  (void)tid;
  const job_t *j = ctx;
  gelu_forward_range(j->x + i0, i1 - i0, j->out + i0);
}

static void run_backward(void *ctx, int64_t i0, int64_t i1, int tid) {
  (void)tid;
  const job_t *j = ctx;
  gelu_backward_range(j->x + i0, j->dy + i0, i1 - i0, j->out + i0);
}

// [0, n) in contiguous pieces over OpenBLAS's thread count (the calling thread takes the first).
static void parallel(const float *x, const float *dy, float *out, int64_t n, void (*fn)(void *, int64_t, int64_t, int)) {
  int threads = 1;
#if defined(__GNUC__)
  if (openblas_get_num_threads) threads = openblas_get_num_threads();
#endif
  job_t j = {x, dy, out};
  parallel_for(&j, n, pf_piece_threads(threads, n), fn);
}

void gelu_forward(const float *x, int64_t n, float *y) { parallel(x, NULL, y, n, run_forward); }

void gelu_backward(const float *x, const float *dy, int64_t n, float *dx) { parallel(x, dy, dx, n, run_backward); }
