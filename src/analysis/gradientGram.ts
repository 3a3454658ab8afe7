// Streaming second moment of per-token gradients: G = Σ_t g_t g_tᵀ [d, d] in f64, accumulated row by
// row (no [N, d] matrix is ever held), and what its eigendecomposition says about the gradients.
// The eigenvalues λ_i of G are the squared singular values of the N×d gradient matrix; we report
// σ_i = √(λ_i / N) (the RMS gradient along eigendirection i), the cumulative energy Σ_{j≤i} λ_j / Σ λ,
// the effective rank at 90/99/99.9 % (the fewest directions holding that share of the energy), and
// the fraction of directions with σ_i < 1e-3·σ_1. Definitions: docs/gradients.md.

import { symmetricEigen, type SymmetricEigen } from './symmetricEigen.js';

/** Σ_t g_t g_tᵀ over the rows added, in f64 (upper triangle accumulated, mirrored on read). */
export class GramAccumulator {
  readonly sum: Float64Array;
  /** Rows added. */
  count = 0;

  constructor(readonly d: number) {
    this.sum = new Float64Array(d * d);
  }

  /** Add the rows of g [n, d] whose keep[t] is non-zero (all rows without `keep`), scaled by `scale`. */
  add(g: Float32Array, keep?: ArrayLike<number>, scale = 1): void {
    const d = this.d;
    const n = g.length / d;
    if (!Number.isInteger(n)) throw new RangeError(`GramAccumulator: ${g.length} values are not rows of ${d}`);
    if (keep && keep.length !== n) throw new RangeError(`GramAccumulator: keep has ${keep.length} entries for ${n} rows`);
    const S = this.sum;
    const row = new Float64Array(d);
    for (let t = 0; t < n; t++) {
      if (keep && !keep[t]) continue;
      for (let j = 0; j < d; j++) row[j] = g[t * d + j]! * scale;
      for (let i = 0; i < d; i++) {
        const gi = row[i]!;
        if (gi === 0) continue;
        const o = i * d;
        for (let j = i; j < d; j++) S[o + j] += gi * row[j]!;
      }
      this.count++;
    }
  }

  /** The full symmetric matrix [d, d] (a copy). */
  matrix(): Float64Array {
    const d = this.d;
    const m = new Float64Array(d * d);
    for (let i = 0; i < d; i++) {
      for (let j = i; j < d; j++) {
        const v = this.sum[i * d + j]!;
        m[i * d + j] = v;
        m[j * d + i] = v;
      }
    }
    return m;
  }
}

/** The spectrum of a gradient Gram matrix, with the figures of docs/gradients.md. */
export interface GradientSpectrum {
  /** Tokens (gradient rows) in the Gram matrix. */
  tokens: number;
  d: number;
  /** σ_i = √(λ_i / N), descending (negative rounding of λ clamped to 0). */
  singularValues: number[];
  /** Σ_{j≤i} λ_j / Σ_j λ_j. */
  cumulativeEnergy: number[];
  /** Fewest directions holding ≥ 90 %, 99 %, 99.9 % of the energy. */
  effectiveRank: { '0.9': number; '0.99': number; '0.999': number };
  /** exp(entropy of λ/Σλ): a threshold-free effective rank (Roy & Vetterli 2007). */
  entropyRank: number;
  /** Fraction of the d directions with σ_i < 1e-3 · σ_1. */
  fractionBelow1e3: number;
  /** Mean squared gradient norm per token, Σλ / N. */
  meanSquaredNorm: number;
}

/** Fewest leading entries of a cumulative-energy curve reaching `p`. */
export function rankAt(cumulative: readonly number[], p: number): number {
  for (let i = 0; i < cumulative.length; i++) if (cumulative[i]! >= p - 1e-12) return i + 1;
  return cumulative.length;
}

/** The spectrum of G (and its eigendecomposition, for the subspace alignments). */
export function gradientSpectrum(gram: GramAccumulator): { spectrum: GradientSpectrum; eigen: SymmetricEigen } {
  const d = gram.d;
  const N = gram.count;
  if (N === 0) throw new RangeError('gradientSpectrum: no gradient rows were accumulated');
  const eigen = symmetricEigen(gram.matrix(), d);
  const lam = Array.from(eigen.values, (v) => Math.max(v, 0));
  const total = lam.reduce((a, b) => a + b, 0);
  const cumulativeEnergy: number[] = [];
  let c = 0;
  for (const v of lam) cumulativeEnergy.push(total > 0 ? (c += v) / total : 0);
  const sv = lam.map((v) => Math.sqrt(v / N));
  let h = 0;
  for (const v of lam) if (v > 0 && total > 0) h -= (v / total) * Math.log(v / total);
  const spectrum: GradientSpectrum = {
    tokens: N,
    d,
    singularValues: sv,
    cumulativeEnergy,
    effectiveRank: { '0.9': rankAt(cumulativeEnergy, 0.9), '0.99': rankAt(cumulativeEnergy, 0.99), '0.999': rankAt(cumulativeEnergy, 0.999) },
    entropyRank: Math.exp(h),
    fractionBelow1e3: sv[0]! > 0 ? sv.filter((s) => s < 1e-3 * sv[0]!).length / d : 1,
    meanSquaredNorm: total / N,
  };
  return { spectrum, eigen };
}
