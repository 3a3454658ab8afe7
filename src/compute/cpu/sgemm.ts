// C = alpha · op(A) · op(B) + beta · C on row-major Float32Arrays, the CPU's matrix product.
// Uses the OpenBLAS addon when it is built, else a pure-TypeScript fallback. Every accessed range is
// checked here first, so bad arguments throw a RangeError before native code sees them.
// C must not overlap A or B (as in BLAS; not checked).

import { blasAddon } from './blas.js';

export interface SgemmArgs {
  transA: boolean;
  transB: boolean;
  /** Rows of op(A) and C. */
  M: number;
  /** Columns of op(B) and C. */
  N: number;
  /** Columns of op(A) = rows of op(B). */
  K: number;
  alpha: number;
  A: Float32Array;
  aOffset: number;
  /** Row stride of A as stored (K if !transA else M, for a packed matrix). */
  lda: number;
  B: Float32Array;
  bOffset: number;
  ldb: number;
  beta: number;
  C: Float32Array;
  cOffset: number;
  ldc: number;
}

/** A batch of equally shaped products; item i starts at aOffset + i·strideA (likewise B, C). */
export interface SgemmBatchedArgs extends SgemmArgs {
  batch: number;
  strideA: number;
  strideB: number;
  strideC: number;
}

const MAX_BLAS_INT = 2147483647; // OpenBLAS (LP64) takes 32-bit dimensions

/** Which implementation `sgemm` uses in this process. */
export function sgemmBackend(): 'openblas' | 'typescript' {
  return blasAddon() ? 'openblas' : 'typescript';
}

/** Row-major single-precision GEMM. */
export function sgemm(g: SgemmArgs): void {
  validate(g, 1, 0, 0, 0);
  const blas = blasAddon();
  if (blas) {
    blas.sgemm(g.transA, g.transB, g.M, g.N, g.K, g.alpha, g.A, g.aOffset, g.lda, g.B, g.bOffset, g.ldb,
      g.beta, g.C, g.cOffset, g.ldc);
  } else {
    gemmTs(g, 0, 0, 0);
  }
}

/** `batch` row-major GEMMs with element strides between items (one native call with BLAS). */
export function sgemmBatched(g: SgemmBatchedArgs): void {
  const { batch, strideA, strideB, strideC } = g;
  for (const [name, v] of [['batch', batch], ['strideA', strideA], ['strideB', strideB], ['strideC', strideC]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`sgemmBatched: ${name} must be a non-negative integer (got ${v})`);
  }
  validate(g, batch, strideA, strideB, strideC);
  if (batch === 0) return;
  const blas = blasAddon();
  if (blas) {
    blas.sgemmBatched(g.transA, g.transB, g.M, g.N, g.K, g.alpha, g.A, g.aOffset, g.lda, g.B, g.bOffset, g.ldb,
      g.beta, g.C, g.cOffset, g.ldc, batch, strideA, strideB, strideC);
  } else {
    for (let i = 0; i < batch; i++) gemmTs(g, i * strideA, i * strideB, i * strideC);
  }
}

/** The pure-TypeScript path regardless of the addon (same validation); for tests and benchmarks. */
export function sgemmTypescript(g: SgemmArgs): void {
  validate(g, 1, 0, 0, 0);
  gemmTs(g, 0, 0, 0);
}

// ---- validation ----

function checkDim(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > MAX_BLAS_INT) {
    throw new RangeError(`sgemm: ${name} must be an integer in [0, 2^31) (got ${v})`);
  }
}

/** Throws unless a stored rows×cols matrix (row stride ld, at off, `batch` copies `stride` apart) fits in arr. */
function checkMatrix(name: string, arr: unknown, off: number, rows: number, cols: number, ld: number,
  batch: number, stride: number): void {
  if (!(arr instanceof Float32Array)) throw new TypeError(`sgemm: ${name} must be a Float32Array`);
  if (!Number.isSafeInteger(off) || off < 0) throw new RangeError(`sgemm: ${name} offset must be a non-negative integer (got ${off})`);
  const ldName = `ld${name.toLowerCase()}`;
  checkDim(ldName, ld);
  if (ld < Math.max(1, cols)) {
    throw new RangeError(`sgemm: ${ldName} = ${ld} is less than the stored row length ${cols} of ${name} (stored ${rows}×${cols})`);
  }
  const span = rows === 0 || cols === 0 ? 0 : (rows - 1) * ld + cols;
  const end = off + (batch - 1) * stride + span;
  if (end > arr.length) {
    const what = batch > 1 ? `${batch} items ${stride} apart` : 'it';
    throw new RangeError(`sgemm: ${name} (stored ${rows}×${cols}, ld ${ld}, offset ${off}; ${what}) needs ${end} elements but has ${arr.length}`);
  }
}

function validate(g: SgemmArgs, batch: number, sa: number, sb: number, sc: number): void {
  checkDim('M', g.M);
  checkDim('N', g.N);
  checkDim('K', g.K);
  if (typeof g.alpha !== 'number' || typeof g.beta !== 'number') throw new TypeError('sgemm: alpha and beta must be numbers');
  const n = Math.max(batch, 1);
  checkMatrix('A', g.A, g.aOffset, g.transA ? g.K : g.M, g.transA ? g.M : g.K, g.lda, n, sa);
  checkMatrix('B', g.B, g.bOffset, g.transB ? g.N : g.K, g.transB ? g.K : g.N, g.ldb, n, sb);
  checkMatrix('C', g.C, g.cOffset, g.M, g.N, g.ldc, n, sc);
}

