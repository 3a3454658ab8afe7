// Softmax over the last dimension (x viewed as [rows, cols]) and its backward pass. Forward is
// max-subtracted so that no exp overflows; backward needs only the output y:
// dx = y ⊙ (dy − Σ_c y⊙dy), one dot product per row. A row of all −∞ gives NaN, as in PyTorch.
// On WebGPU each row is one workgroup with fixed tree reductions (deterministic).

import { assertDtype, assertSameDevice, assertShape, rowsCols, type Tensor } from '../tensor.js';
import { u32Params } from '../webgpu/params.js';
import type { Floats } from './elementwise.js';
import { FOR_COLS, gpuOf, memoKernel, outputOn, rowGrid, rowKernelWgsl, rowMaxSumExpWgsl, rowWorkgroupSize } from './wgslGen.js';
import { dispatchItems } from '../webgpu/chunkedDispatch.js';

// ---- CPU twins: [rows, cols] row-major, sums in float64 ------------------------------------------

/** The max m of x[o, o + n) and s = Σ exp(x − m) over it: a row's max-subtracted softmax denominator. */
export function rowMaxSumExpCpu(x: Floats, o: number, n: number): [m: number, s: number] {
  let m = -Infinity;
  for (let c = 0; c < n; c++) m = Math.max(m, x[o + c]!);
  let s = 0;
  for (let c = 0; c < n; c++) s += Math.exp(x[o + c]! - m);
  return [m, s];
}

/** log Σ exp over x[o, o + n), max-subtracted (NaN where the max is not finite). */
export function rowLogSumExpCpu(x: Floats, o: number, n: number): number {
  const [m, s] = rowMaxSumExpCpu(x, o, n);
  return m + Math.log(s);
}

/** y[r, :] = exp(x[r, :] − m) / Σ exp(x[r, :] − m), m = max x[r, :]. */
export function softmaxRowsCpu(x: Floats, rows: number, cols: number, y: Floats): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const [m, s] = rowMaxSumExpCpu(x, o, cols);
    for (let c = 0; c < cols; c++) y[o + c] = Math.exp(x[o + c]! - m) / s;
  }
}

/** dx[r, :] = y[r, :] ⊙ (dy[r, :] − Σ_c y[r, c]·dy[r, c]). */
export function softmaxBackwardCpu(y: Floats, dy: Floats, rows: number, cols: number, dx: Floats): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let d = 0;
    for (let c = 0; c < cols; c++) d += y[o + c]! * dy[o + c]!;
    for (let c = 0; c < cols; c++) dx[o + c] = y[o + c]! * (dy[o + c]! - d);
  }
}

// ---- WGSL ------------------------------------------------------------------------------------

// exp is recomputed in the last pass rather than stored: a 50,257-wide row does not fit in
// workgroup memory, and a second read of x is cheaper than a scratch tensor.
const softmaxCode = memoKernel((wg: number) =>
  rowKernelWgsl(
    wg,
    [['x', 'read'], ['y', 'read_write']],
    '',
    `${rowMaxSumExpWgsl('x[base + c]', 'x[base]')}
  ${FOR_COLS} { y[base + c] = exp(x[base + c] - m) / s; }`,
  ),
);

const softmaxBackwardCode = memoKernel((wg: number) =>
  rowKernelWgsl(
    wg,
    [['y', 'read'], ['dy', 'read'], ['dx', 'read_write']],
    '',
    `var d = 0.0;
  ${FOR_COLS} { d += y[base + c] * dy[base + c]; }
  d = wgSum(d, lid);
  ${FOR_COLS} { dx[base + c] = y[base + c] * (dy[base + c] - d); }`,
  ),
);

// ---- dispatch --------------------------------------------------------------------------------

/** Softmax over the last dimension, same shape as x. */
export function softmaxRows(x: Tensor): Tensor {
  assertDtype(x, 'f32', 'softmaxRows');
  const [rows, cols] = rowsCols(x.shape);
  const y = outputOn(x, x.shape);
  const dev = gpuOf(x);
  if (!dev) softmaxRowsCpu(x.data as Float32Array, rows, cols, y.data as Float32Array);
  else dispatchItems(dev, { label: 'softmax_rows', code: softmaxCode(rowWorkgroupSize(cols)), buffers: [x, y], strides: [cols, cols], params: u32Params(rows, cols), count: rows, grid: rowGrid });
  return y;
}

/** Gradient of softmaxRows from its output y: dx = y ⊙ (dy − Σ_c y⊙dy), same shape. */
export function softmaxBackward(y: Tensor, dy: Tensor): Tensor {
  assertSameDevice(y, dy);
  assertDtype(y, 'f32', 'softmaxBackward');
  assertDtype(dy, 'f32', 'softmaxBackward');
  assertShape(dy, y.shape, 'softmaxBackward dy');
  const [rows, cols] = rowsCols(y.shape);
  const dx = outputOn(y, y.shape);
  const dev = gpuOf(y);
  if (!dev) softmaxBackwardCpu(y.data as Float32Array, dy.data as Float32Array, rows, cols, dx.data as Float32Array);
  else dispatchItems(dev, { label: 'softmax_backward', code: softmaxBackwardCode(rowWorkgroupSize(cols)), buffers: [y, dy, dx], strides: [cols, cols, cols], params: u32Params(rows, cols), count: rows, grid: rowGrid });
  return dx;
}
