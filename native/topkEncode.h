// The TopK SAE encoder with the top-k fused into the encoder GEMM (src/sae/topkEncode.ts has the
// plain twin it is tested against: pre = xin·W_enc + b_enc, topkRows, ReLU): W_enc's columns are
// multiplied a block at a time into an [N, block] scratch, and each row's k best (value, latent)
// pairs are kept in a heap across blocks, so no [N, dSae] pre-activation matrix ever exists.
#ifndef SAELAB_TOPK_ENCODE_H
#define SAELAB_TOPK_ENCODE_H
#include <stdint.h>

// Per row r of xin [N, dIn] (row-major), with pre = xin·W [dIn, dSae] + b [dSae]:
//   indices[r, :k] = the k latents of largest pre, ordered as topkRows orders them (larger value
//   first, the lower latent first among equals, NaN below every number), values = ReLU of theirs.
// When tsf is not NULL, also the AuxK picks among dead latents (tsf[i] >= cut): the kAux best of
//   dead ? pre : -1e30 into auxValues / auxIndices [N, kAux], ReLU'd the same way.
// The GEMM runs on OpenBLAS's threads, the selection on `threads` threads (rows split, never a row).
// Returns 0, or -1 when the scratch could not be allocated (nothing written then).
int topk_encode(const float *xin, int64_t N, int64_t dIn, const float *W, int64_t dSae, const float *b, int64_t k,
                float *values, int32_t *indices, const float *tsf, float cut, int64_t kAux, float *auxValues,
                int32_t *auxIndices, int threads);
#endif
