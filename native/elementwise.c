// out = a + b for the residual stream's adds (see elementwise.h). Each element is one float add,
// so the bits equal addCpu's whatever the pieces; pieces of at least 64k elements (a thread costs
// more than a smaller piece saves).

#include "elementwise.h"
#include "parallelFor.h"

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
  const int64_t pieces = n / (1 << 16);
  if (threads > pieces) threads = pieces > 0 ? (int)pieces : 1;
  add_job_t j = {a, b, out};
  parallel_for(&j, n, threads, add_range);
}
