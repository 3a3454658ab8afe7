// Row kernels of KL(P ‖ Q) against a fixed target P (src/compute/ops/klDivergence.ts has the
// TypeScript twins these are tested against): p = softmax(logitsP) with Σ p·log p, and one Q's
// weighted KL with its gradient w·(q − p), one exp per logit.
#ifndef SAELAB_KL_ROWS_H
#define SAELAB_KL_ROWS_H
#include <stdint.h>

// probs[r, :] = softmax(a[r, :]), plogp[r] = Σ probs·(a − lse): rows × V row-major, on `threads` threads.
void kl_target_rows(const float *a, int64_t rows, int64_t V, float *probs, float *plogp, int threads);

// dq[r, :] = w[r]·(softmax(b[r, :]) − probs[r, :]), klw[r] = w[r]·(plogp[r] − Σ probs·(b − lse)); w = 0 rows give 0.
void kl_to_target_rows(const float *probs, const float *plogp, const float *b, const float *w, int64_t rows, int64_t V,
                       float *dq, float *klw, int threads);
#endif
