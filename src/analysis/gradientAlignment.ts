// How SAE directions sit relative to the directions that matter downstream. For unit directions v̂
// (decoder rows W_dec[i], encoder columns W_enc[:, i]) and the gradient Gram's eigenbasis U, λ:
//   energy(v)       = ‖U_rᵀ v̂‖² = Σ_{k<r} (u_k·v̂)²      the share of v̂ inside the top-r gradient subspace
//   sensitivity(v)  = v̂ᵀ C v̂ / (tr C / d),  C = G/N      the mean squared gradient along v̂, relative
//                                                         to a random direction's expected value (1)
// A random unit direction has E[energy] = r/d and E[sensitivity] = 1; the baseline is drawn
// (seeded Gaussian directions) so its spread is shown too.

import { Rng } from '../compute/random.js';
import type { SymmetricEigen } from './symmetricEigen.js';

/** Per-direction energy in the top-r subspace and relative sensitivity, for m directions. */
export interface DirectionScores {
  energy: Float64Array;
  sensitivity: Float64Array;
}

/** Scores of the rows of `dirs` [m, d] (need not be unit length; zero rows score 0). */
export function scoreDirections(eigen: SymmetricEigen, r: number, dirs: Float32Array | Float64Array, m: number): DirectionScores {
  const d = eigen.d;
  if (!(Number.isInteger(r) && r >= 1 && r <= d)) throw new RangeError(`scoreDirections: rank ${r} outside [1, ${d}]`);
  const lam = Array.from(eigen.values, (v) => Math.max(v, 0));
  const meanLam = lam.reduce((a, b) => a + b, 0) / d;
  const U = eigen.vectors;
  const energy = new Float64Array(m);
  const sensitivity = new Float64Array(m);
  const c = new Float64Array(d);
  for (let q = 0; q < m; q++) {
    c.fill(0);
    let nn = 0;
    for (let i = 0; i < d; i++) {
      const vi = dirs[q * d + i]!;
      nn += vi * vi;
      if (vi === 0) continue;
      const o = i * d;
      for (let k = 0; k < d; k++) c[k] += vi * U[o + k]!;
    }
    if (nn === 0) continue;
    let e = 0;
    let s = 0;
    for (let k = 0; k < d; k++) {
      const c2 = c[k]! * c[k]!;
      if (k < r) e += c2;
      s += lam[k]! * c2;
    }
    energy[q] = e / nn;
    sensitivity[q] = meanLam > 0 ? s / nn / meanLam : 0;
  }
  return { energy, sensitivity };
}

/** `count` seeded Gaussian directions [count, d] (the random baseline). */
export function randomDirections(count: number, d: number, seed: number): Float32Array {
  return new Rng(seed).normalArray(count * d);
}

/** Summary of a score over directions. */
export interface ScoreSummary {
  mean: number;
  median: number;
  p10: number;
  p90: number;
  /** Fraction above the random baseline's 99th percentile (absent for the baseline itself). */
  aboveRandomP99?: number;
}

/** The q-quantile of sorted values (linear interpolation). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Mean, median, 10th and 90th percentiles, and (with `random`) the share above random's 99th percentile. */
export function summarise(v: ArrayLike<number>, random?: ArrayLike<number>): ScoreSummary {
  const s = Float64Array.from(v).sort();
  let sum = 0;
  for (const x of s) sum += x;
  const out: ScoreSummary = { mean: sum / s.length, median: quantile(s, 0.5), p10: quantile(s, 0.1), p90: quantile(s, 0.9) };
  if (random) {
    const p99 = quantile(Float64Array.from(random).sort(), 0.99);
    out.aboveRandomP99 = s.filter((x) => x > p99).length / s.length;
  }
  return out;
}
