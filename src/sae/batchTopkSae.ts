// The BatchTopK SAE (Bussmann et al. 2024): training keeps the k·N largest ReLU'd pre-activations
// over the whole batch of N tokens (so k active per token on average); inference uses a single
// threshold θ instead, f = ReLU(pre)·[ReLU(pre) > θ] (JumpReLU), so tokens are independent. SAELens
// has no inference BatchTopK: its folders hold such an SAE as `jumprelu` with θ repeated [d_sae]
// (saeFiles.ts writes ours that way), and `thresholdEncode` serves both.
// θ [1] is a running mean (β = 0.999) of the smallest kept activation of each training batch, set
// to the first batch's value while θ < 0 (as dictionary_learning). `step` updates θ in place.
// Loss and gradients are TopK's (MSE + α·AuxK), see topkSae.ts.

import { relu, reluBackward } from '../compute/ops/activations.js';
import { sub } from '../compute/ops/elementwise.js';
import { topkRows } from '../compute/ops/topk.js';
import type { Tensor } from '../compute/tensor.js';
import { decodeDense, encoderInput, preActivations } from './saeCommon.js';
import { scatterRows, updateThreshold } from './saeKernels.js';
import { denseCodeStep } from './topkSae.js';
import type { SaeConfig, SaeModel, SaeParams, SaeStepContext, SaeStepResult } from './types.js';

/** Running-mean factor of the inference threshold. */
export const THRESHOLD_BETA = 0.999;

/** f = the k·N largest entries of ReLU(pre) [N, dSae] over the batch, 0 elsewhere; `kept` gets the picked values. */
export function batchTopkActivations(pre: Tensor, k: number, onKept?: (values: Tensor) => void): Tensor {
  const [N, dSae] = [pre.shape[0]!, pre.shape[1]!];
  const total = N * dSae;
  const K = Math.min(total, Math.max(0, Math.round(k * N)));
  const r = relu(pre);
  const tk = topkRows(r.reshape([1, total]), K);
  r.dispose();
  onKept?.(tk.values);
  const f = scatterRows(tk.values, tk.indices, total).reshape([N, dSae]);
  tk.values.dispose();
  tk.indices.dispose();
  return f;
}

/**
 * JumpReLU inference: f = ReLU(pre)·[ReLU(pre) > θ] for θ [1] or [dSae]. Equal to SAELens's
 * ReLU(pre)·[pre > θ] for every θ (where they differ, ReLU(pre) is 0).
 */
export function thresholdEncode(params: SaeParams, cfg: SaeConfig, x: Tensor): Tensor {
  const xin = encoderInput(params, cfg, x);
  const pre = preActivations(params, xin);
  if (xin !== x) xin.dispose();
  const r = relu(pre);
  pre.dispose();
  const over = sub(r, params.threshold!); // r − θ > 0 exactly when r > θ (IEEE subtraction keeps the sign)
  const f = reluBackward(over, r);
  over.dispose();
  r.dispose();
  return f;
}

/** A BatchTopK SAE with an inference threshold (params.threshold [1]). */
export class BatchTopKSae implements SaeModel {
  constructor(
    readonly cfg: SaeConfig,
    readonly params: SaeParams,
  ) {
    if (!(typeof cfg.k === 'number' && cfg.k > 0 && cfg.k <= cfg.dSae)) throw new Error(`batchtopk SAE: k must be in (0, ${cfg.dSae}] (got ${cfg.k})`);
    if (!params.threshold || params.threshold.numel !== 1) throw new Error('batchtopk SAE: params.threshold must be a [1] tensor');
  }

  /** Inference: f = ReLU(pre)·[ReLU(pre) > θ]. */
  encode(x: Tensor): Tensor {
    return thresholdEncode(this.params, this.cfg, x);
  }

  /** x̂ = f·W_dec + b_dec (dense). */
  decode(f: Tensor): Tensor {
    return decodeDense(this.params, f);
  }

  /** Training: batch top-k activations, loss = MSE + α·AuxK; updates θ in place. */
  step(x: Tensor, ctx: SaeStepContext): SaeStepResult {
    return denseCodeStep(this.params, this.cfg, x, ctx, (pre) => batchTopkActivations(pre, this.cfg.k!, (kept) => updateThreshold(kept, this.params.threshold!, THRESHOLD_BETA)));
  }
}
