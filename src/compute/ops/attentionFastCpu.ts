// Fast CPU path of causal (GQA) attention: the same maths as the float64 twins in attention.ts
// (which stay the specification and the tests' oracle), with the matrix products done by `sgemm`
// (OpenBLAS when built) on strided per-head views of the [B, T, nH, dH] tensors — no copies of
// q, k, v, out, dOut. Per (batch b, query head h, block of query rows t0 .. t1−1), with g the
// kv head of h:
//   forward   S = scale · Q_h[t0:t1] K_g[0:t1]ᵀ           (sgemm into a [rows, t1] scratch)
//             P = softmax over s ≤ t of each row (f32, row max subtracted), lse = max + log Σ
//             O_h[t0:t1] = P V_g[0:t1]                     (sgemm into the strided output)
//   backward  P = exp(S − lse) recomputed (masked to s ≤ t), dP = dO_h V_gᵀ, D_t = Σ dO ⊙ O,
//             dS = P ⊙ (dP − D_t);  dQ_h = scale · dS K_g;  dK_g += scale · dSᵀ Q_h;  dV_g += Pᵀ dO_h
// dK and dV accumulate with beta = 1 over row blocks and over the query heads of a group in a
// fixed order (h ascending, then row blocks ascending): the result is deterministic.
// Rows are processed in blocks so that the scratch stays bounded (≤ SCRATCH_BYTES per matrix)
// and the product with the causal upper triangle wastes at most one block's width of columns.
// A sliding window starts each block's keys at the first key its first row sees (k0); soft-capping
// maps the block's scores through c·tanh(s/c) before the softmax (and dS through 1 − (S/c)²).

import { blasAddon } from '../cpu/blas.js';
import { sgemm } from '../cpu/sgemm.js';
import type { AttentionDims } from './attention.js';

/** The first key query t sees under a sliding window (0 without one). */
export function firstKey(t: number, window: number | undefined): number {
  return window === undefined || window === Infinity ? 0 : Math.max(0, t - window + 1);
}

/** Bytes of each [rows, keys] f32 scratch matrix, at most (unless a single row is larger). */
const SCRATCH_BYTES = 16 << 20;
/** Query rows per block by default: small enough that the causal triangle's waste stays small. */
const DEFAULT_ROW_BLOCK = 64;

/** Rows per block for sequence length T: ≤ rowBlock, and a [rows, T] f32 matrix within SCRATCH_BYTES. */
function rowsPerBlock(T: number, rowBlock: number): number {
  return Math.max(1, Math.min(T, rowBlock, Math.floor(SCRATCH_BYTES / 4 / Math.max(1, T))));
}

