// N-API wrappers of attentionRows.c and layerNorm.c. The TypeScript callers
// (src/compute/ops/attentionFastCpu.ts, layerNorm.ts) check shapes with clear messages; these
// re-check every length anyway, so a direct call can never read or write outside its arrays.

#include "forwardOps.h"
#include "attentionRows.h"
#include "layerNorm.h"
#include <stdint.h>

#if defined(__GNUC__)
extern int openblas_get_num_threads(void) __attribute__((weak));
#endif

static int threads_available(void) {
#if defined(__GNUC__)
  if (openblas_get_num_threads) return openblas_get_num_threads();
#endif
  return 1;
}

static napi_value fail(napi_env env, const char *msg) {
  napi_throw_range_error(env, NULL, msg);
  return NULL;
}

static int f32_arg(napi_env env, napi_value v, float **data, int64_t *len) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
  napi_typedarray_type type;
  size_t length;
  void *ptr;
  if (napi_get_typedarray_info(env, v, &type, &length, &ptr, NULL, NULL) != napi_ok || type != napi_float32_array) return 0;
  *data = (float *)ptr;
  *len = (int64_t)length;
  return 1;
}

// An integer in [lo, 2^31).
static int int_arg(napi_env env, napi_value v, int64_t lo, int64_t *out) {
  double x;
  if (napi_get_value_double(env, v, &x) != napi_ok || !(x >= (double)lo && x <= 2147483647.0) || x != (double)(int64_t)x) return 0;
  *out = (int64_t)x;
  return 1;
}

static int num_arg(napi_env env, napi_value v, double *out) { return napi_get_value_double(env, v, out) == napi_ok; }

// attentionForward(q, k, v, B, T, H, Hkv, D, scale, window, softcap, out, lse): attentionRows.h;
// window ≤ 0 and softcap ≤ 0 mean none.
static napi_value AttentionForward(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value a[13];
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc != 13)
    return fail(env, "saelab_blas.attentionForward: expected 13 arguments");
  float *q, *k, *v, *out, *lse;
  int64_t lq, lk, lv, lo, ll, B, T, H, Hkv, D, window;
  double scale, cap, w;
  if (!f32_arg(env, a[0], &q, &lq) || !f32_arg(env, a[1], &k, &lk) || !f32_arg(env, a[2], &v, &lv) ||
      !f32_arg(env, a[11], &out, &lo) || !f32_arg(env, a[12], &lse, &ll))
    return fail(env, "saelab_blas.attentionForward: q, k, v, out and lse must be Float32Arrays");
  if (!int_arg(env, a[3], 1, &B) || !int_arg(env, a[4], 1, &T) || !int_arg(env, a[5], 1, &H) || !int_arg(env, a[6], 1, &Hkv) ||
      !int_arg(env, a[7], 1, &D) || !num_arg(env, a[8], &scale) || !num_arg(env, a[9], &w) || !num_arg(env, a[10], &cap))
    return fail(env, "saelab_blas.attentionForward: B, T, H, Hkv, D must be positive integers; scale, window, softcap numbers");
  if (H % Hkv != 0) return fail(env, "saelab_blas.attentionForward: H is not a multiple of Hkv");
  window = w > 0 && w < 2147483647.0 ? (int64_t)w : 0;
  // Each product below fits 2^53, so the comparisons cannot overflow.
  if (lq < B * T * H * D || lo < B * T * H * D || lk < B * T * Hkv * D || lv < B * T * Hkv * D || ll < B * H * T)
    return fail(env, "saelab_blas.attentionForward: an array is shorter than its shape");
  attn_dims_t d = {B, T, H, Hkv, D, (float)scale, window, cap > 0 ? (float)cap : 0.0f};
  if (!attention_forward(q, k, v, &d, out, lse, threads_available())) {
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
    return fail(env, "saelab_blas.layerNormForward: expected 8 arguments");
  float *x, *g, *b, *y, *mean, *rstd;
  int64_t lx, lg, lb, ly, lm, lr, rows;
  double eps;
  if (!f32_arg(env, a[0], &x, &lx) || !f32_arg(env, a[1], &g, &lg) || !f32_arg(env, a[2], &b, &lb) || !f32_arg(env, a[5], &y, &ly) ||
      !f32_arg(env, a[6], &mean, &lm) || !f32_arg(env, a[7], &rstd, &lr))
    return fail(env, "saelab_blas.layerNormForward: x, gamma, beta, y, mean and rstd must be Float32Arrays");
  if (!int_arg(env, a[3], 0, &rows) || !num_arg(env, a[4], &eps))
    return fail(env, "saelab_blas.layerNormForward: rows must be a non-negative integer and eps a number");
  const int64_t d = lg;
  if (d < 1 || lb != d || lx < rows * d || ly < rows * d || lm < rows || lr < rows)
    return fail(env, "saelab_blas.layerNormForward: an array is shorter than rows x d (d = gamma.length = beta.length)");
  layer_norm_forward(x, g, b, rows, d, (float)eps, y, mean, rstd, threads_available());
  return NULL;
}

int register_forward_ops(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"attentionForward", NULL, AttentionForward, NULL, NULL, NULL, napi_default, NULL},
      {"layerNormForward", NULL, LayerNormForward, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) == napi_ok;
}
