// WGSL snippets shared by the row-wise kernels (norms, softmax losses): workgroup reductions with a
// fixed tree (so results are deterministic run to run), the one-workgroup-per-row index that folds
// past 65,535 rows, a deterministic column sum of per-chunk partials (used for dgamma/dbeta
// instead of float atomics), binding declarations for kernels with optional inputs, f32 constants.

import type { Tensor } from '../tensor.js';
import type { WebGpuDevice } from '../webgpu/gpuDevice.js';
import { flatIndexWgsl, grid1d, u32Params } from '../webgpu/params.js';

/** Threads per workgroup of the row kernels (one workgroup per row). A power of two. */
export const ROW_WG = 256;

/**
 * WGSL for `fn <name>(v: <type>, lid: u32) -> <type>`: combines every invocation's `v` over a
 * fixed binary tree in workgroup memory and returns the result to all of them. It contains
 * barriers, so every invocation of the workgroup must call it (uniform control flow: no early
 * return before it). `combine` builds the WGSL expression joining two partials.
 */
export function wgReduceWgsl(name: string, type: string, wgSize: number, combine: (a: string, b: string) => string): string {
  const buf = `${name}_buf`;
  return /* wgsl */ `
var<workgroup> ${buf}: array<${type}, ${wgSize}>;
fn ${name}(v: ${type}, lid: u32) -> ${type} {
  ${buf}[lid] = v;
  workgroupBarrier();
  for (var s = ${wgSize / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { ${buf}[lid] = ${combine(`${buf}[lid]`, `${buf}[lid + s]`)}; }
    workgroupBarrier();
  }
  let r = ${buf}[0];
  // A second barrier so that a following call cannot overwrite the buffer before all have read r.
  workgroupBarrier();
  return r;
}`;
}

/** `wgSum(v: f32, lid) -> f32` and `wgMax(v: f32, lid) -> f32` for a workgroup of `wgSize`. */
export function wgSumMaxWgsl(wgSize = ROW_WG): string {
  return wgReduceWgsl('wgSum', 'f32', wgSize, (a, b) => `${a} + ${b}`) + wgReduceWgsl('wgMax', 'f32', wgSize, (a, b) => `max(${a}, ${b})`);
}

/** `wgSum2` / `wgMax2` on vec2<f32> (componentwise): two reductions for the price of one tree. */
export function wgSumMax2Wgsl(wgSize = ROW_WG): string {
  return wgReduceWgsl('wgSum2', 'vec2f', wgSize, (a, b) => `${a} + ${b}`) + wgReduceWgsl('wgMax2', 'vec2f', wgSize, (a, b) => `max(${a}, ${b})`);
}

/** The row handled by this workgroup when launched on `rowGrid(rows)`; needs `wid` and `nwg` builtins. */
export const ROW_INDEX_WGSL = 'wid.x + wid.y * nwg.x';

/** The builtins a row kernel's entry point declares (for `ROW_INDEX_WGSL` and the reductions). */
export const ROW_BUILTINS_WGSL = '@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32';

/** Workgroups for one workgroup per row, folded into 2-D beyond 65,535 rows. */
export function rowGrid(rows: number): [number, number] {
  return grid1d(rows, 1);
}

/** Rows per chunk when a column reduction over `rows` is split into per-chunk partials. */
export function rowChunking(rows: number): { chunkRows: number; chunks: number } {
  // ≤ 1024 chunks: enough workgroups to fill a big GPU, few enough that the final sum is short.
  const chunkRows = Math.max(32, Math.ceil(rows / 1024));
  return { chunkRows, chunks: Math.max(1, Math.ceil(rows / chunkRows)) };
}

const COLSUM_WG = 64;
const COLSUM_WGSL = /* wgsl */ `
struct P { n: u32, chunks: u32, stride: u32, offset: u32 }
@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(${COLSUM_WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = ${flatIndexWgsl(COLSUM_WG)};
  if (j >= p.n) { return; }
  // Chunks in order: the same sum every run.
  var acc = 0.0;
  for (var c = 0u; c < p.chunks; c++) { acc += partial[c * p.stride + p.offset + j]; }
  out[j] = acc;
}`;

/** out[j] = Σ_c partial[c·stride + offset + j] for j < n, summing chunks in order (deterministic). */
export function columnSumGpu(dev: WebGpuDevice, partial: Tensor, chunks: number, stride: number, offset: number, n: number): Tensor {
  const out = dev.empty([n]);
  dev.dispatch({ label: 'column_sum', code: COLSUM_WGSL, buffers: [partial, out], params: u32Params(n, chunks, stride, offset), workgroups: grid1d(n, COLSUM_WG) });
  return out;
}

/** One storage binding: its WGSL name, access, and element type (e.g. `['x', 'read', 'f32']`). */
export type StorageDecl = readonly [name: string, access: 'read' | 'read_write', elem: string];

/**
 * WGSL declarations for storage buffers at bindings 0..n-1 in order and, when `paramsStruct` is
 * given, `var<uniform> p: P` at n, matching how `WebGpuDevice.dispatch` binds `buffers` and `params`.
 * Kernels with optional inputs build their list conditionally so the numbering stays contiguous.
 */
export function bindingsWgsl(decls: readonly StorageDecl[], paramsStruct?: string): string {
  const lines = decls.map(([name, access, elem], i) => `@group(0) @binding(${i}) var<storage, ${access}> ${name}: array<${elem}>;`);
  if (paramsStruct) {
    lines.unshift(`struct P { ${paramsStruct} }`);
    lines.push(`@group(0) @binding(${decls.length}) var<uniform> p: P;`);
  }
  return lines.join('\n');
}

/** The most negative finite f32, the start of a running max (WGSL has no -inf literal). */
export const F32_LOWEST_WGSL = 'bitcast<f32>(0xff7fffffu)';
/**
 * The bits of a quiet f32 NaN. WGSL rejects a constant NaN and lets implementations assume float
 * arithmetic never meets one, so a kernel that must flag bad input declares that output as
 * array<u32> and stores these bits (or bitcast<u32>(value)); the host reads it as f32 as usual.
 */
export const F32_NAN_BITS_WGSL = '0x7fc00000u';
