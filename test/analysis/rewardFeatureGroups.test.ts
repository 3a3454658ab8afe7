// Ranks and Spearman (ties averaged), near-duplicates across SAEs, and feature groups on hand-made
// decoder rows: two features sharing a direction form a group, a co-activating pair forms one, a
// lone feature none; random-pair cosines of orthogonal rows are ~0.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { featureGroups, nearestInOther, randomPairCosine, ranks, spearman } from '../../src/analysis/rewardFeatureGroups.js';

test('ranks and Spearman', () => {
  assert.deepEqual(Array.from(ranks([10, 30, 20, 30])), [1, 3.5, 2, 3.5]);
  assert.ok(Math.abs(spearman([1, 2, 3, 4], [10, 20, 30, 400]) - 1) < 1e-12);
  assert.ok(Math.abs(spearman([1, 2, 3, 4], [4, 3, 2, 1]) + 1) < 1e-12);
  assert.ok(Number.isNaN(spearman([1], [2])));
});

test('near-duplicates and groups', () => {
  const d = 4;
  // Rows: 0 = e0, 1 = e0 + 0.1 e1 (near 0), 2 = e2, 3 = e3, 4 = −e2.
  const W = Float32Array.from([1, 0, 0, 0, 1, 0.1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, -1, 0]);
  const other = Float32Array.from([0, 0, 2, 0, 0, 3, 0, 0]); // 2·e2, 3·e1
  const near = nearestInOther(W, [0, 2], other, 2, d);
  assert.equal(near[1]!.feature, 0);
  assert.ok(Math.abs(near[1]!.cosine - 1) < 1e-6);
  assert.equal(near[0]!.feature, 0); // e0 is orthogonal to both: the lower index wins the tie at 0
  // Activations over 6 completions: 2 and 3 always fire together; others independent.
  const series = [
    Float64Array.from([1, 0, 0, 1, 0, 0]), Float64Array.from([0, 1, 0, 0, 0, 1]), Float64Array.from([1, 1, 0, 0, 1, 0]),
    Float64Array.from([2, 2, 0, 0, 2, 0]), Float64Array.from([0, 0, 1, 0, 0, 0]),
  ];
  const g = featureGroups(W, d, [0, 1, 2, 3, 4], series, { cosine: 0.9, correlation: 0.9 });
  assert.deepEqual(g.map((x) => x.features), [[0, 1], [2, 3]]);
  assert.ok(g[0]!.withinCosine > 0.99);
  assert.ok(Math.abs(g[1]!.withinCorrelation - 1) < 1e-12);
  const r = randomPairCosine(Float32Array.from([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]), 4, d, 100, 1);
  assert.equal(r.mean, 0);
});
