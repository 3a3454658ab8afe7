// The SAE's output as training sees it, for splicing into the model: x̂ = decode(activations of the
// training step). Standard and TopK use their encoders; BatchTopK keeps the batch's k·N largest
// activations (its training code) rather than the inference threshold, and leaves θ alone (the
// step that follows updates it once). Plus the two ends of a splice: the change to add at the hook's
// kept rows, and the hook's gradient turned back into the SAE's output gradient.

import { decodeDense, encoderInput, preActivations } from './saeCommon.js';
import { batchTopkActivations } from './batchTopkSae.js';
import { scale, sub } from '../compute/ops/elementwise.js';
import { embeddingGather, embeddingScatterAdd } from '../compute/ops/embedding.js';
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

/**
 * The change the SAE makes at the hook, for a forward hook to add: (x̂ − x)/c on the kept rows
 * `rows` [N] (flat b·T + t) of a [B, T, d] hook value, 0 elsewhere. `x` [N, d] is normalised by c.
 */
export function spliceDelta(sae: SaeModel, x: Tensor, rows: Tensor, shape: readonly [number, number, number], c: number): Tensor {
  const [B, T, d] = shape;
  const xhat = trainingReconstruction(sae, x);
  const diff = sub(xhat, x);
  xhat.dispose();
  const kept = c === 1 ? diff : scale(diff, 1 / c);
  if (kept !== diff) diff.dispose();
  const delta = embeddingScatterAdd(rows, kept, B * T).reshape([B, T, d]);
  kept.dispose();
  return delta;
}

/** dL/dx̂ [N, d] in normalised units from dL/d(hook value) [B, T, d]: its kept rows, divided by c (x̂_raw = x̂/c). Disposes `hookGrad`. */
export function keptOutputGrad(hookGrad: Tensor, rows: Tensor, c: number): Tensor {
  const d = hookGrad.shape[hookGrad.shape.length - 1]!;
  const kept = embeddingGather(hookGrad.reshape([hookGrad.numel / d, d]), rows);
  hookGrad.dispose();
  if (c === 1) return kept;
  const out = scale(kept, 1 / c);
  kept.dispose();
  return out;
}
