// The shared-clean CE/KL rearrangement against the compute ops' CPU twins (the direct formulas)
// on random logits, a hand-computed two-token case, and KL exactly 0 for identical logits.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crossEntropyCpu } from '../../src/compute/ops/crossEntropy.js';
import { klDivergenceCpu } from '../../src/compute/ops/klDivergence.js';
import { Rng } from '../../src/compute/random.js';
import { blasAddon } from '../../src/compute/cpu/blas.js';
import { CleanLogits } from '../../src/eval/logitLosses.js';

test('a hand-computed case: V = 2', () => {
  // clean logits (0, 0): p = (1/2, 1/2); variant (0, ln 3): q = (1/4, 3/4).
  const clean = new CleanLogits(Float32Array.of(0, 0), 2, [1]);
  const q = Float32Array.of(0, Math.log(3));
  const { ce, kl } = clean.compare(q, Int32Array.of(1));
  // CE of target 1 under q: −ln(3/4); KL = ½ ln(½/¼) + ½ ln(½/¾) = ½ ln 2 + ½ ln(2/3).
  assert.ok(Math.abs(ce[0]! - -Math.log(0.75)) < 1e-7);
  assert.ok(Math.abs(kl[0]! - (0.5 * Math.log(2) + 0.5 * Math.log(2 / 3))) < 1e-7);
  assert.ok(Math.abs(clean.ce(Int32Array.of(0))[0]! - Math.log(2)) < 1e-12);
});

test('CE and KL equal the direct formulas (the ops) on random logits; rows left out are 0', () => {
  const rng = new Rng(3);
  const n = 9;
  const V = 301;
  const p = Float32Array.from({ length: n * V }, () => 3 * rng.normal());
  const q = Float32Array.from(p, (v) => v + rng.normal());
  const targets = Int32Array.from({ length: n }, (_, r) => (r === 4 ? -1 : rng.int(V)));
  const rows = Uint8Array.from({ length: n }, (_, r) => (r === 7 ? 0 : 1));
  const clean = new CleanLogits(p, V, rows);
  const { ce, kl } = clean.compare(q, targets);
  const ceRef = new Float32Array(n);
  const klRef = new Float32Array(n);
  crossEntropyCpu(q, targets, V, -1, ceRef);
  klDivergenceCpu(p, q, V, klRef);
  for (let r = 0; r < n; r++) {
    if (!rows[r]) {
      assert.equal(ce[r], 0);
      assert.equal(kl[r], 0);
      continue;
    }
    assert.ok(Math.abs(ce[r]! - ceRef[r]!) < 1e-5 * Math.max(1, ceRef[r]!), `ce row ${r}: ${ce[r]} vs ${ceRef[r]}`);
    assert.ok(Math.abs(kl[r]! - klRef[r]!) < 1e-5 * Math.max(1, klRef[r]!), `kl row ${r}: ${kl[r]} vs ${klRef[r]}`);
  }
  const same = clean.compare(p, targets);
  for (let r = 0; r < n; r++) assert.equal(same.kl[r], 0);
  assert.deepEqual([...same.ce], [...clean.ce(targets)]);
});

test('the native rows (native/logitLosses.c) equal the TypeScript twin to 1e-12, across thread counts', { skip: blasAddon()?.compareLogitRows ? false : 'the native addon is not built' }, () => {
  const rng = new Rng(5);
  const n = 13;
  const V = 1003; // not a multiple of 4 or 8: the tails run too
  const z = Float32Array.from({ length: n * V }, (_, i) => (i % V === 17 ? 40 : 6 * rng.normal()));
  const q = Float32Array.from(z, (v, i) => (i % 97 === 0 ? -1e30 : v + 2 * rng.normal()));
  const targets = Int32Array.from({ length: n }, (_, r) => (r === 2 ? -1 : rng.int(V)));
  const rows = Uint8Array.from({ length: n }, (_, r) => (r === 5 ? 0 : 1));
  const ts = new CleanLogits(z, V, rows, false);
  const nat = new CleanLogits(z, V, rows);
  const a = ts.compare(q, targets);
  const b = nat.compare(q, targets);
  const close = (x: number, y: number) => Math.abs(x - y) <= 1e-12 * Math.max(1, Math.abs(y));
  for (let r = 0; r < n; r++) {
    assert.ok(close(b.ce[r]!, a.ce[r]!), `ce row ${r}: native ${b.ce[r]} vs ${a.ce[r]}`);
    assert.ok(close(b.kl[r]!, a.kl[r]!), `kl row ${r}: native ${b.kl[r]} vs ${a.kl[r]}`);
    assert.ok(close(nat.ce(targets)[r]!, ts.ce(targets)[r]!));
  }
  assert.equal(b.ce[5], 0);
  assert.equal(b.kl[5], 0);
  // One thread and two give the same bits (rows are split, never a row).
  const addon = blasAddon()!;
  const saved = addon.info().threads;
  addon.setThreads(1);
  let one: { ce: Float64Array; kl: Float64Array };
  try {
    one = new CleanLogits(z, V, rows).compare(q, targets);
  } finally {
    addon.setThreads(saved);
  }
  assert.deepEqual([...one.ce], [...b.ce]);
  assert.deepEqual([...one.kl], [...b.kl]);
  // A target at or past V is one clear error, not a read outside the row.
  assert.throws(() => nat.compare(q, Int32Array.from(targets, (t, r) => (r === 0 ? V : t))), /target 1003 at row 0 is not below V = 1003/);
});
