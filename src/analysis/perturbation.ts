// Random perturbations of activations matched to a target cosine similarity and norm ratio: the
// baseline an SAE's reconstruction error is compared with (docs/perturb.md). For a token's x [d],
// a cosine c ∈ (−1, 1] and a norm ratio r > 0:
//   x' = r‖x‖ (c·x/‖x‖ + √(1 − c²)·u),  u a random unit vector orthogonal to x (seeded),
// so cos(x, x') = c and ‖x'‖ = r‖x‖ exactly (up to f32 rounding). The plain ε-perturbation is
// x + ε‖x‖u with u a random unit vector. A zero x stays zero (it has no direction to keep).
// All arithmetic in f64; one Rng draws every u in token order, so a seed fixes the result.

import type { Rng } from '../compute/random.js';

/** Bad targets (c outside (−1, 1], r ≤ 0, ε < 0): exits 2 with one line. */
export class PerturbError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Check a cosine target. */
export function checkCosine(c: number, what = 'cosine'): void {
  if (!(c > -1 && c <= 1)) throw new PerturbError(`${what} must be in (−1, 1] (got ${c})`);
}

/** Check a norm-ratio target. */
export function checkNormRatio(r: number, what = 'norm ratio'): void {
  if (!(r > 0 && Number.isFinite(r))) throw new PerturbError(`${what} must be a positive number (got ${r})`);
}

/** A per-token value or one for all tokens. */
export type PerToken = number | ArrayLike<number>;

function at(v: PerToken, t: number): number {
  return typeof v === 'number' ? v : v[t]!;
}

/** A random unit vector [d] orthogonal to x (Gram–Schmidt on a Gaussian draw; redrawn in the measure-zero degenerate case). */
function unitOrthogonal(x: Float64Array, xNorm: number, rng: Rng): Float64Array {
  const d = x.length;
  for (;;) {
    const u = Float64Array.from({ length: d }, () => rng.normal());
    if (xNorm > 0) {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += u[j]! * x[j]!;
      const k = dot / (xNorm * xNorm);
      for (let j = 0; j < d; j++) u[j]! -= k * x[j]!;
    }
    let n = 0;
    for (let j = 0; j < d; j++) n += u[j]! * u[j]!;
    n = Math.sqrt(n);
    if (n > 1e-12) {
      for (let j = 0; j < d; j++) u[j]! /= n;
      return u;
    }
  }
}

/** x' per token of x [n, d] for targets c and r (one each, or one per token); `keep[t] = 0` leaves token t as it is. */
export function matchedPerturbation(x: Float32Array, d: number, c: PerToken, r: PerToken, rng: Rng, keep?: ArrayLike<number>): Float32Array {
  const n = x.length / d;
  const out = x.slice();
  for (let t = 0; t < n; t++) {
    if (keep && !keep[t]) continue;
    const ct = at(c, t);
    const rt = at(r, t);
    checkCosine(ct, `cosine of token ${t}`);
    checkNormRatio(rt, `norm ratio of token ${t}`);
    const xt = Float64Array.from(x.subarray(t * d, (t + 1) * d));
    let norm = 0;
    for (let j = 0; j < d; j++) norm += xt[j]! * xt[j]!;
    norm = Math.sqrt(norm);
    const u = unitOrthogonal(xt, norm, rng); // drawn even for x = 0, so later tokens' draws do not depend on it
    if (norm === 0) continue;
    const s = Math.sqrt(Math.max(0, 1 - ct * ct));
    for (let j = 0; j < d; j++) out[t * d + j] = rt * norm * ((ct * xt[j]!) / norm + s * u[j]!);
  }
  return out;
}

/** x + ε‖x‖u per token, u a random unit vector (not forced orthogonal); `keep` as in matchedPerturbation. */
export function epsilonPerturbation(x: Float32Array, d: number, eps: number, rng: Rng, keep?: ArrayLike<number>): Float32Array {
  if (!(eps >= 0 && Number.isFinite(eps))) throw new PerturbError(`epsilon must be a non-negative number (got ${eps})`);
  const n = x.length / d;
  const out = x.slice();
  for (let t = 0; t < n; t++) {
    if (keep && !keep[t]) continue;
    const u = unitOrthogonal(new Float64Array(d), 0, rng);
    let norm = 0;
    for (let j = 0; j < d; j++) norm += x[t * d + j]! ** 2;
    norm = Math.sqrt(norm);
    for (let j = 0; j < d; j++) out[t * d + j] = x[t * d + j]! + eps * norm * u[j]!;
  }
  return out;
}

/** Per token of x, y [n, d]: cos(x, y) (1 when both are 0, 0 when one is) and ‖y‖/‖x‖ (1 when both are 0). */
export function cosineAndNormRatio(x: Float32Array, y: Float32Array, d: number): { cos: Float64Array; ratio: Float64Array } {
  const n = x.length / d;
  const cos = new Float64Array(n);
  const ratio = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    let xx = 0;
    let yy = 0;
    let xy = 0;
    for (let j = 0; j < d; j++) {
      const a = x[t * d + j]!;
      const b = y[t * d + j]!;
      xx += a * a;
      yy += b * b;
      xy += a * b;
    }
    const nx = Math.sqrt(xx);
    const ny = Math.sqrt(yy);
    cos[t] = nx === 0 && ny === 0 ? 1 : nx === 0 || ny === 0 ? 0 : xy / (nx * ny);
    ratio[t] = nx === 0 ? (ny === 0 ? 1 : Infinity) : ny / nx;
  }
  return { cos, ratio };
}

/** Log-spaced values from lo to hi inclusive (n ≥ 2), e.g. 1 − c from 1e-4 to 0.5. */
export function logSpaced(lo: number, hi: number, n: number): number[] {
  if (!(lo > 0 && hi > lo && Number.isInteger(n) && n >= 2)) throw new PerturbError(`a log-spaced sweep needs 0 < lo < hi and n ≥ 2 (got ${lo}, ${hi}, ${n})`);
  return Array.from({ length: n }, (_, i) => lo * (hi / lo) ** (i / (n - 1)));
}
