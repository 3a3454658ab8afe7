// Softmax over the last dimension (x viewed as [rows, cols]) and its backward pass. Forward is
// max-subtracted so that no exp overflows; backward needs only the output y:
// dx = y ⊙ (dy − Σ_c y⊙dy), one dot product per row. A row of all −∞ gives NaN, as in PyTorch.
// On WebGPU each row is one workgroup with fixed tree reductions (deterministic).

import { cpu } from '../cpu/cpuDevice.js';
import { assertDtype, assertSameDevice, assertShape, rowsCols, type Tensor } from '../tensor.js';
import type { WebGpuDevice } from '../webgpu/gpuDevice.js';
import { u32Params } from '../webgpu/params.js';
import type { Floats } from './elementwise.js';
import { rowGrid, rowKernelWgsl, rowWorkgroupSize } from './wgslGen.js';

// ---- CPU twins: [rows, cols] row-major, sums in float64 ------------------------------------------

/** y[r, :] = exp(x[r, :] − m) / Σ exp(x[r, :] − m), m = max x[r, :]. */
export function softmaxRowsCpu(x: Floats, rows: number, cols: number, y: Floats): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let m = -Infinity;
    for (let c = 0; c < cols; c++) m = Math.max(m, x[o + c]!);
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(x[o + c]! - m);
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

const STRIDE = 'for (var c = lid; c < p.cols; c += WG)';

// exp is recomputed in the last pass rather than stored: a 50,257-wide row does not fit in
// workgroup memory, and a second read of x is cheaper than a scratch tensor.
function softmaxWgsl(wg: number): string {
  return rowKernelWgsl(
    wg,
    [['x', 'read'], ['y', 'read_write']],
    '',
    `var m = x[base];
  ${STRIDE} { m = max(m, x[base + c]); }
  m = wgMax(lid, m);
  var s = 0.0;
  ${STRIDE} { s += exp(x[base + c] - m); }
  s = wgSum(lid, s);
  ${STRIDE} { y[base + c] = exp(x[base + c] - m) / s; }`,
  );
}

function softmaxBackwardWgsl(wg: number): string {
  return rowKernelWgsl(
    wg,
    [['y', 'read'], ['dy', 'read'], ['dx', 'read_write']],
    '',
    `var d = 0.0;
  ${STRIDE} { d += y[base + c] * dy[base + c]; }
  d = wgSum(lid, d);
  ${STRIDE} { dx[base + c] = y[base + c] * (dy[base + c] - d); }`,
  );
}

const kernels = new Map<string, string>();
function kernel(key: string, make: () => string): string {
  let code = kernels.get(key);
  if (!code) kernels.set(key, (code = make()));
  return code;
}

// ---- dispatch --------------------------------------------------------------------------------

/** Softmax over the last dimension, same shape as x. */
export function softmaxRows(x: Tensor): Tensor {
  assertDtype(x, 'f32', 'softmaxRows');
  const [rows, cols] = rowsCols(x.shape);
  if (x.device.kind === 'cpu') {
    const y = cpu.zeros(x.shape);
    softmaxRowsCpu(x.data as Float32Array, rows, cols, y.data as Float32Array);
    return y;
  }
  const dev = x.device as WebGpuDevice;
  const y = dev.empty(x.shape);
  const wg = rowWorkgroupSize(cols);
  dev.dispatch({ label: 'softmax_rows', code: kernel(`fwd/${wg}`, () => softmaxWgsl(wg)), buffers: [x, y], params: u32Params(rows, cols), workgroups: rowGrid(rows) });
  return y;
}

/** Gradient of softmaxRows from its output y: dx = y ⊙ (dy − Σ_c y⊙dy), same shape. */
export function softmaxBackward(y: Tensor, dy: Tensor): Tensor {
  assertSameDevice(y, dy);
  assertDtype(y, 'f32', 'softmaxBackward');
  assertDtype(dy, 'f32', 'softmaxBackward');
  assertShape(dy, y.shape, 'softmaxBackward dy');
  const [rows, cols] = rowsCols(y.shape);
  if (y.device.kind === 'cpu') {
    const dx = cpu.zeros(y.shape);
    softmaxBackwardCpu(y.data as Float32Array, dy.data as Float32Array, rows, cols, dx.data as Float32Array);
    return dx;
  }
  const dev = y.device as WebGpuDevice;
  const dx = dev.empty(y.shape);
  const wg = rowWorkgroupSize(cols);
  dev.dispatch({ label: 'softmax_backward', code: kernel(`bwd/${wg}`, () => softmaxBackwardWgsl(wg)), buffers: [y, dy, dx], params: u32Params(rows, cols), workgroups: rowGrid(rows) });
  return dx;
}
