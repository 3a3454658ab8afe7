// A fork-join over index ranges on pthreads, for the native kernels: `threads` contiguous ranges
// of [0, n) (or ranges the caller chose), the calling thread takes the first. Results never depend
// on the split as long as each index's work is independent of the others, which every caller keeps.
#ifndef SAELAB_PARALLEL_FOR_H
#define SAELAB_PARALLEL_FOR_H
#include <pthread.h>
#include <stdint.h>

#define PF_MAX_THREADS 64

typedef struct {
  void *ctx;
  int64_t lo, hi;
  int tid;
  void (*fn)(void *ctx, int64_t lo, int64_t hi, int tid);
} pf_job_t;

static void *pf_run(void *arg) {
  pf_job_t *j = (pf_job_t *)arg;
  j->fn(j->ctx, j->lo, j->hi, j->tid);
  return NULL;
}

// fn(ctx, bounds[t], bounds[t+1], t) for t < threads; bounds has threads + 1 entries.
static void parallel_ranges(void *ctx, const int64_t *bounds, int threads, void (*fn)(void *, int64_t, int64_t, int)) {
  pf_job_t jobs[PF_MAX_THREADS];
  pthread_t tid[PF_MAX_THREADS];
  int started[PF_MAX_THREADS] = {0};
  for (int t = 0; t < threads; t++) jobs[t] = (pf_job_t){ctx, bounds[t], bounds[t + 1], t, fn};
  for (int t = 1; t < threads; t++) started[t] = pthread_create(&tid[t], NULL, pf_run, &jobs[t]) == 0;
  pf_run(&jobs[0]);
  for (int t = 1; t < threads; t++) {
    if (started[t]) pthread_join(tid[t], NULL);
    else pf_run(&jobs[t]); // no thread: run its range here
  }
}

// Clamps a thread count to [1, min(PF_MAX_THREADS, n)].
static int pf_threads(int threads, int64_t n) {
  if (threads < 1) threads = 1;
  if (threads > PF_MAX_THREADS) threads = PF_MAX_THREADS;
  if (n < threads) threads = n > 0 ? (int)n : 1;
  return threads;
}

// For elementwise passes over n elements: at most one thread per 64k elements (below that a thread
// costs more than it saves), at least 1.
static int pf_piece_threads(int threads, int64_t n) {
  const int64_t pieces = n / (1 << 16);
  return threads > pieces ? (pieces > 0 ? (int)pieces : 1) : threads;
}

// fn over `threads` even ranges of [0, n).
static void parallel_for(void *ctx, int64_t n, int threads, void (*fn)(void *, int64_t, int64_t, int)) {
  threads = pf_threads(threads, n);
  int64_t bounds[PF_MAX_THREADS + 1];
  for (int t = 0; t <= threads; t++) bounds[t] = n * t / threads;
  parallel_ranges(ctx, bounds, threads, fn);
}
#endif
