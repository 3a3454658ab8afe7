// Near-duplicate features (duplicateFeatures.ts) on synthetic SAEs: planted pairs (the same decoder
// direction and co-firing activations) are found and nothing else; a pair with the same direction but
// unrelated firing, and a pair that co-fires with different directions, are not; and the search
// equals the brute-force definition over every pair at loose thresholds.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../src/compute/random.js';
import { findDuplicates, type DuplicateSide } from '../../src/analysis/duplicateFeatures.js';
import { pearson } from '../../src/analysis/featureCorrelation.js';

const d = 16;
const N = 300;

/** A side from decoder rows and raw activations [m, N] (centred here, as featureActivations does). */
function side(wDec: Float32Array, acts: Float32Array, m: number): DuplicateSide {
  const centred = new Float32Array(m * N);
  for (let j = 0; j < m; j++) {
    let mean = 0;
    for (let t = 0; t < N; t++) mean += acts[j * N + t]!;
    mean /= N;
    for (let t = 0; t < N; t++) centred[j * N + t] = acts[j * N + t]! - mean;
  }
  return { wDec, dSae: m, centred };
}

function randomSaeData(m: number, rng: Rng): { w: Float32Array; acts: Float32Array } {
  const w = Float32Array.from({ length: m * d }, () => rng.normal());
  // Sparse non-negative activations: each feature fires on ~10% of tokens.
  const acts = Float32Array.from({ length: m * N }, () => (rng.uniform() < 0.1 ? 1 + rng.uniform() : 0));
  return { w, acts };
}

function cos(x: Float32Array, i: number, y: Float32Array, j: number): number {
  let s = 0, a = 0, b = 0;
  for (let k = 0; k < d; k++) {
    s += x[i * d + k]! * y[j * d + k]!;
    a += x[i * d + k]! ** 2;
    b += y[j * d + k]! ** 2;
  }
  return s / Math.sqrt(a * b);
}

test('duplicates: planted pairs found; same direction without co-firing, or co-firing in another direction, not', () => {
  const rng = new Rng(3);
  const mA = 24;
  const mB = 20;
  const A = randomSaeData(mA, rng);
  const B = randomSaeData(mB, rng);
  const copyDir = (j: number, i: number, scale: number) => {
    for (let k = 0; k < d; k++) B.w[j * d + k] = scale * A.w[i * d + k]! + 0.02 * rng.normal();
  };
  const copyActs = (j: number, i: number) => {
    for (let t = 0; t < N; t++) B.acts[j * N + t] = 2 * A.acts[i * N + t]! + (A.acts[i * N + t]! > 0 ? 0.05 * rng.uniform() : 0);
  };
  // Planted duplicates: B3 ≈ A7, B5 ≈ A2 (decoder scaled: cosine ignores norm), B11 ≈ A19.
  const planted = [[7, 3], [2, 5], [19, 11]] as const;
  planted.forEach(([i, j], n) => {
    copyDir(j, i, 1 + n);
    copyActs(j, i);
  });
  copyDir(8, 11, 1); // B8: A11's direction, its own (independent) firing
  copyActs(9, 12); // B9: fires with A12, its own random direction
  const r = findDuplicates(side(A.w, A.acts, mA), side(B.w, B.acts, mB), d, N, { cosine: 0.9, correlation: 0.9 });
  assert.deepEqual(r.pairs.map((p) => [p.a, p.b]).sort(), planted.map(([i, j]) => [i, j]).sort());
  for (const p of r.pairs) assert.ok(p.cosine > 0.99 && p.correlation > 0.99, JSON.stringify(p));
  assert.equal(r.cosinePairs, 4, 'the three planted pairs and A11–B8 pass the cosine');
  assert.equal(r.failedCorrelation, 1);
  assert.ok(pearson(A.acts.subarray(12 * N, 13 * N), B.acts.subarray(9 * N, 10 * N)) > 0.99, 'A12–B9 co-fire, yet are not duplicates');
});

test('duplicates: equals the brute-force definition over every pair (loose thresholds)', () => {
  const rng = new Rng(9);
  const A = randomSaeData(30, rng);
  const B = randomSaeData(25, rng);
  // Correlated directions and activations so that many pairs pass loose thresholds.
  for (let j = 0; j < 25; j++) for (let k = 0; k < d; k++) B.w[j * d + k] = B.w[j * d + k]! * 0.5 + A.w[j * d + k]!;
  for (let j = 0; j < 25; j++) for (let t = 0; t < N; t++) B.acts[j * N + t] = B.acts[j * N + t]! + A.acts[j * N + t]!;
  const t = { cosine: 0.3, correlation: 0.2 };
  const r = findDuplicates(side(A.w, A.acts, 30), side(B.w, B.acts, 25), d, N, t);
  const want: string[] = [];
  for (let i = 0; i < 30; i++) for (let j = 0; j < 25; j++) {
    const c = cos(A.w, i, B.w, j);
    const p = pearson(A.acts.subarray(i * N, (i + 1) * N), B.acts.subarray(j * N, (j + 1) * N));
    // Skip pairs within rounding of a threshold (f32 blocks vs f64 here).
    if (Math.abs(c - t.cosine) < 1e-4 || Math.abs(p - t.correlation) < 1e-4) continue;
    if (c >= t.cosine && p >= t.correlation) want.push(`${i},${j}`);
  }
  assert.ok(want.length >= 20, `the loose thresholds pass ${want.length} pairs`);
  const got = new Set(r.pairs.map((p) => `${p.a},${p.b}`));
  for (const w of want) assert.ok(got.has(w), `missing ${w}`);
  assert.equal(got.size, want.length);
  for (let k = 1; k < r.pairs.length; k++) assert.ok(r.pairs[k - 1]!.cosine * r.pairs[k - 1]!.correlation >= r.pairs[k]!.cosine * r.pairs[k]!.correlation);
});
