// N-API wrappers of the CPU forward kernels (forwardOps.c): attentionRows.c, layerNorm.c, elementwise.c and the eval's logitLosses.c.
#ifndef SAELAB_FORWARD_OPS_H
#define SAELAB_FORWARD_OPS_H
#include <node_api.h>

// Adds attentionForward, layerNormForward, cleanLogitStats and compareLogitRows, addArrays, reluForward, reluBackward, countPositiveColumns, sumColumns to `exports`; returns 0 (an exception pending) on failure.
int register_forward_ops(napi_env env, napi_value exports);
#endif
