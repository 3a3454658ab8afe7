// RMSNorm over the last dimension, forward and backward, as HF LlamaRMSNorm:
//   y = x · rstd · gamma,   rstd = 1 / sqrt(mean(x²) + eps)
// Backward (xhat = x·rstd, g = dy·gamma):
//   dx = rstd · (g − xhat · mean(g·xhat)),   dgamma = Σ_rows dy·xhat
// dgamma on the GPU: per-chunk-of-rows partials, then a column sum in chunk order (deterministic).

import { cpu } from '../cpu/cpuDevice.js';
import { assertDtype, assertSameDevice, assertShape, rowsCols, Tensor } from '../tensor.js';
import type { WebGpuDevice } from '../webgpu/gpuDevice.js';
import { ParamWriter } from '../webgpu/params.js';
import { columnSumGpu, ROW_BUILTINS_WGSL, ROW_INDEX_WGSL, ROW_WG, rowChunking, rowGrid, wgSumMaxWgsl } from './wgslReduce.js';

/** The twins run on float32 (the op) or float64 (gradient checks). */
type Floats = Float32Array | Float64Array;

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

const FORWARD_WGSL = /* wgsl */ `
struct P { rows: u32, d: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
${wgSumMaxWgsl()}
@compute @workgroup_size(${ROW_WG})
fn main(${ROW_BUILTINS_WGSL}) {
  let row = ${ROW_INDEX_WGSL};
  if (row >= p.rows) { return; } // uniform: the whole workgroup leaves together
  let o = row * p.d;
  var ss = 0.0;
  for (var j = lid; j < p.d; j += ${ROW_WG}u) { let v = x[o + j]; ss += v * v; }
  let rs = 1.0 / sqrt(wgSum(ss, lid) / f32(p.d) + p.eps);
  for (var j = lid; j < p.d; j += ${ROW_WG}u) { y[o + j] = x[o + j] * rs * gamma[j]; }
  if (lid == 0u) { rstd[row] = rs; }
}`;

const BACKWARD_DX_WGSL = /* wgsl */ `
struct P { rows: u32, d: u32 }
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<uniform> p: P;
${wgSumMaxWgsl()}
@compute @workgroup_size(${ROW_WG})
fn main(${ROW_BUILTINS_WGSL}) {
  let row = ${ROW_INDEX_WGSL};
  if (row >= p.rows) { return; }
  let o = row * p.d;
  let rs = rstd[row];
  var acc = 0.0;
  for (var j = lid; j < p.d; j += ${ROW_WG}u) { acc += dy[o + j] * gamma[j] * x[o + j] * rs; }
  let gxMean = wgSum(acc, lid) / f32(p.d);
  for (var j = lid; j < p.d; j += ${ROW_WG}u) {
    dx[o + j] = (dy[o + j] * gamma[j] - x[o + j] * rs * gxMean) * rs;
  }
}`;

const PARTIAL_WG = 64;
// Thread (column j, chunk c) sums its chunk's rows in order into partial [chunks, d].
const BACKWARD_PARTIAL_WGSL = /* wgsl */ `
struct P { rows: u32, d: u32, chunkRows: u32 }
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> rstd: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
@compute @workgroup_size(${PARTIAL_WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.x;
  let c = gid.y;
  if (j >= p.d) { return; }
  let r1 = min(p.rows, (c + 1u) * p.chunkRows);
  var g = 0.0;
  for (var r = c * p.chunkRows; r < r1; r++) { g += dy[r * p.d + j] * x[r * p.d + j] * rstd[r]; }
  partial[c * p.d + j] = g;
}`;

// ---- dispatch --------------------------------------------------------------------------------

/** RMSNorm over the last dim of x [..., d]: { y [..., d], rstd [rows] }. */
export function rmsNorm(x: Tensor, gamma: Tensor, eps = 1e-6): { y: Tensor; rstd: Tensor } {
  assertSameDevice(x, gamma);
  assertDtype(x, 'f32', 'rmsNorm x');
  assertDtype(gamma, 'f32', 'rmsNorm gamma');
  const [rows, d] = rowsCols(x.shape);
  assertShape(gamma, [d], 'rmsNorm gamma');
  if (x.device.kind === 'cpu') {
    const y = cpu.zeros(x.shape);
    const rstd = cpu.zeros([rows]);
    rmsNormCpu(x.data as Float32Array, gamma.data as Float32Array, eps, y.data as Float32Array, rstd.data as Float32Array);
    return { y, rstd };
  }
  const dev = x.device as WebGpuDevice;
  const y = dev.empty(x.shape);
  const rstd = dev.empty([rows]);
  const params = new ParamWriter().u32(rows).u32(d).f32(eps).bytes();
  dev.dispatch({ label: 'rms_norm', code: FORWARD_WGSL, buffers: [x, gamma, y, rstd], params, workgroups: rowGrid(rows) });
  return { y, rstd };
}

/** Gradients of rmsNorm: { dx [..., d], dgamma [d] } from the saved rstd. */
export function rmsNormBackward(dy: Tensor, x: Tensor, gamma: Tensor, rstd: Tensor): { dx: Tensor; dgamma: Tensor } {
  assertSameDevice(dy, x, gamma, rstd);
  const [rows, d] = rowsCols(x.shape);
  assertShape(dy, x.shape, 'rmsNormBackward dy');
  assertShape(gamma, [d], 'rmsNormBackward gamma');
  assertShape(rstd, [rows], 'rmsNormBackward rstd');
  if (x.device.kind === 'cpu') {
    const dx = cpu.zeros(x.shape);
    const dgamma = cpu.zeros([d]);
    const f = (t: Tensor) => t.data as Float32Array;
    rmsNormBackwardCpu(f(dy), f(x), f(gamma), f(rstd), f(dx), f(dgamma));
    return { dx, dgamma };
  }
  const dev = x.device as WebGpuDevice;
  const dx = dev.empty(x.shape);
  dev.dispatch({ label: 'rms_norm_backward_dx', code: BACKWARD_DX_WGSL, buffers: [dy, x, gamma, rstd, dx], params: new ParamWriter().u32(rows).u32(d).bytes(), workgroups: rowGrid(rows) });
  const { chunkRows, chunks } = rowChunking(rows);
  const partial = dev.empty([chunks, d]); // every (chunk, column) is written, empty chunks as 0
  dev.dispatch({
    label: 'rms_norm_backward_partial',
    code: BACKWARD_PARTIAL_WGSL,
    buffers: [dy, x, rstd, partial],
    params: new ParamWriter().u32(rows).u32(d).u32(chunkRows).bytes(),
    workgroups: [Math.ceil(d / PARTIAL_WG), chunks],
  });
  const dgamma = columnSumGpu(dev, partial, chunks, d, 0, d);
  partial.dispose(); // the pool hands it out again only to work recorded after these dispatches
  return { dx, dgamma };
}
