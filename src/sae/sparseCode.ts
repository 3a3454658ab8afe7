// A sparse code — per token, k (latent, value) pairs — and the ops a TopK SAE step needs on it, so
// that no [N, dSae] × [dSae, dIn] product is dense:
//   sparseDecode     y[t] = Σ_j v[t,j]·W[idx[t,j]] (+ b)                  N·k·d work instead of N·dSae·d
//   sparseRowDots    g[t]·W[idx[t,j]] for each pick                      (dL/dv from dL/dy)
//   latentBuckets    the picks grouped by latent, in token order         (a CSC view of the code)
//   bucketRowSums    out[i] = Σ_{picks of latent i} coef·rows[t]          (dW_dec, and dW_encᵀ)
//   bucketSums       s[i] = Σ_{picks of latent i} coef                    (db_enc, firing counts)
// Every op has a CPU twin (the specification) and a WGSL kernel; on the CPU, decode, row dots and
// bucketRowSums run native/sparseCode.c (threaded, vectorised) when the addon has it. Sums run in a fixed order (picks
// ascending j; buckets in ascending token order), and bucketing uses integer atomics only to count
// and to claim slots, then ranks each pick in its bucket, so GPU results repeat bit for bit.

import { blasAddon } from '../compute/cpu/blas.js';
import { assertDtype, assertSameDevice, rowsCols, type Tensor } from '../compute/tensor.js';
import { gpuOf, memoKernel, outputOn, pointwiseGrid, pointwiseWgsl } from '../compute/ops/wgslGen.js';
import { grid1d, u32Params } from '../compute/webgpu/params.js';

/** Picks of a TopK code: values [N, k] f32 (ReLU'd; a 0 means the pick did not fire) and latent indices [N, k] i32, distinct per row. */
export interface SparseCode {
  values: Tensor;
  indices: Tensor;
  dSae: number;
}

// ---- decode ----------------------------------------------------------------------------------

/** Twin: y[t, c] = Σ_j v[t,j]·W[idx[t,j], c] (+ b[c]), summed in j order in f32. */
export function sparseDecodeCpu(v: Float32Array, idx: Int32Array, N: number, k: number, W: Float32Array, d: number, b: Float32Array | null, y: Float32Array): void {
  const acc = new Float32Array(d);
  for (let t = 0; t < N; t++) {
    acc.fill(0);
    for (let j = 0; j < k; j++) {
      const a = v[t * k + j]!;
      if (a === 0) continue; // adds exactly 0 (W is finite)
      const off = idx[t * k + j]! * d;
      for (let c = 0; c < d; c++) acc[c]! += a * W[off + c]!;
    }
    for (let c = 0; c < d; c++) y[t * d + c] = b ? acc[c]! + b[c]! : acc[c]!;
  }
}

const decodeKernel = memoKernel((bias: boolean) =>
  pointwiseWgsl(
    [['v', 'read'], ['idx', 'read', 'i32'], ['W', 'read'], ...(bias ? [['b', 'read'] as const] : []), ['y', 'read_write']],
    'n: u32, k: u32, d: u32',
    `let t = i / p.d;
  let c = i % p.d;
  var acc = 0.0;
  for (var j = 0u; j < p.k; j++) {
    let e = t * p.k + j;
    let a = v[e];
    if (a != 0.0) { acc += a * W[u32(idx[e]) * p.d + c]; }
  }
  y[i] = acc${bias ? ' + b[c]' : ''};`,
  ),
);

/** y = code·W (+ b): code of N tokens, W [dSae, d] → [N, d]. */
export function sparseDecode(code: SparseCode, W: Tensor, b?: Tensor): Tensor {
  assertSameDevice(code.values, code.indices, W);
  const [N, k] = rowsCols(code.values.shape);
  const [rows, d] = rowsCols(W.shape);
  if (rows !== code.dSae) throw new Error(`sparseDecode: W has ${rows} rows, the code ${code.dSae} latents`);
  const y = outputOn(W, [N, d]);
  const dev = gpuOf(W);
  if (!dev) {
    const native = blasAddon()?.sparseDecode;
    (native ?? sparseDecodeCpu)(code.values.data as Float32Array, code.indices.data as Int32Array, N, k, W.data as Float32Array, d, b ? (b.data as Float32Array) : null, y.data as Float32Array);
    return y;
  }
  const buffers = [code.values, code.indices, W, ...(b ? [b] : []), y];
  dev.dispatch({ label: 'sae_sparse_decode', code: decodeKernel(!!b), buffers, params: u32Params(N * d, k, d), workgroups: pointwiseGrid(N * d) });
  return y;
}

