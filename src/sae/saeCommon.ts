// The pieces every architecture shares: the encoder's affine map, the dense decoder, the
// reconstruction loss with its gradient, the encoder gradients from dL/dpre, firing counts, and the
// step result with lazily read statistics. Notation: N tokens, x [N, dIn], pre/f [N, dSae].

import { reluBackward } from '../compute/ops/activations.js';
import { addInPlace, mul, scale, sub, subInPlace } from '../compute/ops/elementwise.js';
import { matmul } from '../compute/ops/matmul.js';
import { sumColumns, sumRows } from '../compute/ops/reductions.js';
import { nativeKernel } from '../compute/cpu/blas.js';
import { cpu } from '../compute/cpu/cpuDevice.js';
import { linear } from '../compute/ops/linear.js';
import { rowsCols, type Tensor } from '../compute/tensor.js';
import { mapSae } from './saeKernels.js';
import type { SaeConfig, SaeParams, SaeStepResult, SaeStepStats } from './types.js';

/** x − b_dec when the config applies b_dec to the input, else x itself (not a copy: do not dispose it then). */
export function encoderInput(p: SaeParams, cfg: SaeConfig, x: Tensor): Tensor {
  return cfg.applyBDecToInput ? sub(x, p.b_dec) : x;
}

/** Pre-activations xin·W_enc + b_enc: xin [N, dIn] → [N, dSae]. */
export function preActivations(p: SaeParams, xin: Tensor): Tensor {
  return linear(xin, p.W_enc, p.b_enc); // on the CPU b_enc goes into sgemm's C: no pass over [N, dSae]
}

/** x̂ = f·W_dec + b_dec: f [N, dSae] → [N, dIn]. */
export function decodeDense(p: SaeParams, f: Tensor): Tensor {
  return linear(f, p.W_dec, p.b_dec);
}

/** Σ of every element → [1]. */
export function total(t: Tensor): Tensor {
  return sumRows(t.reshape([1, t.numel]));
}

/** Σ_j (a − b)²_j per row, summed over rows → [1] (the caller divides by N). */
export function sumSquaredDiff(a: Tensor, b: Tensor): Tensor {
  const d = sub(a, b);
  const d2 = mul(d, d);
  d.dispose();
  const s = total(d2);
  d2.dispose();
  return s;
}

/** The reconstruction term: mse = mean_t Σ_j (x̂ − x)², dL/dx̂ = 2(x̂ − x)/N, and its W_dec / f gradients. */
export interface Reconstruction {
  /** [1] Σ_t Σ_j (x̂ − x)² / N */
  mse: Tensor;
  /** [N, dIn] */
  dxhat: Tensor;
  /** [dSae, dIn] fᵀ·dx̂ */
  dW_dec: Tensor;
  /** [N, dSae] dx̂·W_decᵀ */
  df: Tensor;
}

/** What an objective adds to an SAE's own loss: the MSE's weight and an outside gradient on x̂ (see SaeStepContext). */
export interface OutputTerms {
  mseCoefficient?: number;
  outputGrad?: Tensor;
}

/**
 * The reconstruction loss alone: mse = mean_t Σ_j (x̂ − x)² [1] and dL/dx̂ = c·2(x̂ − x)/N [N, dIn]
 * (c = `ext.mseCoefficient`, default 1), plus `ext.outputGrad` when given.
 */
export function squaredError(x: Tensor, xhat: Tensor, ext: OutputTerms = {}): { mse: Tensor; dxhat: Tensor } {
  const N = x.shape[0]!;
  const c = ext.mseCoefficient ?? 1;
  const r = sub(xhat, x); // [N, dIn]
  const r2 = mul(r, r);
  const sum = total(r2);
  const mse = scale(sum, 1 / N);
  sum.dispose();
  r2.dispose();
  const dxhat = scale(r, (2 * c) / N);
  r.dispose();
  if (ext.outputGrad) addInPlace(dxhat, ext.outputGrad);
  return { mse, dxhat };
}

/** MSE forward and backward through the dense decoder. */
export function reconstruction(p: SaeParams, x: Tensor, f: Tensor, xhat: Tensor, ext: OutputTerms = {}): Reconstruction {
  const { mse, dxhat } = squaredError(x, xhat, ext);
  const dW_dec = matmul(f, dxhat, { transA: true }); // [dSae, dIn]
  const df = matmul(dxhat, p.W_dec, { transB: true }); // [N, dSae]
  return { mse, dxhat, dW_dec, df };
}

