// The eigendecomposition of a real symmetric d×d matrix (a gradient Gram matrix), through the npm
// package ml-matrix: its `EigenvalueDecomposition` is the JAMA/EISPACK algorithm (Householder
// tridiagonalisation, then the implicit QL iteration, tred2/tql2) in f64, which for a symmetric input
// returns real eigenvalues and an orthonormal eigenbasis, handles repeated and zero eigenvalues, and
// costs O(d³) (d = 192…2,048 here: milliseconds to seconds). We sort it (descending) and check it.

import { EigenvalueDecomposition, Matrix } from 'ml-matrix';

/** Eigenvalues (descending) and unit eigenvectors of a symmetric matrix. */
export interface SymmetricEigen {
  d: number;
  /** [d], descending. */
  values: Float64Array;
  /** [d, d] row-major with eigenvector k in column k: vectors[i·d + k] (the same order as `values`). */
  vectors: Float64Array;
}

/** Eigendecomposition of the symmetric matrix `a` [d, d] (row-major; only symmetry up to rounding is assumed: it is symmetrised first). */
export function symmetricEigen(a: ArrayLike<number>, d: number): SymmetricEigen {
  if (a.length !== d * d) throw new RangeError(`symmetricEigen: ${a.length} values do not make a ${d}×${d} matrix`);
  const rows: number[][] = [];
  for (let i = 0; i < d; i++) {
    const r = new Array<number>(d);
    for (let j = 0; j < d; j++) r[j] = 0.5 * (a[i * d + j]! + a[j * d + i]!);
    rows.push(r);
  }
  for (const r of rows) for (const v of r) if (!Number.isFinite(v)) throw new RangeError('symmetricEigen: the matrix has a non-finite entry');
  const evd = new EigenvalueDecomposition(new Matrix(rows), { assumeSymmetric: true });
  const vals = evd.realEigenvalues;
  const vecs = evd.eigenvectorMatrix;
  const order = Array.from({ length: d }, (_, k) => k).sort((p, q) => vals[q]! - vals[p]! || p - q);
  const values = new Float64Array(d);
  const vectors = new Float64Array(d * d);
  order.forEach((k, c) => {
    values[c] = vals[k]!;
    for (let i = 0; i < d; i++) vectors[i * d + c] = vecs.get(i, k);
  });
  return { d, values, vectors };
}
