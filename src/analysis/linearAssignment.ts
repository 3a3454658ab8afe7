// Exact sparse linear assignment (minimum total cost, every row matched to a distinct column) by
// successive shortest augmenting paths with dual prices — the augmentation phase of Jonker–Volgenant,
// on a sparse graph (Dijkstra with a binary heap instead of a dense scan).
//
// Invariants kept throughout (the LP optimality conditions of the assignment problem):
//   reduced cost r(i,j) = c(i,j) − u(i) − v(j) ≥ 0 on every edge of the graph;
//   r(i,j) = 0 on every matched edge; v(j) ≤ 0 everywhere and v(j) = 0 on every column never matched
//   (so rectangular problems, rows ≤ columns, are covered: a free column needs a zero price).
// When every row is matched, the matching is optimal on the graph: Σ matched c = Σu + Σv, and any
// other assignment costs ≥ Σu + Σv. lapCertificate.ts extends this to every pair of the full matrix.

/** A sparse cost matrix in CSR form: row i's edges are col/cost[rowStart[i] .. rowStart[i+1]). */
export interface SparseCostGraph {
  nRows: number;
  nCols: number;
  rowStart: Int32Array;
  col: Int32Array;
  cost: Float64Array;
}

/** An optimal assignment on the graph with its dual prices. */
export interface LapSolution {
  /** [nRows] the column of each row. */
  rowToCol: Int32Array;
  /** [nCols] the row of each column, -1 for a column left free. */
  colToRow: Int32Array;
  /** [nRows] row prices. */
  u: Float64Array;
  /** [nCols] column prices (≤ 0; 0 on free columns). */
  v: Float64Array;
  /** Σ cost of the matched edges. */
  totalCost: number;
  /** Shortest-path searches run (rows not matched by the greedy start). */
  augmentations: number;
}

/** The graph has no assignment covering every row (a Hall violation at `row`). */
export interface LapInfeasible {
  stuckRow: number;
}

/** A partial solution to continue from (duals feasible on the graph, matched edges tight). */
export interface LapWarmStart {
  rowToCol: Int32Array;
  colToRow: Int32Array;
  u: Float64Array;
  v: Float64Array;
}

/** A binary min-heap of (key, column) with lazy deletion: typed arrays, grown on demand. */
class MinHeap {
  key = new Float64Array(1024);
  id = new Int32Array(1024);
  size = 0;
  clear(): void {
    this.size = 0;
  }
  push(k: number, j: number): void {
    if (this.size === this.key.length) {
      const nk = new Float64Array(this.size * 2);
      nk.set(this.key);
      this.key = nk;
      const ni = new Int32Array(this.size * 2);
      ni.set(this.id);
      this.id = ni;
    }
    let p = this.size++;
    const key = this.key;
    const id = this.id;
    // Ties by lower column index, so the search order (and result) is deterministic.
    while (p > 0) {
      const q = (p - 1) >> 1;
      if (key[q]! < k || (key[q] === k && id[q]! <= j)) break;
      key[p] = key[q]!;
      id[p] = id[q]!;
      p = q;
    }
    key[p] = k;
    id[p] = j;
  }
  /** Remove the minimum; its key and id are left in `topKey`/`topId`. */
  topKey = 0;
  topId = 0;
  pop(): void {
    const key = this.key;
    const id = this.id;
    this.topKey = key[0]!;
    this.topId = id[0]!;
    const n = --this.size;
    const k = key[n]!;
    const j = id[n]!;
    let p = 0;
    for (;;) {
      let c = 2 * p + 1;
      if (c >= n) break;
      if (c + 1 < n && (key[c + 1]! < key[c]! || (key[c + 1] === key[c] && id[c + 1]! < id[c]!))) c++;
      if (k < key[c]! || (k === key[c] && j <= id[c]!)) break;
      key[p] = key[c]!;
      id[p] = id[c]!;
      p = c;
    }
    key[p] = k;
    id[p] = j;
  }
}

