// Reductions of f32 tensors. Row reductions run over the last dimension of x viewed as
// [rows, cols] and return the leading shape (e.g. [rows, cols] → [rows]); on WebGPU each row is one
// workgroup with a fixed tree, so results are deterministic. `sumColumns` reduces over rows instead
// (a bias gradient), in fixed chunks rather than float atomics, for the same reason.
// CPU twins accumulate in float64 (JS numbers): they are the specification, exact up to the final
// rounding to f32; the kernels sum in f32 and are checked against them.
//
// NaN rule for max/argmax: NaN wins. A row holding a NaN has max NaN and argmax the index of its
// first NaN (as PyTorch). Otherwise ties go to the lowest index. logsumexp propagates a NaN max,
// and returns the max itself when that is ±∞ (a row of all −∞, i.e. fully masked, gives −∞).

import { nativeKernel } from '../cpu/blas.js';
import { cpu } from '../cpu/cpuDevice.js';
import { assertDtype, rowsCols, type Tensor } from '../tensor.js';
import { u32Params } from '../webgpu/params.js';
import type { Floats } from './elementwise.js';
import { FOR_COLS, gpuOf, IS_NAN_WGSL, memoKernel, NON_FINITE_WGSL, outputOn, pointwiseGrid, pointwiseWgsl, rowGrid, rowKernelWgsl, rowMaxSumExpWgsl, rowWorkgroupSize, wgReduceWgsl } from './wgslGen.js';
import { dispatchItems } from '../webgpu/chunkedDispatch.js';

// ---- CPU twins: x is [rows, cols] row-major; out is [rows] unless said --------------------------

/** out[r] = Σ_c x[r, c]. */
export function sumRowsCpu(x: Floats, rows: number, cols: number, out: Floats): void {
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += x[r * cols + c]!;
    out[r] = s;
  }
}

/** out[r] = Σ_c x[r, c] / cols. */
export function meanRowsCpu(x: Floats, rows: number, cols: number, out: Floats): void {
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += x[r * cols + c]!;
    out[r] = s / cols;
  }
}

/** out[r] = argmax_c x[r, c]: the first NaN if any, else the lowest index of the maximum. */
export function argmaxRowsCpu(x: Floats, rows: number, cols: number, out: Int32Array): void {
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 0; c < cols; c++) {
      const v = x[r * cols + c]!;
      if (Number.isNaN(v)) {
        best = c;
        break;
      }
      if (v > x[r * cols + best]!) best = c;
    }
    out[r] = best;
  }
}

/** out[r] = max_c x[r, c] = x[r, argmax]: NaN if the row holds one. */
export function maxRowsCpu(x: Floats, rows: number, cols: number, out: Floats): void {
  const idx = new Int32Array(rows);
  argmaxRowsCpu(x, rows, cols, idx);
  for (let r = 0; r < rows; r++) out[r] = x[r * cols + idx[r]!]!;
}

/** out[r] = log Σ_c exp(x[r, c]), computed as m + log Σ exp(x − m) with m the row max. */
export function logsumexpRowsCpu(x: Floats, rows: number, cols: number, out: Floats): void {
  const m = new Float64Array(rows);
  maxRowsCpu(x, rows, cols, m);
  for (let r = 0; r < rows; r++) {
    const mr = m[r]!;
    if (!Number.isFinite(mr)) {
      out[r] = mr; // NaN, or ±∞ (where x − m would be ∞ − ∞)
      continue;
    }
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(x[r * cols + c]! - mr);
    out[r] = mr + Math.log(s);
  }
}

/** out[c] = Σ_r x[r, c]: out is [cols]. */
export function sumColumnsCpu(x: Floats, rows: number, cols: number, out: Floats): void {
  const acc = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) acc[c] += x[r * cols + c]!;
  out.set(acc);
}

// ---- WGSL ------------------------------------------------------------------------------------
// Each row kernel strides its threads over the row (coalesced), then combines them in a tree.

