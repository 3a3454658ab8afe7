// KL divergence between two softmax distributions per row, forward and backward. P = softmax(logitsP)
// is the clean model, Q = softmax(logitsQ) the patched one (e.g. with an SAE spliced in):
//   KL_n = Σ_v p_v (log p_v − log q_v)                              (nats)
//   dKL/dlogitsQ = q − p,   dKL/dlogitsP = p ⊙ ((log p − log q) − KL)   (each times dkl_n)
// log p = logits − logsumexp (max-subtracted, so stable). Both logsumexps go through the same
// arithmetic, so when logitsP = logitsQ every term is p·0 and KL is exactly 0 (CPU and GPU).

import { cpu } from '../cpu/cpuDevice.js';
import { assertDtype, assertSameDevice, assertShape, rowsCols, Tensor } from '../tensor.js';
import type { WebGpuDevice } from '../webgpu/gpuDevice.js';
import { ParamWriter } from '../webgpu/params.js';
import { bindingsWgsl, F32_LOWEST_WGSL, ROW_BUILTINS_WGSL, ROW_INDEX_WGSL, ROW_WG, rowGrid, wgSumMax2Wgsl, wgSumMaxWgsl, type StorageDecl } from './wgslReduce.js';

/** The twins run on float32 (the op) or float64 (gradient checks). */
type Floats = Float32Array | Float64Array;

// ---- CPU twins -------------------------------------------------------------------------------

function logSumExp(x: Floats, o: number, V: number): number {
  let m = -Infinity;
  for (let j = 0; j < V; j++) m = Math.max(m, x[o + j]!);
  let s = 0;
  for (let j = 0; j < V; j++) s += Math.exp(x[o + j]! - m);
  return m + Math.log(s);
}

/** Row n's (lseP, lseQ, KL) over logits [N, V]. */
function rowKl(a: Floats, b: Floats, o: number, V: number): [number, number, number] {
  const lseP = logSumExp(a, o, V);
  const lseQ = logSumExp(b, o, V);
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
const ROW_LSE_WGSL = /* wgsl */ `
  let o = row * p.V;
  var m = vec2f(${F32_LOWEST_WGSL});
  for (var j = lid; j < p.V; j += ${ROW_WG}u) { m = max(m, vec2f(a[o + j], b[o + j])); }
  m = wgMax2(m, lid);
  var s = vec2f(0.0);
  for (var j = lid; j < p.V; j += ${ROW_WG}u) { s += exp(vec2f(a[o + j], b[o + j]) - m); }
  let lse = m + log(wgSum2(s, lid));`;

// Σ_v p_v (log p_v − log q_v) for the row, given lse.
const ROW_KL_WGSL = /* wgsl */ `
  var k = 0.0;
  for (var j = lid; j < p.V; j += ${ROW_WG}u) {
    let lp = a[o + j] - lse.x;
    k += exp(lp) * (lp - (b[o + j] - lse.y));
  }
  let kl = wgSum(k, lid);`;

const FORWARD_WGSL = /* wgsl */ `
${bindingsWgsl([['a', 'read', 'f32'], ['b', 'read', 'f32'], ['out', 'read_write', 'f32']], 'rows: u32, V: u32')}
${wgSumMaxWgsl()}
${wgSumMax2Wgsl()}
@compute @workgroup_size(${ROW_WG})
fn main(${ROW_BUILTINS_WGSL}) {
  let row = ${ROW_INDEX_WGSL};
  if (row >= p.rows) { return; } // uniform: the whole workgroup leaves together
${ROW_LSE_WGSL}
${ROW_KL_WGSL}
  if (lid == 0u) { out[row] = kl; }
}`;

/** Backward kernel: dkl from a buffer (`perRow`) or the uniform `scale`; dP only when `withP`. */
function backwardWgsl(perRow: boolean, withP: boolean): string {
  const decls: StorageDecl[] = [['a', 'read', 'f32'], ['b', 'read', 'f32']];
  if (perRow) decls.push(['dkl', 'read', 'f32']);
  decls.push(['dq', 'read_write', 'f32']);
  if (withP) decls.push(['dp', 'read_write', 'f32']);
  return /* wgsl */ `
${bindingsWgsl(decls, 'rows: u32, V: u32, scale: f32')}
${wgSumMaxWgsl()}
${wgSumMax2Wgsl()}
@compute @workgroup_size(${ROW_WG})
fn main(${ROW_BUILTINS_WGSL}) {
  let row = ${ROW_INDEX_WGSL};
  if (row >= p.rows) { return; }
${ROW_LSE_WGSL}
${withP ? ROW_KL_WGSL : ''}
  let g = ${perRow ? 'dkl[row]' : 'p.scale'};
  for (var j = lid; j < p.V; j += ${ROW_WG}u) {
    let lp = a[o + j] - lse.x;
    let lq = b[o + j] - lse.y;
    let pv = exp(lp);
    dq[o + j] = (exp(lq) - pv) * g;
    ${withP ? 'dp[o + j] = pv * (lp - lq - kl) * g;' : ''}
  }
}`;
}
const BACKWARD_WGSL = new Map<string, string>();
function backwardCode(perRow: boolean, withP: boolean): string {
  const key = `${perRow}${withP}`;
  let code = BACKWARD_WGSL.get(key);
  if (!code) BACKWARD_WGSL.set(key, (code = backwardWgsl(perRow, withP)));
  return code;
}

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
  const outShape = logitsP.shape.slice(0, -1);
  if (logitsP.device.kind === 'cpu') {
    const kl = cpu.zeros(outShape);
    klDivergenceCpu(logitsP.data as Float32Array, logitsQ.data as Float32Array, V, kl.data as Float32Array);
    return kl;
  }
  const dev = logitsP.device as WebGpuDevice;
  const kl = dev.empty(outShape);
  dev.dispatch({ label: 'kl_divergence', code: FORWARD_WGSL, buffers: [logitsP, logitsQ, kl], params: new ParamWriter().u32(rows).u32(V).bytes(), workgroups: rowGrid(rows) });
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
  if (logitsP.device.kind === 'cpu') {
    const dLogitsQ = cpu.zeros(logitsP.shape);
    const dLogitsP = withP ? cpu.zeros(logitsP.shape) : null;
    const g = dkl instanceof Tensor ? (dkl.data as Float32Array) : dkl;
    klDivergenceBackwardCpu(logitsP.data as Float32Array, logitsQ.data as Float32Array, V, g, dLogitsQ.data as Float32Array, (dLogitsP?.data as Float32Array | undefined) ?? null);
    return { dLogitsQ, dLogitsP };
  }
  const dev = logitsP.device as WebGpuDevice;
  const dLogitsQ = dev.empty(logitsP.shape);
  const dLogitsP = withP ? dev.empty(logitsP.shape) : null;
  const perRow = dkl instanceof Tensor;
  const buffers = [logitsP, logitsQ, ...(perRow ? [dkl] : []), dLogitsQ, ...(dLogitsP ? [dLogitsP] : [])];
  const params = new ParamWriter().u32(rows).u32(V).f32(perRow ? 0 : dkl).bytes();
  dev.dispatch({ label: 'kl_divergence_backward', code: backwardCode(perRow, withP), buffers, params, workgroups: rowGrid(rows) });
  return { dLogitsQ, dLogitsP };
}
