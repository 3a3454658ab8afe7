// Cross-entropy of logits against integer targets, per row, forward and backward (max-subtracted,
// so any finite logits are safe). One workgroup per row; V up to GPT-2's 50,257 and beyond.
//   loss_n = logsumexp(logits_n) − logits_n[t_n]          (nats; 0 where t_n = ignoreIndex)
//   dlogits_n = (softmax(logits_n) − onehot(t_n)) · dloss_n  (rows of 0 where ignored)
// Targets outside [0, V) other than ignoreIndex: the CPU twin throws; the GPU kernels cannot
// throw, so they write NaN (loss and the whole dlogits row) to make the error visible downstream.

import { assertDtype, assertSameDevice, assertShape, rowsCols, Tensor } from '../tensor.js';
import { ParamWriter } from '../webgpu/params.js';
import type { Floats } from './elementwise.js';
import { rowLogSumExpCpu } from './softmax.js';
import { F32_LOWEST_WGSL, F32_NAN_BITS_WGSL, FOR_COLS, gpuOf, outputOn, ROW_WG, rowGrid, rowKernelWgsl, rowMaxSumExpWgsl, type StorageDecl } from './wgslGen.js';
import { dispatchItems } from '../webgpu/chunkedDispatch.js';

// ---- CPU twins -------------------------------------------------------------------------------

function checkTarget(t: number, V: number, ignoreIndex: number, n: number): boolean {
  if (t === ignoreIndex) return false;
  if (!(t >= 0 && t < V)) throw new RangeError(`crossEntropy: target ${t} at row ${n} is outside [0, ${V}) and is not ignoreIndex ${ignoreIndex}`);
  return true;
}

/** losses[n] = logsumexp(logits[n, :]) − logits[n, t_n] over logits [N, V]; 0 where ignored. */
export function crossEntropyCpu(logits: Floats, targets: Int32Array, V: number, ignoreIndex: number, losses: Floats): void {
  for (let n = 0; n < targets.length; n++) {
    const t = targets[n]!;
    losses[n] = checkTarget(t, V, ignoreIndex, n) ? rowLogSumExpCpu(logits, n * V, V) - logits[n * V + t]! : 0;
  }
}

/** dlogits[n, :] = (softmax(logits[n, :]) − onehot(t_n)) · dloss_n, dloss a per-row array or one scale. */
export function crossEntropyBackwardCpu(logits: Floats, targets: Int32Array, V: number, ignoreIndex: number, dlosses: Floats | number, dlogits: Floats): void {
  for (let n = 0; n < targets.length; n++) {
    const t = targets[n]!;
    const o = n * V;
    if (!checkTarget(t, V, ignoreIndex, n)) {
      dlogits.fill(0, o, o + V);
      continue;
    }
    const lse = rowLogSumExpCpu(logits, o, V);
    const g = typeof dlosses === 'number' ? dlosses : dlosses[n]!;
    for (let j = 0; j < V; j++) dlogits[o + j] = (Math.exp(logits[o + j]! - lse) - (j === t ? 1 : 0)) * g;
  }
}

// ---- WGSL ------------------------------------------------------------------------------------

// Shared by forward and backward: the row's max m and Σ exp(x − m), reduced over the workgroup,
// and the target's status.
const ROW_SOFTMAX_STATS_WGSL = /* wgsl */ `${rowMaxSumExpWgsl('logits[base + c]', F32_LOWEST_WGSL)}
  let t = targets[row];
  let ignored = t == p.ignore;
  let valid = !ignored && t >= 0 && u32(t) < p.cols;`;

const FORWARD_WGSL = rowKernelWgsl(
  ROW_WG,
  [['logits', 'read'], ['targets', 'read', 'i32'], ['losses', 'read_write', 'u32']],
  'ignore: i32',
  `${ROW_SOFTMAX_STATS_WGSL}
  if (lid == 0u) {
    var loss = ${F32_NAN_BITS_WGSL}; // u32 view of an f32 output: see F32_NAN_BITS_WGSL
    if (ignored) { loss = 0u; } else if (valid) { loss = bitcast<u32>(log(s) + m - logits[base + u32(t)]); }
    losses[row] = loss;
  }`,
);