function checkDims(dims: AttentionDims, what: string): void {
  const { B, T, nHeads, nKvHeads, dHead } = dims;
  for (const [n, v] of [['B', B], ['T', T], ['nHeads', nHeads], ['nKvHeads', nKvHeads], ['dHead', dHead]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${what}: ${n} must be a non-negative integer (got ${v})`);
  }
  if (nHeads > 0 && !(nKvHeads > 0 && nHeads % nKvHeads === 0)) throw new RangeError(`${what}: nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
}

/**
 * Forward on flat f32 arrays (same contract as causalAttentionCpu): out [B, T, nHeads, dHead] and
 * lse [B, nHeads, T] from q [B, T, nHeads, dHead], k, v [B, T, nKvHeads, dHead].
 * `rowBlock` (query rows per block) is for tests; any value gives the same result up to rounding.
 * With the default and the addon built, native/attentionRows.c runs the same blocks.
 */
export function causalAttentionFastCpu(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  dims: AttentionDims,
  out: Float32Array,
  lse: Float32Array,
  rowBlock = DEFAULT_ROW_BLOCK,
): void {
  checkDims(dims, 'causalAttentionFastCpu');
  const { B, T, nHeads: H, nKvHeads: Hkv, dHead: D, scale } = dims;
  if (B === 0 || T === 0 || H === 0) return;
  if (D === 0) {
    // No features: every score is 0, so each row is uniform over its t + 1 keys.
    for (let bh = 0; bh < B * H; bh++) for (let t = 0; t < T; t++) lse[bh * T + t] = Math.log(t + 1);
    return;
  }
  const native = blasAddon()?.attentionForward;
  if (native && rowBlock === DEFAULT_ROW_BLOCK) {
    // The same blocks in C, softmax vectorised and (b, h) pairs over threads.
    const w = dims.window === undefined || dims.window === Infinity ? 0 : dims.window;
    native(q, k, v, B, T, H, Hkv, D, scale, w, dims.softcap ?? 0, out, lse);
    return;
  }
  const group = H / Hkv;
  const cap = dims.softcap ?? null;
  const R = rowsPerBlock(T, rowBlock);
  const S = new Float32Array(R * T); // scores, then P, of one row block: [rows, t1], row stride t1
  const ldq = H * D;
  const ldk = Hkv * D;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / group);
      const qBase = (b * T * H + h) * D; // element (t, j) of head h at qBase + t·ldq + j
      const kBase = (b * T * Hkv + kvh) * D;
      const lBase = (b * H + h) * T;
      for (let t0 = 0; t0 < T; t0 += R) {
        const rows = Math.min(R, T - t0);
        const k0 = firstKey(t0, dims.window); // keys k0 .. k0 + n − 1 are seen by some row of the block
        const n = t0 + rows - k0;
        // S = scale · Q[t0:t0+rows] K[k0:k0+n]ᵀ
        sgemm({
          transA: false, transB: true, M: rows, N: n, K: D, alpha: scale,
          A: q, aOffset: qBase + t0 * ldq, lda: ldq,
          B: k, bOffset: kBase + k0 * ldk, ldb: ldk,
          beta: 0, C: S, cOffset: 0, ldc: n,
        });
        for (let i = 0; i < rows; i++) {
          const t = t0 + i;
          const r = i * n;
          const start = r + firstKey(t, dims.window) - k0; // keys s > t − window
          const end = r + t + 1 - k0; // keys s ≤ t
          if (cap !== null) for (let c = start; c < end; c++) S[c] = cap * Math.tanh(S[c]! / cap);
          let m = -Infinity;
          for (let c = start; c < end; c++) if (S[c]! > m) m = S[c]!;
          let sum = 0;
          for (let c = start; c < end; c++) sum += S[c] = Math.exp(S[c]! - m);
          const inv = 1 / sum;
          for (let c = start; c < end; c++) S[c] = S[c]! * inv;
          S.fill(0, r, start); // keys before the window
          S.fill(0, end, r + n); // masked keys s > t
          lse[lBase + t] = m + Math.log(sum);
        }
        // O[t0:t0+rows] = P V[k0:k0+n]
        sgemm({
          transA: false, transB: false, M: rows, N: D, K: n, alpha: 1,
          A: S, aOffset: 0, lda: n,
          B: v, bOffset: kBase + k0 * ldk, ldb: ldk,
          beta: 0, C: out, cOffset: qBase + t0 * ldq, ldc: ldq,
        });
      }
    }
  }
}

/**
 * Backward on flat f32 arrays (same contract as causalAttentionBackwardCpu): dq like q, dk and dv
 * like k (overwritten), from the forward's out and lse and the output gradient dOut.
 */
