// The AuxK dead-latent loss of TopK SAEs (Gao et al. 2024), in the paper's form and the MSE's units:
// with the residual e = x − x̂ held constant (stop-gradient) and ê = ReLU(TopK_auxK(pre restricted
// to dead latents))·W_dec (no bias), AuxK = mean_t ‖ê_t − e_t‖², and 0 when no latent is dead. A
// latent is dead when tokensSinceFired ≥ deadTokensThreshold. Its gradients reach W_dec (rows of
// the dead picks) and the encoder through the dead picks only. Two forms with one result: dense
// ([N, dSae] codes, for BatchTopK) and sparse (picks, for TopK; see sparseCode.ts).

import { addInPlace, mul, mulInPlace, scale, scaleInPlace, sub } from '../compute/ops/elementwise.js';
import { matmul } from '../compute/ops/matmul.js';
import type { Tensor } from '../compute/tensor.js';
import { maskedByActive, sumSquaredDiff, total } from './saeCommon.js';
import { mapSae } from './saeKernels.js';
import { bucketRowSums, bucketSums, latentBuckets, sparseDecode, sparseRowDots, type SparseCode } from './sparseCode.js';
import type { SaeConfig, SaeParams, SaeStepContext } from './types.js';

/** Defaults of the AuxK loss (Gao et al.: k_aux 512, α 1/32, dead after 10M tokens). */
export const AUXK_DEFAULTS = { auxK: 512, auxKCoefficient: 1 / 32, deadTokensThreshold: 10_000_000 } as const;

function settings(cfg: SaeConfig) {
  return {
    kAux: Math.min(cfg.auxK ?? AUXK_DEFAULTS.auxK, cfg.dSae),
    alpha: cfg.auxKCoefficient ?? AUXK_DEFAULTS.auxKCoefficient,
    cut: cfg.deadTokensThreshold ?? AUXK_DEFAULTS.deadTokensThreshold,
  };
}

/**
 * False when no latent can be dead yet: tokens-since-fired never exceeds the tokens seen, so before
 * `cut` tokens the loss is exactly 0 and its top-k over [N, dSae] is skipped.
 */
export function auxKMayApply(cfg: SaeConfig, ctx: SaeStepContext): boolean {
  const { alpha, cut } = settings(cfg);
  return alpha !== 0 && !(ctx.tokensSeen !== undefined && ctx.tokensSeen < cut);
}

/** The dead latents the aux top-k chooses from: tokensSinceFired [dSae] ≥ cut, and the aux k. */
export interface DeadLatents {
  tokensSinceFired: Tensor;
  cut: number;
  kAux: number;
}

/** The AuxK selection of a config and step context. */
export function deadLatents(cfg: SaeConfig, ctx: SaeStepContext): DeadLatents {
  const { kAux, cut } = settings(cfg);
  return { tokensSinceFired: ctx.tokensSinceFired, cut, kAux };
}

/** The pre-activations the aux top-k chooses from: alive latents pushed to −1e30, so they never win and ReLU to 0. */
export function deadRestricted(pre: Tensor, dead: DeadLatents): Tensor {
  const isDead = mapSae('ge', dead.tokensSinceFired, dead.cut); // [dSae] 1 = dead
  const alive = mapSae('lt', dead.tokensSinceFired, dead.cut);
  const penalty = scale(alive, -1e30);
  alive.dispose();
  const preDead = mul(pre, isDead); // [N, dSae]
  isDead.dispose();
  addInPlace(preDead, penalty);
  penalty.dispose();
  return preDead;
}

/** [1] = [any latent dead]. */
function anyDeadOf(ctx: SaeStepContext, cut: number): Tensor {
  const dead = mapSae('ge', ctx.tokensSinceFired, cut);
  const numDead = total(dead);
  dead.dispose();
  const anyDead = mapSae('gt', numDead, 0.5);
  numDead.dispose();
  return anyDead;
}

/** The loss value [1] (already × [any dead], not × α) and dL/dê = α·[any]·2(ê − e)/N [N, dIn]; disposes ehat. */
function residualLoss(x: Tensor, xhat: Tensor, ehat: Tensor, alpha: number, anyDead: Tensor): { auxK: Tensor; de: Tensor } {
  const N = x.shape[0]!;
  const e = sub(x, xhat); // constant residual
  const sq = sumSquaredDiff(ehat, e);
  const auxK = scale(sq, 1 / N);
  sq.dispose();
  mulInPlace(auxK, anyDead);
  const de = sub(ehat, e);
  ehat.dispose();
  e.dispose();
  scaleInPlace(de, (2 * alpha) / N);
  mulInPlace(de, anyDead);
  return { auxK, de };
}

/** Dense AuxK: adds its part into dW_dec in place and returns the loss [1] and its dL/dpre [N, dSae]. */
export function auxKDense(
  p: SaeParams,
  cfg: SaeConfig,
  x: Tensor,
  xhat: Tensor,
  pre: Tensor,
  ctx: SaeStepContext,
  dW_dec: Tensor,
  activate: (pre: Tensor, k: number) => Tensor,
): { auxK: Tensor; dpre: Tensor } {
  const { kAux, alpha, cut } = settings(cfg);
  const preDead = deadRestricted(pre, deadLatents(cfg, ctx));
  const anyDead = anyDeadOf(ctx, cut);
  const fa = activate(preDead, kAux); // [N, dSae]
  preDead.dispose();
  const { auxK, de } = residualLoss(x, xhat, matmul(fa, p.W_dec), alpha, anyDead);
  anyDead.dispose();
  matmul(fa, de, { transA: true, out: dW_dec, accumulate: true });
  const dfa = matmul(de, p.W_dec, { transB: true }); // [N, dSae]
  de.dispose();
  const dpre = maskedByActive(fa, dfa);
  dfa.dispose();
  fa.dispose();
  return { auxK, dpre };
}

/**
 * Sparse AuxK on the aux picks `fa` [N, kAux] (from the encoder: topkEncode.ts): adds its parts into
 * dW_dec [dSae, dIn], dW_enc [dIn, dSae] and db_enc [dSae] in place; returns the loss [1]. Disposes fa.
 */
export function auxKSparse(
  p: SaeParams,
  cfg: SaeConfig,
  x: Tensor,
  xhat: Tensor,
  xin: Tensor,
  fa: SparseCode,
  ctx: SaeStepContext,
  grads: { dW_dec: Tensor; dW_enc: Tensor; db_enc: Tensor },
): Tensor {
  const { alpha, cut } = settings(cfg);
  const anyDead = anyDeadOf(ctx, cut);
  const { auxK, de } = residualLoss(x, xhat, sparseDecode(fa, p.W_dec), alpha, anyDead);
  anyDead.dispose();
  const buckets = latentBuckets(fa.indices, cfg.dSae);
  bucketRowSums(buckets, fa.values, de, { into: grads.dW_dec });
  const dfa = sparseRowDots(de, p.W_dec, fa.indices); // [N, kAux]
  de.dispose();
  const dpre = maskedByActive(fa.values, dfa);
  dfa.dispose();
  bucketRowSums(buckets, dpre, xin, { transposed: true, into: grads.dW_enc });
  bucketSums(buckets, dpre, grads.db_enc);
  dpre.dispose();
  buckets.dispose();
  fa.values.dispose();
  fa.indices.dispose();
  return auxK;
}
