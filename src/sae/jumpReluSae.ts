// A JumpReLU SAE (Rajamanoharan et al. 2024, e.g. Gemma Scope), loaded from SAELens folders for
// inference: f = ReLU(pre)·[pre > θ_i] with one threshold per latent (params.threshold [dSae]).
// saelab does not train it (its straight-through threshold gradients are not implemented).

import type { Tensor } from '../compute/tensor.js';
import { thresholdEncode } from './batchTopkSae.js';
import { decodeDense } from './saeCommon.js';
import type { SaeConfig, SaeModel, SaeParams, SaeStepResult } from './types.js';

/** A JumpReLU SAE for inference. */
export class JumpReluSae implements SaeModel {
  constructor(
    readonly cfg: SaeConfig,
    readonly params: SaeParams,
  ) {
    if (!params.threshold || params.threshold.numel !== cfg.dSae) throw new Error(`jumprelu SAE: params.threshold must be a [${cfg.dSae}] tensor`);
  }

  /** f = ReLU(pre)·[pre > θ]. */
  encode(x: Tensor): Tensor {
    return thresholdEncode(this.params, this.cfg, x);
  }

  /** x̂ = f·W_dec + b_dec. */
  decode(f: Tensor): Tensor {
    return decodeDense(this.params, f);
  }

  /** Not supported: JumpReLU SAEs are loaded for inference only. */
  step(): SaeStepResult {
    throw new Error('jumprelu SAEs are loaded for inference only: saelab trains standard, topk and batchtopk');
  }
}
