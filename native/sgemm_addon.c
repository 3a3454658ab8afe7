// saelab_blas: a minimal N-API addon exposing OpenBLAS cblas_sgemm on Float32Arrays, and the
// vectorised CPU kernels whose TypeScript twins are too slow: the KL-to-target rows of klRows.c (the
// hot loop of end-to-end SAE training) and gelu_new of activations.c (Math.tanh).
//
// The JS wrapper (src/compute/cpu/sgemm.ts) validates arguments with clear messages; this file
// re-checks every accessed range anyway, so that calling the addon directly can never read or
// write outside the arrays. Plain C + node_api.h keeps the build to one compiler call.

#include <node_api.h>
#include <cblas.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include "klRows.h"
#include "activations.h"
#include "forwardOps.h"
#include "saeStepAddon.h"

// OpenBLAS extras, declared weak so the addon still links against another CBLAS.
#if defined(__GNUC__)
extern char *openblas_get_config(void) __attribute__((weak));
extern int openblas_get_num_threads(void) __attribute__((weak));
extern void openblas_set_num_threads(int) __attribute__((weak));
#define HAVE_WEAK 1
#endif

#define CHECK(env, call)                                         \
  do {                                                           \
    if ((call) != napi_ok) {                                     \
      napi_throw_error((env), NULL, "saelab_blas: N-API call failed: " #call); \
      return NULL;                                               \
    }                                                            \
  } while (0)

static napi_value throw_range(napi_env env, const char *msg) {
  napi_throw_range_error(env, NULL, msg);
  return NULL;
}

// Reads a non-negative integer that fits a 32-bit BLAS int.
static int get_dim(napi_env env, napi_value v, int64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return 0;
  if (!(d >= 0 && d <= 2147483647.0) || d != (double)(int64_t)d) return 0;
  *out = (int64_t)d;
  return 1;
}

// Reads a non-negative integer offset (may exceed 32 bits: it only moves a pointer).
static int get_offset(napi_env env, napi_value v, int64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return 0;
  if (!(d >= 0 && d <= 9007199254740991.0) || d != (double)(int64_t)d) return 0;
  *out = (int64_t)d;
  return 1;
}

static int get_f32(napi_env env, napi_value v, float **data, int64_t *len) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
  napi_typedarray_type type;
  size_t length;
  void *ptr;
  if (napi_get_typedarray_info(env, v, &type, &length, &ptr, NULL, NULL) != napi_ok) return 0;
  if (type != napi_float32_array) return 0;
  *data = (float *)ptr;  // already includes the view's byteOffset
  *len = (int64_t)length;
  return 1;
}

// True when a rows×cols block with leading dimension ld at offset off lies inside len elements.
static int block_ok(int64_t off, int64_t rows, int64_t cols, int64_t ld, int64_t len) {
  if (ld < (cols > 1 ? cols : 1)) return 0;
  if (rows == 0 || cols == 0) return off <= len;
  return off + (rows - 1) * ld + cols <= len;  // no overflow: each term < 2^53 / 2^62
}

typedef struct {
  int transA, transB;
  int64_t M, N, K, lda, ldb, ldc;
  float alpha, beta;
  float *A, *B, *C;
  int64_t aOff, bOff, cOff, aLen, bLen, cLen;
} gemm_t;

// Parses args[0..15]: transA, transB, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, beta, C, cOff, ldc.
static int parse_gemm(napi_env env, napi_value *a, gemm_t *g) {
  bool ta, tb;
  double alpha, beta;
  if (napi_get_value_bool(env, a[0], &ta) != napi_ok || napi_get_value_bool(env, a[1], &tb) != napi_ok) {
    throw_range(env, "saelab_blas: transA/transB must be booleans");
    return 0;
  }
  g->transA = ta;
  g->transB = tb;
  if (!get_dim(env, a[2], &g->M) || !get_dim(env, a[3], &g->N) || !get_dim(env, a[4], &g->K) ||
      !get_dim(env, a[8], &g->lda) || !get_dim(env, a[11], &g->ldb) || !get_dim(env, a[15], &g->ldc)) {
    throw_range(env, "saelab_blas: M, N, K and leading dimensions must be integers in [0, 2^31)");
    return 0;
  }
  if (!get_offset(env, a[7], &g->aOff) || !get_offset(env, a[10], &g->bOff) || !get_offset(env, a[14], &g->cOff)) {
    throw_range(env, "saelab_blas: offsets must be non-negative integers");
    return 0;
  }
  if (napi_get_value_double(env, a[5], &alpha) != napi_ok || napi_get_value_double(env, a[12], &beta) != napi_ok) {
    throw_range(env, "saelab_blas: alpha/beta must be numbers");
    return 0;
  }
  g->alpha = (float)alpha;
  g->beta = (float)beta;
  if (!get_f32(env, a[6], &g->A, &g->aLen) || !get_f32(env, a[9], &g->B, &g->bLen) ||
      !get_f32(env, a[13], &g->C, &g->cLen)) {
    throw_range(env, "saelab_blas: A, B and C must be Float32Arrays");
    return 0;
  }
  return 1;
}