// ---- row dots --------------------------------------------------------------------------------

/** Twin: out[t, j] = Σ_c g[t, c]·W[idx[t,j], c] (f64 accumulation, c ascending). */
export function sparseRowDotsCpu(g: Float32Array, idx: Int32Array, N: number, k: number, W: Float32Array, d: number, out: Float32Array): void {
  for (let t = 0; t < N; t++) {
    for (let j = 0; j < k; j++) {
      const off = idx[t * k + j]! * d;
      let s = 0;
      for (let c = 0; c < d; c++) s += g[t * d + c]! * W[off + c]!;
      out[t * k + j] = s;
    }
  }
}

// A workgroup per token: 8 groups of 32 lanes; a group takes one pick at a time, its lanes stride
// the columns (coalesced reads of a W row), and a fixed 32-leaf tree in workgroup memory sums them.
const DOT_LANES = 32;
const DOT_GROUPS = 8;
const DOTS_WGSL = /* wgsl */ `
struct P { n: u32, k: u32, d: u32 }
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read> W: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
var<workgroup> buf: array<f32, ${DOT_LANES * DOT_GROUPS}>;
@compute @workgroup_size(${DOT_LANES * DOT_GROUPS})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x + wid.y * nwg.x;
  if (t >= p.n) { return; } // uniform for the workgroup
  let lane = lid % ${DOT_LANES}u;
  let grp = lid / ${DOT_LANES}u;
  for (var jb = 0u; jb < p.k; jb += ${DOT_GROUPS}u) {
    let j = jb + grp;
    var acc = 0.0;
    if (j < p.k) {
      let row = u32(idx[t * p.k + j]) * p.d;
      for (var c = lane; c < p.d; c += ${DOT_LANES}u) { acc += g[t * p.d + c] * W[row + c]; }
    }
    buf[lid] = acc;
    workgroupBarrier();
    for (var s = ${DOT_LANES / 2}u; s > 0u; s >>= 1u) {
      if (lane < s) { buf[lid] = buf[lid] + buf[lid + s]; }
      workgroupBarrier();
    }
    if (lane == 0u && j < p.k) { out[t * p.k + j] = buf[lid]; }
    workgroupBarrier();
  }
}`;

/** out[t, j] = g[t]·W[idx[t, j]]: g [N, d], W [dSae, d], indices [N, k] → [N, k]. */
export function sparseRowDots(g: Tensor, W: Tensor, indices: Tensor): Tensor {
  assertSameDevice(g, W, indices);
  assertDtype(indices, 'i32', 'sparseRowDots indices');
  const [N, k] = rowsCols(indices.shape);
  const [, d] = rowsCols(W.shape);
  if (g.shape[0] !== N || g.shape[g.shape.length - 1] !== d) throw new Error(`sparseRowDots: g [${g.shape}] does not match indices [${indices.shape}] and W [${W.shape}]`);
  const out = outputOn(g, [N, k]);
  const dev = gpuOf(g);
  if (!dev) (blasAddon()?.sparseRowDots ?? sparseRowDotsCpu)(g.data as Float32Array, indices.data as Int32Array, N, k, W.data as Float32Array, d, out.data as Float32Array);
  else dev.dispatch({ label: 'sae_sparse_row_dots', code: DOTS_WGSL, buffers: [g, indices, W, out], params: u32Params(N, k, d), workgroups: grid1d(N, 1) });
  return out;
}

// ---- buckets ---------------------------------------------------------------------------------

/** The picks of a code grouped by latent: latent i's picks are order[offsets[i] .. offsets[i+1]), flat positions t·k + j ascending. */
export interface LatentBuckets {
  /** [dSae + 1] i32 */
  offsets: Tensor;
  /** [N·k] i32 flat pick positions */
  order: Tensor;
  /** Picks per token (to turn a position into its token: t = e / k). */
  k: number;
  dSae: number;
  dispose(): void;
}

