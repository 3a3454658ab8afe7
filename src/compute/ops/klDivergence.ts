// KL divergence between two softmax distributions per row, forward and backward. P = softmax(logitsP)
// is the clean model, Q = softmax(logitsQ) the patched one (e.g. with an SAE spliced in):
//   KL_n = Σ_v p_v (log p_v − log q_v)                              (nats)
//   dKL/dlogitsQ = q − p,   dKL/dlogitsP = p ⊙ ((log p − log q) − KL)   (each times dkl_n)
// log p = logits − logsumexp (max-subtracted, so stable). Both logsumexps go through the same
// arithmetic, so when logitsP = logitsQ every term is p·0 and KL is exactly 0 (CPU and GPU).
//
// The fixed-target form (end-to-end SAE training, where P is the clean model and many Q are compared
// with it): `klTarget` turns logitsP into p and Σ_v p_v log p_v once, and `klToTarget` then gives one
// Q's weighted KL and its gradient in one pass over the row, one exp per logit (on the CPU through
// native/klRows.c when the addon is built: ~10× Math.exp's speed on 50,257-wide rows):
//   KL_n = Σ_v p_v log p_v − Σ_v p_v (s_v − lse(s)),   dKL/ds = q − p   (s = logitsQ row n)

import { assertDtype, assertSameDevice, assertShape, rowsCols, Tensor } from '../tensor.js';
import { ParamWriter, u32Params } from '../webgpu/params.js';
import type { Floats } from './elementwise.js';
import { rowLogSumExpCpu } from './softmax.js';
import { F32_LOWEST_WGSL, FOR_COLS, gpuOf, memoKernel, outputOn, ROW_WG, rowGrid, rowKernelWgsl, rowMaxSumExpWgsl, wgSumMax2Wgsl, type StorageDecl } from './wgslGen.js';
import { dispatchItems } from '../webgpu/chunkedDispatch.js';
import { blasAddon } from '../cpu/blas.js';

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

/** p = softmax(logitsP) per row and plogp[n] = Σ_v p_v·log p_v (summed over the stored, rounded p). */
export function klTargetCpu(logitsP: Floats, V: number, probs: Floats, plogp: Floats): void {
  for (let n = 0; n < plogp.length; n++) {
    const o = n * V;
    const lse = rowLogSumExpCpu(logitsP, o, V);
    let s = 0;
    for (let j = 0; j < V; j++) {
      const lp = logitsP[o + j]! - lse;
      probs[o + j] = Math.exp(lp);
      s += probs[o + j]! * lp;
    }
    plogp[n] = s;
  }
}

/**
 * For weights w [N]: klw[n] = w_n·KL(p_n ‖ softmax(logitsQ[n])) and dLogitsQ[n] = w_n·(q_n − p_n),
 * from klTargetCpu's probs and plogp. Rows with w_n = 0 are skipped (both 0). lse(s) is summed in the
 * order rowLogSumExpCpu uses, so logitsQ = logitsP gives KL exactly 0.
 */
