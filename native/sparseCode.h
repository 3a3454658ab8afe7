// Threaded C kernels of a TopK SAE step's per-pick loops (src/sae/sparseCode.ts has the TypeScript
// twins they are tested against). Rows or latents are split across threads, never one row's or one
// latent's sum, and each sum runs in one fixed order, so results do not depend on the thread count.
#ifndef SAELAB_SPARSE_CODE_H
#define SAELAB_SPARSE_CODE_H
#include <stdint.h>

// y[t, :] = Σ_j v[t, j]·W[idx[t, j], :] (+ b), j ascending in f32; v [N, k], W [dSae, d], y [N, d].
void sparse_decode(const float *v, const int32_t *idx, int64_t N, int64_t k, const float *W, int64_t d, const float *b,
                   float *y, int threads);

// out[t, j] = g[t, :]·W[idx[t, j], :] accumulated in f64 (8 lanes, combined in a fixed order).
void sparse_row_dots(const float *g, const int32_t *idx, int64_t N, int64_t k, const float *W, int64_t d, float *out,
                     int threads);

// Per latent i: acc = Σ over its picks e (order[offsets[i] .. offsets[i+1]), in that order) of
// coef[e]·rows[e / k, :] in f32; out[i, :] (or out[:, i] when transposed: out is [d, dSae]) = acc,
// or += acc when accumulate. Returns -1 when scratch could not be allocated (nothing written).
int bucket_row_sums(const int32_t *offsets, const int32_t *order, int64_t k, int64_t dSae, const float *coef,
                    const float *rows, int64_t d, float *out, int transposed, int accumulate, int threads);
#endif
