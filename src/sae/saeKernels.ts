// Small ops the SAE architectures need that the general op set lacks: scatter of top-k picks into a
// dense matrix, a few pointwise maps (sqrt, reciprocal, comparisons against a constant) and the
// BatchTopK threshold's running-mean update. Each has a CPU twin (the specification) and a WGSL
// kernel, dispatched by the tensor's device like the ops in src/compute/ops.

import { assertDtype, assertSameDevice, rowsCols, type Tensor } from '../compute/tensor.js';
import { F32_LOWEST_WGSL, FOR_COLS, gpuOf, memoKernel, outputOn, pointwiseGrid, pointwiseWgsl, rowKernelWgsl } from '../compute/ops/wgslGen.js';
import { ParamWriter, u32Params } from '../compute/webgpu/params.js';

// ---- scatter ---------------------------------------------------------------------------------

/** Twin: out[r, idx[r, j]] = values[r, j] (out starts at 0; indices of a row are distinct). */
export function scatterRowsCpu(values: Float32Array, indices: Int32Array, rows: number, k: number, cols: number, out: Float32Array): void {
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < k; j++) out[r * cols + indices[r * k + j]!] = values[r * k + j]!;
  }
}

const SCATTER_WGSL = pointwiseWgsl(
  [['values', 'read'], ['indices', 'read', 'i32'], ['out', 'read_write']],
  'n: u32, k: u32, cols: u32',
  `let r = i / p.k;
  out[r * p.cols + u32(indices[i])] = values[i];`,
);

/** Dense [..., cols] holding values [..., k] at column indices [..., k] (i32, distinct per row), zeros elsewhere. */
export function scatterRows(values: Tensor, indices: Tensor, cols: number): Tensor {
  assertSameDevice(values, indices);
  assertDtype(values, 'f32', 'scatterRows values');
  assertDtype(indices, 'i32', 'scatterRows indices');
  const [rows, k] = rowsCols(values.shape);
  const shape = [...values.shape.slice(0, -1), cols];
  const dev = gpuOf(values);
  if (!dev) {
    const out = outputOn(values, shape);
    scatterRowsCpu(values.data as Float32Array, indices.data as Int32Array, rows, k, cols, out.data as Float32Array);
    return out;
  }
  const out = dev.zeros(shape);
  dev.dispatch({ label: 'sae_scatter_rows', code: SCATTER_WGSL, buffers: [values, indices, out], params: u32Params(rows * k, k, cols), workgroups: pointwiseGrid(rows * k) });
  return out;
}

// ---- pointwise maps --------------------------------------------------------------------------

/** sqrt(x); 1/x (0 for x = 0); [x > a], [x ≥ a], [x < a] as 1/0. */
export type SaeMap = 'sqrt' | 'recip' | 'gt' | 'ge' | 'lt';

/** Twin of one map with constant a. */
export function mapCpu(kind: SaeMap, x: Float32Array, a: number, y: Float32Array): void {
  // One loop per kind: the kind is not re-tested per element.
  const n = x.length;
  if (kind === 'sqrt') for (let i = 0; i < n; i++) y[i] = Math.sqrt(x[i]!);
  else if (kind === 'recip') for (let i = 0; i < n; i++) y[i] = x[i] === 0 ? 0 : 1 / x[i]!;
  else if (kind === 'gt') for (let i = 0; i < n; i++) y[i] = x[i]! > a ? 1 : 0;
  else if (kind === 'ge') for (let i = 0; i < n; i++) y[i] = x[i]! >= a ? 1 : 0;
  else for (let i = 0; i < n; i++) y[i] = x[i]! < a ? 1 : 0;
}

const MAP_EXPR: Record<SaeMap, string> = {
  sqrt: 'sqrt(v)',
  recip: 'select(1.0 / v, 0.0, v == 0.0)',
  gt: 'select(0.0, 1.0, v > p.a)',
  ge: 'select(0.0, 1.0, v >= p.a)',
  lt: 'select(0.0, 1.0, v < p.a)',
};

const mapKernel = memoKernel((kind: SaeMap) => pointwiseWgsl([['x', 'read'], ['y', 'read_write']], 'n: u32, a: f32', `let v = x[i];\n  y[i] = ${MAP_EXPR[kind]};`));

