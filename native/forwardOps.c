// N-API wrappers of attentionRows.c, layerNorm.c, logitLosses.c and elementwise.c. The TypeScript callers
// (src/compute/ops/attentionFastCpu.ts, layerNorm.ts, src/eval/logitLosses.ts) check shapes with clear messages; these
// re-check every length anyway, so a direct call can never read or write outside its arrays.

#include "forwardOps.h"
#include "attentionRows.h"
#include "layerNorm.h"
#include "logitLosses.h"
#include "elementwise.h"
#include "napiArgs.h"
#include <stdint.h>
#include <stdio.h>

// attentionForward(q, k, v, B, T, H, Hkv, D, scale, window, softcap, out, lse): attentionRows.h;
// window ≤ 0 and softcap ≤ 0 mean none.
static napi_value AttentionForward(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value a[13];
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc != 13)
    return addon_fail(env, "saelab_blas.attentionForward: expected 13 arguments");
  float *q, *k, *v, *out, *lse;
  int64_t lq, lk, lv, lo, ll, B, T, H, Hkv, D, window;
  double scale, cap, w;
  if (!arg_f32(env, a[0], &q, &lq) || !arg_f32(env, a[1], &k, &lk) || !arg_f32(env, a[2], &v, &lv) ||
      !arg_f32(env, a[11], &out, &lo) || !arg_f32(env, a[12], &lse, &ll))
    return addon_fail(env, "saelab_blas.attentionForward: q, k, v, out and lse must be Float32Arrays");
  if (!arg_int(env, a[3], 1, &B) || !arg_int(env, a[4], 1, &T) || !arg_int(env, a[5], 1, &H) || !arg_int(env, a[6], 1, &Hkv) ||
      !arg_int(env, a[7], 1, &D) || !arg_num(env, a[8], &scale) || !arg_num(env, a[9], &w) || !arg_num(env, a[10], &cap))
    return addon_fail(env, "saelab_blas.attentionForward: B, T, H, Hkv, D must be positive integers; scale, window, softcap numbers");
  if (H % Hkv != 0) return addon_fail(env, "saelab_blas.attentionForward: H is not a multiple of Hkv");
  window = w > 0 && w < 2147483647.0 ? (int64_t)w : 0;
  // Each product below fits 2^53, so the comparisons cannot overflow.
  if (lq < B * T * H * D || lo < B * T * H * D || lk < B * T * Hkv * D || lv < B * T * Hkv * D || ll < B * H * T)
    return addon_fail(env, "saelab_blas.attentionForward: an array is shorter than its shape");
  attn_dims_t d = {B, T, H, Hkv, D, (float)scale, window, cap > 0 ? (float)cap : 0.0f};
  if (!attention_forward(q, k, v, &d, out, lse, addon_threads())) {
    napi_throw_error(env, NULL, "saelab_blas.attentionForward: out of memory");
    return NULL;
  }
  return NULL;
}

// layerNormForward(x, gamma, beta, rows, eps, y, mean, rstd): layerNorm.h, d = gamma.length.
static napi_value LayerNormForward(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value a[8];
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc != 8)
    return addon_fail(env, "saelab_blas.layerNormForward: expected 8 arguments");
  float *x, *g, *b, *y, *mean, *rstd;
  int64_t lx, lg, lb, ly, lm, lr, rows;
  double eps;
  if (!arg_f32(env, a[0], &x, &lx) || !arg_f32(env, a[1], &g, &lg) || !arg_f32(env, a[2], &b, &lb) || !arg_f32(env, a[5], &y, &ly) ||
      !arg_f32(env, a[6], &mean, &lm) || !arg_f32(env, a[7], &rstd, &lr))
    return addon_fail(env, "saelab_blas.layerNormForward: x, gamma, beta, y, mean and rstd must be Float32Arrays");
  if (!arg_int(env, a[3], 0, &rows) || !arg_num(env, a[4], &eps))
    return addon_fail(env, "saelab_blas.layerNormForward: rows must be a non-negative integer and eps a number");
  const int64_t d = lg;
  if (d < 1 || lb != d || lx < rows * d || ly < rows * d || lm < rows || lr < rows)
    return addon_fail(env, "saelab_blas.layerNormForward: an array is shorter than rows x d (d = gamma.length = beta.length)");
  layer_norm_forward(x, g, b, rows, d, (float)eps, y, mean, rstd, addon_threads());
  return NULL;
}

