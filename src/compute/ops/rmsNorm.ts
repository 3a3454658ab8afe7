// RMSNorm over the last dimension, forward and backward, as HF LlamaRMSNorm:
//   y = x · rstd · gamma,   rstd = 1 / sqrt(mean(x²) + eps)
// Backward (xhat = x·rstd, g = dy·gamma):
//   dx = rstd · (g − xhat · mean(g·xhat)),   dgamma = Σ_rows dy·xhat
// dgamma on the GPU: per-chunk-of-rows partials, then a column sum in chunk order (deterministic).

import { cpu } from '../cpu/cpuDevice.js';
import { assertDtype, assertSameDevice, assertShape, rowsCols, type Tensor } from '../tensor.js';
import { ParamWriter, u32Params } from '../webgpu/params.js';
import type { Floats } from './elementwise.js';
import { chunkedColumnSums, chunkPartialsWgsl, FOR_COLS, gpuOf, outputOn, ROW_WG, rowGrid, rowKernelWgsl } from './wgslGen.js';

// ---- CPU twins -------------------------------------------------------------------------------

/** RMSNorm forward on x [rows, d] (rows = rstd.length, d = gamma.length); writes y and rstd. */
export function rmsNormCpu(x: Floats, gamma: Floats, eps: number, y: Floats, rstd: Floats): void {
  const d = gamma.length;
  for (let r = 0; r < rstd.length; r++) {
    const o = r * d;
    let ss = 0;
    for (let j = 0; j < d; j++) ss += x[o + j]! ** 2;
    const rs = 1 / Math.sqrt(ss / d + eps);
    for (let j = 0; j < d; j++) y[o + j] = x[o + j]! * rs * gamma[j]!;
    rstd[r] = rs;
  }
}

/** RMSNorm backward: writes dx [rows, d] and dgamma [d] (summed over rows in row order). */
export function rmsNormBackwardCpu(dy: Floats, x: Floats, gamma: Floats, rstd: Floats, dx: Floats, dgamma: Floats): void {
  const d = gamma.length;
  const dg = new Float64Array(d);
  for (let r = 0; r < rstd.length; r++) {
    const o = r * d;
    const rs = rstd[r]!;
    let gxMean = 0;
    for (let j = 0; j < d; j++) gxMean += dy[o + j]! * gamma[j]! * x[o + j]! * rs;
    gxMean /= d;
    for (let j = 0; j < d; j++) {
      const xhat = x[o + j]! * rs;
      dx[o + j] = (dy[o + j]! * gamma[j]! - xhat * gxMean) * rs;
      dg[j] += dy[o + j]! * xhat;
    }
  }
  dgamma.set(dg);
}

// ---- WGSL ------------------------------------------------------------------------------------

const FORWARD_WGSL = rowKernelWgsl(
  ROW_WG,
  [['x', 'read'], ['gamma', 'read'], ['y', 'read_write'], ['rstd', 'read_write']],
  'eps: f32',
  `var ss = 0.0;
  ${FOR_COLS} { let v = x[base + c]; ss += v * v; }
  let rs = 1.0 / sqrt(wgSum(ss, lid) / f32(p.cols) + p.eps);
  ${FOR_COLS} { y[base + c] = x[base + c] * rs * gamma[c]; }
  if (lid == 0u) { rstd[row] = rs; }`,
);

const BACKWARD_DX_WGSL = rowKernelWgsl(
  ROW_WG,
  [['dy', 'read'], ['x', 'read'], ['gamma', 'read'], ['rstd', 'read'], ['dx', 'read_write']],
  '',
  `let rs = rstd[row];
  var acc = 0.0;
  ${FOR_COLS} { acc += dy[base + c] * gamma[c] * x[base + c] * rs; }
  let gxMean = wgSum(acc, lid) / f32(p.cols);
  ${FOR_COLS} {
    dx[base + c] = (dy[base + c] * gamma[c] - x[base + c] * rs * gxMean) * rs;
  }`,
);

// dgamma = Σ_rows dy·xhat.
const BACKWARD_PARTIAL_WGSL = chunkPartialsWgsl([['dy', 'read'], ['x', 'read'], ['rstd', 'read']], ['dy[k] * x[k] * rstd[r]']);

// ---- dispatch --------------------------------------------------------------------------------

/** RMSNorm over the last dim of x [..., d]: { y [..., d], rstd [rows] }. */
export function rmsNorm(x: Tensor, gamma: Tensor, eps = 1e-6): { y: Tensor; rstd: Tensor } {
  assertSameDevice(x, gamma);
  assertDtype(x, 'f32', 'rmsNorm x');
  assertDtype(gamma, 'f32', 'rmsNorm gamma');
  const [rows, d] = rowsCols(x.shape);
  assertShape(gamma, [d], 'rmsNorm gamma');
  const y = outputOn(x, x.shape);
  const rstd = outputOn(x, [rows]);
  const dev = gpuOf(x);
  if (!dev) rmsNormCpu(x.data as Float32Array, gamma.data as Float32Array, eps, y.data as Float32Array, rstd.data as Float32Array);
  else {
    const params = new ParamWriter().u32(rows).u32(d).f32(eps).bytes();
    dev.dispatch({ label: 'rms_norm', code: FORWARD_WGSL, buffers: [x, gamma, y, rstd], params, workgroups: rowGrid(rows) });
  }
  return { y, rstd };
}

/** Gradients of rmsNorm: { dx [..., d], dgamma [d] } from the saved rstd. */
export function rmsNormBackward(dy: Tensor, x: Tensor, gamma: Tensor, rstd: Tensor): { dx: Tensor; dgamma: Tensor } {
  assertSameDevice(dy, x, gamma, rstd);
  const [rows, d] = rowsCols(x.shape);
  assertShape(dy, x.shape, 'rmsNormBackward dy');
  assertShape(gamma, [d], 'rmsNormBackward gamma');
  assertShape(rstd, [rows], 'rmsNormBackward rstd');
  const dx = outputOn(x, x.shape);
  const dev = gpuOf(x);
  if (dev) {
    dev.dispatch({ label: 'rms_norm_backward_dx', code: BACKWARD_DX_WGSL, buffers: [dy, x, gamma, rstd, dx], params: u32Params(rows, d), workgroups: rowGrid(rows) });
    const [dgamma] = chunkedColumnSums(dev, 'rms_norm_backward_partial', BACKWARD_PARTIAL_WGSL, [dy, x, rstd], rows, d, 1);
    return { dx, dgamma };
  }
  const dgamma = cpu.zeros([d]);
  const f = (t: Tensor) => t.data as Float32Array;
  rmsNormBackwardCpu(f(dy), f(x), f(gamma), f(rstd), f(dx), f(dgamma));
  return { dx, dgamma };
}
