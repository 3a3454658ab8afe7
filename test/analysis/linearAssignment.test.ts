import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../src/compute/random.js';
import { isInfeasible, solveSparseLap, type LapSolution, type SparseCostGraph } from '../../src/analysis/linearAssignment.js';
import { bruteForceAssignment, hungarianDense } from './referenceLap.js';

/** A CSR graph from [row, col, cost] triples. */
function graph(nRows: number, nCols: number, edges: [number, number, number][]): SparseCostGraph {
  const sorted = [...edges].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const rowStart = new Int32Array(nRows + 1);
  for (const [i] of sorted) rowStart[i + 1]!++;
  for (let i = 0; i < nRows; i++) rowStart[i + 1] = rowStart[i + 1]! + rowStart[i]!;
  return { nRows, nCols, rowStart, col: Int32Array.from(sorted.map((e) => e[1])), cost: Float64Array.from(sorted.map((e) => e[2])) };
}

/** The LP optimality conditions, checked independently of the solver: feasible duals, tight matched edges, v ≤ 0 and v = 0 on free columns. */
function assertOptimalityConditions(g: SparseCostGraph, s: LapSolution): void {
  const eps = 1e-9;
  for (let i = 0; i < g.nRows; i++) {
    for (let p = g.rowStart[i]!; p < g.rowStart[i + 1]!; p++) {
      const j = g.col[p]!;
      const r = g.cost[p]! - s.u[i]! - s.v[j]!;
      assert.ok(r >= -eps, `reduced cost (${i},${j}) = ${r}`);
      if (s.rowToCol[i] === j) assert.ok(Math.abs(r) <= eps, `matched (${i},${j}) not tight: ${r}`);
    }
  }
  for (let j = 0; j < g.nCols; j++) {
    assert.ok(s.v[j]! <= eps, `v[${j}] = ${s.v[j]} > 0`);
    if (s.colToRow[j] === -1) assert.equal(s.v[j], 0, `free column ${j} has price ${s.v[j]}`);
  }
}

test('a hand-solved 3×3: the greedy choice is not optimal, augmenting paths fix it', () => {
  // Rows 0 and 1 both prefer column 0. Greedy gives row 0 column 0, then row 1 must take column 1:
  // 1 + 5 + 1 = 7. The optimum swaps: 0→1, 1→0, 2→2 = 2 + 1 + 1 = 4.
  const c = [
    [1, 2, 9],
    [1, 5, 9],
    [9, 9, 1],
  ];
  const g = graph(3, 3, c.flatMap((row, i) => row.map((v, j) => [i, j, v] as [number, number, number])));
  const s = solveSparseLap(g);
  assert.ok(!isInfeasible(s));
  assert.deepEqual(Array.from(s.rowToCol), [1, 0, 2]);
  assert.equal(s.totalCost, 4);
  assert.ok(s.augmentations >= 1);
  assertOptimalityConditions(g, s);
});

test('no full matching on the graph: the stuck row is reported', () => {
  // Rows 0 and 1 can only use column 0.
  const r = solveSparseLap(graph(2, 3, [[0, 0, 1], [1, 0, 2]]));
  assert.ok(isInfeasible(r));
  assert.equal(r.stuckRow, 1);
});

test('random sparse graphs (square and rectangular): the textbook Hungarian total, and the optimality conditions', () => {
  const rng = new Rng(5);
  for (let rep = 0; rep < 40; rep++) {
    const n = 1 + rng.int(30);
    const m = n + rng.int(10);
    const dense = new Float64Array(n * m).fill(1e6); // non-edges: prohibitively expensive in the dense reference
    const edges: [number, number, number][] = [];
    // A random permutation's edges guarantee a full matching; then random extra edges (some integer costs for ties).
    const perm = Array.from({ length: m }, (_, j) => j);
    for (let j = m - 1; j > 0; j--) {
      const t = rng.int(j + 1);
      [perm[j], perm[t]] = [perm[t]!, perm[j]!];
    }
    for (let i = 0; i < n; i++) {
      const cols = new Set([perm[i]!]);
      const extra = rng.int(5);
      for (let e = 0; e < extra; e++) cols.add(rng.int(m));
      for (const j of cols) {
        const cost = rep % 2 ? rng.int(4) : rng.uniform() * 2 - 1;
        edges.push([i, j, cost]);
        dense[i * m + j] = cost;
      }
    }
    const g = graph(n, m, edges);
    const s = solveSparseLap(g);
    assert.ok(!isInfeasible(s));
    assertOptimalityConditions(g, s);
    const want = hungarianDense(dense, n, m).total;
    assert.ok(Math.abs(s.totalCost - want) < 1e-9, `rep ${rep}: ${s.totalCost} vs ${want}`);
    if (n <= 7 && m <= 8) assert.ok(Math.abs(s.totalCost - bruteForceAssignment(dense, n, m)) < 1e-9);
    assert.equal(new Set(s.rowToCol).size, n, 'distinct columns');
  }
});
