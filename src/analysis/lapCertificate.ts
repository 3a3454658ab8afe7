// The optimality certificate of a matching found on a sparse candidate graph: its dual prices must
// be feasible for EVERY pair of the full n×m cosine matrix, not only the candidates.
//
// In maximisation terms, with row prices a = −u and column prices b = −v (b ≥ 0, b = 0 on free
// columns): if cos(i,j) ≤ a(i) + b(j) + tol for all (i, j) and matched pairs are tight, then no
// one-to-one matching has a total cosine above ours by more than rows·tol (weak LP duality after
// shifting every a(i) by tol).
//
// Checking all n·m pairs costs a full matrix pass; most rows need none. Row i's pairs are
//   - its candidate edges: checked one by one from the graph;
//   - every other column j: cos(i,j) ≤ bound(i), the K-th best cosine of row i (the candidate pass
//     saw the whole row), so cos(i,j) + u(i) + v(j) ≤ bound(i) + u(i) + max_j v(j).
// Only rows where that bound exceeds tol are recomputed against all of B (blockwise, cosineBlocks.ts).
// `full: true` scans every row instead (the plain check, used by tests to validate the shortcut).

import { forEachCosineBlock, forEachCosineRows } from './cosineBlocks.js';
import type { SparseCostGraph } from './linearAssignment.js';
import type { ExtraPair } from './matchCandidates.js';

/** What the check found. */
export interface LapCheck {
  /** max over all pairs of cos(i,j) − a(i) − b(j) (≤ tol means certified); an upper bound where a row was not rescanned. */
  maxViolation: number;
  /** Pairs violating by more than tol, worst first, at most `maxPairs`. */
  violations: ExtraPair[];
  /** How many pairs violate by more than tol in total. */
  violationCount: number;
  /** Rows whose full row of cosines was recomputed. */
  rowsScanned: number;
}

export interface LapCheckInput {
  /** The graph the prices were solved on (its edges are checked from their stored costs). */
  graph: SparseCostGraph;
  /** [n] an upper bound on cos(i, j) for every column j that is not a candidate of row i (-Infinity: all are). */
  rowBound: Float32Array;
}

/**
 * Check dual feasibility of prices u [n], v [m] (minimisation of −cos) on every pair of
 * cos(UA, UB) (unit rows); collect up to `maxPairs` pairs violating it by more than `tol`.
 */
export function checkLapDuals(UA: Float32Array, n: number, UB: Float32Array, m: number, d: number, u: Float64Array, v: Float64Array, tol: number, maxPairs: number, pruned: LapCheckInput | null): LapCheck {
  let maxViolation = -Infinity;
  let violationCount = 0;
  const found: ExtraPair[] = [];
  const record = (i: number, j: number, cos: number, x: number) => {
    if (x > maxViolation) maxViolation = x;
    if (x > tol) {
      violationCount++;
      if (found.length < maxPairs) found.push({ i, j, cos });
    }
  };
  const scanRow = (i: number, S: Float32Array, base: number) => {
    const ui = u[i]!;
    for (let j = 0; j < m; j++) {
      const x = S[base + j]! + ui + v[j]!;
      if (x > maxViolation || x > tol) record(i, j, S[base + j]!, x);
    }
  };
  let rowsScanned = 0;
  if (!pruned) {
    forEachCosineBlock(UA, n, UB, m, d, (r0, rows, S) => {
      for (let r = 0; r < rows; r++) scanRow(r0 + r, S, r * m);
    });
    rowsScanned = n;
  } else {
    const { graph: g, rowBound } = pruned;
    let vmax = -Infinity;
    for (let j = 0; j < m; j++) if (v[j]! > vmax) vmax = v[j]!;
    const rescan: number[] = [];
    for (let i = 0; i < n; i++) {
      const ui = u[i]!;
      const bound = rowBound[i]! + ui + vmax;
      if (bound > tol) {
        rescan.push(i);
        continue;
      }
      if (bound > maxViolation) maxViolation = bound;
      for (let p = g.rowStart[i]!; p < g.rowStart[i + 1]!; p++) {
        const j = g.col[p]!;
        record(i, j, -g.cost[p]!, -g.cost[p]! + ui + v[j]!);
      }
    }
    forEachCosineRows(UA, Int32Array.from(rescan), UB, m, d, (ids, count, S) => {
      for (let t = 0; t < count; t++) scanRow(ids[t]!, S, t * m);
    });
    rowsScanned = rescan.length;
  }
  found.sort((p, q) => q.cos + u[q.i]! + v[q.j]! - (p.cos + u[p.i]! + v[p.j]!) || p.i - q.i || p.j - q.j);
  return { maxViolation, violations: found, violationCount, rowsScanned };
}
