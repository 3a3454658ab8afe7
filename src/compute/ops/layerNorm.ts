// LayerNorm over the last dimension, forward and backward, as in torch.nn.LayerNorm (biased
// variance). Forward saves mean and rstd per row so the backward need not recompute them.
//   y = (x − mean) · rstd · gamma + beta,   rstd = 1 / sqrt(var + eps)
// Backward (xhat = (x − mean)·rstd, g = dy·gamma):
//   dx = rstd · (g − mean(g) − xhat · mean(g·xhat)),  dgamma = Σ_rows dy·xhat,  dbeta = Σ_rows dy
// dgamma/dbeta on the GPU: per-chunk-of-rows partials, then a column sum in chunk order (no float
// atomics, so the result is the same every run).

import { blasAddon } from '../cpu/blas.js';
import { cpu } from '../cpu/cpuDevice.js';
import { assertDtype, assertSameDevice, assertShape, rowsCols, type Tensor } from '../tensor.js';
import { ParamWriter, u32Params } from '../webgpu/params.js';
import type { Floats } from './elementwise.js';
import { chunkedColumnSums, chunkPartialsWgsl, FOR_COLS, gpuOf, outputOn, ROW_WG, rowGrid, rowKernelWgsl, wgSumMax2Wgsl } from './wgslGen.js';

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

/** layerNormCpu on f32 arrays, through native/layerNorm.c (vectorised, rows over threads) when the addon has it. */
export function layerNormHost(x: Float32Array, gamma: Float32Array, beta: Float32Array, eps: number, y: Float32Array, mean: Float32Array, rstd: Float32Array): void {
  const native = blasAddon()?.layerNormForward;
  if (native && gamma.length > 0) native(x, gamma, beta, mean.length, eps, y, mean, rstd);
  else layerNormCpu(x, gamma, beta, eps, y, mean, rstd);
}

// ---- WGSL ------------------------------------------------------------------------------------

const FORWARD_WGSL = rowKernelWgsl(
  ROW_WG,
  [['x', 'read'], ['gamma', 'read'], ['beta', 'read'], ['y', 'read_write'], ['mean', 'read_write'], ['rstd', 'read_write']],
  'eps: f32',
  `let n = f32(p.cols);
  var s = 0.0;
  ${FOR_COLS} { s += x[base + c]; }
  let m = wgSum(s, lid) / n;
  // Two passes (mean, then squared deviations): no cancellation as in E[x²] − E[x]².
  var v = 0.0;
  ${FOR_COLS} { let e = x[base + c] - m; v += e * e; }
  let rs = 1.0 / sqrt(wgSum(v, lid) / n + p.eps);
  ${FOR_COLS} { y[base + c] = (x[base + c] - m) * rs * gamma[c] + beta[c]; }
  if (lid == 0u) { mean[row] = m; rstd[row] = rs; }`,
);

const BACKWARD_DX_WGSL = rowKernelWgsl(
  ROW_WG,
  [['dy', 'read'], ['x', 'read'], ['gamma', 'read'], ['mean', 'read'], ['rstd', 'read'], ['dx', 'read_write']],
  '',
  `let m = mean[row];
  let rs = rstd[row];
  var acc = vec2f(0.0);
  ${FOR_COLS} {
    let g = dy[base + c] * gamma[c];
    acc += vec2f(g, g * (x[base + c] - m) * rs);
  }
  let means = wgSum2(acc, lid) / f32(p.cols); // (mean(g), mean(g·xhat))
  ${FOR_COLS} {
    let xhat = (x[base + c] - m) * rs;
    dx[base + c] = (dy[base + c] * gamma[c] - means.x - xhat * means.y) * rs;
  }`,
  wgSumMax2Wgsl(ROW_WG),
);

// (dgamma, dbeta) = Σ_rows (dy·xhat, dy).
const BACKWARD_PARTIAL_WGSL = chunkPartialsWgsl([['dy', 'read'], ['x', 'read'], ['mean', 'read'], ['rstd', 'read']], ['dy[k] * (x[k] - mean[r]) * rstd[r]', 'dy[k]']);

// ---- dispatch --------------------------------------------------------------------------------

/** LayerNorm over the last dim of x [..., d]: { y [..., d], mean [rows], rstd [rows] }. */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5): { y: Tensor; mean: Tensor; rstd: Tensor } {
  assertSameDevice(x, gamma, beta);
  for (const [t, n] of [[x, 'x'], [gamma, 'gamma'], [beta, 'beta']] as const) assertDtype(t, 'f32', `layerNorm ${n}`);
  const [rows, d] = rowsCols(x.shape);
  assertShape(gamma, [d], 'layerNorm gamma');
  assertShape(beta, [d], 'layerNorm beta');
  const y = outputOn(x, x.shape);
  const mean = outputOn(x, [rows]);
  const rstd = outputOn(x, [rows]);
  const dev = gpuOf(x);
  if (!dev) layerNormHost(x.data as Float32Array, gamma.data as Float32Array, beta.data as Float32Array, eps, y.data as Float32Array, mean.data as Float32Array, rstd.data as Float32Array);
  else {
    const params = new ParamWriter().u32(rows).u32(d).f32(eps).bytes();
    dev.dispatch({ label: 'layer_norm', code: FORWARD_WGSL, buffers: [x, gamma, beta, y, mean, rstd], params, workgroups: rowGrid(rows) });
  }
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
  const dx = outputOn(x, x.shape);
  const dev = gpuOf(x);
  if (dev) {
    dev.dispatch({ label: 'layer_norm_backward_dx', code: BACKWARD_DX_WGSL, buffers: [dy, x, gamma, mean, rstd, dx], params: u32Params(rows, d), workgroups: rowGrid(rows) });
    const [dgamma, dbeta] = chunkedColumnSums(dev, 'layer_norm_backward_partial', BACKWARD_PARTIAL_WGSL, [dy, x, mean, rstd], rows, d, 2);
    return { dx, dgamma, dbeta };
  }
  const dgamma = cpu.zeros([d]);
  const dbeta = cpu.zeros([d]);
  const f = (t: Tensor) => t.data as Float32Array;
  layerNormBackwardCpu(f(dy), f(x), f(gamma), f(mean), f(rstd), f(dx), f(dgamma), f(dbeta));
  return { dx, dgamma, dbeta };
}