/** Backward kernel; `perRow` reads dloss from a buffer, otherwise from the uniform `scale`. */
function backwardWgsl(perRow: boolean): string {
  const storage: StorageDecl[] = [['logits', 'read'], ['targets', 'read', 'i32'], ...(perRow ? [['dlosses', 'read'] as const] : []), ['dlogits', 'read_write', 'u32']];
  return rowKernelWgsl(
    ROW_WG,
    storage,
    'ignore: i32, scale: f32',
    `${ROW_SOFTMAX_STATS_WGSL}
  let g = ${perRow ? 'dlosses[row]' : 'p.scale'};
  let inv = 1.0 / s;
  ${FOR_COLS} {
    var v = bitcast<u32>((exp(logits[base + c] - m) * inv - select(0.0, 1.0, i32(c) == t)) * g);
    if (ignored) { v = 0u; } else if (!valid) { v = ${F32_NAN_BITS_WGSL}; } // u32 view: see F32_NAN_BITS_WGSL
    dlogits[base + c] = v;
  }`,
  );
}
const BACKWARD_ROW_WGSL = backwardWgsl(true);
const BACKWARD_SCALAR_WGSL = backwardWgsl(false);

// ---- dispatch --------------------------------------------------------------------------------

function check(op: string, logits: Tensor, targets: Tensor): [rows: number, V: number] {
  assertSameDevice(logits, targets);
  assertDtype(logits, 'f32', `${op} logits`);
  assertDtype(targets, 'i32', `${op} targets`);
  const [rows, V] = rowsCols(logits.shape);
  assertShape(targets, logits.shape.slice(0, -1), `${op} targets`);
  return [rows, V];
}

/** Per-row cross-entropy in nats: logits [..., V], targets [...] i32 → losses [...] (0 where ignored). */
export function crossEntropy(logits: Tensor, targets: Tensor, ignoreIndex = -1): Tensor {
  const [rows, V] = check('crossEntropy', logits, targets);
  const losses = outputOn(logits, targets.shape);
  const dev = gpuOf(logits);
  if (!dev) crossEntropyCpu(logits.data as Float32Array, targets.data as Int32Array, V, ignoreIndex, losses.data as Float32Array);
  else {
    const params = new ParamWriter().u32(rows).u32(V).i32(ignoreIndex).bytes();
    dispatchItems(dev, { label: 'cross_entropy', code: FORWARD_WGSL, buffers: [logits, targets, losses], strides: [V, 1, 1], params, count: rows, grid: rowGrid });
  }
  return losses;
}

/** Gradient of crossEntropy w.r.t. logits: dlosses [...] per row, or one number (e.g. 1/count for a mean). */
export function crossEntropyBackward(logits: Tensor, targets: Tensor, dlosses: Tensor | number, ignoreIndex = -1): Tensor {
  const [rows, V] = check('crossEntropyBackward', logits, targets);
  if (dlosses instanceof Tensor) {
    assertSameDevice(logits, dlosses);
    assertShape(dlosses, targets.shape, 'crossEntropyBackward dlosses');
  }
  const dlogits = outputOn(logits, logits.shape);
  const dev = gpuOf(logits);
  const perRow = dlosses instanceof Tensor;
  if (!dev) {
    crossEntropyBackwardCpu(logits.data as Float32Array, targets.data as Int32Array, V, ignoreIndex, perRow ? (dlosses.data as Float32Array) : dlosses, dlogits.data as Float32Array);
    return dlogits;
  }
  const params = new ParamWriter().u32(rows).u32(V).i32(ignoreIndex).f32(perRow ? 0 : dlosses).bytes();
  dispatchItems(dev, {
    label: 'cross_entropy_backward',
    code: perRow ? BACKWARD_ROW_WGSL : BACKWARD_SCALAR_WGSL,
    buffers: perRow ? [logits, targets, dlosses, dlogits] : [logits, targets, dlogits],
    strides: perRow ? [V, 1, 1, V] : [V, 1, V],
    params,
    count: rows,
    grid: rowGrid,
  });
  return dlogits;
}