/** Twin: a stable counting sort of the picks by latent. */
export function latentBucketsCpu(idx: Int32Array, dSae: number, offsets: Int32Array, order: Int32Array): void {
  offsets.fill(0);
  for (let e = 0; e < idx.length; e++) offsets[idx[e]! + 1]!++;
  for (let i = 0; i < dSae; i++) offsets[i + 1]! += offsets[i]!;
  const cursor = offsets.slice(0, dSae);
  for (let e = 0; e < idx.length; e++) order[cursor[idx[e]!]!++] = e;
}

const COUNT_WGSL = /* wgsl */ `
struct P { n: u32 }
@group(0) @binding(0) var<storage, read> idx: array<i32>;
@group(0) @binding(1) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * 256u;
  if (e >= p.n) { return; }
  atomicAdd(&counts[u32(idx[e])], 1u);
}`;

// One workgroup: each thread sums a contiguous chunk of counts, thread 0 scans the 256 chunk sums
// serially, then each thread writes its chunk's exclusive prefix (offsets[0] = 0, offsets[dSae] = total).
const SCAN_WG = 256;
const SCAN_WGSL = /* wgsl */ `
struct P { n: u32 }
@group(0) @binding(0) var<storage, read> counts: array<u32>;
@group(0) @binding(1) var<storage, read_write> offsets: array<i32>;
@group(0) @binding(2) var<uniform> p: P;
var<workgroup> part: array<u32, ${SCAN_WG}>;
@compute @workgroup_size(${SCAN_WG})
fn main(@builtin(local_invocation_index) lid: u32) {
  let chunk = (p.n + ${SCAN_WG - 1}u) / ${SCAN_WG}u;
  let lo = min(lid * chunk, p.n);
  let hi = min(lo + chunk, p.n);
  var s = 0u;
  for (var i = lo; i < hi; i++) { s += counts[i]; }
  part[lid] = s;
  workgroupBarrier();
  if (lid == 0u) {
    var tot = 0u;
    for (var i = 0u; i < ${SCAN_WG}u; i++) { let c = part[i]; part[i] = tot; tot += c; }
    offsets[p.n] = i32(tot);
  }
  workgroupBarrier();
  var run = part[lid];
  for (var i = lo; i < hi; i++) { offsets[i] = i32(run); run += counts[i]; }
}`;

// Claim a slot in the bucket (atomic, so in no particular order) ...
const PLACE_WGSL = /* wgsl */ `
struct P { n: u32 }
@group(0) @binding(0) var<storage, read> idx: array<i32>;
@group(0) @binding(1) var<storage, read> offsets: array<i32>;
@group(0) @binding(2) var<storage, read_write> cursor: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> unsorted: array<i32>;
@group(0) @binding(4) var<uniform> p: P;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * 256u;
  if (e >= p.n) { return; }
  let i = u32(idx[e]);
  let slot = atomicAdd(&cursor[i], 1u);
  unsorted[u32(offsets[i]) + slot] = i32(e);
}`;

// ... then each pick's final slot is its rank among its bucket's positions (all distinct).
const RANK_WGSL = pointwiseWgsl(
  [['idx', 'read', 'i32'], ['offsets', 'read', 'i32'], ['unsorted', 'read', 'i32'], ['order', 'read_write', 'i32']],
  'n: u32',
  `let e = unsorted[i];
  let lat = u32(idx[u32(e)]);
  let lo = u32(offsets[lat]);
  let hi = u32(offsets[lat + 1u]);
  var rank = 0u;
  for (var s = lo; s < hi; s++) { if (unsorted[s] < e) { rank++; } }
  order[lo + rank] = e;`,
);