/** b_dec's gradient: Σ_t dx̂ directly, minus W_enc·db_enc through the input when b_dec is applied to it ([dIn]). */
export function decoderBiasGrad(p: SaeParams, cfg: SaeConfig, dxhat: Tensor, db_enc: Tensor): Tensor {
  const dSae = p.b_enc.shape[0]!;
  const b_dec = sumColumns(dxhat); // [dIn]
  if (cfg.applyBDecToInput) {
    const viaInput = matmul(p.W_enc, db_enc.reshape([dSae, 1])); // [dIn, 1]
    subInPlace(b_dec, viaInput.reshape([viaInput.numel]));
    viaInput.dispose();
  }
  return b_dec;
}

/** Encoder gradients from dL/dpre [N, dSae]: W_enc = xinᵀ·dpre, b_enc = Σ_t dpre, b_dec as decoderBiasGrad. */
export function encoderGrads(p: SaeParams, cfg: SaeConfig, xin: Tensor, dpre: Tensor, dxhat: Tensor): { W_enc: Tensor; b_enc: Tensor; b_dec: Tensor } {
  const W_enc = matmul(xin, dpre, { transA: true }); // [dIn, dSae]
  const b_enc = sumColumns(dpre); // [dSae]
  return { W_enc, b_enc, b_dec: decoderBiasGrad(p, cfg, dxhat, b_enc) };
}

/** dL/dpre = df where f > 0 (the ReLU / selection mask, since unselected latents have f = 0). */
export function maskedByActive(f: Tensor, df: Tensor): Tensor {
  return reluBackward(f, df);
}

/** [dSae] tokens of the batch with f > 0. */
export function firedCounts(f: Tensor): Tensor {
  const count = f.device.kind === 'cpu' ? nativeKernel('countPositiveColumns', f.numel) : undefined;
  if (count) {
    // One pass, no [N, dSae] 0/1 matrix: the same integer counts as the map + column sum below.
    const [rows, cols] = rowsCols(f.shape);
    const out = cpu.zeros([cols]);
    count(f.data as Float32Array, rows, cols, out.data as Float32Array);
    return out;
  }
  const on = mapSae('gt', f, 0);
  const c = sumColumns(on);
  on.dispose();
  return c;
}

/** Scalar tensors ([1]) of a step's statistics. */
export interface StatTensors {
  mse: Tensor;
  l0: Tensor;
  l1?: Tensor;
  auxK?: Tensor;
}

/** Read a [1] tensor as a number. */
async function scalar(t: Tensor): Promise<number> {
  return (await t.read())[0]!;
}

/** Assemble a step result; `lossOf` combines the read-back scalars into the loss. */
export function stepResult(grads: SaeStepResult['grads'], fired: Tensor, s: StatTensors, lossOf: (v: { mse: number; l1?: number; auxK?: number }) => number): SaeStepResult {
  let cached: Promise<SaeStepStats> | null = null;
  const owned = [...Object.values(grads), fired, s.mse, s.l0, ...(s.l1 ? [s.l1] : []), ...(s.auxK ? [s.auxK] : [])] as Tensor[];
  return {
    grads,
    firedCounts: fired,
    stats() {
      cached ??= (async () => {
        const mse = await scalar(s.mse);
        const l0 = await scalar(s.l0);
        const l1 = s.l1 ? await scalar(s.l1) : undefined;
        const auxK = s.auxK ? await scalar(s.auxK) : undefined;
        const out: SaeStepStats = { loss: lossOf({ mse, l1, auxK }), mse, l0 };
        if (l1 !== undefined) out.l1 = l1;
        if (auxK !== undefined) out.auxK = auxK;
        return out;
      })();
      return cached;
    },
    dispose() {
      for (const t of owned) t.dispose();
    },
  };
}

/** Mean active latents per token → [1]. */
export function meanL0(fired: Tensor, N: number): Tensor {
  const s = total(fired);
  const l0 = scale(s, 1 / N);
  s.dispose();
  return l0;
}

/**
 * The end of every architecture's step: encoder gradients from d(pre-activations) `dpre`, firing
 * counts and L0, and the result. Disposes `dpre`, `rec.dxhat`, `f`, and `xin` unless it is `x`.
 */
export function finishStep(
  p: SaeParams,
  cfg: SaeConfig,
  x: Tensor,
  xin: Tensor,
  f: Tensor,
  rec: Reconstruction,
  dpre: Tensor,
  extra: { l1?: Tensor; auxK?: Tensor },
  lossOf: (v: { mse: number; l1?: number; auxK?: number }) => number,
): SaeStepResult {
  const enc = encoderGrads(p, cfg, xin, dpre, rec.dxhat);
  dpre.dispose();
  rec.dxhat.dispose();
  if (xin !== x) xin.dispose();
  const fired = firedCounts(f);
  f.dispose();
  const l0 = meanL0(fired, x.shape[0]!);
  return stepResult({ W_enc: enc.W_enc, b_enc: enc.b_enc, W_dec: rec.dW_dec, b_dec: enc.b_dec }, fired, { mse: rec.mse, l0, ...extra }, lossOf);
}