/** A pointwise map of x (same shape); `a` is the comparison constant (rounded to f32). */
export function mapSae(kind: SaeMap, x: Tensor, a = 0): Tensor {
  assertDtype(x, 'f32', `mapSae ${kind}`);
  const af = Math.fround(a);
  const y = outputOn(x, x.shape);
  const dev = gpuOf(x);
  if (!dev) mapCpu(kind, x.data as Float32Array, af, y.data as Float32Array);
  else dev.dispatch({ label: `sae_map_${kind}`, code: mapKernel(kind), buffers: [x, y], params: new ParamWriter(2).u32(x.numel).f32(af).bytes(), workgroups: pointwiseGrid(x.numel) });
  return y;
}

// ---- BatchTopK threshold -----------------------------------------------------------------------

/** Twin: m = min of the positive values (0 if none); thr = m when thr < 0, else β·thr + (1 − β)·m. */
export function updateThresholdCpu(values: Float32Array, thr: Float32Array, beta: number): void {
  let m = Infinity;
  for (let i = 0; i < values.length; i++) if (values[i]! > 0 && values[i]! < m) m = values[i]!;
  if (m === Infinity) m = 0;
  const t = thr[0]!;
  thr[0] = t < 0 ? m : Math.fround(beta) * t + (1 - Math.fround(beta)) * m;
}

const THRESHOLD_WG = 256;
const THRESHOLD_WGSL = rowKernelWgsl(
  THRESHOLD_WG,
  [['vals', 'read'], ['thr', 'read_write']],
  'beta: f32',
  `var m = ${F32_LOWEST_WGSL};
  ${FOR_COLS} { let v = vals[base + c]; if (v > 0.0) { m = max(m, -v); } }
  m = wgMax(m, lid);
  if (lid == 0u) {
    var minAct = 0.0;
    if (m > -1e38) { minAct = -m; }
    let t = thr[0];
    if (t < 0.0) { thr[0] = minAct; } else { thr[0] = p.beta * t + (1.0 - p.beta) * minAct; }
  }`,
);

/** In place: threshold [1] ← running mean (β) of the smallest positive entry of `values` (any shape). */
export function updateThreshold(values: Tensor, threshold: Tensor, beta: number): void {
  assertSameDevice(values, threshold);
  const dev = gpuOf(values);
  if (!dev) {
    updateThresholdCpu(values.data as Float32Array, threshold.data as Float32Array, beta);
    return;
  }
  const params = new ParamWriter(3).u32(1).u32(values.numel).f32(beta).bytes();
  dev.dispatch({ label: 'sae_update_threshold', code: THRESHOLD_WGSL, buffers: [values, threshold], params, workgroups: [1, 1] });
}

// ---- row scaling -----------------------------------------------------------------------------

/** Twin: y[r, c] = x[r, c]·s[r]. */
export function scaleRowsCpu(x: Float32Array, s: Float32Array, cols: number, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) y[i] = x[i]! * s[Math.floor(i / cols)]!;
}

const SCALE_ROWS_WGSL = pointwiseWgsl([['x', 'read'], ['s', 'read'], ['y', 'read_write']], 'n: u32, cols: u32', 'y[i] = x[i] * s[i / p.cols];');

/** Each row of x [rows, cols] times its own factor s [rows] → [rows, cols]. */
export function scaleRows(x: Tensor, s: Tensor): Tensor {
  assertSameDevice(x, s);
  const [rows, cols] = rowsCols(x.shape);
  if (s.numel !== rows) throw new Error(`scaleRows: x [${x.shape}] has ${rows} rows, s has ${s.numel} factors`);
  const y = outputOn(x, x.shape);
  const dev = gpuOf(x);
  if (!dev) scaleRowsCpu(x.data as Float32Array, s.data as Float32Array, cols, y.data as Float32Array);
  else dev.dispatch({ label: 'sae_scale_rows', code: SCALE_ROWS_WGSL, buffers: [x, s, y], params: u32Params(x.numel, cols), workgroups: pointwiseGrid(x.numel) });
  return y;
}