function sumRowsWgsl(wg: number, mean: boolean): string {
  return rowKernelWgsl(
    wg,
    [['x', 'read'], ['out', 'read_write']],
    '',
    `var s = 0.0;
  ${FOR_COLS} { s += x[base + c]; }
  s = wgSum(s, lid);
  if (lid == 0u) { out[row] = ${mean ? 's / f32(p.cols)' : 's'}; }`,
  );
}

// max and argmax share one kernel: the tree carries (value, index) pairs, and max is then read
// back from x at the winning index, so a NaN's bits reach the output untouched.
function argmaxWgsl(wg: number, output: 'max' | 'argmax'): string {
  const prelude = /* wgsl */ `${IS_NAN_WGSL}
const EMPTY: u32 = 0xffffffffu; // the index of a thread that saw no element
struct Best { v: f32, i: u32 }
// Does candidate b beat the holder a? Empty loses, NaN wins, larger wins, ties go low.
fn beats(b: Best, a: Best) -> bool {
  if (b.i == EMPTY) { return false; }
  if (a.i == EMPTY) { return true; }
  let bn = isNan(b.v);
  let an = isNan(a.v);
  if (bn || an) { return bn && (!an || b.i < a.i); }
  return b.v > a.v || (b.v == a.v && b.i < a.i);
}
fn better(a: Best, b: Best) -> Best {
  if (beats(b, a)) { return b; }
  return a;
}
${wgReduceWgsl('wgBest', 'Best', wg, (a, b) => `better(${a}, ${b})`)}`;
  const write = output === 'max' ? 'out[row] = x[base + best.i];' : 'out[row] = i32(best.i);';
  return rowKernelWgsl(
    wg,
    [['x', 'read'], ['out', 'read_write', output === 'max' ? 'f32' : 'i32']],
    '',
    `var best = Best(0.0, EMPTY);
  ${FOR_COLS} {
    let cand = Best(x[base + c], c);
    if (beats(cand, best)) { best = cand; }
  }
  best = wgBest(best, lid);
  if (lid == 0u) { ${write} }`,
    prelude,
  );
}

function logsumexpWgsl(wg: number): string {
  // Every thread runs both tree reductions (they hold barriers); the ±∞/NaN case is chosen at the end.
  return rowKernelWgsl(
    wg,
    [['x', 'read'], ['out', 'read_write']],
    '',
    `${rowMaxSumExpWgsl('x[base + c]', 'x[base]')}
  if (lid == 0u) { out[row] = select(m + log(s), m, nonFinite(m)); }`,
    NON_FINITE_WGSL,
  );
}

/**
 * sumColumns, one level: thread (chunk, col) sums rows [chunk·p.chunk, (chunk+1)·p.chunk) of column
 * col into part[chunk, col]. Threads of a workgroup take adjacent columns, so loads coalesce.
 */
const SUM_CHUNKS_WGSL = pointwiseWgsl(
  [['x', 'read'], ['part', 'read_write']],
  'n: u32, rows: u32, cols: u32, chunk: u32',
  `let col = i % p.cols;
  let r0 = (i / p.cols) * p.chunk;
  let r1 = min(p.rows, r0 + p.chunk);
  var s = 0.0;
  for (var r = r0; r < r1; r++) { s += x[r * p.cols + col]; }
  part[i] = s;`,
);
/** Rows per chunk: each level shrinks rows 64-fold, so 1e6 rows take 4 levels of ≤ 64-term sums. */
const COLUMN_CHUNK = 64;

// ---- dispatch --------------------------------------------------------------------------------

type RowOp = 'sum' | 'mean' | 'max' | 'argmax' | 'logsumexp';

const rowKernel = memoKernel((op: RowOp, wg: number) =>
  op === 'sum' || op === 'mean' ? sumRowsWgsl(wg, op === 'mean') : op === 'logsumexp' ? logsumexpWgsl(wg) : argmaxWgsl(wg, op),
);