/** Group the picks `indices` [N, k] (i32 in [0, dSae)) by latent, stably (see LatentBuckets). */
export function latentBuckets(indices: Tensor, dSae: number): LatentBuckets {
  assertDtype(indices, 'i32', 'latentBuckets indices');
  const [, k] = rowsCols(indices.shape);
  const n = indices.numel;
  const offsets = outputOn(indices, [dSae + 1], 'i32');
  const order = outputOn(indices, [n], 'i32');
  const dev = gpuOf(indices);
  if (!dev) {
    latentBucketsCpu(indices.data as Int32Array, dSae, offsets.data as Int32Array, order.data as Int32Array);
  } else {
    const counts = dev.zeros([dSae], 'u32');
    dev.dispatch({ label: 'sae_bucket_count', code: COUNT_WGSL, buffers: [indices, counts], params: u32Params(n), workgroups: pointwiseGrid(n) });
    dev.dispatch({ label: 'sae_bucket_scan', code: SCAN_WGSL, buffers: [counts, offsets], params: u32Params(dSae), workgroups: [1] });
    counts.dispose();
    const cursor = dev.zeros([dSae], 'u32');
    const unsorted = dev.empty([n], 'i32');
    dev.dispatch({ label: 'sae_bucket_place', code: PLACE_WGSL, buffers: [indices, offsets, cursor, unsorted], params: u32Params(n), workgroups: pointwiseGrid(n) });
    cursor.dispose();
    dev.dispatch({ label: 'sae_bucket_rank', code: RANK_WGSL, buffers: [indices, offsets, unsorted, order], params: u32Params(n), workgroups: pointwiseGrid(n) });
    unsorted.dispose();
  }
  return {
    offsets,
    order,
    k,
    dSae,
    dispose() {
      offsets.dispose();
      order.dispose();
    },
  };
}

// ---- sums over buckets -------------------------------------------------------------------------

/**
 * Twin: for each latent i and column c, acc = Σ over i's picks e (bucket order) of coef[e]·rows[e / k, c]
 * in f32; out[i, c] (or out[c, i] when transposed) = acc, or += acc when accumulating.
 */
export function bucketRowSumsCpu(
  offsets: Int32Array,
  order: Int32Array,
  k: number,
  dSae: number,
  coef: Float32Array,
  rows: Float32Array,
  d: number,
  out: Float32Array,
  transposed: boolean,
  accumulate: boolean,
): void {
  // Transposed, rows are summed into a [dSae, d] scratch first and written back in 64×64 blocks:
  // column-by-column writes across a [d, dSae] matrix would miss the cache on every element.
  const target = transposed ? new Float32Array(dSae * d) : out;
  const acc = new Float32Array(d);
  for (let i = 0; i < dSae; i++) {
    acc.fill(0);
    for (let s = offsets[i]!; s < offsets[i + 1]!; s++) {
      const e = order[s]!;
      const a = coef[e]!;
      if (a === 0) continue;
      const off = Math.floor(e / k) * d;
      for (let c = 0; c < d; c++) acc[c]! += a * rows[off + c]!;
    }
    const o = i * d;
    if (accumulate && !transposed) for (let c = 0; c < d; c++) target[o + c]! += acc[c]!;
    else target.set(acc, o);
  }
  if (!transposed) return;
  const B = 64;
  for (let i0 = 0; i0 < dSae; i0 += B) {
    for (let c0 = 0; c0 < d; c0 += B) {
      const i1 = Math.min(i0 + B, dSae);
      const c1 = Math.min(c0 + B, d);
      for (let c = c0; c < c1; c++) {
        const row = c * dSae;
        if (accumulate) for (let i = i0; i < i1; i++) out[row + i]! += target[i * d + c]!;
        else for (let i = i0; i < i1; i++) out[row + i] = target[i * d + c]!;
      }
    }
  }
}

// 16×16 tiles of (latent, column); the tile's fast axis (x) is the output's contiguous one, so
// writes are coalesced both ways.
const TILE = 16;
const rowSumsKernel = memoKernel(
  (transposed: boolean, accumulate: boolean) => /* wgsl */ `
struct P { dSae: u32, d: u32, k: u32 }
@group(0) @binding(0) var<storage, read> offsets: array<i32>;
@group(0) @binding(1) var<storage, read> order: array<i32>;
@group(0) @binding(2) var<storage, read> coef: array<f32>;
@group(0) @binding(3) var<storage, read> rows: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<uniform> p: P;
@compute @workgroup_size(${TILE}, ${TILE})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  ${transposed ? `let i = wid.x * ${TILE}u + lid.x;\n  let c = wid.y * ${TILE}u + lid.y;` : `let c = wid.x * ${TILE}u + lid.x;\n  let i = wid.y * ${TILE}u + lid.y;`}
  if (i >= p.dSae || c >= p.d) { return; }
  var acc = 0.0;
  let hi = u32(offsets[i + 1u]);
  for (var s = u32(offsets[i]); s < hi; s++) {
    let e = u32(order[s]);
    let a = coef[e];
    if (a != 0.0) { acc += a * rows[(e / p.k) * p.d + c]; }
  }
  let o = ${transposed ? 'c * p.dSae + i' : 'i * p.d + c'};
  out[o] = ${accumulate ? 'out[o] + acc' : 'acc'};
}`,
);

