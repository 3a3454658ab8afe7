// LayerNorm forward (see layerNorm.h): per row, mean and the mean squared deviation as double sums
// in 8 fixed lanes (the order does not depend on SIMD width or threads), then one pass for y.
// Rows are split into contiguous ranges over threads; a row is never split.

#include "layerNorm.h"
#include <math.h>
#include <pthread.h>

#define LANES 8

typedef struct {
  const float *x, *gamma, *beta;
  float *y, *mean, *rstd;
  int64_t r0, r1, d;
  float eps;
} job_t;

static void rows_range(const job_t *jb) {
  const int64_t d = jb->d;
  for (int64_t r = jb->r0; r < jb->r1; r++) {
    const float *x = jb->x + r * d;
    float *y = jb->y + r * d;
    double s[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= d; j += LANES)
      for (int l = 0; l < LANES; l++) s[l] += x[j + l];
    double sum = 0;
    for (int l = 0; l < LANES; l++) sum += s[l];
    for (; j < d; j++) sum += x[j];
    const double m = sum / (double)d;
    double v[LANES] = {0};
    for (j = 0; j + LANES <= d; j += LANES)
      for (int l = 0; l < LANES; l++) {
        const double e = x[j + l] - m;
        v[l] += e * e;
      }
    double var = 0;
    for (int l = 0; l < LANES; l++) var += v[l];
    for (; j < d; j++) var += (x[j] - m) * (x[j] - m);
    const double rs = 1.0 / sqrt(var / (double)d + (double)jb->eps);
    const float mf = (float)m, rsf = (float)rs;
    for (j = 0; j < d; j++) y[j] = (x[j] - mf) * rsf * jb->gamma[j] + jb->beta[j];
    jb->mean[r] = mf;
    jb->rstd[r] = rsf;
  }
}

static void *run_job(void *arg) {
  rows_range((const job_t *)arg);
  return NULL;
}

void layer_norm_forward(const float *x, const float *gamma, const float *beta, int64_t rows, int64_t d, float eps, float *y,
                        float *mean, float *rstd, int threads) {
  enum { MAX_T = 64, MIN_ROWS = 64 };  // below ~64 rows a thread costs more than it saves
  if (threads < 1) threads = 1;
  if (threads > MAX_T) threads = MAX_T;
  if (threads > rows / MIN_ROWS) threads = rows / MIN_ROWS > 0 ? (int)(rows / MIN_ROWS) : 1;
  job_t jobs[MAX_T];
  pthread_t tid[MAX_T];
  int started[MAX_T] = {0};
  for (int t = 0; t < threads; t++) jobs[t] = (job_t){x, gamma, beta, y, mean, rstd, rows * t / threads, rows * (t + 1) / threads, d, eps};
  for (int t = 1; t < threads; t++) started[t] = pthread_create(&tid[t], NULL, run_job, &jobs[t]) == 0;
  rows_range(&jobs[0]);
  for (int t = 1; t < threads; t++) {
    if (started[t]) pthread_join(tid[t], NULL);
    else rows_range(&jobs[t]);
  }
}