export function causalAttentionBackwardFastCpu(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  out: Float32Array,
  lse: Float32Array,
  dOut: Float32Array,
  dims: AttentionDims,
  dq: Float32Array,
  dk: Float32Array,
  dv: Float32Array,
  rowBlock = DEFAULT_ROW_BLOCK,
): void {
  checkDims(dims, 'causalAttentionBackwardFastCpu');
  const { B, T, nHeads: H, nKvHeads: Hkv, dHead: D, scale } = dims;
  dk.fill(0, 0, B * T * Hkv * D);
  dv.fill(0, 0, B * T * Hkv * D);
  if (B === 0 || T === 0 || H === 0 || D === 0) return;
  const group = H / Hkv;
  const cap = dims.softcap ?? null;
  const R = rowsPerBlock(T, rowBlock);
  const P = new Float32Array(R * T); // probabilities of one row block, [rows, n]
  const dS = new Float32Array(R * T); // dP, then dS
  const ldq = H * D;
  const ldk = Hkv * D;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / group);
      const qBase = (b * T * H + h) * D;
      const kBase = (b * T * Hkv + kvh) * D;
      const lBase = (b * H + h) * T;
      for (let t0 = 0; t0 < T; t0 += R) {
        const rows = Math.min(R, T - t0);
        const k0 = firstKey(t0, dims.window);
        const n = t0 + rows - k0;
        const kOff = kBase + k0 * ldk;
        const qOff = qBase + t0 * ldq;
        // S = scale · Q Kᵀ, and dP = dO Vᵀ (keys k0 .. k0 + n − 1)
        sgemm({
          transA: false, transB: true, M: rows, N: n, K: D, alpha: scale,
          A: q, aOffset: qOff, lda: ldq,
          B: k, bOffset: kOff, ldb: ldk,
          beta: 0, C: P, cOffset: 0, ldc: n,
        });
        sgemm({
          transA: false, transB: true, M: rows, N: n, K: D, alpha: 1,
          A: dOut, aOffset: qOff, lda: ldq,
          B: v, bOffset: kOff, ldb: ldk,
          beta: 0, C: dS, cOffset: 0, ldc: n,
        });
        for (let i = 0; i < rows; i++) {
          const t = t0 + i;
          const o = qOff + i * ldq;
          let Dt = 0; // Σ_j dO ⊙ O of this row
          for (let j = 0; j < D; j++) Dt += dOut[o + j]! * out[o + j]!;
          const l = lse[lBase + t]!;
          const r = i * n;
          const start = r + firstKey(t, dims.window) - k0;
          const end = r + t + 1 - k0;
          if (cap === null) {
            for (let c = start; c < end; c++) {
              const p = Math.exp(P[c]! - l);
              P[c] = p;
              dS[c] = p * (dS[c]! - Dt);
            }
          } else {
            for (let c = start; c < end; c++) {
              const th = Math.tanh(P[c]! / cap);
              const p = Math.exp(cap * th - l);
              P[c] = p;
              dS[c] = p * (dS[c]! - Dt) * (1 - th * th);
            }
          }
          P.fill(0, r, start);
          dS.fill(0, r, start);
          P.fill(0, end, r + n);
          dS.fill(0, end, r + n);
        }
        // dQ[t0:t0+rows] = scale · dS K[k0:k0+n]  (each row block of dq is written once)
        sgemm({
          transA: false, transB: false, M: rows, N: D, K: n, alpha: scale,
          A: dS, aOffset: 0, lda: n,
          B: k, bOffset: kOff, ldb: ldk,
          beta: 0, C: dq, cOffset: qOff, ldc: ldq,
        });
        // dK[k0:k0+n] += scale · dSᵀ Q[t0:t0+rows];  dV[k0:k0+n] += Pᵀ dO[t0:t0+rows]
        sgemm({
          transA: true, transB: false, M: n, N: D, K: rows, alpha: scale,
          A: dS, aOffset: 0, lda: n,
          B: q, bOffset: qOff, ldb: ldq,
          beta: 1, C: dk, cOffset: kOff, ldc: ldk,
        });
        sgemm({
          transA: true, transB: false, M: n, N: D, K: rows, alpha: 1,
          A: P, aOffset: 0, lda: n,
          B: dOut, bOffset: qOff, ldb: ldq,
          beta: 1, C: dv, cOffset: kOff, ldc: ldk,
        });
      }
    }
  }
}
