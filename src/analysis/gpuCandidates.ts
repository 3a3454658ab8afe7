// The candidate pass of matchCandidates.ts on a WebGPU device: blocks of cosines by `matmul`
// (unit rows, so a product is a cosine) and their best K by `topkRows`, for A's rows against all
// of B and then B's rows against all of A (two products instead of one, but no per-column merging
// on the GPU). Only the [block, K] lists come back to the host. Ties: lower index first (topkRows).
// Values are the GPU's float32 products, which may differ from the CPU's sgemm in the last bits;
// the certificate's tolerance (1e-6) covers that.

import { matmul } from '../compute/ops/matmul.js';
import { topkRows } from '../compute/ops/topk.js';
import type { WebGpuDevice } from '../compute/webgpu/gpuDevice.js';
import type { CosineTopK, TopLists } from './matchCandidates.js';

/** Rows per block so a [rows, m] block fits one storage binding and ~256 MiB. */
function blockRows(dev: WebGpuDevice, m: number): number {
  const maxFloats = Math.min(Math.floor(dev.limits.maxStorageBufferBindingSize / 4), 1 << 26);
  return Math.max(1, Math.min(8192, Math.floor(maxFloats / Math.max(1, m))));
}

/** Each row of X [rows, d]'s top-k partners among the rows of Y (already on the device) [cols, d]. */
async function topLists(dev: WebGpuDevice, X: Float32Array, rows: number, Y: ReturnType<WebGpuDevice['fromArray']>, cols: number, d: number, k: number): Promise<TopLists> {
  const out: TopLists = { k, val: new Float32Array(rows * k), idx: new Int32Array(rows * k) };
  if (k === 0) return out;
  const rb = Math.min(rows, blockRows(dev, cols));
  for (let r0 = 0; r0 < rows; r0 += rb) {
    const nr = Math.min(rb, rows - r0);
    const xb = dev.fromArray(X.subarray(r0 * d, (r0 + nr) * d), [nr, d]);
    const S = matmul(xb, Y, { transB: true }); // [nr, cols]
    const t = topkRows(S, k);
    xb.dispose();
    S.dispose();
    out.val.set((await t.values.read()) as Float32Array, r0 * k);
    out.idx.set((await t.indices.read()) as Int32Array, r0 * k);
    t.values.dispose();
    t.indices.dispose();
  }
  return out;
}

/** Top-K partners both ways between unit rows UA [n, d] and UB [m, d], on the GPU (same layout as cosineTopKBoth). */
export async function cosineTopKBothGpu(dev: WebGpuDevice, UA: Float32Array, n: number, UB: Float32Array, m: number, d: number, K: number): Promise<CosineTopK> {
  const kr = Math.max(0, Math.min(K, m));
  const kc = Math.max(0, Math.min(K, n));
  if (n === 0 || m === 0) return { rows: { k: kr, val: new Float32Array(0), idx: new Int32Array(0) }, cols: { k: kc, val: new Float32Array(0), idx: new Int32Array(0) } };
  const B = dev.fromArray(UB, [m, d]);
  const rows = await topLists(dev, UA, n, B, m, d, kr);
  B.dispose();
  const A = dev.fromArray(UA, [n, d]);
  const cols = await topLists(dev, UB, m, A, n, d, kc);
  A.dispose();
  return { rows, cols };
}
