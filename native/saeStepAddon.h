// N-API bindings of the SAE training step's C kernels (topkEncode.c, sparseCode.c, adamw.c, decoderNorm.c);
// sgemm_addon.c's Init calls sae_step_register to add them to the addon's exports.
#ifndef SAELAB_SAE_STEP_ADDON_H
#define SAELAB_SAE_STEP_ADDON_H
#include <node_api.h>

// Defines topkEncode, sparseDecode, sparseRowDots, bucketRowSums, adamwUpdate, removeParallelGrad and normalizeRows on `exports`; 0 on success.
int sae_step_register(napi_env env, napi_value exports);
#endif
