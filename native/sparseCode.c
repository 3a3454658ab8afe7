// The per-pick loops of the TopK step (see sparseCode.h), in C so that gcc vectorises the
// row updates and both cores share them.

#include "sparseCode.h"
#include "parallelFor.h"
#include <stdlib.h>
#include <string.h>

typedef struct {
  const float *v, *W, *b, *g, *coef, *rows;
  const int32_t *idx, *offsets, *order;
  float *out;
  int64_t k, d, dSae;
  int transposed, accumulate;
  float **scratch; // per thread
} sc_t;

static void decode_rows(void *arg, int64_t lo, int64_t hi, int tid) {
  (void)tid;
  const sc_t *S = (const sc_t *)arg;
  const int64_t k = S->k, d = S->d;
  for (int64_t t = lo; t < hi; t++) {
    float *y = S->out + t * d;
    memset(y, 0, (size_t)d * sizeof(float));
    for (int64_t j = 0; j < k; j++) {
      const float a = S->v[t * k + j];
      if (a == 0.0f) continue; // adds exactly 0 (W is finite)
      const float *w = S->W + (int64_t)S->idx[t * k + j] * d;
      for (int64_t c = 0; c < d; c++) y[c] += a * w[c];
    }
    if (S->b)
      for (int64_t c = 0; c < d; c++) y[c] += S->b[c];
  }
}

void sparse_decode(const float *v, const int32_t *idx, int64_t N, int64_t k, const float *W, int64_t d, const float *b,
                   float *y, int threads) {
  sc_t S = {0};
  S.v = v; S.idx = idx; S.k = k; S.W = W; S.d = d; S.b = b; S.out = y;
  parallel_for(&S, N, threads, decode_rows);
}

#define LANES 8

static void dot_rows(void *arg, int64_t lo, int64_t hi, int tid) {
  (void)tid;
  const sc_t *S = (const sc_t *)arg;
  const int64_t k = S->k, d = S->d;
  for (int64_t t = lo; t < hi; t++) {
    const float *g = S->g + t * d;
    for (int64_t j = 0; j < k; j++) {
      const float *w = S->W + (int64_t)S->idx[t * k + j] * d;
      double s[LANES] = {0};
      int64_t c = 0;
      for (; c + LANES <= d; c += LANES)
        for (int l = 0; l < LANES; l++) s[l] += (double)g[c + l] * (double)w[c + l];
      double tot = 0;
      for (int l = 0; l < LANES; l++) tot += s[l];
      for (; c < d; c++) tot += (double)g[c] * (double)w[c];
      S->out[t * k + j] = (float)tot;
    }
  }
}

void sparse_row_dots(const float *g, const int32_t *idx, int64_t N, int64_t k, const float *W, int64_t d, float *out,
                     int threads) {
  sc_t S = {0};
  S.g = g; S.idx = idx; S.k = k; S.W = W; S.d = d; S.out = out;
  parallel_for(&S, N, threads, dot_rows);
}

// acc[:] = Σ over latent i's picks of coef·rows[token] (f32, bucket order).
static void latent_sum(const sc_t *S, int64_t i, float *acc) {
  const int64_t d = S->d;
  memset(acc, 0, (size_t)d * sizeof(float));
  for (int32_t s = S->offsets[i]; s < S->offsets[i + 1]; s++) {
    const int32_t e = S->order[s];
    const float a = S->coef[e];
    if (a == 0.0f) continue;
    const float *r = S->rows + (int64_t)(e / S->k) * d;
    for (int64_t c = 0; c < d; c++) acc[c] += a * r[c];
  }
}

// Transposed, 16 latents at a time: their sums go to a [16, d] scratch, then each output row gets
// 16 consecutive floats (one cache line) instead of one float per cache line.
#define GROUP 16

static void bucket_range(void *arg, int64_t lo, int64_t hi, int tid) {
  const sc_t *S = (const sc_t *)arg;
  const int64_t d = S->d, dSae = S->dSae;
  float *buf = S->scratch[tid];
  if (!S->transposed) {
    for (int64_t i = lo; i < hi; i++) {
      float *o = S->out + i * d;
      if (!S->accumulate) { latent_sum(S, i, o); continue; }
      latent_sum(S, i, buf);
      for (int64_t c = 0; c < d; c++) o[c] += buf[c];
    }
    return;
  }
  for (int64_t i0 = lo; i0 < hi; i0 += GROUP) {
    const int64_t n = hi - i0 < GROUP ? hi - i0 : GROUP;
    for (int64_t ii = 0; ii < n; ii++) latent_sum(S, i0 + ii, buf + ii * d);
    for (int64_t c = 0; c < d; c++) {
      float *o = S->out + c * dSae + i0;
      if (S->accumulate)
        for (int64_t ii = 0; ii < n; ii++) o[ii] += buf[ii * d + c];
      else
        for (int64_t ii = 0; ii < n; ii++) o[ii] = buf[ii * d + c];
    }
  }
}

int bucket_row_sums(const int32_t *offsets, const int32_t *order, int64_t k, int64_t dSae, const float *coef,
                    const float *rows, int64_t d, float *out, int transposed, int accumulate, int threads) {
  if (dSae == 0) return 0;
  threads = pf_threads(threads, dSae);
  float *scratch[PF_MAX_THREADS] = {0};
  int rc = 0;
  for (int t = 0; t < threads; t++)
    if (!(scratch[t] = malloc((size_t)(GROUP * (d > 0 ? d : 1)) * sizeof(float)))) rc = -1;
  if (rc == 0) {
    sc_t S = {0};
    S.offsets = offsets; S.order = order; S.k = k; S.dSae = dSae; S.coef = coef; S.rows = rows; S.d = d; S.out = out;
    S.transposed = transposed; S.accumulate = accumulate; S.scratch = scratch;
    // Split the latents where the pick count crosses equal shares (work is per pick, not per latent).
    int64_t bounds[PF_MAX_THREADS + 1];
    const int64_t total = offsets[dSae];
    bounds[0] = 0;
    int64_t i = 0;
    for (int t = 1; t < threads; t++) {
      const int64_t want = total * t / threads;
      while (i < dSae && offsets[i] < want) i++;
      bounds[t] = i < bounds[t - 1] ? bounds[t - 1] : i;
    }
    bounds[threads] = dSae;
    parallel_ranges(&S, bounds, threads, bucket_range);
  }
  for (int t = 0; t < threads; t++) free(scratch[t]);
  return rc;
}