/**
 * Per latent i: Σ over its picks e of coef[e]·rows[token of e] → out [dSae, d], or [d, dSae] with
 * `transposed` (how W_enc is laid out). Latents without picks get 0 rows; `into` accumulates.
 * coef [N, k] matches the code the buckets came from; rows [N, d].
 */
export function bucketRowSums(b: LatentBuckets, coef: Tensor, rows: Tensor, opts: { transposed?: boolean; into?: Tensor } = {}): Tensor {
  assertSameDevice(b.order, coef, rows);
  const [, d] = rowsCols(rows.shape);
  const transposed = !!opts.transposed;
  const shape = transposed ? [d, b.dSae] : [b.dSae, d];
  if (coef.numel !== b.order.numel) throw new Error(`bucketRowSums: coef has ${coef.numel} entries for ${b.order.numel} picks`);
  if (opts.into && (opts.into.shape.length !== 2 || opts.into.shape[0] !== shape[0] || opts.into.shape[1] !== shape[1])) throw new Error(`bucketRowSums: into is [${opts.into.shape}], expected [${shape}]`);
  const out = opts.into ?? outputOn(rows, shape);
  const dev = gpuOf(rows);
  if (!dev) {
    (blasAddon()?.bucketRowSums ?? bucketRowSumsCpu)(b.offsets.data as Int32Array, b.order.data as Int32Array, b.k, b.dSae, coef.data as Float32Array, rows.data as Float32Array, d, out.data as Float32Array, transposed, !!opts.into);
    return out;
  }
  const tiles: [number, number] = transposed ? [Math.ceil(b.dSae / TILE), Math.ceil(d / TILE)] : [Math.ceil(d / TILE), Math.ceil(b.dSae / TILE)];
  dev.dispatch({ label: 'sae_bucket_row_sums', code: rowSumsKernel(transposed, !!opts.into), buffers: [b.offsets, b.order, coef, rows, out], params: u32Params(b.dSae, d, b.k), workgroups: tiles });
  return out;
}

/** Twin: s[i] = Σ over latent i's picks of coef (bucket order, f32), or s[i] += that with `accumulate`. */
export function bucketSumsCpu(offsets: Int32Array, order: Int32Array, dSae: number, coef: Float32Array, out: Float32Array, accumulate: boolean): void {
  for (let i = 0; i < dSae; i++) {
    let acc = 0;
    for (let s = offsets[i]!; s < offsets[i + 1]!; s++) acc = Math.fround(acc + coef[order[s]!]!);
    out[i] = accumulate ? out[i]! + acc : acc;
  }
}

const sumsKernel = memoKernel((accumulate: boolean) =>
  pointwiseWgsl(
    [['offsets', 'read', 'i32'], ['order', 'read', 'i32'], ['coef', 'read'], ['out', 'read_write']],
    'n: u32',
    `var acc = 0.0;
  let hi = u32(offsets[i + 1u]);
  for (var s = u32(offsets[i]); s < hi; s++) { acc += coef[u32(order[s])]; }
  out[i] = ${accumulate ? 'out[i] + acc' : 'acc'};`,
  ),
);

/** Per latent: Σ of coef [N, k] over its picks → [dSae] (or added into `into`). */
export function bucketSums(b: LatentBuckets, coef: Tensor, into?: Tensor): Tensor {
  assertSameDevice(b.order, coef);
  if (coef.numel !== b.order.numel) throw new Error(`bucketSums: coef has ${coef.numel} entries for ${b.order.numel} picks`);
  if (into && into.numel !== b.dSae) throw new Error(`bucketSums: into has ${into.numel} entries, expected ${b.dSae}`);
  const out = into ?? outputOn(coef, [b.dSae]);
  const dev = gpuOf(coef);
  if (!dev) bucketSumsCpu(b.offsets.data as Int32Array, b.order.data as Int32Array, b.dSae, coef.data as Float32Array, out.data as Float32Array, !!into);
  else dev.dispatch({ label: 'sae_bucket_sums', code: sumsKernel(!!into), buffers: [b.offsets, b.order, coef, out], params: u32Params(b.dSae), workgroups: pointwiseGrid(b.dSae) });
  return out;
}
