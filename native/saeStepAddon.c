// N-API bindings of the SAE step kernels (see saeStepAddon.h). The TypeScript callers
// (src/sae/topkEncode.ts, src/sae/sparseCode.ts, src/compute/ops/adamw.ts) validate shapes with clear
// messages; every binding re-checks each range it touches anyway, so a direct call can never read or
// write outside its arrays.

#include "saeStepAddon.h"
#include "adamw.h"
#include "decoderNorm.h"
#include "sparseCode.h"
#include "topkEncode.h"
#include <stdint.h>

#if defined(__GNUC__)
extern int openblas_get_num_threads(void) __attribute__((weak));
#endif

static int step_threads(void) {
#if defined(__GNUC__)
  if (openblas_get_num_threads) return openblas_get_num_threads();
#endif
  return 1;
}

static napi_value fail(napi_env env, const char *msg) {
  napi_throw_range_error(env, NULL, msg);
  return NULL;
}

// A typed array of the given type: its data and length (elements).
static int typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, int64_t *len) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
  napi_typedarray_type type;
  size_t length;
  if (napi_get_typedarray_info(env, v, &type, &length, data, NULL, NULL) != napi_ok || type != want) return 0;
  *len = (int64_t)length;
  return 1;
}

static int f32(napi_env env, napi_value v, float **d, int64_t *n) { return typed(env, v, napi_float32_array, (void **)d, n); }
static int i32(napi_env env, napi_value v, int32_t **d, int64_t *n) { return typed(env, v, napi_int32_array, (void **)d, n); }

static int is_null(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && (t == napi_null || t == napi_undefined);
}

// A non-negative integer below 2^31 (every size these kernels take fits a BLAS int).
static int dim(napi_env env, napi_value v, int64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0 && d <= 2147483647.0) || d != (double)(int64_t)d) return 0;
  *out = (int64_t)d;
  return 1;
}

static int num(napi_env env, napi_value v, double *out) { return napi_get_value_double(env, v, out) == napi_ok; }

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
    return fail(env, "saelab_blas: wrong number of arguments");

// topkEncode(xin, N, dIn, W, dSae, b, k, values, indices, tsf|null, cut, kAux, auxValues|null, auxIndices|null)
static napi_value TopkEncode(napi_env env, napi_callback_info info) {
  ARGS(14);
  float *xin, *W, *b, *values, *tsf = NULL, *av = NULL;
  int32_t *indices, *ai = NULL;
  int64_t N, dIn, dSae, k, kAux, lx, lw, lb, lv, li, lt = 0, lav = 0, lai = 0;
  double cut;
  if (!f32(env, a[0], &xin, &lx) || !dim(env, a[1], &N) || !dim(env, a[2], &dIn) || !f32(env, a[3], &W, &lw) ||
      !dim(env, a[4], &dSae) || !f32(env, a[5], &b, &lb) || !dim(env, a[6], &k) || !f32(env, a[7], &values, &lv) ||
      !i32(env, a[8], &indices, &li) || !num(env, a[10], &cut) || !dim(env, a[11], &kAux))
    return fail(env, "saelab_blas.topkEncode: bad arguments");
  const int aux = !is_null(env, a[9]);
  if (aux && (!f32(env, a[9], &tsf, &lt) || !f32(env, a[12], &av, &lav) || !i32(env, a[13], &ai, &lai)))
    return fail(env, "saelab_blas.topkEncode: tokensSinceFired, auxValues and auxIndices must be typed arrays together");
  if (dIn < 1 || k > dSae || (aux && kAux > dSae) || lx < N * dIn || lw < dIn * dSae || lb < dSae || lv < N * k ||
      li < N * k || (aux && (lt < dSae || lav < N * kAux || lai < N * kAux)))
    return fail(env, "saelab_blas.topkEncode: an array is shorter than its shape");
  if (topk_encode(xin, N, dIn, W, dSae, b, k, values, indices, tsf, (float)cut, aux ? kAux : 0, av, ai, step_threads()) != 0)
    return fail(env, "saelab_blas.topkEncode: out of memory for the scratch block");
  return NULL;
}

// sparseDecode(v, idx, N, k, W, d, b|null, y)
static napi_value SparseDecode(napi_env env, napi_callback_info info) {
  ARGS(8);
  float *v, *W, *b = NULL, *y;
  int32_t *idx;
  int64_t N, k, d, lv, li, lw, lb = 0, ly;
  if (!f32(env, a[0], &v, &lv) || !i32(env, a[1], &idx, &li) || !dim(env, a[2], &N) || !dim(env, a[3], &k) ||
      !f32(env, a[4], &W, &lw) || !dim(env, a[5], &d) || (!is_null(env, a[6]) && !f32(env, a[6], &b, &lb)) || !f32(env, a[7], &y, &ly))
    return fail(env, "saelab_blas.sparseDecode: bad arguments");
  if (lv < N * k || li < N * k || ly < N * d || (b && lb < d))
    return fail(env, "saelab_blas.sparseDecode: an array is shorter than its shape");
  if (d == 0) return NULL;
  if (!indices_ok(idx, N * k, lw / d)) return fail(env, "saelab_blas.sparseDecode: an index lies outside W");
  sparse_decode(v, idx, N, k, W, d, b, y, step_threads());
  return NULL;
}

