// Elementwise kernels (see elementwise.h): the residual stream's adds, relu and its backward, and
// the per-column count of positive values. Each element's result depends on that element only (and
// a count is an exact integer), so the bits equal the twins' whatever the pieces; pieces of at least
// 64k elements (a thread costs more than a smaller piece saves). The selects are branch-free: relu's
// sign is a coin flip at initialisation, which a branch mispredicts half the time.

#include "elementwise.h"
#include "parallelFor.h"
#include <stdlib.h>
#include <string.h>


typedef struct {
  const float *a, *b;
  float *out;
} add_job_t;

static void add_range(void *ctx, int64_t lo, int64_t hi, int tid) {
  (void)tid;
  const add_job_t *j = ctx;
  for (int64_t i = lo; i < hi; i++) j->out[i] = j->a[i] + j->b[i];
}

void add_arrays(const float *a, const float *b, int64_t n, float *out, int threads) {
  add_job_t j = {a, b, out};
  parallel_for(&j, n, pf_piece_threads(threads, n), add_range);
}

typedef struct {
  const float *x, *dy;
  float *out;
} relu_job_t;

static void relu_range(void *ctx, int64_t lo, int64_t hi, int tid) {
  (void)tid;
  const relu_job_t *j = ctx;
  for (int64_t i = lo; i < hi; i++) j->out[i] = j->x[i] > 0.0f ? j->x[i] : 0.0f;
}

static void relu_backward_range(void *ctx, int64_t lo, int64_t hi, int tid) {
  (void)tid;
  const relu_job_t *j = ctx;
  for (int64_t i = lo; i < hi; i++) j->out[i] = j->x[i] > 0.0f ? j->dy[i] : 0.0f;
}

void relu_forward(const float *x, int64_t n, float *y, int threads) {
  relu_job_t j = {x, NULL, y};
  parallel_for(&j, n, pf_piece_threads(threads, n), relu_range);
}

void relu_backward(const float *x, const float *dy, int64_t n, float *dx, int threads) {
  relu_job_t j = {x, dy, dx};
  parallel_for(&j, n, pf_piece_threads(threads, n), relu_backward_range);
}

typedef struct {
  const float *x;
  int64_t cols;
  int32_t *counts; // [threads, cols]
} count_job_t;

static void count_range(void *ctx, int64_t r0, int64_t r1, int tid) {
  const count_job_t *j = ctx;
  int32_t *c = j->counts + (int64_t)tid * j->cols;
  for (int64_t r = r0; r < r1; r++) {
    const float *row = j->x + r * j->cols;
    for (int64_t k = 0; k < j->cols; k++) c[k] += row[k] > 0.0f;
  }
}

void count_positive_columns(const float *x, int64_t rows, int64_t cols, float *out, int threads) {
  threads = pf_threads(pf_piece_threads(threads, rows * cols), rows);
  int32_t *counts = calloc((size_t)threads * (size_t)cols, sizeof(int32_t));
  if (!counts) threads = 0; // no scratch: count on this thread below
  if (threads > 0) {
    count_job_t j = {x, cols, counts};
    parallel_for(&j, rows, threads, count_range);
    for (int64_t k = 0; k < cols; k++) {
      int64_t s = 0;
      for (int t = 0; t < threads; t++) s += counts[(int64_t)t * cols + k];
      out[k] = (float)s;
    }
    free(counts);
    return;
  }
  for (int64_t k = 0; k < cols; k++) out[k] = 0.0f;
  for (int64_t r = 0; r < rows; r++)
    for (int64_t k = 0; k < cols; k++) out[k] += x[r * cols + k] > 0.0f;
}

typedef struct {
  const float *x;
  int64_t rows, cols;
  float *out;
} sum_job_t;

// Columns [c0, c1): each column's sum runs over the rows in order, 256 columns at a time so the
// accumulators stay in cache while the rows stream past.
static void sum_columns_range(void *ctx, int64_t c0, int64_t c1, int tid) {
  (void)tid;
  const sum_job_t *j = ctx;
  double acc[256];
  for (int64_t b = c0; b < c1; b += 256) {
    const int64_t w = c1 - b < 256 ? c1 - b : 256;
    memset(acc, 0, sizeof acc);
    for (int64_t r = 0; r < j->rows; r++) {
      const float *row = j->x + r * j->cols + b;
      for (int64_t k = 0; k < w; k++) acc[k] += (double)row[k];
    }
    for (int64_t k = 0; k < w; k++) j->out[b + k] = (float)acc[k];
  }
}

void sum_columns(const float *x, int64_t rows, int64_t cols, float *out, int threads) {
  sum_job_t j = {x, rows, cols, out};
  parallel_for(&j, cols, pf_threads(pf_piece_threads(threads, rows * cols), cols), sum_columns_range);
}
