// LayerNorm over the last dimension, forward and backward, as in torch.nn.LayerNorm (biased
// variance). Forward saves mean and rstd per row so the backward need not recompute them.
//   y = (x − mean) · rstd · gamma + beta,   rstd = 1 / sqrt(var + eps)
// Backward (xhat = (x − mean)·rstd, g = dy·gamma):
//   dx = rstd · (g − mean(g) − xhat · mean(g·xhat)),  dgamma = Σ_rows dy·xhat,  dbeta = Σ_rows dy
// dgamma/dbeta on the GPU: per-chunk-of-rows partials, then a column sum in chunk order (no float
// atomics, so the result is the same every run).

import { cpu } from '../cpu/cpuDevice.js';
import { assertDtype, assertSameDevice, assertShape, rowsCols, Tensor } from '../tensor.js';
import type { WebGpuDevice } from '../webgpu/gpuDevice.js';
import { ParamWriter } from '../webgpu/params.js';
import { columnSumGpu, ROW_BUILTINS_WGSL, ROW_INDEX_WGSL, ROW_WG, rowChunking, rowGrid, wgSumMax2Wgsl, wgSumMaxWgsl } from './wgslReduce.js';

/** The twins run on float32 (the op) or float64 (gradient checks). */
type Floats = Float32Array | Float64Array;

// ---- CPU twins -------------------------------------------------------------------------------

/** LayerNorm forward on x [rows, d] (rows = mean.length, d = gamma.length); writes y, mean, rstd. */
export function layerNormCpu(x: Floats, gamma: Floats, beta: Floats, eps: number, y: Floats, mean: Floats, rstd: Floats): void {
  const d = gamma.length;
  for (let r = 0; r < mean.length; r++) {
    const o = r * d;
    let s = 0;
    for (let j = 0; j < d; j++) s += x[o + j]!;
    const m = s / d;
    let v = 0;
    for (let j = 0; j < d; j++) v += (x[o + j]! - m) ** 2;
    const rs = 1 / Math.sqrt(v / d + eps);
    for (let j = 0; j < d; j++) y[o + j] = (x[o + j]! - m) * rs * gamma[j]! + beta[j]!;
    mean[r] = m;
    rstd[r] = rs;
  }
}

/** LayerNorm backward: writes dx [rows, d], dgamma [d], dbeta [d] (sums over rows in row order). */
export function layerNormBackwardCpu(dy: Floats, x: Floats, gamma: Floats, mean: Floats, rstd: Floats, dx: Floats, dgamma: Floats, dbeta: Floats): void {
  const d = gamma.length;
  const dg = new Float64Array(d);
  const db = new Float64Array(d);
  for (let r = 0; r < mean.length; r++) {
    const o = r * d;
    const m = mean[r]!;
    const rs = rstd[r]!;
    let gMean = 0;
    let gxMean = 0;
    for (let j = 0; j < d; j++) {
      const g = dy[o + j]! * gamma[j]!;
      gMean += g;
      gxMean += g * (x[o + j]! - m) * rs;
    }
    gMean /= d;
    gxMean /= d;
    for (let j = 0; j < d; j++) {
      const xhat = (x[o + j]! - m) * rs;
      dx[o + j] = (dy[o + j]! * gamma[j]! - gMean - xhat * gxMean) * rs;
      dg[j] += dy[o + j]! * xhat;
      db[j] += dy[o + j]!;
    }
  }
  dgamma.set(dg);
  dbeta.set(db);
}

// ---- WGSL ------------------------------------------------------------------------------------

const FORWARD_WGSL = /* wgsl */ `
struct P { rows: u32, d: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(6) var<uniform> p: P;
${wgSumMaxWgsl()}
@compute @workgroup_size(${ROW_WG})
fn main(${ROW_BUILTINS_WGSL}) {
  let row = ${ROW_INDEX_WGSL};
  if (row >= p.rows) { return; } // uniform: the whole workgroup leaves together
  let o = row * p.d;
  let n = f32(p.d);
  var s = 0.0;
  for (var j = lid; j < p.d; j += ${ROW_WG}u) { s += x[o + j]; }
  let m = wgSum(s, lid) / n;
  // Two passes (mean, then squared deviations): no cancellation as in E[x²] − E[x]².
  var v = 0.0;
  for (var j = lid; j < p.d; j += ${ROW_WG}u) { let c = x[o + j] - m; v += c * c; }
  let rs = 1.0 / sqrt(wgSum(v, lid) / n + p.eps);
  for (var j = lid; j < p.d; j += ${ROW_WG}u) { y[o + j] = (x[o + j] - m) * rs * gamma[j] + beta[j]; }
  if (lid == 0u) { mean[row] = m; rstd[row] = rs; }
}`;

const BACKWARD_DX_WGSL = /* wgsl */ `
struct P { rows: u32, d: u32 }
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<uniform> p: P;
${wgSumMax2Wgsl()}
@compute @workgroup_size(${ROW_WG})
fn main(${ROW_BUILTINS_WGSL}) {
  let row = ${ROW_INDEX_WGSL};
  if (row >= p.rows) { return; }
  let o = row * p.d;
  let m = mean[row];
  let rs = rstd[row];
  var acc = vec2f(0.0);
  for (var j = lid; j < p.d; j += ${ROW_WG}u) {
    let g = dy[o + j] * gamma[j];
    acc += vec2f(g, g * (x[o + j] - m) * rs);
  }
  let means = wgSum2(acc, lid) / f32(p.d); // (mean(g), mean(g·xhat))
  for (var j = lid; j < p.d; j += ${ROW_WG}u) {
    let xhat = (x[o + j] - m) * rs;
    dx[o + j] = (dy[o + j] * gamma[j] - means.x - xhat * means.y) * rs;
  }
}`;

