// CE and KL rows for `saelab eval` (see logitLosses.h). Sums run in 4 fixed double lanes combined in
// a fixed order, so the bits depend on neither the SIMD width nor the thread count; exp is
// fastExp.h's exp_f64x4 (≤ 2 ulp), where the TypeScript twin calls Math.exp and sums in one lane:
// the two agree to ~1e-15 relative.

#include "logitLosses.h"
#include "fastExp.h"
#include "parallelFor.h"
#include "rowMax.h"
#include <math.h>
#include <string.h>

typedef float f32x4 __attribute__((vector_size(16)));

// 4 floats widened to a double vector.
SAELAB_VECTOR_INLINE f64x4 load_f32x4_as_f64(const float *x) {
  f32x4 v;
  memcpy(&v, x, sizeof v);
  return __builtin_convertvector(v, f64x4);
}

SAELAB_VECTOR_INLINE double lane_sum(f64x4 v) { return (v[0] + v[1]) + (v[2] + v[3]); }

// One element through the lane code (the tail of a row): the same operations on lane 0.
SAELAB_VECTOR_INLINE double exp_one(double x) { return exp_f64x4(f64x4_splat(x))[0]; }

// max-subtracted logsumexp of a row in double (rowLogSumExp's twin).
SAELAB_VECTOR_CLONES
static double row_log_sum_exp(const float *z, int64_t V) {
  const double m = (double)row_max_f32(z, V);
  f64x4 acc = f64x4_splat(0.0);
  int64_t v = 0;
  for (; v + 4 <= V; v += 4) acc += exp_f64x4(load_f32x4_as_f64(z + v) - m);
  double s = lane_sum(acc);
  for (; v < V; v++) s += exp_one((double)z[v] - m);
  return m + log(s);
}

typedef struct {
  const float *z, *p_in, *q;
  float *p;
  const double *a_in, *s_in, *lse_in;
  double *lse, *a, *s, *ce, *kl;
  const uint8_t *rows;
  const int32_t *targets;
  int64_t V;
} job_t;

SAELAB_VECTOR_CLONES
static void clean_range(void *ctx, int64_t r0, int64_t r1, int tid) {
  (void)tid;
  const job_t *j = ctx;
  const int64_t V = j->V;
  for (int64_t r = r0; r < r1; r++) {
    if (!j->rows[r]) continue;
    const float *z = j->z + r * V;
    float *p = j->p + r * V;
    const double lse = row_log_sum_exp(z, V);
    f64x4 a = f64x4_splat(0.0), s = f64x4_splat(0.0);
    int64_t v = 0;
    for (; v + 4 <= V; v += 4) {
      const f64x4 zv = load_f32x4_as_f64(z + v);
      const f64x4 e = exp_f64x4(zv - lse);
      // Rounded to float, as the stored p is. (Not {(double)(float)e[0], …}: GCC 12 drops that
      // rounding when it builds the vector for AVX2.)
      const f64x4 pv = __builtin_convertvector(__builtin_convertvector(e, f32x4), f64x4);
      for (int l = 0; l < 4; l++) p[v + l] = (float)pv[l];
      a += pv * zv;
      s += pv;
    }
    double as = lane_sum(a), ss = lane_sum(s);
    for (; v < V; v++) {
      const double pv = (double)(float)exp_one((double)z[v] - lse);
      p[v] = (float)pv;
      as += pv * (double)z[v];
      ss += pv;
    }
    j->lse[r] = lse;
    j->a[r] = as;
    j->s[r] = ss;
  }
}

SAELAB_VECTOR_CLONES
static void compare_range(void *ctx, int64_t r0, int64_t r1, int tid) {
  (void)tid;
  const job_t *j = ctx;
  const int64_t V = j->V;
  for (int64_t r = r0; r < r1; r++) {
    j->ce[r] = 0;
    j->kl[r] = 0;
    if (!j->rows[r]) continue;
    const float *q = j->q + r * V;
    const float *p = j->p_in + r * V;
    const double lseQ = row_log_sum_exp(q, V);
    f64x4 acc = f64x4_splat(0.0);
    int64_t v = 0;
    for (; v + 4 <= V; v += 4) acc += load_f32x4_as_f64(p + v) * load_f32x4_as_f64(q + v);
    double pq = lane_sum(acc);
    for (; v < V; v++) pq += (double)p[v] * (double)q[v];
    j->kl[r] = j->a_in[r] - pq + j->s_in[r] * (lseQ - j->lse_in[r]);
    if (j->targets[r] >= 0) j->ce[r] = lseQ - (double)q[j->targets[r]];
  }
}

void clean_logit_stats(const float *z, int64_t n, int64_t V, const uint8_t *rows, float *p, double *lse, double *a, double *s, int threads) {
  job_t j = {.z = z, .p = p, .lse = lse, .a = a, .s = s, .rows = rows, .V = V};
  parallel_for(&j, n, threads, clean_range);
}

void compare_logit_rows(const float *p, const double *a, const double *s, const double *lse, const float *q, int64_t n, int64_t V,
                        const uint8_t *rows, const int32_t *targets, double *ce, double *kl, int threads) {
  job_t j = {.p_in = p, .a_in = a, .s_in = s, .lse_in = lse, .q = q, .rows = rows, .targets = targets, .ce = ce, .kl = kl, .V = V};
  parallel_for(&j, n, threads, compare_range);
}
