// The eval's per-row next-token CE and KL(P_clean ‖ P_variant) from host logits: the C twin of
// src/eval/logitLosses.ts (its header states the formulas). Rows are split over threads, never a row.
#ifndef SAELAB_LOGIT_LOSSES_H
#define SAELAB_LOGIT_LOSSES_H
#include <stdint.h>

// CleanLogits' constructor: for each row r with rows[r] ≠ 0, lse[r], p = softmax(z) (f32),
// a[r] = Σ p·z, s[r] = Σ p; rows left out are untouched. z, p: [n, V].
void clean_logit_stats(const float *z, int64_t n, int64_t V, const uint8_t *rows, float *p, double *lse, double *a, double *s, int threads);

// CleanLogits.compare: ce[r] = lse(q) − q[target] (0 where target < 0), kl[r] as in the header of
// logitLosses.ts; rows left out get 0. q: [n, V].
void compare_logit_rows(const float *p, const double *a, const double *s, const double *lse, const float *q, int64_t n, int64_t V,
                        const uint8_t *rows, const int32_t *targets, double *ce, double *kl, int threads);
#endif