const PARTIAL_WG = 64;
// Thread (column j, chunk c) sums its chunk's rows in order; partial is [chunks, 2, d]: (dgamma, dbeta).
const BACKWARD_PARTIAL_WGSL = /* wgsl */ `
struct P { rows: u32, d: u32, chunkRows: u32 }
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> partial: array<f32>;
@group(0) @binding(5) var<uniform> p: P;
@compute @workgroup_size(${PARTIAL_WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.x;
  let c = gid.y;
  if (j >= p.d) { return; }
  let r1 = min(p.rows, (c + 1u) * p.chunkRows);
  var g = 0.0;
  var b = 0.0;
  for (var r = c * p.chunkRows; r < r1; r++) {
    let e = dy[r * p.d + j];
    g += e * (x[r * p.d + j] - mean[r]) * rstd[r];
    b += e;
  }
  partial[c * 2u * p.d + j] = g;
  partial[c * 2u * p.d + p.d + j] = b;
}`;

// ---- dispatch --------------------------------------------------------------------------------

/** LayerNorm over the last dim of x [..., d]: { y [..., d], mean [rows], rstd [rows] }. */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5): { y: Tensor; mean: Tensor; rstd: Tensor } {
  assertSameDevice(x, gamma, beta);
  for (const [t, n] of [[x, 'x'], [gamma, 'gamma'], [beta, 'beta']] as const) assertDtype(t, 'f32', `layerNorm ${n}`);
  const [rows, d] = rowsCols(x.shape);
  assertShape(gamma, [d], 'layerNorm gamma');
  assertShape(beta, [d], 'layerNorm beta');
  if (x.device.kind === 'cpu') {
    const y = cpu.zeros(x.shape);
    const mean = cpu.zeros([rows]);
    const rstd = cpu.zeros([rows]);
    layerNormCpu(x.data as Float32Array, gamma.data as Float32Array, beta.data as Float32Array, eps, y.data as Float32Array, mean.data as Float32Array, rstd.data as Float32Array);
    return { y, mean, rstd };
  }
  const dev = x.device as WebGpuDevice;
  const y = dev.empty(x.shape);
  const mean = dev.empty([rows]);
  const rstd = dev.empty([rows]);
  const params = new ParamWriter().u32(rows).u32(d).f32(eps).bytes();
  dev.dispatch({ label: 'layer_norm', code: FORWARD_WGSL, buffers: [x, gamma, beta, y, mean, rstd], params, workgroups: rowGrid(rows) });
  return { y, mean, rstd };
}

/** Gradients of layerNorm: { dx [..., d], dgamma [d], dbeta [d] } from the saved mean and rstd. */
export function layerNormBackward(dy: Tensor, x: Tensor, gamma: Tensor, mean: Tensor, rstd: Tensor): { dx: Tensor; dgamma: Tensor; dbeta: Tensor } {
  assertSameDevice(dy, x, gamma, mean, rstd);
  const [rows, d] = rowsCols(x.shape);
  assertShape(dy, x.shape, 'layerNormBackward dy');
  assertShape(gamma, [d], 'layerNormBackward gamma');
  assertShape(mean, [rows], 'layerNormBackward mean');
  assertShape(rstd, [rows], 'layerNormBackward rstd');
  if (x.device.kind === 'cpu') {
    const dx = cpu.zeros(x.shape);
    const dgamma = cpu.zeros([d]);
    const dbeta = cpu.zeros([d]);
    const f = (t: Tensor) => t.data as Float32Array;
    layerNormBackwardCpu(f(dy), f(x), f(gamma), f(mean), f(rstd), f(dx), f(dgamma), f(dbeta));
    return { dx, dgamma, dbeta };
  }
  const dev = x.device as WebGpuDevice;
  const dx = dev.empty(x.shape);
  dev.dispatch({ label: 'layer_norm_backward_dx', code: BACKWARD_DX_WGSL, buffers: [dy, x, gamma, mean, rstd, dx], params: new ParamWriter().u32(rows).u32(d).bytes(), workgroups: rowGrid(rows) });
  const { chunkRows, chunks } = rowChunking(rows);
  const partial = dev.empty([chunks, 2, d]); // every (chunk, column) is written, empty chunks as 0
  dev.dispatch({
    label: 'layer_norm_backward_partial',
    code: BACKWARD_PARTIAL_WGSL,
    buffers: [dy, x, mean, rstd, partial],
    params: new ParamWriter().u32(rows).u32(d).u32(chunkRows).bytes(),
    workgroups: [Math.ceil(d / PARTIAL_WG), chunks],
  });
  const dgamma = columnSumGpu(dev, partial, chunks, 2 * d, 0, d);
  const dbeta = columnSumGpu(dev, partial, chunks, 2 * d, d, d);
  partial.dispose(); // safe: the pool hands it out again only to work recorded after these dispatches
  return { dx, dgamma, dbeta };
}