// Checks the ranges one product touches, with extra element offsets (for batches).
static int ranges_ok(const gemm_t *g, int64_t da, int64_t db, int64_t dc) {
  int64_t ar = g->transA ? g->K : g->M, ac = g->transA ? g->M : g->K;
  int64_t br = g->transB ? g->N : g->K, bc = g->transB ? g->K : g->N;
  return block_ok(g->aOff + da, ar, ac, g->lda, g->aLen) && block_ok(g->bOff + db, br, bc, g->ldb, g->bLen) &&
         block_ok(g->cOff + dc, g->M, g->N, g->ldc, g->cLen);
}

static void run_gemm(const gemm_t *g, int64_t da, int64_t db, int64_t dc) {
  if (g->M == 0 || g->N == 0) return;
  cblas_sgemm(CblasRowMajor, g->transA ? CblasTrans : CblasNoTrans, g->transB ? CblasTrans : CblasNoTrans,
              (int)g->M, (int)g->N, (int)g->K, g->alpha, g->A + g->aOff + da, (int)g->lda, g->B + g->bOff + db,
              (int)g->ldb, g->beta, g->C + g->cOff + dc, (int)g->ldc);
}

// sgemm(transA, transB, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, beta, C, cOff, ldc)
static napi_value Sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 16;
  napi_value args[16];
  CHECK(env, napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc != 16) return throw_range(env, "saelab_blas.sgemm: expected 16 arguments");
  gemm_t g;
  if (!parse_gemm(env, args, &g)) return NULL;
  if (!ranges_ok(&g, 0, 0, 0)) return throw_range(env, "saelab_blas.sgemm: a matrix lies outside its array");
  run_gemm(&g, 0, 0, 0);
  return NULL;
}

// sgemmBatched(...the 16 sgemm args, batch, strideA, strideB, strideC): one call per batch item.
static napi_value SgemmBatched(napi_env env, napi_callback_info info) {
  size_t argc = 20;
  napi_value args[20];
  CHECK(env, napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc != 20) return throw_range(env, "saelab_blas.sgemmBatched: expected 20 arguments");
  gemm_t g;
  if (!parse_gemm(env, args, &g)) return NULL;
  int64_t batch, sa, sb, sc;
  if (!get_offset(env, args[16], &batch) || !get_offset(env, args[17], &sa) || !get_offset(env, args[18], &sb) ||
      !get_offset(env, args[19], &sc))
    return throw_range(env, "saelab_blas.sgemmBatched: batch and strides must be non-negative integers");
  if (batch == 0) return NULL;
  // Offsets grow linearly with the index, so checking the first and last item covers all.
  if (!ranges_ok(&g, 0, 0, 0) || !ranges_ok(&g, (batch - 1) * sa, (batch - 1) * sb, (batch - 1) * sc))
    return throw_range(env, "saelab_blas.sgemmBatched: a matrix lies outside its array");
  for (int64_t i = 0; i < batch; i++) run_gemm(&g, i * sa, i * sb, i * sc);
  return NULL;
}

// info() -> { config: string, threads: number }
static napi_value Info(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value obj, config, threads;
  const char *cfg = "CBLAS";
  int n = 0;
#ifdef HAVE_WEAK
  if (openblas_get_config) cfg = openblas_get_config();
  if (openblas_get_num_threads) n = openblas_get_num_threads();
#endif
  CHECK(env, napi_create_object(env, &obj));
  CHECK(env, napi_create_string_utf8(env, cfg, NAPI_AUTO_LENGTH, &config));
  CHECK(env, napi_create_int32(env, n, &threads));
  CHECK(env, napi_set_named_property(env, obj, "config", config));
  CHECK(env, napi_set_named_property(env, obj, "threads", threads));
  return obj;
}

// setThreads(n): OpenBLAS thread count (no-op for other CBLAS builds).
static napi_value SetThreads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  int32_t n = 0;
  CHECK(env, napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc != 1 || napi_get_value_int32(env, args[0], &n) != napi_ok || n < 1)
    return throw_range(env, "saelab_blas.setThreads: expected a positive integer");
#ifdef HAVE_WEAK
  if (openblas_set_num_threads) openblas_set_num_threads(n);
#endif
  return NULL;
}

// stderrToFile(path) -> saved fd: points fd 2 at a file so that a native library's direct stderr
// writes can be filtered (Dawn prints limit warnings on adapter discovery that nothing else can
// silence); stderrRestore(saved) puts fd 2 back. Both flush C's stderr first.
static napi_value StderrToFile(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  char path[4096];
  size_t len = 0;
  CHECK(env, napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc != 1 || napi_get_value_string_utf8(env, args[0], path, sizeof(path), &len) != napi_ok || len == 0 || len >= sizeof(path) - 1)
    return throw_range(env, "saelab_blas.stderrToFile: expected a file path");
  fflush(stderr);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return throw_range(env, "saelab_blas.stderrToFile: cannot open the file");
  int saved = dup(2);
  if (saved < 0 || dup2(fd, 2) < 0) {
    close(fd);
    if (saved >= 0) close(saved);
    return throw_range(env, "saelab_blas.stderrToFile: dup failed");
  }
  close(fd);
  napi_value out;
  CHECK(env, napi_create_int32(env, saved, &out));
  return out;
}

