// Decoder-row projection and renormalisation (see decoderNorm.h). The sums stay sequential (not
// lane-split) to equal the twins exactly; rows are split across threads.

#include "decoderNorm.h"
#include "parallelFor.h"
#include <math.h>

typedef struct {
  float *g, *w;
  const float *cw;
  int64_t cols;
} dn_t;

static void parallel_range(void *arg, int64_t lo, int64_t hi, int tid) {
  (void)tid;
  const dn_t *D = (const dn_t *)arg;
  for (int64_t r = lo; r < hi; r++) {
    float *g = D->g + r * D->cols;
    const float *w = D->cw + r * D->cols;
    double dot = 0;
    for (int64_t c = 0; c < D->cols; c++) dot += (double)g[c] * (double)w[c];
    const double d = (float)dot;
    for (int64_t c = 0; c < D->cols; c++) g[c] = (float)((double)g[c] - d * (double)w[c]);
  }
}

static void normalize_range(void *arg, int64_t lo, int64_t hi, int tid) {
  (void)tid;
  const dn_t *D = (const dn_t *)arg;
  for (int64_t r = lo; r < hi; r++) {
    float *w = D->w + r * D->cols;
    double ss = 0;
    for (int64_t c = 0; c < D->cols; c++) ss += (double)w[c] * (double)w[c];
    if (ss == 0) continue;
    const double inv = (float)(1 / sqrt(ss));
    for (int64_t c = 0; c < D->cols; c++) w[c] = (float)((double)w[c] * inv);
  }
}

void remove_parallel_grad(float *g, const float *w, int64_t rows, int64_t cols, int threads) {
  dn_t D = {g, 0, w, cols};
  parallel_for(&D, rows, threads, parallel_range);
}

void normalize_rows(float *w, int64_t rows, int64_t cols, int threads) {
  dn_t D = {0, w, 0, cols};
  parallel_for(&D, rows, threads, normalize_range);
}
