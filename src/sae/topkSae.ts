// The TopK SAE (Gao et al. 2024): only the k largest pre-activations of each token survive (ReLU'd).
//   pre = (x − b_dec)·W_enc + b_enc      [N, dSae]
//   f   = ReLU(TopK_k(pre)), 0 elsewhere [N, dSae]
//   x̂   = f·W_dec + b_dec                [N, dIn]
//   L   = mean_t Σ_j (x̂ − x)² + α·AuxK
// AuxK (the paper's form, same units as the MSE so α = 1/32 keeps its meaning): with the residual
// e = x − x̂ held constant (stop-gradient) and ê = ReLU(TopK_auxK(pre restricted to dead latents))·W_dec
// (no bias), AuxK = mean_t ‖ê_t − e_t‖², and 0 when no latent is dead. A latent is dead when
// tokensSinceFired ≥ deadTokensThreshold.
// Backward: dpre = (dx̂·W_decᵀ) ⊙ [f > 0] + (dê·W_decᵀ) ⊙ [f_aux > 0]: the encoder gradient flows
// only through the selected entries (the rest of dpre is exactly 0).

import { relu } from '../compute/ops/activations.js';
import { addInPlace, mul, mulInPlace, scale, scaleInPlace, sub } from '../compute/ops/elementwise.js';
import { matmul } from '../compute/ops/matmul.js';
import { topkRows } from '../compute/ops/topk.js';
import type { Tensor } from '../compute/tensor.js';
import { decodeDense, encoderInput, finishStep, maskedByActive, preActivations, reconstruction, sumSquaredDiff, total } from './saeCommon.js';
import { mapSae, scatterRows } from './saeKernels.js';
import type { SaeConfig, SaeModel, SaeParams, SaeStepContext, SaeStepResult } from './types.js';

/** Defaults of the AuxK loss (Gao et al.: k_aux 512, α 1/32, dead after 10M tokens). */
export const AUXK_DEFAULTS = { auxK: 512, auxKCoefficient: 1 / 32, deadTokensThreshold: 10_000_000 } as const;

/** f = ReLU(TopK_k(pre)) scattered back to [N, dSae]. */
export function topkActivations(pre: Tensor, k: number): Tensor {
  const dSae = pre.shape[pre.shape.length - 1]!;
  const tk = topkRows(pre, Math.min(k, dSae));
  const v = relu(tk.values);
  tk.values.dispose();
  const f = scatterRows(v, tk.indices, dSae);
  v.dispose();
  tk.indices.dispose();
  return f;
}

/** The AuxK loss's value ([1], already × α·[any dead]) and its contributions to dW_dec and dpre. */
export interface AuxKTerm {
  auxK: Tensor;
  /** [N, dSae] to add to dpre. */
  dpre: Tensor;
}

/** AuxK forward and backward; adds faᵀ·dê into dW_dec in place. See the file comment for the maths. */
export function auxKTerm(p: SaeParams, cfg: SaeConfig, x: Tensor, xhat: Tensor, pre: Tensor, ctx: SaeStepContext, dW_dec: Tensor): AuxKTerm {
  const N = x.shape[0]!;
  const dSae = cfg.dSae;
  const kAux = Math.min(cfg.auxK ?? AUXK_DEFAULTS.auxK, dSae);
  const alpha = cfg.auxKCoefficient ?? AUXK_DEFAULTS.auxKCoefficient;
  const cut = cfg.deadTokensThreshold ?? AUXK_DEFAULTS.deadTokensThreshold;
  const dead = mapSae('ge', ctx.tokensSinceFired, cut); // [dSae] 1 = dead
  const alive = mapSae('lt', ctx.tokensSinceFired, cut);
  const penalty = scale(alive, -1e30); // alive latents never win the aux top-k (and ReLU to 0)
  alive.dispose();
  const preDead = mul(pre, dead); // [N, dSae]
  addInPlace(preDead, penalty);
  penalty.dispose();
  const fa = topkActivations(preDead, kAux);
  preDead.dispose();
  const numDead = total(dead);
  dead.dispose();
  const anyDead = mapSae('gt', numDead, 0.5); // [1]
  numDead.dispose();

  const ehat = matmul(fa, p.W_dec); // [N, dIn]
  const e = sub(x, xhat); // constant residual
  const sq = sumSquaredDiff(ehat, e);
  const auxK = scale(sq, 1 / N);
  sq.dispose();
  mulInPlace(auxK, anyDead);

  const de = sub(ehat, e); // dL/dê = α·[any]·2(ê − e)/N
  ehat.dispose();
  e.dispose();
  scaleInPlace(de, (2 * alpha) / N);
  mulInPlace(de, anyDead);
  anyDead.dispose();
  matmul(fa, de, { transA: true, out: dW_dec, accumulate: true });
  const dfa = matmul(de, p.W_dec, { transB: true }); // [N, dSae]
  de.dispose();
  const dpre = maskedByActive(fa, dfa);
  dfa.dispose();
  fa.dispose();
  return { auxK, dpre };
}

/** A TopK SAE with the AuxK dead-latent loss. */
export class TopKSae implements SaeModel {
  constructor(
    readonly cfg: SaeConfig,
    readonly params: SaeParams,
  ) {
    if (!(Number.isInteger(cfg.k) && cfg.k! >= 1 && cfg.k! <= cfg.dSae)) throw new Error(`topk SAE: k must be an integer in [1, ${cfg.dSae}] (got ${cfg.k})`);
  }

  /** f = ReLU(TopK_k((x − b_dec)·W_enc + b_enc)): [N, dIn] → [N, dSae]. */
  encode(x: Tensor): Tensor {
    const xin = encoderInput(this.params, this.cfg, x);
    const pre = preActivations(this.params, xin);
    if (xin !== x) xin.dispose();
    const f = topkActivations(pre, this.cfg.k!);
    pre.dispose();
    return f;
  }

  /** x̂ = f·W_dec + b_dec (dense). */
  decode(f: Tensor): Tensor {
    return decodeDense(this.params, f);
  }

  /** Loss = MSE + α·AuxK with gradients of all four parameters. */
  step(x: Tensor, ctx: SaeStepContext): SaeStepResult {
    return sparseStep(this.params, this.cfg, x, ctx, (pre) => topkActivations(pre, this.cfg.k!));
  }
}

/** The step shared by TopK and BatchTopK: `activate` turns pre-activations into f. */
export function sparseStep(p: SaeParams, cfg: SaeConfig, x: Tensor, ctx: SaeStepContext, activate: (pre: Tensor) => Tensor): SaeStepResult {
  const xin = encoderInput(p, cfg, x);
  const pre = preActivations(p, xin); // [N, dSae]
  const f = activate(pre);
  const xhat = decodeDense(p, f);
  const rec = reconstruction(p, x, f, xhat);
  const aux = auxKTerm(p, cfg, x, xhat, pre, ctx, rec.dW_dec);
  xhat.dispose();
  pre.dispose();
  const dpre = maskedByActive(f, rec.df);
  rec.df.dispose();
  addInPlace(dpre, aux.dpre);
  aux.dpre.dispose();
  const alpha = cfg.auxKCoefficient ?? AUXK_DEFAULTS.auxKCoefficient;
  return finishStep(p, cfg, x, xin, f, rec, dpre, { auxK: aux.auxK }, (v) => v.mse + alpha * (v.auxK ?? 0));
}
