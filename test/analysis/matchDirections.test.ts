import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cosineMaxBothCpu } from '../../src/compute/ops/cosineMax.js';
import { Rng } from '../../src/compute/random.js';
import { matchDirections, type DirectionMatch } from '../../src/analysis/matchDirections.js';
import { bruteForceAssignment, cosineMatrix, hungarianDense, negate } from './referenceLap.js';

/** Σ f64 cosine of the pairs our matching chose, checked to be one-to-one. */
function matchedTotal(r: DirectionMatch, C: Float64Array): number {
  const seen = new Set<number>();
  let total = 0;
  let matched = 0;
  for (let i = 0; i < r.n; i++) {
    const j = r.aToB[i]!;
    if (j < 0) continue;
    assert.ok(j < r.m, `row ${i} → ${j} out of range`);
    assert.ok(!seen.has(j), `column ${j} matched twice`);
    seen.add(j);
    matched++;
    total += C[i * r.m + j]!;
  }
  assert.equal(matched, Math.min(r.n, r.m), 'every row of the smaller side is matched');
  return total;
}

/** Two correlated direction sets like two SAE seeds: a shared base + noise, B row-permuted. */
function correlatedSets(rng: Rng, n: number, d: number, noise: number): { A: Float32Array; B: Float32Array; perm: Int32Array } {
  const base = rng.normalArray(n * d);
  const perm = new Int32Array(n).map((_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  const A = new Float32Array(n * d);
  const B = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) {
      A[i * d + k] = base[i * d + k]! + noise * rng.normal();
      B[i * d + k] = base[perm[i]! * d + k]! + noise * rng.normal();
    }
  }
  return { A, B, perm };
}

test('the asymmetry case of the issue: max both ways differ, one-to-one total is 0', () => {
  const A = Float32Array.from([1, 1]); // two directions [1], [1]
  const B = Float32Array.from([1, -1]); // [1], [−1]
  assert.deepEqual(Array.from(cosineMatrix(A, 2, B, 2, 1)), [1, -1, 1, -1]);
  const r = matchDirections(A, 2, B, 2, 1);
  assert.deepEqual(Array.from(r.rowMax), [1, 1]); // over A's side
  assert.deepEqual(Array.from(r.colMax), [1, -1]); // over B's side
  assert.equal(r.totalCos, 0);
  assert.deepEqual(new Set(r.aToB), new Set([0, 1]));
  assert.ok(r.certificate.certified);
});

