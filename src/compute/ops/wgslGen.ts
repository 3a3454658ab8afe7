// What the compute ops share, written once: WGSL generators (the binding layout
// `WebGpuDevice.dispatch` expects, a one-thread-per-element kernel, a one-workgroup-per-row kernel
// with fixed-tree reductions, per-chunk column partials summed in chunk order), f32 constants for
// WGSL, and the host-side steps of every op (outputs on the input's device, CPU twin or kernel).
// Every reduction here has a fixed shape (tree or order) that depends only on sizes, never on
// scheduling, so results are the same run to run and need no float atomics.

import { cpu } from '../cpu/cpuDevice.js';
import { assertDtype, assertSameDevice, assertShape, type DType, type Tensor } from '../tensor.js';
import type { WebGpuDevice } from '../webgpu/gpuDevice.js';
import { flatIndexWgsl, grid1d, u32Params } from '../webgpu/params.js';
import { dispatchItems } from '../webgpu/chunkedDispatch.js';

// ---- bindings --------------------------------------------------------------------------------

/** One storage binding: the array's name, its access, its element type (f32 unless said). */
export type StorageDecl = readonly [name: string, access: 'read' | 'read_write', type?: 'f32' | 'i32' | 'u32'];

/**
 * `struct P { paramFields }`, storage arrays at bindings 0..n-1 in order, then the uniform `p: P`
 * at n: how `WebGpuDevice.dispatch` binds `buffers` and `params`. Kernels with optional inputs build
 * their list conditionally so the numbering stays contiguous.
 */
export function bindingsWgsl(storage: readonly StorageDecl[], paramFields: string): string {
  const lines = storage.map(([name, access, type = 'f32'], i) => `@group(0) @binding(${i}) var<storage, ${access}> ${name}: array<${type}>;`);
  return [`struct P { ${paramFields} }`, ...lines, `@group(0) @binding(${storage.length}) var<uniform> p: P;`].join('\n');
}

// ---- pointwise kernels -----------------------------------------------------------------------

/** Threads per workgroup of the pointwise kernels. */
export const POINTWISE_WG = 256;

/**
 * One thread per element: `body` runs with `i` < `p.n` (P must have `n: u32` first) on a `grid1d`
 * grid of `wg` threads per workgroup, so more than 65,535 workgroups fold into 2-D.
 */
export function pointwiseWgsl(storage: readonly StorageDecl[], paramFields: string, body: string, prelude = '', wg = POINTWISE_WG): string {
  return /* wgsl */ `
${bindingsWgsl(storage, paramFields)}
${prelude}
@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${flatIndexWgsl(wg)};
  if (i >= p.n) { return; }
  ${body}
}`;
}

/** Workgroups for `n` pointwise threads, `wg` per workgroup. */
export function pointwiseGrid(n: number, wg = POINTWISE_WG): [number, number] {
  return grid1d(n, wg);
}

// ---- workgroup reductions and row kernels ----------------------------------------------------

/**
 * WGSL for `fn <name>(v: <type>, lid: u32) -> <type>`: combines every invocation's `v` over a
 * fixed binary tree in workgroup memory and returns the result to all of them. It contains
 * barriers, so every invocation of the workgroup must call it (uniform control flow: no early
 * return before it). `combine` builds the WGSL expression joining two partials.
 */
export function wgReduceWgsl(name: string, type: string, wg: number, combine: (a: string, b: string) => string): string {
  const buf = `${name}_buf`;
  return /* wgsl */ `
var<workgroup> ${buf}: array<${type}, ${wg}>;
fn ${name}(v: ${type}, lid: u32) -> ${type} {
  ${buf}[lid] = v;
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { ${buf}[lid] = ${combine(`${buf}[lid]`, `${buf}[lid + s]`)}; }
    workgroupBarrier();
  }
  let r = ${buf}[0];
  // A second barrier so that a following call cannot overwrite the buffer before all have read r.
  workgroupBarrier();
  return r;
}`;
}

/** `wgSum(v: f32, lid) -> f32` and `wgMax(v: f32, lid) -> f32` for a workgroup of `wg` threads. */
export function wgSumMaxWgsl(wg: number): string {
  return wgReduceWgsl('wgSum', 'f32', wg, (a, b) => `${a} + ${b}`) + wgReduceWgsl('wgMax', 'f32', wg, (a, b) => `max(${a}, ${b})`);
}

/** `wgSum2` / `wgMax2` on vec2<f32> (componentwise): two reductions for the price of one tree. */
export function wgSumMax2Wgsl(wg: number): string {
  return wgReduceWgsl('wgSum2', 'vec2f', wg, (a, b) => `${a} + ${b}`) + wgReduceWgsl('wgMax2', 'vec2f', wg, (a, b) => `max(${a}, ${b})`);
}

/** Threads per row of the norm and loss kernels, and of long rows (up to a 50,257 vocab) elsewhere. */
export const ROW_WG = 256;

