// WGSL generators shared by the elementwise, reduction and softmax ops, so that kernels that differ
// in one line are written once: the binding layout `WebGpuDevice.dispatch` expects, a one-thread-
// per-element kernel, and a one-workgroup-per-row kernel with deterministic tree reductions.

import { flatIndexWgsl, grid1d } from '../webgpu/params.js';

/** One storage binding: the array's name, its access, its element type (f32 unless said). */
export type StorageDecl = readonly [name: string, access: 'read' | 'read_write', type?: 'f32' | 'i32' | 'u32'];

/** Storage arrays at bindings 0..n-1 in order, then the uniform `p: P` at n (P's fields given as WGSL). */
export function bindingsWgsl(storage: readonly StorageDecl[], paramFields: string): string {
  const lines = storage.map(([name, access, type = 'f32'], i) => `@group(0) @binding(${i}) var<storage, ${access}> ${name}: array<${type}>;`);
  return [`struct P { ${paramFields} }`, ...lines, `@group(0) @binding(${storage.length}) var<uniform> p: P;`].join('\n');
}

/** Threads per workgroup of the pointwise kernels. */
export const POINTWISE_WG = 256;

/**
 * One thread per element: `body` runs with `i` < `p.n` (P must have `n: u32` first) on a `grid1d`
 * grid of POINTWISE_WG threads, so more than 65,535 workgroups fold into 2-D.
 */
export function pointwiseWgsl(storage: readonly StorageDecl[], paramFields: string, body: string, prelude = ''): string {
  return /* wgsl */ `
${bindingsWgsl(storage, paramFields)}
${prelude}
@compute @workgroup_size(${POINTWISE_WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${flatIndexWgsl(POINTWISE_WG)};
  if (i >= p.n) { return; }
  ${body}
}`;
}

/** Workgroups for `n` pointwise threads. */
export function pointwiseGrid(n: number): [number, number] {
  return grid1d(n, POINTWISE_WG);
}

/** Threads per row: short rows leave fewer threads idle at 64; long rows (up to a 50,257 vocab) use 256. */
export function rowWorkgroupSize(cols: number): number {
  return cols <= 64 ? 64 : 256;
}

/** One workgroup per row, folded into a 2-D grid past 65,535 rows. */
export function rowGrid(rows: number): [number, number] {
  return grid1d(rows, 1);
}

/**
 * One workgroup of `wg` threads (a power of two) per row of a [rows, cols] input. P starts with
 * `rows: u32, cols: u32`. The body sees `row`, `base` (= row * cols), `lid` and `WG`, strides over
 * the row with `for (var c = lid; c < p.cols; c += WG)`, and may call the tree reductions
 * `wgSum(lid, v)` / `wgMax(lid, v)`: every thread gets the result. They hold barriers, so call them
 * from uniform control flow. The tree's shape depends only on WG, so results are deterministic.
 */
export function rowKernelWgsl(wg: number, storage: readonly StorageDecl[], extraParamFields: string, body: string, prelude = ''): string {
  const fields = `rows: u32, cols: u32${extraParamFields ? `, ${extraParamFields}` : ''}`;
  return /* wgsl */ `
${bindingsWgsl(storage, fields)}
const WG: u32 = ${wg}u;
var<workgroup> red: array<f32, ${wg}>;

fn wgSum(lid: u32, v: f32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier(); // nobody may overwrite red[0] before every thread has read it
  return r;
}

fn wgMax(lid: u32, v: f32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
${prelude}
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; } // uniform: the same for the whole workgroup
  let base = row * p.cols;
  ${body}
}`;
}

/** WGSL: true when v's bits are a NaN. A bit test, because WGSL lets compilers assume NaN never occurs in float compares. */
export const IS_NAN_WGSL = /* wgsl */ `
fn isNan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }`;

/** WGSL: true when v is ±∞ or NaN (bit test, for the same reason). */
export const NON_FINITE_WGSL = /* wgsl */ `
fn nonFinite(v: f32) -> bool { return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u; }`;
