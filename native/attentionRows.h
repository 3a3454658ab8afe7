// Causal multi-head attention forward on the CPU (attentionRows.c): src/compute/ops/attentionFastCpu.ts
// holds the TypeScript path this follows and src/compute/ops/attention.ts the float64 twin.
#ifndef SAELAB_ATTENTION_ROWS_H
#define SAELAB_ATTENTION_ROWS_H
#include <stdint.h>

typedef struct {
  int64_t B, T, H, Hkv, D;
  float scale;
  int64_t window;  // sliding window: query t sees keys s > t − window; ≤ 0: none
  float softcap;   // scores c·tanh(s/c); ≤ 0: none
} attn_dims_t;

// out [B, T, H, D] and lse [B, H, T] from q [B, T, H, D], k, v [B, T, Hkv, D]; (b, h) pairs split
// over `threads` threads (each pair's rows computed by one thread, so the result does not depend on
// the thread count). Needs B, T, H, D ≥ 1 and H a multiple of Hkv. Returns 0 when out of memory.
int attention_forward(const float *q, const float *k, const float *v, const attn_dims_t *d, float *out, float *lse, int threads);
#endif
