// Near-duplicate features of two SAEs (typically residual SAEs at different layers): pairs (i of A,
// j of B) whose decoder rows point the same way (cosine ≥ a threshold) AND whose activations on the
// same tokens move together (Pearson correlation ≥ a threshold). Either alone is not enough: two
// features can share a direction yet fire on different tokens (the residual stream reuses directions
// across layers), or fire together while writing different directions (a feature and its consequence).
//
// Exact over all nA·nB pairs without the full matrix: compare's blockwise cosine pass
// (cosineBlocks.ts) keeps every pair above the cosine threshold; only those get a correlation, the
// cosine of their centred activation rows (featureCorrelation.ts).

import { unitRows, forEachCosineBlock } from './cosineBlocks.js';

/** One SAE's side: decoder rows and centred activations on the shared tokens. */
export interface DuplicateSide {
  /** [dSae, d] decoder rows. */
  wDec: Float32Array;
  dSae: number;
  /** [dSae, N] centred activations (a zero row for a feature that never varies). */
  centred: Float32Array;
}

/** A near-duplicate pair. */
export interface DuplicatePair {
  a: number;
  b: number;
  /** Cosine of the decoder rows. */
  cosine: number;
  /** Pearson correlation of the activations over the shared tokens. */
  correlation: number;
}

export interface DuplicateThresholds {
  /** Minimum decoder cosine (e.g. 0.7). */
  cosine: number;
  /** Minimum activation correlation (e.g. 0.7). */
  correlation: number;
  /** Refuse (throw) rather than hold more cosine-passing pairs than this (default 2,000,000). */
  maxCandidates?: number;
}

export interface DuplicateSearch {
  pairs: DuplicatePair[];
  /** Pairs above the cosine threshold (before the correlation test). */
  cosinePairs: number;
  /** Of those, how many failed only on correlation. */
  failedCorrelation: number;
}

/** Thrown when the cosine threshold lets through more pairs than `maxCandidates`. */
export class TooManyCandidatesError extends Error {
  override name = 'UsageError';
}

/** Pearson correlation of rows i of X and j of Y (both centred, [*, N]); 0 when either is constant. */
function rowCorrelation(X: Float32Array, i: number, Y: Float32Array, j: number, N: number): number {
  let xy = 0;
  let xx = 0;
  let yy = 0;
  const oi = i * N;
  const oj = j * N;
  for (let t = 0; t < N; t++) {
    const x = X[oi + t]!;
    const y = Y[oj + t]!;
    xy += x * y;
    xx += x * x;
    yy += y * y;
  }
  return xx > 0 && yy > 0 ? xy / Math.sqrt(xx * yy) : 0;
}

/** Every pair of A and B features that passes both thresholds, sorted by correlation × cosine, highest first (ties: lower a, then b). */
export function findDuplicates(A: DuplicateSide, B: DuplicateSide, d: number, N: number, t: DuplicateThresholds): DuplicateSearch {
  const maxCand = t.maxCandidates ?? 2_000_000;
  const UA = unitRows(A.wDec, A.dSae, d);
  const UB = unitRows(B.wDec, B.dSae, d);
  const ca: number[] = [];
  const cb: number[] = [];
  const cc: number[] = [];
  forEachCosineBlock(UA, A.dSae, UB, B.dSae, d, (r0, rows, S) => {
    for (let r = 0; r < rows; r++) {
      const base = r * B.dSae;
      for (let j = 0; j < B.dSae; j++) {
        const c = S[base + j]!;
        if (c < t.cosine) continue;
        if (ca.length >= maxCand) throw new TooManyCandidatesError(`more than ${maxCand.toLocaleString('en-US')} feature pairs have decoder cosine ≥ ${t.cosine}: raise --cosine`);
        ca.push(r0 + r);
        cb.push(j);
        cc.push(c);
      }
    }
  });
  const pairs: DuplicatePair[] = [];
  for (let p = 0; p < ca.length; p++) {
    const r = rowCorrelation(A.centred, ca[p]!, B.centred, cb[p]!, N);
    if (r >= t.correlation) pairs.push({ a: ca[p]!, b: cb[p]!, cosine: cc[p]!, correlation: r });
  }
  pairs.sort((x, y) => y.correlation * y.cosine - x.correlation * x.cosine || x.a - y.a || x.b - y.b);
  return { pairs, cosinePairs: ca.length, failedCorrelation: ca.length - pairs.length };
}