static int arg_f64(napi_env env, napi_value v, double **d, int64_t *n) { return arg_typed(env, v, napi_float64_array, (void **)d, n); }
static int arg_u8(napi_env env, napi_value v, uint8_t **d, int64_t *n) { return arg_typed(env, v, napi_uint8_array, (void **)d, n); }

// cleanLogitStats(z, n, V, rows, p, lse, a, s): logitLosses.h.
static napi_value CleanLogitStats(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value a[8];
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc != 8)
    return addon_fail(env, "saelab_blas.cleanLogitStats: expected 8 arguments");
  float *z, *p;
  uint8_t *rows;
  double *lse, *av, *sv;
  int64_t lz, lp, lr, ll, la, ls, n, V;
  if (!arg_f32(env, a[0], &z, &lz) || !arg_f32(env, a[4], &p, &lp) || !arg_u8(env, a[3], &rows, &lr) || !arg_f64(env, a[5], &lse, &ll) ||
      !arg_f64(env, a[6], &av, &la) || !arg_f64(env, a[7], &sv, &ls))
    return addon_fail(env, "saelab_blas.cleanLogitStats: z, p must be Float32Arrays, rows a Uint8Array, lse, a, s Float64Arrays");
  if (!arg_int(env, a[1], 0, &n) || !arg_int(env, a[2], 1, &V))
    return addon_fail(env, "saelab_blas.cleanLogitStats: n must be a non-negative and V a positive integer");
  if (lz < n * V || lp < n * V || lr < n || ll < n || la < n || ls < n)
    return addon_fail(env, "saelab_blas.cleanLogitStats: an array is shorter than n x V (or n)");
  clean_logit_stats(z, n, V, rows, p, lse, av, sv, addon_threads());
  return NULL;
}

// compareLogitRows(p, a, s, lse, q, n, V, rows, targets, ce, kl): logitLosses.h.
static napi_value CompareLogitRows(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value a[11];
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc != 11)
    return addon_fail(env, "saelab_blas.compareLogitRows: expected 11 arguments");
  float *p, *q;
  double *av, *sv, *lse, *ce, *kl;
  uint8_t *rows;
  int32_t *targets;
  int64_t lp, la, ls, ll, lq, lr, lt, lc, lk, n, V;
  if (!arg_f32(env, a[0], &p, &lp) || !arg_f64(env, a[1], &av, &la) || !arg_f64(env, a[2], &sv, &ls) || !arg_f64(env, a[3], &lse, &ll) ||
      !arg_f32(env, a[4], &q, &lq) || !arg_u8(env, a[7], &rows, &lr) || !arg_i32(env, a[8], &targets, &lt) ||
      !arg_f64(env, a[9], &ce, &lc) || !arg_f64(env, a[10], &kl, &lk))
    return addon_fail(env, "saelab_blas.compareLogitRows: p, q must be Float32Arrays, a, s, lse, ce, kl Float64Arrays, rows a Uint8Array, targets an Int32Array");
  if (!arg_int(env, a[5], 0, &n) || !arg_int(env, a[6], 1, &V))
    return addon_fail(env, "saelab_blas.compareLogitRows: n must be a non-negative and V a positive integer");
  if (lp < n * V || lq < n * V || la < n || ls < n || ll < n || lr < n || lt < n || lc < n || lk < n)
    return addon_fail(env, "saelab_blas.compareLogitRows: an array is shorter than n x V (or n)");
  for (int64_t r = 0; r < n; r++)
    if (targets[r] >= V) return addon_fail(env, "saelab_blas.compareLogitRows: a target is not below V");
  compare_logit_rows(p, av, sv, lse, q, n, V, rows, targets, ce, kl, addon_threads());
  return NULL;
}

// (a, b, out), three Float32Arrays of one length: the elementwise kernels below.
typedef void (*binary_kernel_t)(const float *a, const float *b, int64_t n, float *out, int threads);

