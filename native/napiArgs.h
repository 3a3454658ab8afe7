// Argument reading shared by the addon's N-API bindings (forwardOps.c, saeStepAddon.c): each
// binding re-checks every array's type and length before a kernel touches it, and a bad argument
// throws a RangeError with one line.
#ifndef SAELAB_NAPI_ARGS_H
#define SAELAB_NAPI_ARGS_H

#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>

#if defined(__GNUC__)
extern int openblas_get_num_threads(void) __attribute__((weak));
#endif

// The threads the kernels may use: OpenBLAS's setting (so one knob governs BLAS and our loops).
static inline int addon_threads(void) {
#if defined(__GNUC__)
  if (openblas_get_num_threads) return openblas_get_num_threads();
#endif
  return 1;
}

static inline napi_value addon_fail(napi_env env, const char *msg) {
  napi_throw_range_error(env, NULL, msg);
  return NULL;
}

// A typed array of the given type: its data and length (elements).
static inline int arg_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, int64_t *len) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
  napi_typedarray_type type;
  size_t length;
  if (napi_get_typedarray_info(env, v, &type, &length, data, NULL, NULL) != napi_ok || type != want) return 0;
  *len = (int64_t)length;
  return 1;
}

static inline int arg_f32(napi_env env, napi_value v, float **d, int64_t *n) { return arg_typed(env, v, napi_float32_array, (void **)d, n); }
static inline int arg_i32(napi_env env, napi_value v, int32_t **d, int64_t *n) { return arg_typed(env, v, napi_int32_array, (void **)d, n); }

// null or undefined (an optional array left out).
static inline int arg_is_null(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && (t == napi_null || t == napi_undefined);
}

// A whole number in [lo, 2^31) (every size these kernels take fits a BLAS int).
static inline int arg_int(napi_env env, napi_value v, int64_t lo, int64_t *out) {
  double x;
  if (napi_get_value_double(env, v, &x) != napi_ok || !(x >= (double)lo && x <= 2147483647.0) || x != (double)(int64_t)x) return 0;
  *out = (int64_t)x;
  return 1;
}

static inline int arg_num(napi_env env, napi_value v, double *out) { return napi_get_value_double(env, v, out) == napi_ok; }

#endif
