import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../src/compute/random.js';
import { unitRows } from '../../src/analysis/cosineBlocks.js';
import { cosineTopKBothGpu } from '../../src/analysis/gpuCandidates.js';
import { cosineTopKBoth, type TopLists } from '../../src/analysis/matchCandidates.js';
import { matchDirections, matchDirectionsOn } from '../../src/analysis/matchDirections.js';
import { gpuOrSkip } from '../helpers/gpu.js';

const { gpu, skip } = await gpuOrSkip();

/** Values within 1e-5; indices equal wherever the neighbouring values are apart by more than 1e-4 (no near-ties). */
function assertListsMatch(got: TopLists, want: TopLists, count: number, what: string): void {
  assert.equal(got.k, want.k);
  const k = want.k;
  for (let r = 0; r < count; r++) {
    for (let t = 0; t < k; t++) {
      const o = r * k + t;
      assert.ok(Math.abs(got.val[o]! - want.val[o]!) < 1e-5, `${what} ${r}/${t}: ${got.val[o]} vs ${want.val[o]}`);
      const gapPrev = t === 0 ? Infinity : want.val[o - 1]! - want.val[o]!;
      const gapNext = t === k - 1 ? Infinity : want.val[o]! - want.val[o + 1]!;
      if (gapPrev > 1e-4 && gapNext > 1e-4) assert.equal(got.idx[o], want.idx[o], `${what} ${r}/${t}`);
    }
  }
}

test('GPU candidate lists equal the CPU pass (rows and columns), and the matching is the same', { skip }, async () => {
  const rng = new Rng(9);
  const [n, m, d, K] = [300, 200, 24, 8];
  const A = rng.normalArray(n * d);
  const B = rng.normalArray(m * d);
  const UA = unitRows(A, n, d);
  const UB = unitRows(B, m, d);
  const g = await cosineTopKBothGpu(gpu!, UA, n, UB, m, d, K);
  const c = cosineTopKBoth(UA, n, UB, m, d, K);
  assertListsMatch(g.rows, c.rows, n, 'row');
  assertListsMatch(g.cols, c.cols, m, 'col');
  const onGpu = await matchDirectionsOn(gpu!, A, n, B, m, d, { k: K });
  const onCpu = matchDirections(A, n, B, m, d, { k: K });
  assert.ok(onGpu.certificate.certified);
  assert.ok(Math.abs(onGpu.totalCos - onCpu.totalCos) < 1e-5 * m, `${onGpu.totalCos} vs ${onCpu.totalCos}`);
});
