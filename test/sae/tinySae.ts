// A tiny ReLU SAE on the CPU with hand-derived gradients, implementing SaeModel, so that the
// trainer, checkpoints and resume are tested without the real architectures:
//   f = relu(x W_enc + b_enc),  x̂ = f W_dec + b_dec,
//   loss = mean_n Σ_j (x̂ − x)² + l1 · mean_n Σ_i f_i.
// Plus synthetic data: sparse sums of fixed random directions.

import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import type { Tensor } from '../../src/compute/tensor.js';
import type { SaeConfig, SaeModel, SaeParams, SaeStepContext, SaeStepResult } from '../../src/sae/types.js';

export function tinyConfig(dIn: number, dSae: number, seed: number, extra: Partial<SaeConfig> = {}): SaeConfig {
  return { architecture: 'standard', dIn, dSae, l1Coefficient: 0.01, applyBDecToInput: false, decoderUnitNorm: false, normalizeActivations: 'none', seed, ...extra };
}

export class TinySae implements SaeModel {
  readonly params: SaeParams;
  /** ctx of every step, for tests that check what the trainer passed. */
  readonly seenL1: number[] = [];

  constructor(readonly cfg: SaeConfig) {
    const rng = new Rng(cfg.seed);
    const { dIn, dSae } = cfg;
    const wDec = rng.normalArray(dSae * dIn, 1 / Math.sqrt(dIn));
    const wEnc = new Float32Array(dIn * dSae);
    for (let i = 0; i < dSae; i++) for (let j = 0; j < dIn; j++) wEnc[j * dSae + i] = wDec[i * dIn + j]!;
    this.params = {
      W_enc: cpu.fromArray(wEnc, [dIn, dSae]),
      b_enc: cpu.zeros([dSae]),
      W_dec: cpu.fromArray(wDec, [dSae, dIn]),
      b_dec: cpu.zeros([dIn]),
    };
  }

  private get p() {
    const a = this.params;
    return { we: a.W_enc.data as Float32Array, be: a.b_enc.data as Float32Array, wd: a.W_dec.data as Float32Array, bd: a.b_dec.data as Float32Array };
  }

  encode(x: Tensor): Tensor {
    const { dIn, dSae } = this.cfg;
    const n = x.shape[0]!;
    const xs = x.data as Float32Array;
    const { we, be } = this.p;
    const f = new Float32Array(n * dSae);
    for (let r = 0; r < n; r++)
      for (let i = 0; i < dSae; i++) {
        let s = be[i]!;
        for (let j = 0; j < dIn; j++) s += xs[r * dIn + j]! * we[j * dSae + i]!;
        f[r * dSae + i] = Math.max(0, s);
      }
    return cpu.wrap(f, [n, dSae]);
  }

  decode(f: Tensor): Tensor {
    const { dIn, dSae } = this.cfg;
    const n = f.shape[0]!;
    const fs = f.data as Float32Array;
    const { wd, bd } = this.p;
    const y = new Float32Array(n * dIn);
    for (let r = 0; r < n; r++)
      for (let j = 0; j < dIn; j++) {
        let s = bd[j]!;
        for (let i = 0; i < dSae; i++) s += fs[r * dSae + i]! * wd[i * dIn + j]!;
        y[r * dIn + j] = s;
      }
    return cpu.wrap(y, [n, dIn]);
  }

  step(x: Tensor, ctx: SaeStepContext): SaeStepResult {
    this.seenL1.push(ctx.l1Coefficient);
    const { dIn, dSae } = this.cfg;
    const n = x.shape[0]!;
    const xs = x.data as Float32Array;
    const f = this.encode(x).data as Float32Array;
    const xh = this.decode(cpu.wrap(f, [n, dSae])).data as Float32Array;
    const { wd } = this.p;
    const l1 = ctx.l1Coefficient;
    let mse = 0;
    let l1sum = 0;
    let l0 = 0;
    const dxh = new Float32Array(n * dIn);
    for (let k = 0; k < n * dIn; k++) {
      const d = xh[k]! - xs[k]!;
      mse += d * d;
      dxh[k] = (2 * d) / n;
    }
    const gWd = new Float32Array(dSae * dIn);
    const gBd = new Float32Array(dIn);
    const gWe = new Float32Array(dIn * dSae);
    const gBe = new Float32Array(dSae);
    const fired = new Float32Array(dSae);
    for (let r = 0; r < n; r++) {
      for (let j = 0; j < dIn; j++) gBd[j] += dxh[r * dIn + j]!;
      for (let i = 0; i < dSae; i++) {
        const fi = f[r * dSae + i]!;
        if (fi <= 0) continue;
        fired[i]++;
        l0++;
        l1sum += fi;
        let df = l1 / n;
        for (let j = 0; j < dIn; j++) {
          gWd[i * dIn + j] += fi * dxh[r * dIn + j]!;
          df += dxh[r * dIn + j]! * wd[i * dIn + j]!;
        }
        gBe[i] += df;
        for (let j = 0; j < dIn; j++) gWe[j * dSae + i] += xs[r * dIn + j]! * df;
      }
    }
    const stats = { loss: mse / n + (l1 * l1sum) / n, mse: mse / n, l1: l1sum / n, l0: l0 / n };
    return {
      grads: { W_enc: cpu.wrap(gWe, [dIn, dSae]), b_enc: cpu.wrap(gBe, [dSae]), W_dec: cpu.wrap(gWd, [dSae, dIn]), b_dec: cpu.wrap(gBd, [dIn]) },
      firedCounts: cpu.wrap(fired, [dSae]),
      stats: async () => stats,
      dispose() {},
    };
  }
}

/** Deterministic synthetic activations: batch s is sparse sums of `nDirs` fixed random directions. */
export function syntheticBatches(dIn: number, batchSize: number, seed = 1, nDirs = 16, active = 3): (step: number) => Tensor {
  const dirs = new Rng(seed).normalArray(nDirs * dIn, 1 / Math.sqrt(dIn));
  return (step: number) => {
    const rng = new Rng(seed * 1_000_003 + step);
    const x = new Float32Array(batchSize * dIn);
    for (let r = 0; r < batchSize; r++)
      for (let a = 0; a < active; a++) {
        const d = rng.int(nDirs);
        const c = 1 + rng.uniform();
        for (let j = 0; j < dIn; j++) x[r * dIn + j] += c * dirs[d * dIn + j]!;
      }
    return cpu.wrap(x, [batchSize, dIn]);
  };
}

/** Copies of every param's values. */
export function snapshot(sae: SaeModel): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [k, t] of Object.entries(sae.params) as [string, Tensor | undefined][]) if (t) out[k] = (t.data as Float32Array).slice();
  return out;
}
