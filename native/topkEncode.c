// Fused encoder GEMM + top-k (see topkEncode.h). Column blocks rather than row blocks: OpenBLAS packs
// the B operand once per call, and W_enc (dIn × dSae) is the large one, so splitting its columns
// packs each part once, while xin (N × dIn) is small enough to repack per block.

#include "topkEncode.h"
#include "parallelFor.h"
#include <cblas.h>
#include <stdlib.h>

// True when (va, ia) ranks strictly above (vb, ib): topk.ts's order.
static inline int ranks_above(float va, int32_t ia, float vb, int32_t ib) {
  if (va == vb) return ia < ib;
  if (vb != vb) return va == va || ia < ib;
  if (va != va) return 0;
  return va > vb;
}

// A min-heap of one row's picks under ranks_above: slot 0 is the pick a newcomer must beat.
typedef struct {
  float *v;
  int32_t *i;
  int64_t size, cap;
} heap_t;

static void sift_down(heap_t *h, int64_t at) {
  const int64_t n = h->size;
  for (;;) {
    int64_t l = 2 * at + 1;
    if (l >= n) return;
    int64_t c = l;
    if (l + 1 < n && ranks_above(h->v[l], h->i[l], h->v[l + 1], h->i[l + 1])) c = l + 1;
    if (!ranks_above(h->v[at], h->i[at], h->v[c], h->i[c])) return;
    float tv = h->v[at]; h->v[at] = h->v[c]; h->v[c] = tv;
    int32_t ti = h->i[at]; h->i[at] = h->i[c]; h->i[c] = ti;
    at = c;
  }
}

static void push(heap_t *h, float v, int32_t i) {
  int64_t at = h->size++;
  h->v[at] = v;
  h->i[at] = i;
  while (at > 0) {
    int64_t p = (at - 1) / 2;
    if (!ranks_above(h->v[p], h->i[p], h->v[at], h->i[at])) return;
    float tv = h->v[at]; h->v[at] = h->v[p]; h->v[p] = tv;
    int32_t ti = h->i[at]; h->i[at] = h->i[p]; h->i[p] = ti;
    at = p;
  }
}

// Offer (v, i); i is above every index held, so it enters only on a strictly higher rank.
static inline void offer(heap_t *h, float v, int32_t i) {
  if (h->size < h->cap) { push(h, v, i); return; }
  const float t = h->v[0];
  if (v > t || (t != t && v == v)) {
    h->v[0] = v;
    h->i[0] = i;
    sift_down(h, 0);
  }
}

#define CHUNK 16

#if defined(__SSE2__)
#include <emmintrin.h>
// Whether any of the CHUNK values v[l] (= s + b, or −1e30 where the latent is alive when tsf is
// given) is > t: SSE compares, exact as the scalar `>` (NaN compares false).
static inline int chunk_may_enter(const float *s, const float *b, const float *tsf, float cut, float t) {
  const __m128 tv = _mm_set1_ps(t);
  __m128 any = _mm_setzero_ps();
  for (int l = 0; l < CHUNK; l += 4) {
    __m128 v = _mm_add_ps(_mm_loadu_ps(s + l), _mm_loadu_ps(b + l));
    if (tsf) {
      const __m128 dead = _mm_cmpge_ps(_mm_loadu_ps(tsf + l), _mm_set1_ps(cut));
      v = _mm_or_ps(_mm_and_ps(dead, v), _mm_andnot_ps(dead, _mm_set1_ps(-1e30f)));
    }
    any = _mm_or_ps(any, _mm_cmpgt_ps(v, tv));
  }
  return _mm_movemask_ps(any) != 0;
}
#else
static inline int chunk_may_enter(const float *s, const float *b, const float *tsf, float cut, float t) {
  int any = 0;
  for (int l = 0; l < CHUNK; l++) {
    const float pre = s[l] + b[l];
    any |= (tsf && !(tsf[l] >= cut) ? -1e30f : pre) > t;
  }
  return any;
}
#endif

// Offers pre[c] = s[c] + b[c] for c in [0, n) (latents c0 + c) — or, with tsf, the AuxK value
// dead ? pre : −1e30 that auxK.ts's deadRestricted builds — skipping whole chunks that cannot enter
// (the common case once the heap is full).
static void offer_block(heap_t *h, const float *s, const float *b, const float *tsf, float cut, int64_t n, int32_t c0) {
#define VALUE(c) (tsf && !(tsf[c] >= cut) ? -1e30f : s[c] + b[c])
  int64_t c = 0;
  while (c < n && h->size < h->cap) { offer(h, VALUE(c), c0 + (int32_t)c); c++; }
  for (; c + CHUNK <= n; c += CHUNK) {
    const float t = h->v[0];
    if (t == t && !chunk_may_enter(s + c, b + c, tsf ? tsf + c : NULL, cut, t)) continue;
    for (int l = 0; l < CHUNK; l++) offer(h, VALUE(c + l), c0 + (int32_t)(c + l));
  }
  for (; c < n; c++) offer(h, VALUE(c), c0 + (int32_t)c);
#undef VALUE
}

