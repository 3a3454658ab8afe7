// The weight-only parts of a feature dashboard, computed on the device in chunks of features so
// that no [dSae, vocab] or [dSae, dSae] matrix is ever whole in memory:
//   logit effects   W_dec[i] · W_U: the tokens feature i's decoder direction boosts and suppresses
//                   most when added to the residual stream (direct path, final norm left out, as in
//                   the usual dashboards)
//   neighbours      the features with the highest decoder cosine similarity to i (itself excluded)

import type { Device } from '../compute/device.js';
import { scale } from '../compute/ops/elementwise.js';
import { matmul } from '../compute/ops/matmul.js';
import { topkRows } from '../compute/ops/topk.js';
import type { Tensor } from '../compute/tensor.js';

/** The k best columns per feature row: ids and values, [dSae, k] row-major. */
export interface RowTop {
  k: number;
  ids: Int32Array;
  values: Float32Array;
}

/** Rows of a host matrix [rows, cols] from r0 (count n), uploaded. */
function uploadRows(device: Device, host: Float32Array, cols: number, r0: number, n: number): Tensor {
  return device.fromArray(host.slice(r0 * cols, (r0 + n) * cols), [n, cols]);
}

/** Top-k (and, with `both`, bottom-k as the top-k of the negation) of each row of chunk·B, into the outputs at row r0. */
async function topOfProduct(chunk: Tensor, B: Tensor, transB: boolean, k: number, r0: number, pos: RowTop, neg: RowTop | null): Promise<void> {
  const prod = matmul(chunk, B, { transB });
  const t = topkRows(prod, k);
  const ids = (await t.indices.read()) as Int32Array;
  const vals = (await t.values.read()) as Float32Array;
  pos.ids.set(ids, r0 * k);
  pos.values.set(vals, r0 * k);
  t.indices.dispose();
  t.values.dispose();
  if (neg) {
    const negated = scale(prod, -1);
    const b = topkRows(negated, k);
    const nids = (await b.indices.read()) as Int32Array;
    const nvals = (await b.values.read()) as Float32Array;
    neg.ids.set(nids, r0 * k);
    for (let j = 0; j < nvals.length; j++) neg.values[r0 * k + j] = -nvals[j]!;
    b.indices.dispose();
    b.values.dispose();
    negated.dispose();
  }
  prod.dispose();
}

/**
 * Logit effects of every feature: for W_dec [dSae, dIn] (host) and the model's unembedding
 * (`unembed` [dIn, V], or the tied `embed` [V, dIn] with `tied`), the k largest and k smallest
 * entries of each row of W_dec · W_U (ties: lower token id first).
 */
export async function logitEffects(device: Device, wDec: Float32Array, dSae: number, dIn: number, unembed: Tensor, tied: boolean, k: number, chunkRows = 256, onRows?: (done: number) => void): Promise<{ boosted: RowTop; suppressed: RowTop }> {
  const V = tied ? unembed.shape[0]! : unembed.shape[1]!;
  const kk = Math.min(k, V);
  const boosted: RowTop = { k: kk, ids: new Int32Array(dSae * kk), values: new Float32Array(dSae * kk) };
  const suppressed: RowTop = { k: kk, ids: new Int32Array(dSae * kk), values: new Float32Array(dSae * kk) };
  onRows?.(0);
  for (let r0 = 0; r0 < dSae; r0 += chunkRows) {
    const n = Math.min(chunkRows, dSae - r0);
    const chunk = uploadRows(device, wDec, dIn, r0, n);
    await topOfProduct(chunk, unembed, tied, kk, r0, boosted, suppressed);
    chunk.dispose();
    onRows?.(r0 + n);
  }
  return { boosted, suppressed };
}

/** Each feature's `n` nearest features by decoder cosine similarity (itself left out), [dSae, n]. */
export async function decoderNeighbours(device: Device, wDec: Float32Array, dSae: number, dIn: number, n: number, chunkRows = 512, onRows?: (done: number) => void): Promise<RowTop> {
  const nn = Math.min(n, dSae - 1);
  const out: RowTop = { k: nn, ids: new Int32Array(dSae * nn), values: new Float32Array(dSae * nn) };
  if (nn <= 0) return out;
  // Unit rows (a zero row stays zero: cosine 0 with everything).
  const unit = new Float32Array(wDec.length);
  for (let i = 0; i < dSae; i++) {
    let s = 0;
    for (let j = 0; j < dIn; j++) s += wDec[i * dIn + j]! * wDec[i * dIn + j]!;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < dIn; j++) unit[i * dIn + j] = wDec[i * dIn + j]! * inv;
  }
  const all = device.fromArray(unit, [dSae, dIn]);
  const withSelf: RowTop = { k: nn + 1, ids: new Int32Array(dSae * (nn + 1)), values: new Float32Array(dSae * (nn + 1)) };
  onRows?.(0);
  for (let r0 = 0; r0 < dSae; r0 += chunkRows) {
    const m = Math.min(chunkRows, dSae - r0);
    const chunk = uploadRows(device, unit, dIn, r0, m);
    await topOfProduct(chunk, all, true, nn + 1, r0, withSelf, null);
    chunk.dispose();
    onRows?.(r0 + m);
  }
  all.dispose();
  // Drop the feature itself (usually first; a duplicate row may tie it, so look it up by id).
  for (let i = 0; i < dSae; i++) {
    let o = 0;
    for (let j = 0; j <= nn && o < nn; j++) {
      const id = withSelf.ids[i * (nn + 1) + j]!;
      if (id === i) continue;
      out.ids[i * nn + o] = id;
      out.values[i * nn + o] = withSelf.values[i * (nn + 1) + j]!;
      o++;
    }
  }
  return out;
}
