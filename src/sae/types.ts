// The contract between SAE architectures, the trainer and the file format. An architecture turns a
// batch of activations into a loss and parameter gradients; the trainer owns the optimiser, the
// schedule, dead-feature tracking and checkpoints; the file layer writes SAELens folders.

import type { Tensor } from '../compute/tensor.js';

/** SAELens architecture names (`standard` is ReLU with decoder-norm-weighted L1; `jumprelu` is loaded for inference only). */
export type SaeArchitecture = 'standard' | 'topk' | 'batchtopk' | 'jumprelu';

/** How inputs are scaled before the SAE sees them. */
export type ActivationNormalization = 'none' | 'expected_average_only_in';

/** Everything that fixes an SAE's shape and training objective (serialised into cfg.json). */
export interface SaeConfig {
  architecture: SaeArchitecture;
  dIn: number;
  dSae: number;
  /** TopK / BatchTopK: active latents per token (BatchTopK: on average over the batch). */
  k?: number;
  /** standard: coefficient of Σ_i f_i ‖W_dec[i]‖. */
  l1Coefficient?: number;
  /** TopK: latents in the AuxK dead-latent loss (default 2·k… 512, as in Gao et al.). */
  auxK?: number;
  /** TopK: weight of the AuxK loss (default 1/32). */
  auxKCoefficient?: number;
  /** A latent is dead after this many tokens without firing (AuxK and the dead fraction). */
  deadTokensThreshold?: number;
  /** Subtract b_dec from the input before encoding (SAELens `apply_b_dec_to_input`). */
  applyBDecToInput: boolean;
  /** Keep decoder rows at unit norm after every step. */
  decoderUnitNorm: boolean;
  normalizeActivations: ActivationNormalization;
  /** Seed of the parameter initialisation. */
  seed: number;
}

/** The tensors of an SAE, in SAELens layout. */
export interface SaeParams {
  /** [dIn, dSae] */
  W_enc: Tensor;
  /** [dSae] */
  b_enc: Tensor;
  /** [dSae, dIn] */
  W_dec: Tensor;
  /** [dIn] */
  b_dec: Tensor;
  /** BatchTopK inference threshold [1], or JumpReLU thresholds [dSae]. */
  threshold?: Tensor;
}

/** One training step's numbers (means over the batch's tokens). */
export interface SaeStepStats {
  loss: number;
  /** Σ_j (x̂_j − x_j)², mean over tokens. */
  mse: number;
  l1?: number;
  auxK?: number;
  /** Mean number of active latents per token. */
  l0: number;
  /** An objective's own terms besides the SAE's (e2e: `kl`, `ds:<hook>`), each before its coefficient. */
  terms?: Record<string, number>;
}

/** The result of a forward+backward on one batch. Gradients have the shapes of the params. */
export interface SaeStepResult {
  grads: { [K in keyof SaeParams]?: Tensor };
  /** [dSae] f32: how many tokens of this batch fired each latent (for dead-feature tracking). */
  firedCounts: Tensor;
  /** Scalars, read back lazily by the trainer only when it logs. */
  stats(): Promise<SaeStepStats>;
  dispose(): void;
}

/** What the trainer passes to a step besides the batch. */
export interface SaeStepContext {
  /** [dSae] f32: tokens since each latent last fired (AuxK picks dead latents from it). */
  tokensSinceFired: Tensor;
  /** The L1 coefficient after warm-up, for `standard`. */
  l1Coefficient: number;
  /** Tokens trained on before this step (lets AuxK skip its work while no latent can be dead yet). */
  tokensSeen?: number;
  /** The trainer will read this step's stats (objectives may skip values needed only for logs when false; default true). */
  logging?: boolean;
  /** Weight of the reconstruction MSE in the loss (default 1; 0 for a pure end-to-end objective). */
  mseCoefficient?: number;
  /**
   * [N, dIn] the gradient of a loss outside the SAE with respect to its output x̂ (normalised units),
   * added to the reconstruction's: how end-to-end objectives reach the SAE's parameters.
   */
  outputGrad?: Tensor;
}

/** An SAE architecture: the maths, device-agnostic (written with src/compute ops). */
export interface SaeModel {
  readonly cfg: SaeConfig;
  readonly params: SaeParams;
  /** Latent activations f [N, dSae] for inputs x [N, dIn] (already normalised). */
  encode(x: Tensor): Tensor;
  /** Reconstruction x̂ [N, dIn] from latents f [N, dSae]. */
  decode(f: Tensor): Tensor;
  /** Loss, gradients and firing counts for a batch x [N, dIn]. */
  step(x: Tensor, ctx: SaeStepContext): SaeStepResult;
}