/** Greedy start: v = 0, u(i) = min_j c(i,j), and each row takes its cheapest column if still free. */
function greedyStart(g: SparseCostGraph): LapWarmStart {
  const { nRows, nCols, rowStart, col, cost } = g;
  const rowToCol = new Int32Array(nRows).fill(-1);
  const colToRow = new Int32Array(nCols).fill(-1);
  const u = new Float64Array(nRows);
  const v = new Float64Array(nCols);
  for (let i = 0; i < nRows; i++) {
    let best = Infinity;
    let arg = -1;
    for (let p = rowStart[i]!; p < rowStart[i + 1]!; p++) {
      if (cost[p]! < best) {
        best = cost[p]!;
        arg = col[p]!;
      }
    }
    u[i] = arg < 0 ? 0 : best;
    if (arg >= 0 && colToRow[arg] === -1) {
      rowToCol[i] = arg;
      colToRow[arg] = i;
    }
  }
  return { rowToCol, colToRow, u, v };
}

/**
 * Minimum-cost assignment of every row of `g` (requires nRows ≤ nCols), exact on the graph; or the
 * row whose search found no free column. `warm` continues from an earlier state (modified in place).
 */
export function solveSparseLap(g: SparseCostGraph, warm?: LapWarmStart): LapSolution | LapInfeasible {
  const { nRows, nCols, rowStart, col, cost } = g;
  if (nRows > nCols) throw new RangeError(`solveSparseLap: ${nRows} rows > ${nCols} columns (transpose first)`);
  const st = warm ?? greedyStart(g);
  const { rowToCol, colToRow, u, v } = st;
  const dist = new Float64Array(nCols);
  const pred = new Int32Array(nCols);
  /** seen[j] == epoch: dist[j] is set in this search; done[j] == epoch: j is final. */
  const seen = new Int32Array(nCols);
  const done = new Int32Array(nCols);
  const dRow = new Float64Array(nRows);
  const finalCols: number[] = [];
  const treeRows: number[] = [];
  const heap = new MinHeap();
  let epoch = 0;
  let augmentations = 0;

  for (let s = 0; s < nRows; s++) {
    if (rowToCol[s] !== -1) continue;
    augmentations++;
    epoch++;
    heap.clear();
    finalCols.length = 0;
    treeRows.length = 0;
    treeRows.push(s);
    dRow[s] = 0;
    let i = s;
    let di = 0;
    let sink = -1;
    let D = 0;
    for (;;) {
      // Relax row i's edges (reduced costs clamped at 0 against rounding below zero).
      const ui = u[i]!;
      for (let p = rowStart[i]!; p < rowStart[i + 1]!; p++) {
        const j = col[p]!;
        if (done[j] === epoch) continue;
        let r = cost[p]! - ui - v[j]!;
        if (r < 0) r = 0;
        const nd = di + r;
        if (seen[j] !== epoch || nd < dist[j]!) {
          seen[j] = epoch;
          dist[j] = nd;
          pred[j] = i;
          heap.push(nd, j);
        }
      }
      // Next final column: the nearest not yet final.
      let j = -1;
      while (heap.size > 0) {
        heap.pop();
        const c = heap.topId;
        if (done[c] === epoch || heap.topKey > dist[c]!) continue;
        j = c;
        break;
      }
      if (j < 0) return { stuckRow: s };
      done[j] = epoch;
      const dj = dist[j]!;
      if (colToRow[j] === -1) {
        sink = j;
        D = dj;
        break;
      }
      finalCols.push(j);
      i = colToRow[j]!;
      di = dj;
      dRow[i] = dj;
      treeRows.push(i);
    }
    // Price update keeps every reduced cost ≥ 0 and makes the path tight (see the file comment).
    for (const j of finalCols) v[j] = v[j]! - (D - dist[j]!);
    for (const r of treeRows) u[r] = u[r]! + (D - dRow[r]!);
    // Augment along pred from the sink back to s.
    let j = sink;
    for (;;) {
      const r = pred[j]!;
      const prev = rowToCol[r]!;
      rowToCol[r] = j;
      colToRow[j] = r;
      if (r === s) break;
      j = prev;
    }
  }
  let totalCost = 0;
  for (let r = 0; r < nRows; r++) {
    const j = rowToCol[r]!;
    let c = NaN;
    for (let p = rowStart[r]!; p < rowStart[r + 1]!; p++) {
      if (col[p] === j) {
        c = cost[p]!;
        break;
      }
    }
    totalCost += c;
  }
  return { rowToCol, colToRow, u, v, totalCost, augmentations };
}

/** Whether a solve result is the infeasible case. */
export function isInfeasible(r: LapSolution | LapInfeasible): r is LapInfeasible {
  return (r as LapInfeasible).stuckRow !== undefined;
}
