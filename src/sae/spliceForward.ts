// The SAE's output as training sees it, for splicing into the model: x̂ = decode(activations of the
// training step). Standard and TopK use their encoders; BatchTopK keeps the batch's k·N largest
// activations (its training code) rather than the inference threshold, and leaves θ alone (the
// step that follows updates it once).

import { decodeDense, encoderInput, preActivations } from './saeCommon.js';
import { batchTopkActivations } from './batchTopkSae.js';
import type { Tensor } from '../compute/tensor.js';
import type { SaeModel } from './types.js';

/** The latent code f [N, dSae] of the SAE's training forward on x [N, dIn] (normalised units). */
export function trainingCode(sae: SaeModel, x: Tensor): Tensor {
  if (sae.cfg.architecture !== 'batchtopk') return sae.encode(x);
  const xin = encoderInput(sae.params, sae.cfg, x);
  const pre = preActivations(sae.params, xin);
  if (xin !== x) xin.dispose();
  const f = batchTopkActivations(pre, sae.cfg.k!);
  pre.dispose();
  return f;
}

/** x̂ [N, dIn] of the SAE's training forward on x [N, dIn] (normalised units). */
export function trainingReconstruction(sae: SaeModel, x: Tensor): Tensor {
  const f = trainingCode(sae, x);
  const xhat = decodeDense(sae.params, f);
  f.dispose();
  return xhat;
}
