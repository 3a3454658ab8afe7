// Independent oracles for the assignment tests: the textbook O(n²m) Hungarian method with
// potentials (Kuhn–Munkres as shortest augmenting paths on a DENSE matrix, 1-based with a virtual
// column 0), brute force over permutations, and a plain cosine matrix.

/** Minimum-cost assignment of every row of the dense cost matrix c [n, m] (n ≤ m): row → column and the total. */
export function hungarianDense(c: Float64Array, n: number, m: number): { rowToCol: Int32Array; total: number } {
  if (n > m) throw new Error('hungarianDense: n > m');
  const INF = Infinity;
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1); // p[j]: row (1-based) matched to column j; p[0] the row being added
  const way = new Int32Array(m + 1);
  const minv = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(INF);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0]!;
      let delta = INF;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = c[(i0 - 1) * m + (j - 1)]! - u[i0]! - v[j]!;
        if (cur < minv[j]!) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j]! < delta) {
          delta = minv[j]!;
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j]!] = u[p[j]!]! + delta;
          v[j] = v[j]! - delta;
        } else {
          minv[j] = minv[j]! - delta;
        }
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0]!;
      p[j0] = p[j1]!;
      j0 = j1;
    } while (j0 !== 0);
  }
  const rowToCol = new Int32Array(n).fill(-1);
  let total = 0;
  for (let j = 1; j <= m; j++) {
    if (p[j]! > 0) {
      rowToCol[p[j]! - 1] = j - 1;
      total += c[(p[j]! - 1) * m + (j - 1)]!;
    }
  }
  return { rowToCol, total };
}

/** Minimum total cost over all injective row → column maps, by enumeration (n ≤ m ≤ 8). */
export function bruteForceAssignment(c: Float64Array, n: number, m: number): number {
  let best = Infinity;
  const used = new Uint8Array(m);
  const rec = (i: number, acc: number) => {
    if (i === n) {
      if (acc < best) best = acc;
      return;
    }
    for (let j = 0; j < m; j++) {
      if (used[j]) continue;
      used[j] = 1;
      rec(i + 1, acc + c[i * m + j]!);
      used[j] = 0;
    }
  };
  rec(0, 0);
  return best;
}

/** Every cosine between rows of A [n, d] and B [m, d] in f64 (0 where a norm is 0). */
export function cosineMatrix(A: ArrayLike<number>, n: number, B: ArrayLike<number>, m: number, d: number): Float64Array {
  const na = new Float64Array(n);
  const nb = new Float64Array(m);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) na[i] = na[i]! + A[i * d + k]! ** 2;
  for (let j = 0; j < m; j++) for (let k = 0; k < d; k++) nb[j] = nb[j]! + B[j * d + k]! ** 2;
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let dot = 0;
      for (let k = 0; k < d; k++) dot += A[i * d + k]! * B[j * d + k]!;
      const den = Math.sqrt(na[i]! * nb[j]!);
      out[i * m + j] = den === 0 ? 0 : dot / den;
    }
  }
  return out;
}

/** −x elementwise (maximising cosine = minimising its negative). */
export function negate(x: Float64Array): Float64Array {
  return x.map((v) => -v);
}