export function klToTargetCpu(probs: Floats, plogp: Floats, logitsQ: Floats, weights: Floats, V: number, dLogitsQ: Floats, klw: Floats): void {
  for (let n = 0; n < klw.length; n++) {
    const o = n * V;
    const w = weights[n]!;
    if (w === 0) {
      dLogitsQ.fill(0, o, o + V);
      klw[n] = 0;
      continue;
    }
    let m = -Infinity;
    for (let j = 0; j < V; j++) m = Math.max(m, logitsQ[o + j]!);
    let sum = 0;
    for (let j = 0; j < V; j++) {
      const e = Math.exp(logitsQ[o + j]! - m);
      dLogitsQ[o + j] = e; // scratch: the unnormalised q
      sum += e;
    }
    const lse = m + Math.log(sum);
    let cross = 0;
    for (let j = 0; j < V; j++) {
      const p = probs[o + j]!;
      cross += p * (logitsQ[o + j]! - lse);
      dLogitsQ[o + j] = w * (dLogitsQ[o + j]! / sum - p);
    }
    // cross rounded as plogp is stored (f32 tensors), so that Q = P gives exactly 0.
    klw[n] = w * (plogp[n]! - (plogp instanceof Float32Array ? Math.fround(cross) : cross));
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

// klTarget: p = exp(a − lse) and Σ p·log p per row (the sum over the stored p, as the CPU twin).
const TARGET_WGSL = rowKernelWgsl(
  ROW_WG,
  [['a', 'read'], ['probs', 'read_write'], ['plogp', 'read_write']],
  '',
  `${rowMaxSumExpWgsl('a[base + c]', 'a[base]')}
  let lse = m + log(s);
  var k = 0.0;
  ${FOR_COLS} {
    let lp = a[base + c] - lse;
    let pv = exp(lp);
    probs[base + c] = pv;
    k += pv * lp;
  }
  let t = wgSum(k, lid);
  if (lid == 0u) { plogp[row] = t; }`,
);

// klToTarget: one row of Q against the stored p. Rows with w = 0 write zeros (computed anyway: an
// early return before the reductions' barriers would not pass WGSL's uniformity analysis).
const TO_TARGET_WGSL = rowKernelWgsl(
  ROW_WG,
  [['probs', 'read'], ['plogp', 'read'], ['b', 'read'], ['w', 'read'], ['dq', 'read_write'], ['klw', 'read_write']],
  '',
  `let wt = w[row];
  ${rowMaxSumExpWgsl('b[base + c]', 'b[base]')}
  let lse = m + log(s);
  var k = 0.0;
  ${FOR_COLS} {
    let lq = b[base + c] - lse;
    let pv = probs[base + c];
    k += pv * lq;
    dq[base + c] = select(wt * (exp(lq) - pv), 0.0, wt == 0.0);
  }
  let cross = wgSum(k, lid);
  if (lid == 0u) { klw[row] = select(wt * (plogp[row] - cross), 0.0, wt == 0.0); }`,
);

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

/** The clean side of KL(P ‖ ·) computed once: p = softmax(logitsP) [..., V] and Σ_v p log p per row [...]. */
export interface KlTarget {
  probs: Tensor;
  plogp: Tensor;
  dispose(): void;
}

/** KlTarget of logitsP [..., V] (end-to-end training: the clean model's distribution, shared by every SAE). */
export function klTarget(logitsP: Tensor): KlTarget {
  assertDtype(logitsP, 'f32', 'klTarget logitsP');
  const [rows, V] = rowsCols(logitsP.shape);
  const probs = outputOn(logitsP, logitsP.shape);
  const plogp = outputOn(logitsP, logitsP.shape.slice(0, -1));
  const dev = gpuOf(logitsP);
  const native = blasAddon()?.klTargetRows;
  const f = (t: Tensor) => t.data as Float32Array;
  if (!dev && native) native(f(logitsP), rows, V, f(probs), f(plogp));
  else if (!dev) klTargetCpu(f(logitsP), V, f(probs), f(plogp));
  else dispatchItems(dev, { label: 'kl_target', code: TARGET_WGSL, buffers: [logitsP, probs, plogp], strides: [V, V, 1], params: u32Params(rows, V), count: rows, grid: rowGrid });
  return { probs, plogp, dispose: () => (probs.dispose(), plogp.dispose()) };
}

/**
 * Σ_n w_n·KL(P_n ‖ softmax(logitsQ[n])) per row and its gradient, in one pass: { dLogitsQ [..., V] =
 * w·(q − p), klw [...] = w·KL } (nats). Rows with weight 0 cost nothing and give 0.
 */
export function klToTarget(target: KlTarget, logitsQ: Tensor, weights: Tensor): { dLogitsQ: Tensor; klw: Tensor } {
  assertSameDevice(target.probs, logitsQ);
  assertSameDevice(target.probs, weights);
  assertDtype(logitsQ, 'f32', 'klToTarget logitsQ');
  assertShape(logitsQ, target.probs.shape, 'klToTarget logitsQ');
  assertShape(weights, target.plogp.shape, 'klToTarget weights');
  const [rows, V] = rowsCols(logitsQ.shape);
  const dLogitsQ = outputOn(logitsQ, logitsQ.shape);
  const klw = outputOn(logitsQ, logitsQ.shape.slice(0, -1));
  const dev = gpuOf(logitsQ);
  const f = (t: Tensor) => t.data as Float32Array;
  const native = blasAddon()?.klToTargetRows;
  if (!dev && native) native(f(target.probs), f(target.plogp), f(logitsQ), f(weights), rows, V, f(dLogitsQ), f(klw));
  else if (!dev) klToTargetCpu(f(target.probs), f(target.plogp), f(logitsQ), f(weights), V, f(dLogitsQ), f(klw));
  else {
    const buffers = [target.probs, target.plogp, logitsQ, weights, dLogitsQ, klw];
    dispatchItems(dev, { label: 'kl_to_target', code: TO_TARGET_WGSL, buffers, strides: [V, 1, V, 1, V, 1], params: u32Params(rows, V), count: rows, grid: rowGrid });
  }
  return { dLogitsQ, klw };
}