test('permuted, rescaled copies of one set match perfectly: the permutation, cosine 1', () => {
  const rng = new Rng(7);
  const n = 300;
  const d = 16;
  const A = rng.normalArray(n * d);
  const perm = new Int32Array(n).map((_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  // B[j] = s_j · A[perm[j]]: the same directions in another order and scale.
  const B = new Float32Array(n * d);
  for (let j = 0; j < n; j++) {
    const s = 0.5 + rng.uniform() * 3;
    for (let k = 0; k < d; k++) B[j * d + k] = s * A[perm[j]! * d + k]!;
  }
  const r = matchDirections(A, n, B, n, d, { k: 4 });
  for (let j = 0; j < n; j++) assert.equal(r.aToB[perm[j]!], j, `A row ${perm[j]} → B row ${j}`);
  for (let i = 0; i < n; i++) assert.ok(Math.abs(r.matchedCos[i]! - 1) < 1e-6, `matched cos ${r.matchedCos[i]}`);
  assert.ok(Math.abs(r.totalCos - n) < n * 1e-6);
  assert.ok(r.certificate.certified);
});

test('brute force agrees for n ≤ 8, square and rectangular both ways', () => {
  const rng = new Rng(1);
  for (const [n, m] of [[1, 1], [3, 3], [5, 7], [7, 5], [8, 8], [6, 6], [2, 8]] as const) {
    for (let rep = 0; rep < 6; rep++) {
      const d = 1 + rng.int(4);
      const A = rng.normalArray(n * d);
      const B = rng.normalArray(m * d);
      const C = cosineMatrix(A, n, B, m, d);
      const r = matchDirections(A, n, B, m, d, { k: 1 + rng.int(3) });
      const best = -bruteForceAssignment(n <= m ? negate(C) : negate(transpose(C, n, m)), Math.min(n, m), Math.max(n, m));
      assert.ok(Math.abs(matchedTotal(r, C) - best) < 1e-5, `n=${n} m=${m}: ${matchedTotal(r, C)} vs brute force ${best}`);
      assert.ok(Math.abs(r.totalCos - best) < 1e-5);
      assert.ok(r.certificate.certified);
    }
  }
});

function transpose(C: Float64Array, n: number, m: number): Float64Array {
  const t = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) t[j * n + i] = C[i * m + j]!;
  return t;
}

test('max both ways equals cosineMaxBothCpu (values and lowest-index args)', () => {
  const rng = new Rng(3);
  const n = 70;
  const m = 50;
  const d = 8;
  const A = rng.normalArray(n * d);
  const B = rng.normalArray(m * d);
  const r = matchDirections(A, n, B, m, d, { k: 3 });
  const want = cosineMaxBothCpu(A, n, B, m, d);
  for (let i = 0; i < n; i++) assert.ok(Math.abs(r.rowMax[i]! - want.rowMax[i]!) < 1e-5);
  for (let j = 0; j < m; j++) assert.ok(Math.abs(r.colMax[j]! - want.colMax[j]!) < 1e-5);
  assert.deepEqual(Array.from(r.rowArg), Array.from(want.rowArg));
  assert.deepEqual(Array.from(r.colArg), Array.from(want.colArg));
});

test('random and structured cases match the textbook Hungarian, including certificate rounds', () => {
  const rng = new Rng(11);
  let sawRounds = false;
  const cases: { n: number; m: number; d: number; kind: 'random' | 'structured' | 'ties'; k: number }[] = [
    { n: 64, m: 64, d: 4, kind: 'random', k: 2 },
    { n: 200, m: 200, d: 3, kind: 'random', k: 3 },
    { n: 256, m: 256, d: 16, kind: 'structured', k: 4 },
    { n: 150, m: 230, d: 6, kind: 'random', k: 2 },
    { n: 230, m: 150, d: 6, kind: 'random', k: 2 },
    { n: 128, m: 128, d: 2, kind: 'ties', k: 2 },
    { n: 512, m: 512, d: 32, kind: 'random', k: 8 },
  ];
  for (const c of cases) {
    let A: Float32Array;
    let B: Float32Array;
    if (c.kind === 'structured') ({ A, B } = correlatedSets(rng, c.n, c.d, 0.7));
    else if (c.kind === 'ties') {
      // Few distinct directions: many equal cosines, many optimal matchings.
      const pick = (k: number) => Float32Array.from({ length: k * c.d }, () => rng.int(3) - 1);
      A = pick(c.n);
      B = pick(c.m);
    } else {
      A = rng.normalArray(c.n * c.d);
      B = rng.normalArray(c.m * c.d);
    }
    const C = cosineMatrix(A, c.n, B, c.m, c.d);
    const ref = c.n <= c.m ? -hungarianDense(negate(C), c.n, c.m).total : -hungarianDense(negate(transpose(C, c.n, c.m)), c.m, c.n).total;
    const r = matchDirections(A, c.n, B, c.m, c.d, { k: c.k });
    // The plain full-matrix check must agree that the same matching is optimal.
    const full = matchDirections(A, c.n, B, c.m, c.d, { k: c.k, fullCheck: true });
    assert.ok(full.certificate.certified && full.certificate.rowsScanned === Math.min(c.n, c.m));
    assert.ok(Math.abs(full.totalCos - r.totalCos) < 1e-6 * c.n);
    const what = `${c.kind} ${c.n}×${c.m} d=${c.d} k=${c.k}`;
    assert.ok(r.certificate.certified, `${what}: not certified`);
    assert.ok(r.certificate.maxViolation <= r.certificate.tol, `${what}: violation ${r.certificate.maxViolation}`);
    const ours = matchedTotal(r, C);
    assert.ok(Math.abs(ours - ref) < 1e-6 * c.n + 1e-6, `${what}: ours ${ours}, Hungarian ${ref}`);
    if (r.certificate.rounds > 1 || r.certificate.k > c.k) sawRounds = true;
  }
  // Small candidate lists on random data must have needed extra pairs or a wider K somewhere.
  assert.ok(sawRounds, 'no case exercised the certificate loop');
});

test('n = 2,048, structured (seeds-like) and random, equals the textbook Hungarian', () => {
  const rng = new Rng(2048);
  const n = 2048;
  const d = 32;
  for (const kind of ['structured', 'random']) {
    const { A, B } = kind === 'structured' ? correlatedSets(rng, n, d, 0.8) : { A: rng.normalArray(n * d), B: rng.normalArray(n * d) };
    const C = cosineMatrix(A, n, B, n, d);
    const ref = -hungarianDense(negate(C), n, n).total;
    const r = matchDirections(A, n, B, n, d);
    assert.ok(r.certificate.certified, kind);
    const ours = matchedTotal(r, C);
    assert.ok(Math.abs(ours - ref) < 1e-6 * n, `${kind}: ours ${ours}, Hungarian ${ref}`);
  }
});

test('a candidate graph without a full matching widens K (all A rows alike: every row list names one column)', () => {
  const n = 6;
  const d = 3;
  const A = new Float32Array(n * d);
  for (let i = 0; i < n; i++) A[i * d] = 1; // six copies of e1
  const rng = new Rng(4);
  const B = rng.normalArray(n * d);
  const r = matchDirections(A, n, B, n, d, { k: 1 });
  assert.ok(r.certificate.k > 1, `k stayed ${r.certificate.k}`);
  assert.ok(r.certificate.certified);
  const C = cosineMatrix(A, n, B, n, d);
  assert.ok(Math.abs(matchedTotal(r, C) - -bruteForceAssignment(negate(C), n, n)) < 1e-5);
});