// Pops the heap into out (best first) with ReLU on the values; leaves the heap empty.
static void drain(heap_t *h, float *values, int32_t *indices) {
  while (h->size > 0) {
    const int64_t last = --h->size;
    values[last] = h->v[0] > 0.0f ? h->v[0] : 0.0f;
    indices[last] = h->i[0];
    h->v[0] = h->v[last];
    h->i[0] = h->i[last];
    sift_down(h, 0);
  }
}

typedef struct {
  const float *scratch, *b, *tsf;
  float cut;
  int64_t cb, c0;
  int64_t k, kAux;
  float *hv, *av;    // heaps' storage: [N, k] and [N, kAux]
  int32_t *hi, *ai;
  int64_t *hs, *as;  // heap sizes per row
} sel_t;

static void select_rows(void *arg, int64_t lo, int64_t hi, int tid) {
  (void)tid;
  const sel_t *S = (const sel_t *)arg;
  for (int64_t r = lo; r < hi; r++) {
    const float *s = S->scratch + r * S->cb;
    heap_t h = {S->hv + r * S->k, S->hi + r * S->k, S->hs[r], S->k};
    offer_block(&h, s, S->b + S->c0, NULL, 0.0f, S->cb, (int32_t)S->c0);
    S->hs[r] = h.size;
    if (S->tsf) {
      heap_t a = {S->av + r * S->kAux, S->ai + r * S->kAux, S->as[r], S->kAux};
      offer_block(&a, s, S->b + S->c0, S->tsf + S->c0, S->cut, S->cb, (int32_t)S->c0);
      S->as[r] = a.size;
    }
  }
}

typedef struct {
  float *hv, *av, *values, *auxValues;
  int32_t *hi, *ai, *indices, *auxIndices;
  int64_t *hs, *as;
  int64_t k, kAux;
} out_t;

static void drain_rows(void *arg, int64_t lo, int64_t hi, int tid) {
  (void)tid;
  const out_t *O = (const out_t *)arg;
  for (int64_t r = lo; r < hi; r++) {
    heap_t h = {O->hv + r * O->k, O->hi + r * O->k, O->hs[r], O->k};
    drain(&h, O->values + r * O->k, O->indices + r * O->k);
    if (O->av) {
      heap_t a = {O->av + r * O->kAux, O->ai + r * O->kAux, O->as[r], O->kAux};
      drain(&a, O->auxValues + r * O->kAux, O->auxIndices + r * O->kAux);
    }
  }
}

int topk_encode(const float *xin, int64_t N, int64_t dIn, const float *W, int64_t dSae, const float *b, int64_t k,
                float *values, int32_t *indices, const float *tsf, float cut, int64_t kAux, float *auxValues,
                int32_t *auxIndices, int threads) {
  if (N == 0 || k == 0) return 0;
  // ~32 MB of scratch: wide enough blocks for sgemm's full speed, small next to [N, dSae].
  int64_t cb = ((int64_t)8 << 20) / N;
  cb = cb < 256 ? 256 : cb > 4096 ? 4096 : cb;
  if (cb > dSae) cb = dSae;
  const int aux = tsf != NULL && kAux > 0;
  float *scratch = malloc((size_t)(N * cb) * sizeof(float));
  float *hv = malloc((size_t)(N * k) * sizeof(float));
  int32_t *hi = malloc((size_t)(N * k) * sizeof(int32_t));
  int64_t *hs = calloc((size_t)N, sizeof(int64_t));
  float *av = aux ? malloc((size_t)(N * kAux) * sizeof(float)) : NULL;
  int32_t *ai = aux ? malloc((size_t)(N * kAux) * sizeof(int32_t)) : NULL;
  int64_t *as = aux ? calloc((size_t)N, sizeof(int64_t)) : NULL;
  int rc = 0;
  if (!scratch || !hv || !hi || !hs || (aux && (!av || !ai || !as))) { rc = -1; goto done; }
  for (int64_t c0 = 0; c0 < dSae; c0 += cb) {
    const int64_t n = dSae - c0 < cb ? dSae - c0 : cb;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, (int)n, (int)dIn, 1.0f, xin, (int)dIn, W + c0, (int)dSae,
                0.0f, scratch, (int)n);
    sel_t S = {scratch, b, aux ? tsf : NULL, cut, n, c0, k, kAux, hv, av, hi, ai, hs, as};
    parallel_for(&S, N, threads, select_rows);
  }
  out_t O = {hv, av, values, auxValues, hi, ai, indices, auxIndices, hs, as, k, kAux};
  parallel_for(&O, N, threads, drain_rows);
done:
  free(scratch); free(hv); free(hi); free(hs); free(av); free(ai); free(as);
  return rc;
}
