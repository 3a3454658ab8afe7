// N-API bindings of the SAE step kernels (see saeStepAddon.h). The TypeScript callers
// (src/sae/topkEncode.ts, src/sae/sparseCode.ts, src/compute/ops/adamw.ts) validate shapes with clear
// messages; every binding re-checks each range it touches anyway, so a direct call can never read or
// write outside its arrays.

#include "saeStepAddon.h"
#include "adamw.h"
#include "decoderNorm.h"
#include "sparseCode.h"
#include "topkEncode.h"
#include "napiArgs.h"
#include <stdint.h>

// Every index in [0, n) of idx lies in [0, bound).
static int indices_ok(const int32_t *idx, int64_t n, int64_t bound) {
  for (int64_t e = 0; e < n; e++)
    if (idx[e] < 0 || idx[e] >= bound) return 0;
  return 1;
}

#define ARGS(n)                                                                  \
  size_t argc = (n);                                                             \
  napi_value a[(n)];                                                             \
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc != (n)) \
    return addon_fail(env, "saelab_blas: wrong number of arguments");

// topkEncode(xin, N, dIn, W, dSae, b, k, values, indices, tsf|null, cut, kAux, auxValues|null, auxIndices|null)
static napi_value TopkEncode(napi_env env, napi_callback_info info) {
  ARGS(14);
  float *xin, *W, *b, *values, *tsf = NULL, *av = NULL;
  int32_t *indices, *ai = NULL;
  int64_t N, dIn, dSae, k, kAux, lx, lw, lb, lv, li, lt = 0, lav = 0, lai = 0;
  double cut;
  if (!arg_f32(env, a[0], &xin, &lx) || !arg_int(env, a[1], 0, &N) || !arg_int(env, a[2], 0, &dIn) || !arg_f32(env, a[3], &W, &lw) ||
      !arg_int(env, a[4], 0, &dSae) || !arg_f32(env, a[5], &b, &lb) || !arg_int(env, a[6], 0, &k) || !arg_f32(env, a[7], &values, &lv) ||
      !arg_i32(env, a[8], &indices, &li) || !arg_num(env, a[10], &cut) || !arg_int(env, a[11], 0, &kAux))
    return addon_fail(env, "saelab_blas.topkEncode: bad arguments");
  const int aux = !arg_is_null(env, a[9]);
  if (aux && (!arg_f32(env, a[9], &tsf, &lt) || !arg_f32(env, a[12], &av, &lav) || !arg_i32(env, a[13], &ai, &lai)))
    return addon_fail(env, "saelab_blas.topkEncode: tokensSinceFired, auxValues and auxIndices must be typed arrays together");
  if (dIn < 1 || k > dSae || (aux && kAux > dSae) || lx < N * dIn || lw < dIn * dSae || lb < dSae || lv < N * k ||
      li < N * k || (aux && (lt < dSae || lav < N * kAux || lai < N * kAux)))
    return addon_fail(env, "saelab_blas.topkEncode: an array is shorter than its shape");
  if (topk_encode(xin, N, dIn, W, dSae, b, k, values, indices, tsf, (float)cut, aux ? kAux : 0, av, ai, addon_threads()) != 0)
    return addon_fail(env, "saelab_blas.topkEncode: out of memory for the scratch block");
  return NULL;
}

// sparseDecode(v, idx, N, k, W, d, b|null, y)
static napi_value SparseDecode(napi_env env, napi_callback_info info) {
  ARGS(8);
  float *v, *W, *b = NULL, *y;
  int32_t *idx;
  int64_t N, k, d, lv, li, lw, lb = 0, ly;
  if (!arg_f32(env, a[0], &v, &lv) || !arg_i32(env, a[1], &idx, &li) || !arg_int(env, a[2], 0, &N) || !arg_int(env, a[3], 0, &k) ||
      !arg_f32(env, a[4], &W, &lw) || !arg_int(env, a[5], 0, &d) || (!arg_is_null(env, a[6]) && !arg_f32(env, a[6], &b, &lb)) || !arg_f32(env, a[7], &y, &ly))
    return addon_fail(env, "saelab_blas.sparseDecode: bad arguments");
  if (lv < N * k || li < N * k || ly < N * d || (b && lb < d))
    return addon_fail(env, "saelab_blas.sparseDecode: an array is shorter than its shape");
  if (d == 0) return NULL;
  if (!indices_ok(idx, N * k, lw / d)) return addon_fail(env, "saelab_blas.sparseDecode: an index lies outside W");
  sparse_decode(v, idx, N, k, W, d, b, y, addon_threads());
  return NULL;
}

// sparseRowDots(g, idx, N, k, W, d, out)
static napi_value SparseRowDots(napi_env env, napi_callback_info info) {
  ARGS(7);
  float *g, *W, *out;
  int32_t *idx;
  int64_t N, k, d, lg, li, lw, lo;
  if (!arg_f32(env, a[0], &g, &lg) || !arg_i32(env, a[1], &idx, &li) || !arg_int(env, a[2], 0, &N) || !arg_int(env, a[3], 0, &k) ||
      !arg_f32(env, a[4], &W, &lw) || !arg_int(env, a[5], 0, &d) || !arg_f32(env, a[6], &out, &lo))
    return addon_fail(env, "saelab_blas.sparseRowDots: bad arguments");
  if (lg < N * d || li < N * k || lo < N * k) return addon_fail(env, "saelab_blas.sparseRowDots: an array is shorter than its shape");
  if (!indices_ok(idx, N * k, d > 0 ? lw / d : INT64_MAX)) return addon_fail(env, "saelab_blas.sparseRowDots: an index lies outside W");
  sparse_row_dots(g, idx, N, k, W, d, out, addon_threads());
  return NULL;
}