function rowReduce(x: Tensor, op: RowOp): Tensor {
  assertDtype(x, 'f32', `${op}Rows`);
  if (x.shape.length === 0) throw new Error(`${op}Rows: x must have at least one dimension`);
  const [rows, cols] = rowsCols(x.shape);
  if (cols === 0 && op !== 'sum') throw new Error(`${op}Rows: rows of length 0 have no ${op}`);
  const shape = x.shape.slice(0, -1);
  const dev = gpuOf(x);
  if (dev && cols === 0) return dev.zeros(shape); // empty sums: rowsCols then reports 0 rows, so no kernel would write
  const out = outputOn(x, shape, op === 'argmax' ? 'i32' : 'f32');
  if (dev) {
    dispatchItems(dev, { label: `${op}_rows`, code: rowKernel(op, rowWorkgroupSize(cols)), buffers: [x, out], strides: [cols, 1], params: u32Params(rows, cols), count: rows, grid: rowGrid });
    return out;
  }
  const xs = x.data as Float32Array;
  if (op === 'sum') sumRowsCpu(xs, rows, cols, out.data as Float32Array);
  else if (op === 'mean') meanRowsCpu(xs, rows, cols, out.data as Float32Array);
  else if (op === 'max') maxRowsCpu(xs, rows, cols, out.data as Float32Array);
  else if (op === 'argmax') argmaxRowsCpu(xs, rows, cols, out.data as Int32Array);
  else logsumexpRowsCpu(xs, rows, cols, out.data as Float32Array);
  return out;
}

/** Σ over the last dimension: [..., cols] → [...]. */
export function sumRows(x: Tensor): Tensor {
  return rowReduce(x, 'sum');
}

/** Mean over the last dimension: [..., cols] → [...]. */
export function meanRows(x: Tensor): Tensor {
  return rowReduce(x, 'mean');
}

/** Max over the last dimension: [..., cols] → [...]; NaN if the row holds one. */
export function maxRows(x: Tensor): Tensor {
  return rowReduce(x, 'max');
}

/** Index of the max over the last dimension, i32: [..., cols] → [...]; ties → lowest index, NaN wins. */
export function argmaxRows(x: Tensor): Tensor {
  return rowReduce(x, 'argmax');
}

/** log Σ exp over the last dimension, max-subtracted: [..., cols] → [...]. */
export function logsumexpRows(x: Tensor): Tensor {
  return rowReduce(x, 'logsumexp');
}

/** Σ over the rows of x viewed as [rows, cols] → [cols] (e.g. a bias gradient); deterministic. */
export function sumColumns(x: Tensor): Tensor {
  assertDtype(x, 'f32', 'sumColumns');
  if (x.shape.length === 0) throw new Error('sumColumns: x must have at least one dimension');
  const [rows, cols] = rowsCols(x.shape);
  const dev = gpuOf(x);
  if (!dev) {
    const out = cpu.zeros([cols]);
    // Long inputs (an SAE's [batch, d_sae] bias gradient) in native/elementwise.c, same order and bits.
    (nativeKernel('sumColumns', rows * cols) ?? sumColumnsCpu)(x.data as Float32Array, rows, cols, out.data as Float32Array);
    return out;
  }
  // Chunked tree: [rows, cols] → [⌈rows/64⌉, cols] → … until one chunk is left, which the last pass
  // sums straight into [cols]. Each output element is a short sequential sum, so f32 error stays
  // ~ (64 · levels) ulp of Σ|x| at worst, against ~rows ulp for one long sum.
  let cur = x;
  let r = rows;
  while (r > COLUMN_CHUNK) {
    const chunks = Math.ceil(r / COLUMN_CHUNK);
    const part = dev.empty([chunks, cols]);
    dev.dispatch({ label: 'sum_columns_chunks', code: SUM_CHUNKS_WGSL, buffers: [cur, part], params: u32Params(chunks * cols, r, cols, COLUMN_CHUNK), workgroups: pointwiseGrid(chunks * cols) });
    if (cur !== x) cur.dispose(); // queue order makes the early release safe
    cur = part;
    r = chunks;
  }
  const out = dev.empty([cols]);
  dev.dispatch({ label: 'sum_columns', code: SUM_CHUNKS_WGSL, buffers: [cur, out], params: u32Params(cols, r, cols, Math.max(r, 1)), workgroups: pointwiseGrid(cols) });
  if (cur !== x) cur.dispose();
  return out;
}
