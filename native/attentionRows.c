// Causal attention forward (see attentionRows.h). Per (batch b, query head h) and block of query
// rows t0 .. t0+rows−1, as src/compute/ops/attentionFastCpu.ts does with one sgemm call per product:
//   S = scale · Q_h[t0:] K_g[k0:k0+n]ᵀ   (sgemm into a [rows, n] scratch; n = keys some row sees)
//   P = softmax of each row over its keys (masked ones 0), lse = max + log Σ
//   O_h[t0:] = P V_g[k0:k0+n]            (sgemm into the strided output)
// The softmax runs here with a vectorisable exp and the sum in fixed double lanes. The (b, h) pairs
// are split into contiguous ranges over threads; each thread calls a single-threaded sgemm
// (OpenBLAS is set to one thread for the call and restored after), so no product depends on how
// the work was split: the result is the same for any thread count, bit for bit.

#include "attentionRows.h"
#include "fastExp.h"
#include "rowMax.h"
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
extern int openblas_get_num_threads(void) __attribute__((weak));
extern void openblas_set_num_threads(int) __attribute__((weak));
#endif

#define LANES 8
#define ROW_BLOCK 64                      // query rows per block: the causal waste stays ≤ one block
#define SCRATCH_FLOATS ((int64_t)4 << 20) // 16 MB per thread at most (rows shrink for huge T)

static int64_t first_key(int64_t t, int64_t window) {
  if (window <= 0) return 0;
  const int64_t s = t - window + 1;
  return s > 0 ? s : 0;
}

static int64_t rows_per_block(int64_t T) {
  int64_t r = ROW_BLOCK < T ? ROW_BLOCK : T;
  const int64_t fit = SCRATCH_FLOATS / (T > 0 ? T : 1);
  if (r > fit) r = fit;
  return r > 0 ? r : 1;
}

// One row's softmax over s[start:end) in place; zeros elsewhere in [0, n); returns lse. Separate
// simple passes (max, exp, sum, scale) so that the compiler vectorises each; max and sum in fixed
// lanes (float max, double sum), so the order never depends on the SIMD width.
SAELAB_VECTOR_CLONES
static float softmax_row(float *s, int64_t start, int64_t end, int64_t n, float cap) {
  if (cap > 0.0f)
    for (int64_t c = start; c < end; c++) s[c] = cap * tanhf(s[c] / cap);
  float *x = s + start;
  const int64_t len = end - start;
  const float m = row_max_f32(x, len);
  int64_t c;
  for (c = 0; c + 8 <= len; c += 8) f32x8_store(x + c, fast_exp8(f32x8_load(x + c) - m));
  for (; c < len; c++) x[c] = fast_exp(x[c] - m);
  double acc[LANES] = {0};
  for (c = 0; c + LANES <= len; c += LANES)
    for (int l = 0; l < LANES; l++) acc[l] += (double)x[c + l];
  double sum = 0;
  for (int l = 0; l < LANES; l++) sum += acc[l];
  for (; c < len; c++) sum += x[c];
  const float inv = (float)(1.0 / sum);
  for (c = 0; c < len; c++) x[c] *= inv;
  memset(s, 0, (size_t)start * sizeof(float));
  memset(s + end, 0, (size_t)(n - end) * sizeof(float));
  return (float)((double)m + log(sum));
}

typedef struct {
  const float *q, *k, *v;
  float *out, *lse;
  const attn_dims_t *d;
  int64_t p0, p1;  // (b, h) pairs p0 .. p1−1, p = b·H + h
  float *scratch;  // rows_per_block(T) · T floats
} job_t;

static void run_pairs(const job_t *jb) {
  const attn_dims_t *d = jb->d;
  const int64_t T = d->T, H = d->H, Hkv = d->Hkv, D = d->D, group = H / Hkv;
  const int64_t ldq = H * D, ldk = Hkv * D, R = rows_per_block(T);
  float *S = jb->scratch;
  for (int64_t p = jb->p0; p < jb->p1; p++) {
    const int64_t b = p / H, h = p % H, g = h / group;
    const float *qh = jb->q + (b * T * H + h) * D;
    const float *kg = jb->k + (b * T * Hkv + g) * D;
    const float *vg = jb->v + (b * T * Hkv + g) * D;
    float *oh = jb->out + (b * T * H + h) * D;
    float *lh = jb->lse + p * T;
    for (int64_t t0 = 0; t0 < T; t0 += R) {
      const int64_t rows = T - t0 < R ? T - t0 : R;
      const int64_t k0 = first_key(t0, d->window);
      const int64_t n = t0 + rows - k0;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)n, (int)D, d->scale, qh + t0 * ldq, (int)ldq,
                  kg + k0 * ldk, (int)ldk, 0.0f, S, (int)n);
      for (int64_t i = 0; i < rows; i++) {
        const int64_t t = t0 + i;
        lh[t] = softmax_row(S + i * n, first_key(t, d->window) - k0, t + 1 - k0, n, d->softcap);
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)D, (int)n, 1.0f, S, (int)n, vg + k0 * ldk,
                  (int)ldk, 0.0f, oh + t0 * ldq, (int)ldq);
    }
  }
}

static void *run_job(void *arg) {
  run_pairs((const job_t *)arg);
  return NULL;
}

int attention_forward(const float *q, const float *k, const float *v, const attn_dims_t *d, float *out, float *lse, int threads) {
  enum { MAX_T = 64 };
  const int64_t pairs = d->B * d->H;
  if (threads < 1) threads = 1;
  if (threads > MAX_T) threads = MAX_T;
  if (threads > pairs) threads = (int)pairs;
  // Without OpenBLAS's thread control the products may run threaded themselves: one thread here.
  int blas_threads = 1;
#if defined(__GNUC__)
  if (openblas_get_num_threads && openblas_set_num_threads) blas_threads = openblas_get_num_threads();
  else threads = 1;
#else
  threads = 1;
#endif
  const size_t scratch = (size_t)(rows_per_block(d->T) * d->T);
  float *buf = malloc((size_t)threads * scratch * sizeof(float));
  if (!buf) return 0;
  job_t jobs[MAX_T];
  pthread_t tid[MAX_T];
  int started[MAX_T] = {0};
  for (int t = 0; t < threads; t++) {
    jobs[t] = (job_t){q, k, v, out, lse, d, pairs * t / threads, pairs * (t + 1) / threads, buf + (size_t)t * scratch};
  }
#if defined(__GNUC__)
  if (threads > 1) openblas_set_num_threads(1);
#endif
  for (int t = 1; t < threads; t++) started[t] = pthread_create(&tid[t], NULL, run_job, &jobs[t]) == 0;
  run_pairs(&jobs[0]);
  for (int t = 1; t < threads; t++) {
    if (started[t]) pthread_join(tid[t], NULL);
    else run_pairs(&jobs[t]);  // no thread: its pairs here
  }
#if defined(__GNUC__)
  if (threads > 1) openblas_set_num_threads(blas_threads);
#endif
  free(buf);
  return 1;
}
