// The full n×m cosine matrix between two direction sets, visited one row block at a time through
// sgemm (never held whole): candidate lists, max-both-ways and the optimality certificate all read
// it this way. Rows are normalised once up front, so each block is a plain product.
//
// Cosine follows src/compute/ops/cosineMax.ts: a·b / (|a||b|), and 0 when either norm is 0.

import { sgemm } from '../compute/cpu/sgemm.js';

/** Rows of x [rows, d] scaled to unit norm (zero rows stay zero), as a new array. */
export function unitRows(x: Float32Array, rows: number, d: number): Float32Array {
  const out = new Float32Array(rows * d);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += x[i * d + k]! * x[i * d + k]!;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let k = 0; k < d; k++) out[i * d + k] = x[i * d + k]! * inv;
  }
  return out;
}

/** Rows per block so that a block of cosines [rows, m] stays within ~`budgetFloats` floats. */
export function rowBlockFor(m: number, budgetFloats = 1 << 24): number {
  return Math.max(1, Math.min(4096, Math.floor(budgetFloats / Math.max(1, m))));
}

/**
 * Call `visit(r0, rows, S)` for consecutive row blocks, S [rows, m] = cos(UA[r0..], UB) where UA
 * [n, d] and UB [m, d] are unit rows (see unitRows). The same scratch S is reused between calls.
 */
export function forEachCosineBlock(UA: Float32Array, n: number, UB: Float32Array, m: number, d: number, visit: (r0: number, rows: number, S: Float32Array) => void, rowBlock = rowBlockFor(m)): void {
  if (n === 0 || m === 0) return;
  const rb = Math.min(rowBlock, n);
  const S = new Float32Array(rb * m);
  for (let r0 = 0; r0 < n; r0 += rb) {
    const rows = Math.min(rb, n - r0);
    // S[rows, m] = UA[r0.., :] · UBᵀ
    sgemm({ transA: false, transB: true, M: rows, N: m, K: d, alpha: 1, A: UA, aOffset: r0 * d, lda: d, B: UB, bOffset: 0, ldb: d, beta: 0, C: S, cOffset: 0, ldc: m });
    visit(r0, rows, rows === rb ? S : S.subarray(0, rows * m));
  }
}

/**
 * Like forEachCosineBlock for the listed rows of UA only (gathered into blocks): `visit(rowIds,
 * count, S)` with S [count, m] = cos(UA[rowIds[t]], UB).
 */
export function forEachCosineRows(UA: Float32Array, rowIds: Int32Array, UB: Float32Array, m: number, d: number, visit: (ids: Int32Array, count: number, S: Float32Array) => void, rowBlock = rowBlockFor(m)): void {
  if (rowIds.length === 0 || m === 0) return;
  const rb = Math.min(rowBlock, rowIds.length);
  const G = new Float32Array(rb * d);
  const S = new Float32Array(rb * m);
  for (let t0 = 0; t0 < rowIds.length; t0 += rb) {
    const count = Math.min(rb, rowIds.length - t0);
    const ids = rowIds.subarray(t0, t0 + count);
    for (let t = 0; t < count; t++) G.set(UA.subarray(ids[t]! * d, (ids[t]! + 1) * d), t * d);
    sgemm({ transA: false, transB: true, M: count, N: m, K: d, alpha: 1, A: G, aOffset: 0, lda: d, B: UB, bOffset: 0, ldb: d, beta: 0, C: S, cOffset: 0, ldc: m });
    visit(ids, count, count === rb ? S : S.subarray(0, count * m));
  }
}
