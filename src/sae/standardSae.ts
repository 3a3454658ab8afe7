// The SAELens "standard" SAE: ReLU latents with an L1 penalty weighted by decoder row norms.
//   xin = x − b_dec·[applyBDecToInput]            [N, dIn]
//   f   = ReLU(xin·W_enc + b_enc)                 [N, dSae]
//   x̂   = f·W_dec + b_dec                         [N, dIn]
//   L   = c·mean_t Σ_j (x̂ − x)² + λ·mean_t Σ_i f_i‖W_dec[i]‖   (c = ctx.mseCoefficient, default 1;
//         an objective's outside gradient ctx.outputGrad joins dL/dx̂)
// Backward (n_i = ‖W_dec[i]‖, F_i = Σ_t f_ti):
//   df = dx̂·W_decᵀ + (λ/N)·n,   dW_dec = fᵀ·dx̂ + (λ/N)·F_i·W_dec[i]/n_i,   dpre = df ⊙ [f > 0].

import { relu } from '../compute/ops/activations.js';
import { addScaledInPlace, mul, scale } from '../compute/ops/elementwise.js';
import { sumColumns, sumRows } from '../compute/ops/reductions.js';
import type { Tensor } from '../compute/tensor.js';
import { decodeDense, encoderInput, finishStep, maskedByActive, preActivations, reconstruction, total } from './saeCommon.js';
import { mapSae, scaleRows } from './saeKernels.js';
import type { SaeConfig, SaeModel, SaeParams, SaeStepContext, SaeStepResult } from './types.js';

/** ‖W_dec[i]‖ for every latent: [dSae]. */
export function decoderNorms(W_dec: Tensor): Tensor {
  const sq = mul(W_dec, W_dec);
  const n2 = sumRows(sq);
  sq.dispose();
  const n = mapSae('sqrt', n2);
  n2.dispose();
  return n;
}

/** A ReLU SAE with decoder-norm-weighted L1 (SAELens `standard`). */
export class StandardSae implements SaeModel {
  constructor(
    readonly cfg: SaeConfig,
    readonly params: SaeParams,
  ) {}

  /** f = ReLU((x − b_dec)·W_enc + b_enc): [N, dIn] → [N, dSae]. */
  encode(x: Tensor): Tensor {
    const xin = encoderInput(this.params, this.cfg, x);
    const pre = preActivations(this.params, xin);
    if (xin !== x) xin.dispose();
    const f = relu(pre);
    pre.dispose();
    return f;
  }

  /** x̂ = f·W_dec + b_dec. */
  decode(f: Tensor): Tensor {
    return decodeDense(this.params, f);
  }

  /** Loss = MSE + λ·L1 (λ from ctx), with gradients of all four parameters. */
  step(x: Tensor, ctx: SaeStepContext): SaeStepResult {
    const p = this.params;
    const N = x.shape[0]!;
    const lambda = ctx.l1Coefficient;
    const xin = encoderInput(p, this.cfg, x);
    const pre = preActivations(p, xin); // [N, dSae]
    const f = relu(pre);
    pre.dispose();
    const xhat = decodeDense(p, f);
    const rec = reconstruction(p, x, f, xhat, ctx);
    xhat.dispose();

    // L1 forward: Σ_i F_i n_i / N.
    const n = decoderNorms(p.W_dec); // [dSae]
    const F = sumColumns(f); // [dSae]
    const Fn = mul(F, n);
    const l1Sum = total(Fn);
    Fn.dispose();
    const l1 = scale(l1Sum, 1 / N);
    l1Sum.dispose();

    // L1 backward: into f (through the mask) and into W_dec's row norms.
    addScaledInPlace(rec.df, n, lambda / N);
    const invN = mapSae('recip', n);
    const rowCoef = mul(F, invN); // F_i / n_i
    const dNorm = scaleRows(p.W_dec, rowCoef); // [dSae, dIn]
    addScaledInPlace(rec.dW_dec, dNorm, lambda / N);
    for (const t of [n, F, invN, rowCoef, dNorm]) t.dispose();

    const dpre = maskedByActive(f, rec.df);
    rec.df.dispose();
    return finishStep(p, this.cfg, x, xin, f, rec, dpre, { l1 }, (v) => (ctx.mseCoefficient ?? 1) * v.mse + lambda * (v.l1 ?? 0));
  }
}

