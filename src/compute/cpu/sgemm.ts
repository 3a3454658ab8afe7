// C = alpha · op(A) · op(B) + beta · C on row-major Float32Arrays, the CPU's matrix product.
// Uses the OpenBLAS addon when it is built, else a pure-TypeScript fallback.
// (Stub: the BLAS helper replaces the body; the signature is fixed.)

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

/** Row-major single-precision GEMM. */
export function sgemm(g: SgemmArgs): void {
  const { transA, transB, M, N, K, alpha, A, aOffset, lda, B, bOffset, ldb, beta, C, cOffset, ldc } = g;
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let acc = 0;
      for (let k = 0; k < K; k++) {
        const a = transA ? A[aOffset + k * lda + i]! : A[aOffset + i * lda + k]!;
        const b = transB ? B[bOffset + j * ldb + k]! : B[bOffset + k * ldb + j]!;
        acc += a * b;
      }
      const c = cOffset + i * ldc + j;
      C[c] = alpha * acc + (beta === 0 ? 0 : beta * C[c]!);
    }
  }
}