// bucketRowSums(offsets, order, k, dSae, coef, rows, d, out, transposed, accumulate)
static napi_value BucketRowSums(napi_env env, napi_callback_info info) {
  ARGS(10);
  int32_t *offsets, *order;
  float *coef, *rows, *out;
  int64_t k, dSae, d, lof, lor, lc, lr, lo;
  bool transposed, accumulate;
  if (!arg_i32(env, a[0], &offsets, &lof) || !arg_i32(env, a[1], &order, &lor) || !arg_int(env, a[2], 0, &k) || !arg_int(env, a[3], 0, &dSae) ||
      !arg_f32(env, a[4], &coef, &lc) || !arg_f32(env, a[5], &rows, &lr) || !arg_int(env, a[6], 0, &d) || !arg_f32(env, a[7], &out, &lo) ||
      napi_get_value_bool(env, a[8], &transposed) != napi_ok || napi_get_value_bool(env, a[9], &accumulate) != napi_ok)
    return addon_fail(env, "saelab_blas.bucketRowSums: bad arguments");
  if (lof < dSae + 1 || lo < dSae * d) return addon_fail(env, "saelab_blas.bucketRowSums: an array is shorter than its shape");
  // Offsets must rise from 0 within order, and every pick must name a coef and a row.
  if (offsets[0] != 0 || offsets[dSae] > lor) return addon_fail(env, "saelab_blas.bucketRowSums: offsets do not fit order");
  for (int64_t i = 0; i < dSae; i++)
    if (offsets[i + 1] < offsets[i]) return addon_fail(env, "saelab_blas.bucketRowSums: offsets must not decrease");
  const int64_t rowsN = d > 0 ? lr / d : INT64_MAX;
  for (int64_t s = 0; s < offsets[dSae]; s++)
    if (k < 1 || order[s] < 0 || order[s] >= lc || order[s] / k >= rowsN) return addon_fail(env, "saelab_blas.bucketRowSums: a pick lies outside coef or rows");
  if (bucket_row_sums(offsets, order, k, dSae, coef, rows, d, out, transposed, accumulate, addon_threads()) != 0)
    return addon_fail(env, "saelab_blas.bucketRowSums: out of memory for scratch");
  return NULL;
}

// adamwUpdate(param, grad, m, v, beta1, beta2, eps, decay, stepSize, bc2Sqrt)
static napi_value AdamwUpdate(napi_env env, napi_callback_info info) {
  ARGS(10);
  float *p, *g, *m, *v;
  int64_t lp, lg, lm, lv;
  double c[6];
  if (!arg_f32(env, a[0], &p, &lp) || !arg_f32(env, a[1], &g, &lg) || !arg_f32(env, a[2], &m, &lm) || !arg_f32(env, a[3], &v, &lv))
    return addon_fail(env, "saelab_blas.adamwUpdate: expected four Float32Arrays");
  for (int i = 0; i < 6; i++)
    if (!arg_num(env, a[4 + i], &c[i])) return addon_fail(env, "saelab_blas.adamwUpdate: coefficients must be numbers");
  if (lg != lp || lm != lp || lv != lp) return addon_fail(env, "saelab_blas.adamwUpdate: arrays of different lengths");
  adamw_update(p, g, m, v, lp, c[0], c[1], c[2], c[3], c[4], c[5], addon_threads());
  return NULL;
}

// removeParallelGrad(g, w, rows, cols) / normalizeRows(w, rows, cols): decoderNorm.c on [rows, cols] arrays.
static napi_value RemoveParallelGrad(napi_env env, napi_callback_info info) {
  ARGS(4);
  float *g, *w;
  int64_t lg, lw, rows, cols;
  if (!arg_f32(env, a[0], &g, &lg) || !arg_f32(env, a[1], &w, &lw) || !arg_int(env, a[2], 0, &rows) || !arg_int(env, a[3], 0, &cols))
    return addon_fail(env, "saelab_blas.removeParallelGrad: expected (Float32Array, Float32Array, rows, cols)");
  if (lg < rows * cols || lw < rows * cols) return addon_fail(env, "saelab_blas.removeParallelGrad: arrays shorter than rows x cols");
  remove_parallel_grad(g, w, rows, cols, addon_threads());
  return NULL;
}

static napi_value NormalizeRows(napi_env env, napi_callback_info info) {
  ARGS(3);
  float *w;
  int64_t lw, rows, cols;
  if (!arg_f32(env, a[0], &w, &lw) || !arg_int(env, a[1], 0, &rows) || !arg_int(env, a[2], 0, &cols))
    return addon_fail(env, "saelab_blas.normalizeRows: expected (Float32Array, rows, cols)");
  if (lw < rows * cols) return addon_fail(env, "saelab_blas.normalizeRows: array shorter than rows x cols");
  normalize_rows(w, rows, cols, addon_threads());
  return NULL;
}

int sae_step_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"topkEncode", NULL, TopkEncode, NULL, NULL, NULL, napi_default, NULL},
      {"sparseDecode", NULL, SparseDecode, NULL, NULL, NULL, napi_default, NULL},
      {"sparseRowDots", NULL, SparseRowDots, NULL, NULL, NULL, napi_default, NULL},
      {"bucketRowSums", NULL, BucketRowSums, NULL, NULL, NULL, napi_default, NULL},
      {"adamwUpdate", NULL, AdamwUpdate, NULL, NULL, NULL, napi_default, NULL},
      {"removeParallelGrad", NULL, RemoveParallelGrad, NULL, NULL, NULL, napi_default, NULL},
      {"normalizeRows", NULL, NormalizeRows, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) == napi_ok ? 0 : -1;
}
