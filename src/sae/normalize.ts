// SAELens' `expected_average_only_in` input scaling: x ↦ s·x with s = sqrt(dIn / mean_t ‖x_t‖²),
// estimated once on a sample, so that scaled inputs have mean squared norm dIn. Only the input is
// scaled (outputs are compared in the scaled space; `denormalize` maps reconstructions back).
// In cfg.json the mode is `normalize_activations` and the factor `norm_scaling_factor`, the name
// SAELens uses for it in its pretrained-SAE directory (SAELens itself folds the factor into the
// weights at the end of training; we keep it stored so the folder records what training saw).

import { scale } from '../compute/ops/elementwise.js';
import type { Tensor } from '../compute/tensor.js';

/** The cfg.json key of the scaling factor. */
export const NORM_SCALING_FACTOR_KEY = 'norm_scaling_factor';

/** s = sqrt(dIn / mean_t ‖x_t‖²) of a sample x [N, dIn] (host float64). */
export async function estimateNormScalingFactor(sample: Tensor): Promise<number> {
  if (sample.shape.length !== 2) throw new Error(`estimateNormScalingFactor: sample must be [N, dIn], got [${sample.shape}]`);
  const [N, d] = [sample.shape[0]!, sample.shape[1]!];
  const xs = await sample.read();
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]! * xs[i]!;
  const meanSq = s / Math.max(N, 1);
  if (!(meanSq > 0)) throw new Error('estimateNormScalingFactor: the sample is all zeros');
  return Math.sqrt(d / meanSq);
}

/** An input scaling (identity when `factor` is 1 / mode 'none'). */
export class ActivationNormalizer {
  constructor(readonly factor: number) {}

  /** Estimate the factor on a sample. */
  static async fromSample(sample: Tensor): Promise<ActivationNormalizer> {
    return new ActivationNormalizer(await estimateNormScalingFactor(sample));
  }

  /** s·x (a new tensor). */
  normalize(x: Tensor): Tensor {
    return scale(x, this.factor);
  }

  /** x / s (a new tensor). */
  denormalize(x: Tensor): Tensor {
    return scale(x, 1 / this.factor);
  }
}