/** Threads per row by row length: short rows leave fewer threads idle at 64. */
export function rowWorkgroupSize(cols: number): number {
  return cols <= 64 ? 64 : ROW_WG;
}

/** One workgroup per row, folded into a 2-D grid past 65,535 rows. */
export function rowGrid(rows: number): [number, number] {
  return grid1d(rows, 1);
}

/** WGSL loop header of a row kernel: this thread's columns `c` of the row, strided (coalesced loads). */
export const FOR_COLS = 'for (var c = lid; c < p.cols; c += WG)';

/**
 * One workgroup of `wg` threads (a power of two) per row of a [rows, cols] input. P starts with
 * `rows: u32, cols: u32`. The body sees `row`, `base` (= row * cols), `lid` and `WG`, strides over
 * the row with `FOR_COLS`, and may call the tree reductions `wgSum(v, lid)` / `wgMax(v, lid)`
 * (and those the prelude adds, e.g. `wgSumMax2Wgsl(wg)`): every thread gets the result. They hold
 * barriers, so call them from uniform control flow.
 */
export function rowKernelWgsl(wg: number, storage: readonly StorageDecl[], extraParamFields: string, body: string, prelude = ''): string {
  const fields = `rows: u32, cols: u32${extraParamFields ? `, ${extraParamFields}` : ''}`;
  return /* wgsl */ `
${bindingsWgsl(storage, fields)}
const WG: u32 = ${wg}u;
${wgSumMaxWgsl(wg)}
${prelude}
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; } // uniform: the whole workgroup leaves together
  let base = row * p.cols;
  ${body}
}`;
}

/**
 * Row-kernel WGSL declaring the row's max `m` (starting from `mInit`) and `s` = Σ exp(v − m), both
 * reduced over the workgroup: the max-subtracted softmax denominator (log s + m is the logsumexp).
 * `v` is the element's WGSL expression in `c`. With `vec2`, `v` is a vec2f (two rows at once)
 * and the reductions are wgMax2/wgSum2 (the prelude must add `wgSumMax2Wgsl`).
 */
export function rowMaxSumExpWgsl(v: string, mInit: string, vec2 = false): string {
  const k = vec2 ? '2' : '';
  return /* wgsl */ `var m = ${mInit};
  ${FOR_COLS} { m = max(m, ${v}); }
  m = wgMax${k}(m, lid);
  var s = ${vec2 ? 'vec2f(0.0)' : '0.0'};
  ${FOR_COLS} { s += exp(${v} - m); }
  s = wgSum${k}(s, lid);`;
}

// ---- column sums over rows, in chunk order ---------------------------------------------------

/** Rows per chunk when a column reduction over `rows` is split into per-chunk partials. */
export function rowChunking(rows: number): { chunkRows: number; chunks: number } {
  // ≤ 1024 chunks: enough workgroups to fill a big GPU, few enough that the final sum is short.
  const chunkRows = Math.max(32, Math.ceil(rows / 1024));
  return { chunkRows, chunks: Math.max(1, Math.ceil(rows / chunkRows)) };
}

const PARTIAL_WG = 64;

/**
 * WGSL: thread (column j, chunk c) sums each of `terms` over its chunk's rows in order into
 * partial[c, t, j], a [chunks, terms.length, cols] array bound after `storage`. A term is a WGSL
 * expression of the row `r` and the element's flat index `k` = r·cols + j. P is
 * `{ rows, cols, chunkRows }`. Run it with `chunkedColumnSums`.
 */
export function chunkPartialsWgsl(storage: readonly StorageDecl[], terms: readonly string[]): string {
  const n = terms.length;
  return /* wgsl */ `
${bindingsWgsl([...storage, ['partial', 'read_write']], 'rows: u32, cols: u32, chunkRows: u32')}
@compute @workgroup_size(${PARTIAL_WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.x;
  let c = gid.y;
  if (j >= p.cols) { return; }
  let r1 = min(p.rows, (c + 1u) * p.chunkRows);
  ${terms.map((_, t) => `var acc${t} = 0.0;`).join('\n  ')}
  for (var r = c * p.chunkRows; r < r1; r++) {
    let k = r * p.cols + j;
    ${terms.map((e, t) => `acc${t} += ${e};`).join('\n    ')}
  }
  ${terms.map((_, t) => `partial[(c * ${n}u + ${t}u) * p.cols + j] = acc${t};`).join('\n  ')}
}`;
}

const COLSUM_WG = 64;
// out[i] = Σ_c partial[c·stride + offset + i], chunks in order: the same sum every run.
const COLSUM_WGSL = pointwiseWgsl(
  [['partial', 'read'], ['out', 'read_write']],
  'n: u32, chunks: u32, stride: u32, offset: u32',
  `var acc = 0.0;
  for (var c = 0u; c < p.chunks; c++) { acc += partial[c * p.stride + p.offset + i]; }
  out[i] = acc;`,
  '',
  COLSUM_WG,
);

