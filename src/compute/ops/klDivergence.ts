// KL divergence between two softmax distributions per row, forward and backward. P = softmax(logitsP)
// is the clean model, Q = softmax(logitsQ) the patched one (e.g. with an SAE spliced in):
//   KL_n = Σ_v p_v (log p_v − log q_v)                              (nats)
//   dKL/dlogitsQ = q − p,   dKL/dlogitsP = p ⊙ ((log p − log q) − KL)   (each times dkl_n)
// log p = logits − logsumexp (max-subtracted, so stable). Both logsumexps go through the same
// arithmetic, so when logitsP = logitsQ every term is p·0 and KL is exactly 0 (CPU and GPU).

import { assertDtype, assertSameDevice, assertShape, rowsCols, Tensor } from '../tensor.js';
import { ParamWriter, u32Params } from '../webgpu/params.js';
import type { Floats } from './elementwise.js';
import { rowLogSumExpCpu } from './softmax.js';
import { F32_LOWEST_WGSL, FOR_COLS, gpuOf, memoKernel, outputOn, ROW_WG, rowGrid, rowKernelWgsl, rowMaxSumExpWgsl, wgSumMax2Wgsl, type StorageDecl } from './wgslGen.js';
import { dispatchItems } from '../webgpu/chunkedDispatch.js';

// ---- CPU twins -------------------------------------------------------------------------------

/** Row n's (lseP, lseQ, KL) over logits [N, V]. */
function rowKl(a: Floats, b: Floats, o: number, V: number): [number, number, number] {
  const lseP = rowLogSumExpCpu(a, o, V);
  const lseQ = rowLogSumExpCpu(b, o, V);
  let kl = 0;
  for (let j = 0; j < V; j++) {
    const lp = a[o + j]! - lseP;
    kl += Math.exp(lp) * (lp - (b[o + j]! - lseQ));
  }
  return [lseP, lseQ, kl];
}

/** kl[n] = KL(softmax(logitsP[n]) ‖ softmax(logitsQ[n])) over logits [N, V], N = kl.length. */
export function klDivergenceCpu(logitsP: Floats, logitsQ: Floats, V: number, kl: Floats): void {
  for (let n = 0; n < kl.length; n++) kl[n] = rowKl(logitsP, logitsQ, n * V, V)[2];
}

/** Gradients of Σ_n dkl_n·KL_n: writes dLogitsQ and, when given, dLogitsP (both [N, V]). */
export function klDivergenceBackwardCpu(logitsP: Floats, logitsQ: Floats, V: number, dkl: Floats | number, dLogitsQ: Floats, dLogitsP: Floats | null): void {
  for (let n = 0; n < dLogitsQ.length / V; n++) {
    const o = n * V;
    const [lseP, lseQ, kl] = rowKl(logitsP, logitsQ, o, V);
    const g = typeof dkl === 'number' ? dkl : dkl[n]!;
    for (let j = 0; j < V; j++) {
      const lp = logitsP[o + j]! - lseP;
      const lq = logitsQ[o + j]! - lseQ;
      const p = Math.exp(lp);
      dLogitsQ[o + j] = (Math.exp(lq) - p) * g;
      if (dLogitsP) dLogitsP[o + j] = p * (lp - lq - kl) * g;
    }
  }
}

// ---- WGSL ------------------------------------------------------------------------------------

// Both rows' logsumexp in one pass of vec2 reductions: lse = (lse of P, lse of Q).
const ROW_LSE_WGSL = /* wgsl */ `${rowMaxSumExpWgsl('vec2f(a[base + c], b[base + c])', `vec2f(${F32_LOWEST_WGSL})`, true)}
  let lse = m + log(s);`;

// Σ_v p_v (log p_v − log q_v) for the row, given lse.
const ROW_KL_WGSL = /* wgsl */ `
  var k = 0.0;
  ${FOR_COLS} {
    let lp = a[base + c] - lse.x;
    k += exp(lp) * (lp - (b[base + c] - lse.y));
  }
  let kl = wgSum(k, lid);`;

const FORWARD_WGSL = rowKernelWgsl(
  ROW_WG,
  [['a', 'read'], ['b', 'read'], ['out', 'read_write']],
  '',
  `${ROW_LSE_WGSL}
${ROW_KL_WGSL}
  if (lid == 0u) { out[row] = kl; }`,
  wgSumMax2Wgsl(ROW_WG),
);

