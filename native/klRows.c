// KL-to-target row kernels (see klRows.h). Sums run in 8 fixed lanes (double) combined in a fixed
// order, so results do not depend on the SIMD width or the thread count (rows are split across
// threads, never a row). exp is fastExp.h's polynomial, 8 lanes at a time (≤ 2 ulp on the range
// softmax uses, exp(x ≤ 0)); Math.exp in the TypeScript twin differs from it in the last bits.

#include "klRows.h"
#include "fastExp.h"
#include "rowMax.h"
#include <math.h>
#include <pthread.h>
#include <string.h>

#define LANES 8

// Σ exp(x − max) of a row in fixed lanes; writes e = exp(x − max) into `e` and the max into *m.
SAELAB_VECTOR_CLONES
static double row_sum_exp(const float *x, int64_t V, float *e, float *m_out) {
  const float m = row_max_f32(x, V);
  double s[LANES] = {0};
  int64_t j = 0;
  for (; j + LANES <= V; j += LANES) {
    f32x8_store(e + j, fast_exp8(f32x8_load(x + j) - m));
    for (int l = 0; l < LANES; l++) s[l] += e[j + l];
  }
  double sum = 0;
  for (int l = 0; l < LANES; l++) sum += s[l];
  for (; j < V; j++) {
    e[j] = fast_exp(x[j] - m);
    sum += e[j];
  }
  *m_out = m;
  return sum;
}

typedef struct {
  const float *a, *probs, *plogp, *b, *w;
  float *out_probs, *out_plogp, *dq, *klw;
  int64_t r0, r1, V;
} job_t;

static void target_range(const job_t *jb) {
  const int64_t V = jb->V;
  for (int64_t r = jb->r0; r < jb->r1; r++) {
    const float *a = jb->a + r * V;
    float *p = jb->out_probs + r * V;
    float m;
    const double sum = row_sum_exp(a, V, p, &m);
    const double lse = (double)m + log(sum);
    const float inv = (float)(1.0 / sum);
    double s[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= V; j += LANES)
      for (int l = 0; l < LANES; l++) {
        p[j + l] *= inv;
        s[l] += (double)p[j + l] * ((double)a[j + l] - lse);
      }
    double t = 0;
    for (int l = 0; l < LANES; l++) t += s[l];
    for (; j < V; j++) {
      p[j] *= inv;
      t += (double)p[j] * ((double)a[j] - lse);
    }
    jb->out_plogp[r] = (float)t;
  }
}

static void to_target_range(const job_t *jb) {
  const int64_t V = jb->V;
  for (int64_t r = jb->r0; r < jb->r1; r++) {
    float *g = jb->dq + r * V;
    const float w = jb->w[r];
    if (w == 0.0f) {
      memset(g, 0, (size_t)V * sizeof(float));
      jb->klw[r] = 0.0f;
      continue;
    }
    const float *b = jb->b + r * V;
    const float *p = jb->probs + r * V;
    float m;
    const double sum = row_sum_exp(b, V, g, &m);
    const double lse = (double)m + log(sum);
    const float inv = (float)(1.0 / sum);
    double s[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= V; j += LANES)
      for (int l = 0; l < LANES; l++) {
        s[l] += (double)p[j + l] * ((double)b[j + l] - lse);
        g[j + l] = w * (g[j + l] * inv - p[j + l]);
      }
    double t = 0;
    for (int l = 0; l < LANES; l++) t += s[l];
    for (; j < V; j++) {
      t += (double)p[j] * ((double)b[j] - lse);
      g[j] = w * (g[j] * inv - p[j]);
    }
    // In float, as plogp is stored: Q = P then gives exactly 0.
    jb->klw[r] = w * (jb->plogp[r] - (float)t);
  }
}

static void *run_target(void *arg) { target_range((const job_t *)arg); return NULL; }
static void *run_to_target(void *arg) { to_target_range((const job_t *)arg); return NULL; }

// Rows split into `threads` contiguous ranges; the calling thread takes the first.
static void parallel_rows(job_t base, int64_t rows, int threads, void *(*fn)(void *)) {
  enum { MAX_T = 64 };
  if (threads < 1) threads = 1;
  if (threads > MAX_T) threads = MAX_T;
  if (threads > rows) threads = rows > 0 ? (int)rows : 1;
  job_t jobs[MAX_T];
  pthread_t tid[MAX_T];
  int started[MAX_T] = {0};
  for (int t = 0; t < threads; t++) {
    jobs[t] = base;
    jobs[t].r0 = rows * t / threads;
    jobs[t].r1 = rows * (t + 1) / threads;
  }
  for (int t = 1; t < threads; t++) started[t] = pthread_create(&tid[t], NULL, fn, &jobs[t]) == 0;
  fn(&jobs[0]);
  for (int t = 1; t < threads; t++) {
    if (started[t]) pthread_join(tid[t], NULL);
    else fn(&jobs[t]); // no thread: do its rows here
  }
}

void kl_target_rows(const float *a, int64_t rows, int64_t V, float *probs, float *plogp, int threads) {
  job_t jb = {0};
  jb.a = a; jb.out_probs = probs; jb.out_plogp = plogp; jb.V = V;
  parallel_rows(jb, rows, threads, run_target);
}

void kl_to_target_rows(const float *probs, const float *plogp, const float *b, const float *w, int64_t rows, int64_t V,
                       float *dq, float *klw, int threads) {
  job_t jb = {0};
  jb.probs = probs; jb.plogp = plogp; jb.b = b; jb.w = w; jb.dq = dq; jb.klw = klw; jb.V = V;
  parallel_rows(jb, rows, threads, run_to_target);
}