static napi_value binary_op(napi_env env, napi_callback_info info, const char *name, binary_kernel_t kernel) {
  size_t argc = 3;
  napi_value a[3];
  float *x, *y, *out;
  int64_t lx, ly, lo;
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc != 3 || !arg_f32(env, a[0], &x, &lx) || !arg_f32(env, a[1], &y, &ly) ||
      !arg_f32(env, a[2], &out, &lo) || ly != lx || lo != lx) {
    char msg[160];
    snprintf(msg, sizeof msg, "saelab_blas.%s: expected three Float32Arrays of one length", name);
    return addon_fail(env, msg);
  }
  kernel(x, y, lx, out, addon_threads());
  return NULL;
}

// addArrays(a, b, out): out = a + b (out may be a or b).
static napi_value AddArrays(napi_env env, napi_callback_info info) { return binary_op(env, info, "addArrays", add_arrays); }

// reluBackward(x, dy, dx): dx = x > 0 ? dy : 0.
static napi_value ReluBackward(napi_env env, napi_callback_info info) { return binary_op(env, info, "reluBackward", relu_backward); }

// reluForward(x, y): Float32Arrays of one length.
static napi_value ReluForward(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value a[2];
  float *x, *y;
  int64_t lx, ly;
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc != 2 || !arg_f32(env, a[0], &x, &lx) || !arg_f32(env, a[1], &y, &ly) || ly != lx)
    return addon_fail(env, "saelab_blas.reluForward: expected x and y, Float32Arrays of one length");
  relu_forward(x, lx, y, addon_threads());
  return NULL;
}

// (x, rows, cols, out) with x [rows, cols] → out [cols]: the column kernels below.
typedef void (*column_kernel_t)(const float *x, int64_t rows, int64_t cols, float *out, int threads);

static napi_value column_op(napi_env env, napi_callback_info info, const char *name, column_kernel_t kernel) {
  size_t argc = 4;
  napi_value a[4];
  float *x, *out;
  int64_t lx, lo, rows, cols;
  char msg[160];
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc != 4 || !arg_f32(env, a[0], &x, &lx) || !arg_f32(env, a[3], &out, &lo) ||
      !arg_int(env, a[1], 0, &rows) || !arg_int(env, a[2], 1, &cols)) {
    snprintf(msg, sizeof msg, "saelab_blas.%s: expected x (Float32Array), rows, cols (integers), out (Float32Array)", name);
    return addon_fail(env, msg);
  }
  if (lx < rows * cols || lo < cols) {
    snprintf(msg, sizeof msg, "saelab_blas.%s: x is shorter than rows x cols or out than cols", name);
    return addon_fail(env, msg);
  }
  kernel(x, rows, cols, out, addon_threads());
  return NULL;
}

// countPositiveColumns(x, rows, cols, out): out[c] = #{r : x[r, c] > 0}.
static napi_value CountPositiveColumns(napi_env env, napi_callback_info info) {
  return column_op(env, info, "countPositiveColumns", count_positive_columns);
}

// sumColumns(x, rows, cols, out): out[c] = Σ_r x[r, c] (double in row order, then float).
static napi_value SumColumns(napi_env env, napi_callback_info info) { return column_op(env, info, "sumColumns", sum_columns); }

int register_forward_ops(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"attentionForward", NULL, AttentionForward, NULL, NULL, NULL, napi_default, NULL},
      {"layerNormForward", NULL, LayerNormForward, NULL, NULL, NULL, napi_default, NULL},
      {"cleanLogitStats", NULL, CleanLogitStats, NULL, NULL, NULL, napi_default, NULL},
      {"compareLogitRows", NULL, CompareLogitRows, NULL, NULL, NULL, napi_default, NULL},
      {"addArrays", NULL, AddArrays, NULL, NULL, NULL, napi_default, NULL},
      {"reluForward", NULL, ReluForward, NULL, NULL, NULL, napi_default, NULL},
      {"reluBackward", NULL, ReluBackward, NULL, NULL, NULL, napi_default, NULL},
      {"countPositiveColumns", NULL, CountPositiveColumns, NULL, NULL, NULL, napi_default, NULL},
      {"sumColumns", NULL, SumColumns, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) == napi_ok;
}