// sparseRowDots(g, idx, N, k, W, d, out)
static napi_value SparseRowDots(napi_env env, napi_callback_info info) {
  ARGS(7);
  float *g, *W, *out;
  int32_t *idx;
  int64_t N, k, d, lg, li, lw, lo;
  if (!f32(env, a[0], &g, &lg) || !i32(env, a[1], &idx, &li) || !dim(env, a[2], &N) || !dim(env, a[3], &k) ||
      !f32(env, a[4], &W, &lw) || !dim(env, a[5], &d) || !f32(env, a[6], &out, &lo))
    return fail(env, "saelab_blas.sparseRowDots: bad arguments");
  if (lg < N * d || li < N * k || lo < N * k) return fail(env, "saelab_blas.sparseRowDots: an array is shorter than its shape");
  if (!indices_ok(idx, N * k, d > 0 ? lw / d : INT64_MAX)) return fail(env, "saelab_blas.sparseRowDots: an index lies outside W");
  sparse_row_dots(g, idx, N, k, W, d, out, step_threads());
  return NULL;
}

// bucketRowSums(offsets, order, k, dSae, coef, rows, d, out, transposed, accumulate)
static napi_value BucketRowSums(napi_env env, napi_callback_info info) {
  ARGS(10);
  int32_t *offsets, *order;
  float *coef, *rows, *out;
  int64_t k, dSae, d, lof, lor, lc, lr, lo;
  bool transposed, accumulate;
  if (!i32(env, a[0], &offsets, &lof) || !i32(env, a[1], &order, &lor) || !dim(env, a[2], &k) || !dim(env, a[3], &dSae) ||
      !f32(env, a[4], &coef, &lc) || !f32(env, a[5], &rows, &lr) || !dim(env, a[6], &d) || !f32(env, a[7], &out, &lo) ||
      napi_get_value_bool(env, a[8], &transposed) != napi_ok || napi_get_value_bool(env, a[9], &accumulate) != napi_ok)
    return fail(env, "saelab_blas.bucketRowSums: bad arguments");
  if (lof < dSae + 1 || lo < dSae * d) return fail(env, "saelab_blas.bucketRowSums: an array is shorter than its shape");
  // Offsets must rise from 0 within order, and every pick must name a coef and a row.
  if (offsets[0] != 0 || offsets[dSae] > lor) return fail(env, "saelab_blas.bucketRowSums: offsets do not fit order");
  for (int64_t i = 0; i < dSae; i++)
    if (offsets[i + 1] < offsets[i]) return fail(env, "saelab_blas.bucketRowSums: offsets must not decrease");
  const int64_t rowsN = d > 0 ? lr / d : INT64_MAX;
  for (int64_t s = 0; s < offsets[dSae]; s++)
    if (k < 1 || order[s] < 0 || order[s] >= lc || order[s] / k >= rowsN) return fail(env, "saelab_blas.bucketRowSums: a pick lies outside coef or rows");
  if (bucket_row_sums(offsets, order, k, dSae, coef, rows, d, out, transposed, accumulate, step_threads()) != 0)
    return fail(env, "saelab_blas.bucketRowSums: out of memory for scratch");
  return NULL;
}

// adamwUpdate(param, grad, m, v, beta1, beta2, eps, decay, stepSize, bc2Sqrt)
static napi_value AdamwUpdate(napi_env env, napi_callback_info info) {
  ARGS(10);
  float *p, *g, *m, *v;
  int64_t lp, lg, lm, lv;
  double c[6];
  if (!f32(env, a[0], &p, &lp) || !f32(env, a[1], &g, &lg) || !f32(env, a[2], &m, &lm) || !f32(env, a[3], &v, &lv))
    return fail(env, "saelab_blas.adamwUpdate: expected four Float32Arrays");
  for (int i = 0; i < 6; i++)
    if (!num(env, a[4 + i], &c[i])) return fail(env, "saelab_blas.adamwUpdate: coefficients must be numbers");
  if (lg != lp || lm != lp || lv != lp) return fail(env, "saelab_blas.adamwUpdate: arrays of different lengths");
  adamw_update(p, g, m, v, lp, c[0], c[1], c[2], c[3], c[4], c[5], step_threads());
  return NULL;
}

// removeParallelGrad(g, w, rows, cols) / normalizeRows(w, rows, cols): decoderNorm.c on [rows, cols] arrays.
static napi_value RemoveParallelGrad(napi_env env, napi_callback_info info) {
  ARGS(4);
  float *g, *w;
  int64_t lg, lw, rows, cols;
  if (!f32(env, a[0], &g, &lg) || !f32(env, a[1], &w, &lw) || !dim(env, a[2], &rows) || !dim(env, a[3], &cols))
    return fail(env, "saelab_blas.removeParallelGrad: expected (Float32Array, Float32Array, rows, cols)");
  if (lg < rows * cols || lw < rows * cols) return fail(env, "saelab_blas.removeParallelGrad: arrays shorter than rows x cols");
  remove_parallel_grad(g, w, rows, cols, step_threads());
  return NULL;
}

static napi_value NormalizeRows(napi_env env, napi_callback_info info) {
  ARGS(3);
  float *w;
  int64_t lw, rows, cols;
  if (!f32(env, a[0], &w, &lw) || !dim(env, a[1], &rows) || !dim(env, a[2], &cols))
    return fail(env, "saelab_blas.normalizeRows: expected (Float32Array, rows, cols)");
  if (lw < rows * cols) return fail(env, "saelab_blas.normalizeRows: array shorter than rows x cols");
  normalize_rows(w, rows, cols, step_threads());
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