/** Backward kernel: dkl from a buffer (`perRow`) or the uniform `scale`; dP only when `withP`. */
const backwardCode = memoKernel((perRow: boolean, withP: boolean) => {
  const storage: StorageDecl[] = [['a', 'read'], ['b', 'read']];
  if (perRow) storage.push(['dkl', 'read']);
  storage.push(['dq', 'read_write']);
  if (withP) storage.push(['dp', 'read_write']);
  return rowKernelWgsl(
    ROW_WG,
    storage,
    'scale: f32',
    `${ROW_LSE_WGSL}
${withP ? ROW_KL_WGSL : ''}
  let g = ${perRow ? 'dkl[row]' : 'p.scale'};
  ${FOR_COLS} {
    let lp = a[base + c] - lse.x;
    let lq = b[base + c] - lse.y;
    let pv = exp(lp);
    dq[base + c] = (exp(lq) - pv) * g;
    ${withP ? 'dp[base + c] = pv * (lp - lq - kl) * g;' : ''}
  }`,
    wgSumMax2Wgsl(ROW_WG),
  );
});

// ---- dispatch --------------------------------------------------------------------------------

function check(op: string, logitsP: Tensor, logitsQ: Tensor): [rows: number, V: number] {
  assertSameDevice(logitsP, logitsQ);
  assertDtype(logitsP, 'f32', `${op} logitsP`);
  assertDtype(logitsQ, 'f32', `${op} logitsQ`);
  assertShape(logitsQ, logitsP.shape, `${op} logitsQ`);
  return rowsCols(logitsP.shape);
}

/** KL(softmax(logitsP) ‖ softmax(logitsQ)) per row in nats: logits [..., V] → [...]. */
export function klDivergence(logitsP: Tensor, logitsQ: Tensor): Tensor {
  const [rows, V] = check('klDivergence', logitsP, logitsQ);
  const kl = outputOn(logitsP, logitsP.shape.slice(0, -1));
  const dev = gpuOf(logitsP);
  if (!dev) klDivergenceCpu(logitsP.data as Float32Array, logitsQ.data as Float32Array, V, kl.data as Float32Array);
  else dispatchItems(dev, { label: 'kl_divergence', code: FORWARD_WGSL, buffers: [logitsP, logitsQ, kl], strides: [V, V, 1], params: u32Params(rows, V), count: rows, grid: rowGrid });
  return kl;
}

/**
 * Gradients of Σ_n dkl_n·KL_n (dkl [...] per row, or one number): { dLogitsQ, dLogitsP }, both
 * [..., V]. Pass `{ withP: false }` when P is fixed (the clean model) to skip dLogitsP (then null).
 */
export function klDivergenceBackward(logitsP: Tensor, logitsQ: Tensor, dkl: Tensor | number, opts: { withP?: boolean } = {}): { dLogitsQ: Tensor; dLogitsP: Tensor | null } {
  const [rows, V] = check('klDivergenceBackward', logitsP, logitsQ);
  const withP = opts.withP ?? true;
  if (dkl instanceof Tensor) {
    assertSameDevice(logitsP, dkl);
    assertShape(dkl, logitsP.shape.slice(0, -1), 'klDivergenceBackward dkl');
  }
  const dLogitsQ = outputOn(logitsP, logitsP.shape);
  const dLogitsP = withP ? outputOn(logitsP, logitsP.shape) : null;
  const dev = gpuOf(logitsP);
  const perRow = dkl instanceof Tensor;
  if (!dev) {
    const g = perRow ? (dkl.data as Float32Array) : dkl;
    klDivergenceBackwardCpu(logitsP.data as Float32Array, logitsQ.data as Float32Array, V, g, dLogitsQ.data as Float32Array, (dLogitsP?.data as Float32Array | undefined) ?? null);
    return { dLogitsQ, dLogitsP };
  }
  const buffers = [logitsP, logitsQ, ...(perRow ? [dkl] : []), dLogitsQ, ...(dLogitsP ? [dLogitsP] : [])];
  const params = new ParamWriter().u32(rows).u32(V).f32(perRow ? 0 : dkl).bytes();
  const strides = [V, V, ...(perRow ? [1] : []), V, ...(dLogitsP ? [V] : [])];
  dispatchItems(dev, { label: 'kl_divergence_backward', code: backwardCode(perRow, withP), buffers, strides, params, count: rows, grid: rowGrid });
  return { dLogitsQ, dLogitsP };
}