/**
 * Σ over the rows of [rows, cols] of each term of `code` (a `chunkPartialsWgsl` kernel reading
 * `inputs`): one [cols] tensor per term, deterministic (partials per chunk of rows, then the
 * chunks added in order, instead of float atomics).
 */
export function chunkedColumnSums(dev: WebGpuDevice, label: string, code: string, inputs: readonly Tensor[], rows: number, cols: number, terms: number): Tensor[] {
  const { chunkRows, chunks } = rowChunking(rows);
  const partial = dev.empty([chunks, terms, cols]); // every (chunk, term, column) is written, empty chunks as 0
  dev.dispatch({ label, code, buffers: [...inputs, partial], params: u32Params(rows, cols, chunkRows), workgroups: [Math.ceil(cols / PARTIAL_WG), chunks] });
  const sums = Array.from({ length: terms }, (_, t) => {
    const out = dev.empty([cols]);
    const params = u32Params(cols, chunks, terms * cols, t * cols);
    dev.dispatch({ label: 'column_sum', code: COLSUM_WGSL, buffers: [partial, out], params, workgroups: pointwiseGrid(cols, COLSUM_WG) });
    return out;
  });
  partial.dispose(); // safe: the pool hands it out again only to work recorded after these dispatches
  return sums;
}

// ---- f32 in WGSL -----------------------------------------------------------------------------

/** WGSL: true when v's bits are a NaN. A bit test, because WGSL lets compilers assume NaN never occurs in float compares. */
export const IS_NAN_WGSL = /* wgsl */ `
fn isNan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }`;

/** WGSL: true when v is ±∞ or NaN (bit test, for the same reason). */
export const NON_FINITE_WGSL = /* wgsl */ `
fn nonFinite(v: f32) -> bool { return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u; }`;

/** The most negative finite f32, the start of a running max (WGSL has no -inf literal). */
export const F32_LOWEST_WGSL = 'bitcast<f32>(0xff7fffffu)';

/**
 * The bits of a quiet f32 NaN. WGSL rejects a constant NaN and lets implementations assume float
 * arithmetic never meets one, so a kernel that must flag bad input declares that output as
 * array<u32> and stores these bits (or bitcast<u32>(value)); the host reads it as f32 as usual.
 */
export const F32_NAN_BITS_WGSL = '0x7fc00000u';

// ---- host side -------------------------------------------------------------------------------

/** A kernel generator memoized by its arguments: each variant's WGSL is built once. */
export function memoKernel<A extends readonly (string | number | boolean)[]>(make: (...args: A) => string): (...args: A) => string {
  const cache = new Map<string, string>();
  return (...args: A) => {
    const key = args.join('/');
    let code = cache.get(key);
    if (code === undefined) cache.set(key, (code = make(...args)));
    return code;
  };
}

/**
 * An op's output on `like`'s device: zeros on the CPU (the twins may rely on it), uninitialized on
 * the GPU (the kernel writes every element).
 */
export function outputOn(like: Tensor, shape: readonly number[], dtype: DType = 'f32'): Tensor {
  return like.device.kind === 'cpu' ? cpu.zeros(shape, dtype) : (like.device as WebGpuDevice).empty(shape, dtype);
}

/** `t`'s device when it is the GPU (record the kernel there), or null on the CPU (run the twin). */
export function gpuOf(t: Tensor): WebGpuDevice | null {
  return t.device.kind === 'cpu' ? null : (t.device as WebGpuDevice);
}

/** Run a pointwise forward, y = f(x) (same shape): its CPU twin, or its `pointwiseWgsl` kernel. */
export function runPointwise(x: Tensor, label: string, twin: (x: Float32Array, y: Float32Array) => void, code: string): Tensor {
  assertDtype(x, 'f32', label);
  const y = outputOn(x, x.shape);
  const dev = gpuOf(x);
  if (!dev) twin(x.data as Float32Array, y.data as Float32Array);
  else dispatchItems(dev, { label, code, buffers: [x, y], strides: [1, 1], params: u32Params(x.numel), count: x.numel, grid: pointwiseGrid });
  return y;
}

/** Run a pointwise backward, dx = dy ⊙ f'(x) (same shape), from the saved input x. */
export function runPointwiseBackward(
  x: Tensor,
  dy: Tensor,
  label: string,
  twin: (x: Float32Array, dy: Float32Array, dx: Float32Array) => void,
  code: string,
): Tensor {
  assertSameDevice(x, dy);
  assertDtype(x, 'f32', label);
  assertDtype(dy, 'f32', label);
  assertShape(dy, x.shape, `${label} dy`);
  const dx = outputOn(x, x.shape);
  const dev = gpuOf(x);
  if (!dev) twin(x.data as Float32Array, dy.data as Float32Array, dx.data as Float32Array);
  else dispatchItems(dev, { label, code, buffers: [x, dy, dx], strides: [1, 1, 1], params: u32Params(x.numel), count: x.numel, grid: pointwiseGrid });
  return dx;
}