// ---- pure-TypeScript fallback ----
// BLIS-style: for each KC×NC block of op(B), pack it into 4-column micro-panels, pack 4 rows of op(A)
// at a time, and accumulate 4×4 tiles of C in 16 local doubles. Packing handles the transposes and
// strides once, so the inner loop is the same for all four cases; packed Float64Arrays avoid a
// float→double conversion per load. ~4–5 GFLOP/s on V8 versus ~1 for a naive triple loop.

const MR = 4;
const NR = 4;
const KC = 256;
const NC = 512;
let packA = new Float64Array(0);
let packB = new Float64Array(0);

function gemmTs(g: SgemmArgs, da: number, db: number, dc: number): void {
  const { transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc } = g;
  const aOff = g.aOffset + da;
  const bOff = g.bOffset + db;
  const cOff = g.cOffset + dc;
  if (M === 0 || N === 0) return;
  // beta = 0 overwrites C without reading it (NaNs in C do not survive), as BLAS does.
  if (beta !== 1) {
    for (let i = 0; i < M; i++) {
      const r = cOff + i * ldc;
      if (beta === 0) C.fill(0, r, r + N);
      else for (let j = r; j < r + N; j++) C[j] = beta * C[j]!;
    }
  }
  if (K === 0 || alpha === 0) return;

  const kcMax = Math.min(KC, K);
  const ncMax = Math.min(NC, Math.ceil(N / NR) * NR);
  if (packA.length < MR * kcMax) packA = new Float64Array(MR * kcMax);
  if (packB.length < kcMax * ncMax) packB = new Float64Array(kcMax * ncMax);
  const ap = packA;
  const bp = packB;

  for (let k0 = 0; k0 < K; k0 += KC) {
    const kc = Math.min(KC, K - k0);
    for (let j0 = 0; j0 < N; j0 += NC) {
      const nc = Math.min(NC, N - j0);
      // Pack op(B)[k0:k0+kc, j0:j0+nc]: micro-panel p holds kc rows of NR columns, zero-padded.
      for (let jp = 0; jp < nc; jp += NR) {
        const w = Math.min(NR, nc - jp);
        const base = jp * kc;
        for (let k = 0; k < kc; k++) {
          const d = base + k * NR;
          for (let t = 0; t < NR; t++) {
            if (t >= w) { bp[d + t] = 0; continue; }
            const kk = k0 + k;
            const jj = j0 + jp + t;
            bp[d + t] = transB ? B[bOff + jj * ldb + kk]! : B[bOff + kk * ldb + jj]!;
          }
        }
      }
      for (let i0 = 0; i0 < M; i0 += MR) {
        const h = Math.min(MR, M - i0);
        // Pack op(A)[i0:i0+MR, k0:k0+kc] column by column (MR values per k), zero-padded.
        for (let k = 0; k < kc; k++) {
          const kk = k0 + k;
          for (let t = 0; t < MR; t++) {
            const ii = i0 + t;
            ap[k * MR + t] = t >= h ? 0 : transA ? A[aOff + kk * lda + ii]! : A[aOff + ii * lda + kk]!;
          }
        }
        for (let jp = 0; jp < nc; jp += NR) {
          const w = Math.min(NR, nc - jp);
          let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
          let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
          for (let k = 0, pa = 0, pb = jp * kc; k < kc; k++, pa += MR, pb += NR) {
            const a0 = ap[pa]!, a1 = ap[pa + 1]!, a2 = ap[pa + 2]!, a3 = ap[pa + 3]!;
            const b0 = bp[pb]!, b1 = bp[pb + 1]!, b2 = bp[pb + 2]!, b3 = bp[pb + 3]!;
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
          }
          const c = cOff + i0 * ldc + j0 + jp;
          if (h === MR && w === NR) {
            C[c] += alpha * c00; C[c + 1] += alpha * c01; C[c + 2] += alpha * c02; C[c + 3] += alpha * c03;
            const r1 = c + ldc;
            C[r1] += alpha * c10; C[r1 + 1] += alpha * c11; C[r1 + 2] += alpha * c12; C[r1 + 3] += alpha * c13;
            const r2 = r1 + ldc;
            C[r2] += alpha * c20; C[r2 + 1] += alpha * c21; C[r2 + 2] += alpha * c22; C[r2 + 3] += alpha * c23;
            const r3 = r2 + ldc;
            C[r3] += alpha * c30; C[r3 + 1] += alpha * c31; C[r3 + 2] += alpha * c32; C[r3 + 3] += alpha * c33;
          } else {
            // Edge tile: only the h×w corner is inside C.
            const t = [c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33];
            for (let ii = 0; ii < h; ii++) {
              for (let jj = 0; jj < w; jj++) C[c + ii * ldc + jj] += alpha * t[ii * NR + jj]!;
            }
          }
        }
      }
    }
  }
}