static napi_value StderrRestore(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  int32_t saved = -1;
  CHECK(env, napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc != 1 || napi_get_value_int32(env, args[0], &saved) != napi_ok || saved < 0)
    return throw_range(env, "saelab_blas.stderrRestore: expected the fd stderrToFile returned");
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  return NULL;
}

static int addon_threads(void) {
#ifdef HAVE_WEAK
  if (openblas_get_num_threads) return openblas_get_num_threads();
#endif
  return 1;
}

// klTargetRows(a, rows, V, probs, plogp): klRows.h's kl_target_rows on Float32Arrays.
static napi_value KlTargetRows(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value args[5];
  float *a, *probs, *plogp;
  int64_t la, lp, ll, rows, V;
  CHECK(env, napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc != 5 || !get_f32(env, args[0], &a, &la) || !get_offset(env, args[1], &rows) || !get_offset(env, args[2], &V) ||
      !get_f32(env, args[3], &probs, &lp) || !get_f32(env, args[4], &plogp, &ll))
    return throw_range(env, "saelab_blas.klTargetRows: expected (Float32Array, rows, V, Float32Array, Float32Array)");
  if (V < 1 || rows > la / V || la < rows * V || lp < rows * V || ll < rows)
    return throw_range(env, "saelab_blas.klTargetRows: arrays shorter than rows x V");
  kl_target_rows(a, rows, V, probs, plogp, addon_threads());
  return NULL;
}

// klToTargetRows(probs, plogp, b, w, rows, V, dq, klw): klRows.h's kl_to_target_rows on Float32Arrays.
static napi_value KlToTargetRows(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value args[8];
  float *probs, *plogp, *b, *w, *dq, *klw;
  int64_t lp, ll, lb, lw, ld, lk, rows, V;
  CHECK(env, napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc != 8 || !get_f32(env, args[0], &probs, &lp) || !get_f32(env, args[1], &plogp, &ll) || !get_f32(env, args[2], &b, &lb) ||
      !get_f32(env, args[3], &w, &lw) || !get_offset(env, args[4], &rows) || !get_offset(env, args[5], &V) ||
      !get_f32(env, args[6], &dq, &ld) || !get_f32(env, args[7], &klw, &lk))
    return throw_range(env, "saelab_blas.klToTargetRows: expected (Float32Array x4, rows, V, Float32Array x2)");
  if (V < 1 || rows > lp / V || lp < rows * V || lb < rows * V || ld < rows * V || ll < rows || lw < rows || lk < rows)
    return throw_range(env, "saelab_blas.klToTargetRows: arrays shorter than rows x V");
  kl_to_target_rows(probs, plogp, b, w, rows, V, dq, klw, addon_threads());
  return NULL;
}

// geluForward(x, y) / geluBackward(x, dy, dx): activations.c over whole Float32Arrays of one length.
static napi_value GeluForward(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  float *x, *y;
  int64_t lx, ly;
  CHECK(env, napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc != 2 || !get_f32(env, args[0], &x, &lx) || !get_f32(env, args[1], &y, &ly) || lx != ly)
    return throw_range(env, "saelab_blas.geluForward: expected two Float32Arrays of one length");
  gelu_forward(x, lx, y);
  return NULL;
}

static napi_value GeluBackward(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value args[3];
  float *x, *dy, *dx;
  int64_t lx, ly, ld;
  CHECK(env, napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc != 3 || !get_f32(env, args[0], &x, &lx) || !get_f32(env, args[1], &dy, &ly) || !get_f32(env, args[2], &dx, &ld) || lx != ly || lx != ld)
    return throw_range(env, "saelab_blas.geluBackward: expected three Float32Arrays of one length");
  gelu_backward(x, dy, lx, dx);
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sgemm", NULL, Sgemm, NULL, NULL, NULL, napi_default, NULL},
      {"sgemmBatched", NULL, SgemmBatched, NULL, NULL, NULL, napi_default, NULL},
      {"info", NULL, Info, NULL, NULL, NULL, napi_default, NULL},
      {"setThreads", NULL, SetThreads, NULL, NULL, NULL, napi_default, NULL},
      {"stderrToFile", NULL, StderrToFile, NULL, NULL, NULL, napi_default, NULL},
      {"stderrRestore", NULL, StderrRestore, NULL, NULL, NULL, napi_default, NULL},
      {"klTargetRows", NULL, KlTargetRows, NULL, NULL, NULL, napi_default, NULL},
      {"klToTargetRows", NULL, KlToTargetRows, NULL, NULL, NULL, napi_default, NULL},
      {"geluForward", NULL, GeluForward, NULL, NULL, NULL, napi_default, NULL},
      {"geluBackward", NULL, GeluBackward, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(env, napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
  if (!register_forward_ops(env, exports)) return NULL;
  if (sae_step_register(env, exports) != 0) return NULL;
  return exports;
}

#ifndef NODE_GYP_MODULE_NAME
#define NODE_GYP_MODULE_NAME saelab_blas
#endif
NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
