// Per-position next-token CE and KL(P_clean ‖ P_variant) from host logits, with the clean side's
// statistics computed once per batch and reused by every variant (zero/mean ablation, each SAE).
// Per row (float64 sums):
//   lse(z) = m + log Σ_v exp(z_v − m),  m = max_v z_v
//   CE     = lse(q) − q[target]                                           (nats)
//   KL     = Σ_v p_v (logP_v − logQ_v) = A − Σ_v p_v q_v + S·(lse(q) − lse(z))
//            with p = softmax(z) (stored, f32), A = Σ_v p_v z_v, S = Σ_v p_v
// which is the definition rearranged so a variant costs one exp per logit instead of three; with
// q = z the two sums are the same loop over the same numbers, so KL is exactly 0. Rows left out by
// the mask are not computed (0). With the native addon both passes run in C (native/logitLosses.c:
// rows over threads, exp ≤ 2 ulp in double, 4-lane sums), which agrees with this TypeScript to
// ~1e-15 relative; `useNative: false` keeps the TypeScript.

import { blasAddon } from '../compute/cpu/blas.js';

/** max-subtracted logsumexp of z[o, o + V) in float64. */
export function rowLogSumExp(z: Float32Array, o: number, V: number): number {
  let m = -Infinity;
  for (let v = 0; v < V; v++) if (z[o + v]! > m) m = z[o + v]!;
  let s = 0;
  for (let v = 0; v < V; v++) s += Math.exp(z[o + v]! - m);
  return m + Math.log(s);
}

/** The clean logits of a batch [rows, V] and their per-row softmax statistics. */
export class CleanLogits {
  private readonly p: Float32Array;
  private readonly lse: Float64Array;
  private readonly a: Float64Array;
  private readonly s: Float64Array;

  // The clean logits are needed only by ce(): dropLogits() lets a caller free them (a batch's [rows, V]).
  private logits: Float32Array | null;

  private readonly native: ReturnType<typeof blasAddon>;
  private readonly rowMask: Uint8Array;

  /** `rows` marks the rows to compute (1 = needed); `useNative: false` keeps the TypeScript twin. */
  constructor(logits: Float32Array, readonly V: number, readonly rows: ArrayLike<number>, useNative = true) {
    this.logits = logits;
    const n = rows.length;
    if (logits.length !== n * V) throw new RangeError(`CleanLogits: ${logits.length} logits are not ${n} rows of ${V}`);
    this.p = new Float32Array(logits.length);
    this.lse = new Float64Array(n);
    this.a = new Float64Array(n);
    this.s = new Float64Array(n);
    this.rowMask = Uint8Array.from({ length: n }, (_, r) => (rows[r] ? 1 : 0));
    const addon = useNative ? blasAddon() : null;
    this.native = addon?.cleanLogitStats && addon.compareLogitRows ? addon : null;
    if (this.native) {
      this.native.cleanLogitStats!(logits, n, V, this.rowMask, this.p, this.lse, this.a, this.s);
      return;
    }
    for (let r = 0; r < n; r++) {
      if (!rows[r]) continue;
      const o = r * V;
      const lse = rowLogSumExp(logits, o, V);
      let a = 0;
      let s = 0;
      for (let v = 0; v < V; v++) {
        const pv = Math.fround(Math.exp(logits[o + v]! - lse));
        this.p[o + v] = pv;
        a += pv * logits[o + v]!;
        s += pv;
      }
      this.lse[r] = lse;
      this.a[r] = a;
      this.s[r] = s;
    }
  }

  /** CE of the clean logits against `targets` (−1 = none: 0) per row. */
  ce(targets: Int32Array): Float64Array {
    const z = this.logits;
    if (z === null) throw new Error('CleanLogits.ce: the clean logits were dropped');
    const out = new Float64Array(this.rows.length);
    for (let r = 0; r < out.length; r++) if (this.rows[r] && targets[r]! >= 0) out[r] = this.lse[r]! - z[r * this.V + targets[r]!]!;
    return out;
  }

  /** Forget the clean logits (ce() no longer works; compare() does): the softmax is all compare() needs. */
  dropLogits(): void {
    this.logits = null;
  }

  /** CE against `targets` and KL(clean ‖ variant) per row of a variant's logits [rows, V]. */
  compare(q: Float32Array, targets: Int32Array): { ce: Float64Array; kl: Float64Array } {
    const V = this.V;
    const n = this.rows.length;
    if (q.length !== n * V) throw new RangeError(`CleanLogits.compare: ${q.length} logits are not ${n} rows of ${V}`);
    const ce = new Float64Array(n);
    const kl = new Float64Array(n);
    if (this.native) {
      for (let r = 0; r < n; r++) {
        const t = targets[r]!;
        if (this.rowMask[r] && t >= V) throw new RangeError(`CleanLogits.compare: target ${t} at row ${r} is not below V = ${V}`);
      }
      this.native.compareLogitRows!(this.p, this.a, this.s, this.lse, q, n, V, this.rowMask, targets, ce, kl);
      return { ce, kl };
    }
    for (let r = 0; r < n; r++) {
      if (!this.rows[r]) continue;
      const o = r * V;
      const lseQ = rowLogSumExp(q, o, V);
      let pq = 0;
      for (let v = 0; v < V; v++) pq += this.p[o + v]! * q[o + v]!;
      kl[r] = this.a[r]! - pq + this.s[r]! * (lseQ - this.lse[r]!);
      if (targets[r]! >= 0) ce[r] = lseQ - q[o + targets[r]!]!;
    }
    return { ce, kl };
  }
}
