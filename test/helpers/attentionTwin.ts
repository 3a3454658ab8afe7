// The float64 attention twin as tests drive it: its forward, and its backward checked against
// central finite differences (shared by the plain attention tests and the window/soft-cap ones).

import { causalAttentionBackwardCpu, causalAttentionCpu, type AttentionDims } from '../../src/compute/ops/attention.js';
import { Rng } from '../../src/compute/random.js';
import { assertClose } from './assertClose.js';
import { dot, f64, numericGrad } from './finiteDiff.js';

/** The twin's forward in float64: out [B, T, heads, dHead] and the log-sum-exp per (b, head, t). */
export function forward64(q: Float64Array, k: Float64Array, v: Float64Array, d: AttentionDims): { out: Float64Array; lse: Float64Array } {
  const out = new Float64Array(q.length);
  const lse = new Float64Array(d.B * d.nHeads * d.T);
  causalAttentionCpu(q, k, v, d, out, lse);
  return { out, lse };
}

/** Assert the twin's backward of L = Σ w ⊙ out equals central finite differences, for random q, k, v drawn from `seed`; returns them and out. */
export function assertAttentionBackwardFd(d: AttentionDims, seed: number): { q: Float64Array; k: Float64Array; v: Float64Array; out: Float64Array } {
  const rng = new Rng(seed);
  const q = f64(rng.normalArray(d.B * d.T * d.nHeads * d.dHead, 1.5));
  const k = f64(rng.normalArray(d.B * d.T * d.nKvHeads * d.dHead, 1.5));
  const v = f64(rng.normalArray(d.B * d.T * d.nKvHeads * d.dHead));
  const w = f64(rng.normalArray(q.length)); // L = Σ w ⊙ out, so dOut = w
  const loss = () => dot(forward64(q, k, v, d).out, w);
  const { out, lse } = forward64(q, k, v, d);
  const [dq, dk, dv] = [new Float64Array(q.length), new Float64Array(k.length), new Float64Array(v.length)];
  causalAttentionBackwardCpu(q, k, v, out, lse, w, d, dq, dk, dv);
  const tol = { atol: 1e-8, rtol: 1e-6 };
  assertClose(dq, numericGrad(loss, q), tol, 'dq');
  assertClose(dk, numericGrad(loss, k), tol, 'dk');
  assertClose(dv, numericGrad(loss, v), tol, 'dv');
  return { q, k, v, out };
}
