// Candidate pairs for the one-to-one matching: for every row of A its top-K columns of B by cosine,
// and for every column its top-K rows — found in one blockwise pass over the cosine matrix (the
// same pass also gives the max cosine both ways: the first entry of each list). Ties keep the lower
// index first, as in src/compute/ops/cosineMax.ts.

import { forEachCosineBlock } from './cosineBlocks.js';
import type { SparseCostGraph } from './linearAssignment.js';

/** Each row's (or column's) best K partners, best first: [count, K] values and indices. */
export interface TopLists {
  k: number;
  /** [count, k] cosines, descending (-Infinity past the number of partners). */
  val: Float32Array;
  /** [count, k] partner indices (-1 past the number of partners). */
  idx: Int32Array;
}

export interface CosineTopK {
  rows: TopLists;
  cols: TopLists;
}

function emptyLists(count: number, k: number): TopLists {
  return { k, val: new Float32Array(count * k).fill(-Infinity), idx: new Int32Array(count * k).fill(-1) };
}

/** Insert (v, id) into list `o` of `t` if it beats the last entry; equal values stay behind earlier ones. */
function insert(t: TopLists, o: number, v: number, id: number): void {
  const k = t.k;
  const val = t.val;
  const idx = t.idx;
  let p = o + k - 1;
  while (p > o && val[p - 1]! < v) {
    val[p] = val[p - 1]!;
    idx[p] = idx[p - 1]!;
    p--;
  }
  val[p] = v;
  idx[p] = id;
}

/** Top-K partners both ways between unit rows UA [n, d] and UB [m, d] (K capped at the partner count). */
export function cosineTopKBoth(UA: Float32Array, n: number, UB: Float32Array, m: number, d: number, K: number): CosineTopK {
  const kr = Math.max(0, Math.min(K, m));
  const kc = Math.max(0, Math.min(K, n));
  const rows = emptyLists(n, kr);
  const cols = emptyLists(m, kc);
  if (kr === 0 || kc === 0) return { rows, cols };
  // Running K-th best per column: most entries fail this one comparison.
  const colThr = new Float32Array(m).fill(-Infinity);
  forEachCosineBlock(UA, n, UB, m, d, (r0, nr, S) => {
    for (let r = 0; r < nr; r++) {
      const i = r0 + r;
      const ro = i * kr;
      let rowThr = rows.val[ro + kr - 1]!;
      const base = r * m;
      for (let j = 0; j < m; j++) {
        const v = S[base + j]!;
        if (v > rowThr) {
          insert(rows, ro, v, j);
          rowThr = rows.val[ro + kr - 1]!;
        }
        if (v > colThr[j]!) {
          insert(cols, j * kc, v, i);
          colThr[j] = cols.val[j * kc + kc - 1]!;
        }
      }
    }
  });
  return { rows, cols };
}

/** An extra candidate pair (from a failed certificate) with its cosine. */
export interface ExtraPair {
  i: number;
  j: number;
  cos: number;
}

/**
 * The sparse cost graph (cost = −cos, minimised) on the union of both top-K lists and `extra`,
 * rows sorted by column with duplicates removed (a pair in `extra` keeps the extra's cosine).
 */
export function candidateGraph(n: number, m: number, top: CosineTopK, extra: readonly ExtraPair[] = []): SparseCostGraph {
  const { rows, cols } = top;
  const count = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) for (let t = 0; t < rows.k; t++) if (rows.idx[i * rows.k + t]! >= 0) count[i]!++;
  for (let j = 0; j < m; j++) for (let t = 0; t < cols.k; t++) { const i = cols.idx[j * cols.k + t]!; if (i >= 0) count[i]!++; }
  for (const e of extra) count[e.i]!++;
  const start = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) start[i + 1] = start[i]! + count[i]!;
  const fill = start.slice(0, n);
  const col = new Int32Array(start[n]!);
  const cos = new Float64Array(start[n]!);
  const put = (i: number, j: number, c: number) => {
    const p = fill[i]!++;
    col[p] = j;
    cos[p] = c;
  };
  for (let i = 0; i < n; i++) for (let t = 0; t < rows.k; t++) { const j = rows.idx[i * rows.k + t]!; if (j >= 0) put(i, j, rows.val[i * rows.k + t]!); }
  for (let j = 0; j < m; j++) for (let t = 0; t < cols.k; t++) { const i = cols.idx[j * cols.k + t]!; if (i >= 0) put(i, j, cols.val[j * cols.k + t]!); }
  for (const e of extra) put(e.i, e.j, e.cos);
  // Sort each row by column and drop duplicates (a pair can be in both lists and in `extra`).
  const rowStart = new Int32Array(n + 1);
  const outCol: number[] = [];
  const outCost: number[] = [];
  const order: number[] = [];
  for (let i = 0; i < n; i++) {
    order.length = 0;
    for (let p = start[i]!; p < start[i + 1]!; p++) order.push(p);
    order.sort((a, b) => col[a]! - col[b]!);
    let last = -1;
    for (const p of order) {
      if (col[p] === last) {
        // The same pair again: the later entry wins, so an extra pair's cosine (recomputed by the
        // certificate) replaces a candidate pass's value that rounding put slightly elsewhere.
        outCost[outCost.length - 1] = -cos[p]!;
        continue;
      }
      last = col[p]!;
      outCol.push(last);
      outCost.push(-cos[p]!);
    }
    rowStart[i + 1] = outCol.length;
  }
  return { nRows: n, nCols: m, rowStart, col: Int32Array.from(outCol), cost: Float64Array.from(outCost) };
}
