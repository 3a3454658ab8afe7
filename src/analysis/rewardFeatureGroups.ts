// What sits around the features that drive a reward: near-duplicates in SAEs at other hooks (the
// max decoder cosine, with compare's blockwise top-K), groups of top features (decoder cosine or
// co-activation over completions above a threshold, joined transitively) with their within-group
// cosine against random pairs of the same SAE, and the rank correlation that scores the linear
// estimate against exact ablations.

import { Rng } from '../compute/random.js';
import { unitRows } from './cosineBlocks.js';
import { pearson } from './featureCorrelation.js';
import { cosineTopKBoth } from './matchCandidates.js';

/** Spearman's rank correlation (average ranks for ties); NaN for fewer than 2 points. */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length < 2) return NaN;
  return pearson(ranks(a), ranks(b));
}

/** 1-based ranks with ties averaged. */
export function ranks(v: ArrayLike<number>): Float64Array {
  const idx = Array.from({ length: v.length }, (_, i) => i).sort((x, y) => v[x]! - v[y]!);
  const r = new Float64Array(v.length);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && v[idx[j + 1]!] === v[idx[i]!]) j++;
    for (let k = i; k <= j; k++) r[idx[k]!] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

/** Rows `ids` of W [m, d], unit length. */
export function unitDecoderRows(W: Float32Array, d: number, ids: ArrayLike<number>): Float32Array {
  const out = new Float32Array(ids.length * d);
  for (let k = 0; k < ids.length; k++) out.set(W.subarray(ids[k]! * d, (ids[k]! + 1) * d), k * d);
  return unitRows(out, ids.length, d);
}

/** For each listed feature of one SAE: its best decoder-cosine partner in another SAE. */
export function nearestInOther(W: Float32Array, ids: ArrayLike<number>, other: Float32Array, otherCount: number, d: number): { feature: number; cosine: number }[] {
  const UA = unitDecoderRows(W, d, ids);
  const UB = unitRows(other.slice(), otherCount, d);
  const top = cosineTopKBoth(UA, ids.length, UB, otherCount, d, 1);
  return Array.from({ length: ids.length }, (_, k) => ({ feature: top.rows.idx[k]!, cosine: top.rows.val[k]! }));
}

/** A group of features and how alike their decoder rows are. */
export interface FeatureGroup {
  features: number[];
  /** Mean decoder cosine over the group's pairs. */
  withinCosine: number;
  /** Mean co-activation correlation over the group's pairs. */
  withinCorrelation: number;
}

/**
 * Groups among `ids`: two features join when their decoder cosine ≥ `cosine` or their activations
 * over completions (series[k], e.g. mean activation per token) correlate ≥ `correlation`; groups are the connected components
 * with at least two members, largest first.
 */
export function featureGroups(W: Float32Array, d: number, ids: readonly number[], series: readonly Float64Array[], o: { cosine: number; correlation: number }): FeatureGroup[] {
  const n = ids.length;
  const U = unitDecoderRows(W, d, ids);
  const cos = (i: number, j: number) => {
    let s = 0;
    for (let t = 0; t < d; t++) s += U[i * d + t]! * U[j * d + t]!;
    return s;
  };
  const parent = Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  const C = new Float64Array(n * n);
  const R = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      C[i * n + j] = cos(i, j);
      R[i * n + j] = pearson(series[i]!, series[j]!);
      if (C[i * n + j]! >= o.cosine || R[i * n + j]! >= o.correlation) parent[find(i)] = find(j);
    }
  }
  const comps = new Map<number, number[]>();
  for (let i = 0; i < n; i++) comps.set(find(i), [...(comps.get(find(i)) ?? []), i]);
  const groups: FeatureGroup[] = [];
  for (const m of comps.values()) {
    if (m.length < 2) continue;
    let c = 0;
    let r = 0;
    let p = 0;
    for (let a = 0; a < m.length; a++) for (let b = a + 1; b < m.length; b++) {
      const [i, j] = [Math.min(m[a]!, m[b]!), Math.max(m[a]!, m[b]!)];
      c += C[i * n + j]!;
      r += R[i * n + j]!;
      p++;
    }
    groups.push({ features: m.map((i) => ids[i]!), withinCosine: c / p, withinCorrelation: r / p });
  }
  return groups.sort((x, y) => y.features.length - x.features.length || x.features[0]! - y.features[0]!);
}

/** Mean and 95th percentile of the decoder cosine of `pairs` random distinct feature pairs of W [m, d] (seeded). */
export function randomPairCosine(W: Float32Array, m: number, d: number, pairs: number, seed: number): { mean: number; p95: number } {
  const rng = new Rng(seed);
  const v: number[] = [];
  const norm = (i: number) => Math.sqrt(W.subarray(i * d, (i + 1) * d).reduce((s, x) => s + x * x, 0));
  for (let k = 0; k < pairs; k++) {
    const i = rng.int(m);
    let j = rng.int(m - 1);
    if (j >= i) j++;
    let s = 0;
    for (let t = 0; t < d; t++) s += W[i * d + t]! * W[j * d + t]!;
    const nn = norm(i) * norm(j);
    v.push(nn > 0 ? s / nn : 0);
  }
  v.sort((a, b) => a - b);
  return { mean: v.reduce((s, x) => s + x, 0) / v.length, p95: v[Math.min(v.length - 1, Math.floor(0.95 * v.length))]! };
}
