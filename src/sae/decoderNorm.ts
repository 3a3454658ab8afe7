// Unit-norm decoder rows during training, as SAELens does when normalize_sae_decoder is on:
// before the optimiser step remove from each W_dec row's gradient its component along the row
// (so the step moves the direction, not the norm, to first order), and after the step divide each
// row by its norm. Both assume rows of W_dec [dSae, dIn]; CPU twins are the specification (on the CPU
// native/decoderNorm.c runs them on both cores when the addon has it, equal to the twins bit for bit).

import { blasAddon } from '../compute/cpu/blas.js';
import { assertDtype, assertSameDevice, assertShape, rowsCols, type Tensor } from '../compute/tensor.js';
import { u32Params } from '../compute/webgpu/params.js';
import { FOR_COLS, gpuOf, rowGrid, rowKernelWgsl, rowWorkgroupSize, memoKernel } from '../compute/ops/wgslGen.js';

// ---- CPU twins -------------------------------------------------------------------------------

/** g_i ← g_i − (g_i·w_i) w_i for each row i of [rows, cols] (w rows assumed unit norm). */
export function removeParallelGradCpu(g: Float32Array, w: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let dot = 0;
    for (let c = 0; c < cols; c++) dot += g[o + c]! * w[o + c]!;
    const d = Math.fround(dot);
    for (let c = 0; c < cols; c++) g[o + c] = g[o + c]! - d * w[o + c]!;
  }
}

/** w_i ← w_i / ‖w_i‖ for each row (a zero row stays zero rather than becoming NaN). */
export function normalizeRowsCpu(w: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let ss = 0;
    for (let c = 0; c < cols; c++) ss += w[o + c]! * w[o + c]!;
    if (ss === 0) continue;
    const inv = Math.fround(1 / Math.sqrt(ss));
    for (let c = 0; c < cols; c++) w[o + c] = w[o + c]! * inv;
  }
}

// ---- WGSL ------------------------------------------------------------------------------------

const removeParallelWgsl = memoKernel((wg: number) =>
  rowKernelWgsl(
    wg,
    [['g', 'read_write'], ['w', 'read']],
    '',
    `var s = 0.0;
  ${FOR_COLS} { s += g[base + c] * w[base + c]; }
  let d = wgSum(s, lid);
  ${FOR_COLS} { g[base + c] = g[base + c] - d * w[base + c]; }`,
  ),
);

const normalizeRowsWgsl = memoKernel((wg: number) =>
  rowKernelWgsl(
    wg,
    [['w', 'read_write']],
    '',
    `var s = 0.0;
  ${FOR_COLS} { s += w[base + c] * w[base + c]; }
  let ss = wgSum(s, lid);
  if (ss > 0.0) {
    let inv = 1.0 / sqrt(ss);
    ${FOR_COLS} { w[base + c] = w[base + c] * inv; }
  }`,
  ),
);

// ---- dispatch --------------------------------------------------------------------------------

/** Remove from `grad` (W_dec's gradient, [dSae, dIn]) each row's component along W_dec's row, in place. */
export function removeParallelGrad(grad: Tensor, wDec: Tensor): void {
  assertSameDevice(grad, wDec);
  assertDtype(grad, 'f32', 'removeParallelGrad grad');
  assertShape(grad, wDec.shape, 'removeParallelGrad grad');
  const [rows, cols] = rowsCols(wDec.shape);
  const dev = gpuOf(grad);
  if (!dev) return (blasAddon()?.removeParallelGrad ?? removeParallelGradCpu)(grad.data as Float32Array, wDec.data as Float32Array, rows, cols);
  const wg = rowWorkgroupSize(cols);
  dev.dispatch({ label: 'remove_parallel_grad', code: removeParallelWgsl(wg), buffers: [grad, wDec], params: u32Params(rows, cols), workgroups: rowGrid(rows) });
}

/** Divide each row of `w` ([dSae, dIn]) by its L2 norm, in place. */
export function normalizeRowsInPlace(w: Tensor): void {
  assertDtype(w, 'f32', 'normalizeRowsInPlace');
  const [rows, cols] = rowsCols(w.shape);
  const dev = gpuOf(w);
  if (!dev) return (blasAddon()?.normalizeRows ?? normalizeRowsCpu)(w.data as Float32Array, rows, cols);
  const wg = rowWorkgroupSize(cols);
  dev.dispatch({ label: 'normalize_rows', code: normalizeRowsWgsl(wg), buffers: [w], params: u32Params(rows, cols), workgroups: rowGrid(rows) });
}
