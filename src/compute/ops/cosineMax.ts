// Max cosine similarity in both directions between two sets of directions A [n, d] and B [m, d]
// (e.g. the decoder rows of two SAEs): for each row of A the best row of B, and for each row of B
// the best row of A — without ever holding the n×m matrix (n, m up to 65,536).
//
// Definitions (the spec, shared by every implementation):
// - cos(a, b) = a·b / (|a| |b|), and 0 when either norm is 0 (a zero direction matches nothing);
// - the max is over all partners; ties go to the lowest index;
// - an empty partner set gives max -Infinity and arg -1;
// - inputs must be finite (NaN/Inf give unspecified results); values are not clamped to [-1, 1].

import { cpu } from '../cpu/cpuDevice.js';
import { sgemm } from '../cpu/sgemm.js';
import { assertDtype, assertSameDevice, Tensor } from '../tensor.js';
import type { WebGpuDevice } from '../webgpu/gpuDevice.js';
import { grid1d, u32Params } from '../webgpu/params.js';

export interface CosineMax {
  /** [n] f32: max over B's rows of cos(A[i], B[j]). */
  rowMax: Tensor;
  /** [n] i32: the j achieving it (lowest on ties). */
  rowArg: Tensor;
  /** [m] f32: max over A's rows of cos(A[i], B[j]). */
  colMax: Tensor;
  /** [m] i32: the i achieving it (lowest on ties). */
  colArg: Tensor;
}

export interface CosineMaxArrays {
  rowMax: Float32Array;
  rowArg: Int32Array;
  colMax: Float32Array;
  colArg: Int32Array;
}

function emptyResult(n: number, m: number): CosineMaxArrays {
  return {
    rowMax: new Float32Array(n).fill(-Infinity),
    rowArg: new Int32Array(n).fill(-1),
    colMax: new Float32Array(m).fill(-Infinity),
    colArg: new Int32Array(m).fill(-1),
  };
}

/** Euclidean norm of each of `rows` rows of length d (in f64). */
function rowNorms(x: Float32Array, rows: number, d: number): Float64Array {
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += x[i * d + k]! * x[i * d + k]!;
    out[i] = Math.sqrt(s);
  }
  return out;
}

// ---- CPU twin (the specification) -------------------------------------------------------------

/** Twin: every pair's cosine by plain loops, O(n·m·d). A [n, d], B [m, d]. */
export function cosineMaxBothCpu(A: Float32Array, n: number, B: Float32Array, m: number, d: number): CosineMaxArrays {
  const r = emptyResult(n, m);
  const na = rowNorms(A, n, d);
  const nb = rowNorms(B, m, d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let dot = 0;
      for (let k = 0; k < d; k++) dot += A[i * d + k]! * B[j * d + k]!;
      const c = na[i] === 0 || nb[j] === 0 ? 0 : dot / (na[i]! * nb[j]!);
      // Strict > while i and j ascend keeps the lowest index on ties.
      if (c > r.rowMax[i]!) {
        r.rowMax[i] = c;
        r.rowArg[i] = j;
      }
      if (c > r.colMax[j]!) {
        r.colMax[j] = c;
        r.colArg[j] = i;
      }
    }
  }
  return r;
}

/**
 * Fast CPU path: blocks of A's rows against blocks of B's rows through sgemm into one bounded
 * scratch block (≤ rowBlock·colBlock floats), scaled by the inverse norms. Same definitions as the twin.
 */
export function cosineMaxBothFastCpu(A: Float32Array, n: number, B: Float32Array, m: number, d: number, rowBlock = 1024, colBlock = 4096): CosineMaxArrays {
  const r = emptyResult(n, m);
  const invA = rowNorms(A, n, d).map((v) => (v === 0 ? 0 : 1 / v));
  const invB = rowNorms(B, m, d).map((v) => (v === 0 ? 0 : 1 / v));
  const rb = Math.min(rowBlock, n);
  const cb = Math.min(colBlock, m);
  const S = new Float32Array(rb * cb);
  for (let r0 = 0; r0 < n; r0 += rb) {
    const rows = Math.min(rb, n - r0);
    for (let c0 = 0; c0 < m; c0 += cb) {
      const cols = Math.min(cb, m - c0);
      // S[rows, cols] = A[r0.., :] · B[c0.., :]ᵀ
      sgemm({ transA: false, transB: true, M: rows, N: cols, K: d, alpha: 1, A, aOffset: r0 * d, lda: d, B, bOffset: c0 * d, ldb: d, beta: 0, C: S, cOffset: 0, ldc: cols });
      // Blocks and the loops inside them visit i and j in ascending order, so strict > keeps the lowest index.
      for (let i = 0; i < rows; i++) {
        const gi = r0 + i;
        const ia = invA[gi]!;
        let best = r.rowMax[gi]!;
        let arg = r.rowArg[gi]!;
        for (let j = 0; j < cols; j++) {
          const gj = c0 + j;
          const c = S[i * cols + j]! * ia * invB[gj]!;
          if (c > best) {
            best = c;
            arg = gj;
          }
          if (c > r.colMax[gj]!) {
            r.colMax[gj] = c;
            r.colArg[gj] = gi;
          }
        }
        r.rowMax[gi] = best;
        r.rowArg[gi] = arg;
      }
    }
  }
  return r;
}

// ---- WGSL ----------------------------------------------------------------------------------
//
// 1. inv_norm: one workgroup per row → invA [n], invB [m] (0 for a zero row). Scaling the dot
//    products by these in the epilogue avoids a normalised copy of A and B.
// 2. tiles: a workgroup owns 64 rows of A and a contiguous range of 64-column tiles of B (a
//    "split"); per tile it computes the 64×64 block of A·Bᵀ in registers (16×16 threads, 4×4 each,
//    K in steps of 16 through workgroup memory), keeps a running per-row best over its range, and
//    writes the tile's per-column best to colP [rowTiles, m]. At the end it writes its per-row best
//    to rowP [splits, rows]. Partials are (value bits, index) u32 pairs.
// 3. reduce: the partials reduced into the outputs (column bests merged across chunks of A's rows,
//    which bounds colP's memory).
// Every comparison uses the total order (value desc, index asc), so the result does not depend on
// the order of reduction: deterministic, with no float atomics.

const TILE = 64;
/** colP's budget in bytes (8 bytes per entry): A's rows are processed in chunks that fit it. */
const COLP_BUDGET_BYTES = 64 << 20;
/** Aim for at least this many workgroups per tile dispatch (more splits when A has few row tiles). */
const TARGET_WORKGROUPS = 1024;

const INV_NORM_WG = 128;
const INV_NORM_WGSL = /* wgsl */ `
struct P { rows: u32, d: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> inv: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
var<workgroup> part: array<f32, ${INV_NORM_WG}>;
@compute @workgroup_size(${INV_NORM_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  var s = 0.0;
  for (var k = t; k < p.d; k += ${INV_NORM_WG}u) { let v = x[row * p.d + k]; s += v * v; }
  part[t] = s;
  for (var off = ${INV_NORM_WG / 2}u; off > 0u; off >>= 1u) {
    workgroupBarrier();
    if (t < off) { part[t] += part[t + off]; }
  }
  workgroupBarrier();
  if (t == 0u) { let ss = part[0]; inv[row] = select(0.0, 1.0 / sqrt(ss), ss > 0.0); }
}`;

/** The tile kernel's text; `vec` (d a multiple of 4) loads A and B as vec4. Loops over a thread's 4×4 outputs are unrolled in the text so accumulators and bests stay in registers. */
function tilesWgsl(vec: boolean): string {
  const R = [0, 1, 2, 3];
  const comp = ['x', 'y', 'z', 'w'];
  const load = (name: string, g: string, dim: string) =>
    vec
      ? `if (${g} < p.${dim} && k0 + kq < p.d) { v${name} = ${name}[(${g} * p.d + k0 + kq) / 4u]; }`
      : R.map((q) => `if (${g} < p.${dim} && k0 + kq + ${q}u < p.d) { v${name}.${comp[q]} = ${name}[${g} * p.d + k0 + kq + ${q}u]; }`).join('\n        ');
  const inner: string[] = [];
  for (let kk = 0; kk < 16; kk++) {
    inner.push(`{ let a = As[${kk * 16}u + ty]; let b = Bs[${kk * 16}u + tx]; acc0 += a.x * b; acc1 += a.y * b; acc2 += a.z * b; acc3 += a.w * b; }`);
  }
  const epilogue: string[] = [];
  for (const c of R) {
    epilogue.push(`{
      let gj = j0 + tx * 4u + ${c}u;
      let ib = select(0.0, invB[min(gj, p.m - 1u)], gj < p.m);
      var cv = -2.0;
      var ci = NONE;`);
    for (const r of R) {
      epilogue.push(`      if (gj < p.m && gi${r} < p.n) {
        let v = acc${r}.${comp[c]} * ia${r} * ib;
        if (better(v, gj, rv${r}, ri${r})) { rv${r} = v; ri${r} = gj; }
        if (better(v, gi${r}, cv, ci)) { cv = v; ci = gi${r}; }
      }`);
    }
    epilogue.push(`      redV[(tx * 4u + ${c}u) * 16u + ty] = cv;
      redI[(tx * 4u + ${c}u) * 16u + ty] = ci;
    }`);
  }
  return /* wgsl */ `
struct P { n: u32, m: u32, d: u32, row0: u32, chunkRows: u32, tilesPerSplit: u32, colTiles: u32 }
@group(0) @binding(0) var<storage, read> A: array<${vec ? 'vec4<f32>' : 'f32'}>; // [n, d]
@group(0) @binding(1) var<storage, read> B: array<${vec ? 'vec4<f32>' : 'f32'}>; // [m, d]
@group(0) @binding(2) var<storage, read> invA: array<f32>;   // [n]
@group(0) @binding(3) var<storage, read> invB: array<f32>;   // [m]
@group(0) @binding(4) var<storage, read_write> rowP: array<u32>; // [splits, chunkRows, 2]
@group(0) @binding(5) var<storage, read_write> colP: array<u32>; // [rowTiles, m, 2]
@group(0) @binding(6) var<uniform> p: P;

const NONE: u32 = 0xffffffffu;
// K-major tiles: As[kk*16 + ty] holds rows 4ty..4ty+3 at k0+kk (a warp-broadcast read), Bs[kk*16 + tx]
// columns 4tx..4tx+3 (16 consecutive vec4s: conflict-free).
var<workgroup> As: array<vec4<f32>, 256>;
var<workgroup> Bs: array<vec4<f32>, 256>;
var<workgroup> redV: array<f32, 1024>;
var<workgroup> redI: array<u32, 1024>;

fn better(va: f32, ia: u32, vb: f32, ib: u32) -> bool {
  return va > vb || (va == vb && ia < ib);
}

// The best (value bits, index) of the 16 partials redV/redI[t·16 …] (workgroup memory).
fn best16(t: u32) -> vec2u {
  var bv = redV[t * 16u];
  var bi = redI[t * 16u];
  for (var s = 1u; s < 16u; s++) {
    let v = redV[t * 16u + s];
    let i = redI[t * 16u + s];
    if (better(v, i, bv, bi)) { bv = v; bi = i; }
  }
  return vec2u(bitcast<u32>(bv), bi);
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let tx = lid.x;
  let ty = lid.y;
  let t = ty * 16u + tx;
  let i0 = p.row0 + wid.x * 64u;   // first global row of this tile
  let split = wid.y;
  let ct0 = split * p.tilesPerSplit;
  let ct1 = min(ct0 + p.tilesPerSplit, p.colTiles);
  // Loader role: consecutive threads take consecutive rows (so the transposing stores into As/Bs
  // hit distinct banks), each 4 consecutive k from kq.
  let lr = t % 64u;
  let kq = (t / 64u) * 4u;
  let ga = i0 + lr;
  ${R.map((r) => `let gi${r} = i0 + ty * 4u + ${r}u;`).join('\n  ')}
  ${R.map((r) => `let ia${r} = select(0.0, invA[min(gi${r}, p.n - 1u)], gi${r} < p.n);`).join('\n  ')}
  // Cosines are in [-1, 1] (up to rounding), so -2 with index NONE is below every real entry.
  ${R.map((r) => `var rv${r} = -2.0;\n  var ri${r} = NONE;`).join('\n  ')}

  for (var ct = ct0; ct < ct1; ct++) {
    let j0 = ct * 64u;
    let gb = j0 + lr;
    // Zeroed explicitly: a loop-scoped "var x: T;" should be re-zeroed on each iteration, but Dawn
    // on lavapipe (Mesa 25.0) was seen to keep the previous iteration's value.
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < p.d; k0 += 16u) {
      var vA = vec4<f32>(0.0);
      var vB = vec4<f32>(0.0);
      ${load('A', 'ga', 'n')}
      ${load('B', 'gb', 'm')}
      ${R.map((q) => `As[(kq + ${q}u) * 16u + lr / 4u][lr % 4u] = vA.${comp[q]};\n      Bs[(kq + ${q}u) * 16u + lr / 4u][lr % 4u] = vB.${comp[q]};`).join('\n      ')}
      workgroupBarrier();
      ${inner.join('\n      ')}
      workgroupBarrier();
    }
    // Epilogue: cosines, running row bests, and each column's best over this thread's 4 rows.
    ${epilogue.join('\n    ')}
    workgroupBarrier();
    // The tile's column bests: reduce across the 16 threads sharing each column.
    if (t < 64u && j0 + t < p.m) {
      let best = best16(t);
      let bv = bitcast<f32>(best.x);
      let bi = best.y;
      let o = ((i0 - p.row0) / 64u * p.m + j0 + t) * 2u;
      colP[o] = bitcast<u32>(bv);
      colP[o + 1u] = bi;
    }
    workgroupBarrier();
  }

  // Row bests of this split: reduce across the 16 threads sharing each row.
  ${R.map((r) => `redV[(ty * 4u + ${r}u) * 16u + tx] = rv${r};\n  redI[(ty * 4u + ${r}u) * 16u + tx] = ri${r};`).join('\n  ')}
  workgroupBarrier();
  let local = i0 - p.row0 + t;
  if (t < 64u && i0 + t < p.n && local < p.chunkRows) {
    let best = best16(t);
    let bv = bitcast<f32>(best.x);
    let bi = best.y;
    let o = (split * p.chunkRows + local) * 2u;
    rowP[o] = bitcast<u32>(bv);
    rowP[o + 1u] = bi;
  }
}`;
}

const TILES_WGSL = { scalar: tilesWgsl(false), vec4: tilesWgsl(true) };

const REDUCE_WG = 256;
const REDUCE_WGSL = /* wgsl */ `
struct P { len: u32, parts: u32, stride: u32, offset: u32, merge: u32 }
@group(0) @binding(0) var<storage, read> part: array<u32>;        // [parts, stride ≥ len, 2]
@group(0) @binding(1) var<storage, read_write> outV: array<f32>;
@group(0) @binding(2) var<storage, read_write> outI: array<i32>;
@group(0) @binding(3) var<uniform> p: P;
fn better(va: f32, ia: u32, vb: f32, ib: u32) -> bool {
  return va > vb || (va == vb && ia < ib);
}
@compute @workgroup_size(${REDUCE_WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = gid.x + gid.y * nwg.x * ${REDUCE_WG}u;
  if (j >= p.len) { return; }
  var bv = -2.0;
  var bi = 0xffffffffu;
  if (p.merge != 0u) { bv = outV[p.offset + j]; bi = u32(outI[p.offset + j]); }
  for (var s = 0u; s < p.parts; s++) {
    let o = (s * p.stride + j) * 2u;
    let v = bitcast<f32>(part[o]);
    let i = part[o + 1u];
    if (better(v, i, bv, bi)) { bv = v; bi = i; }
  }
  outV[p.offset + j] = bv;
  outI[p.offset + j] = i32(bi);
}`;

// ---- dispatch --------------------------------------------------------------------------------

/** Tuning knobs of the WebGPU path (tests use them to force several chunks and splits). */
export interface CosineMaxOptions {
  /** Bytes allowed for the column partials; A's rows go in chunks that fit (default 64 MiB). */
  partialBudgetBytes?: number;
  /** Workgroups a tile dispatch aims for; fewer means more column tiles per workgroup (default 1024). */
  targetWorkgroups?: number;
}

/** Max cosine similarity and its argmax in both directions between A [n, d] and B [m, d], never forming n×m. */
export function cosineMaxBoth(A: Tensor, B: Tensor, opts: CosineMaxOptions = {}): CosineMax {
  assertSameDevice(A, B);
  assertDtype(A, 'f32', 'cosineMaxBoth A');
  assertDtype(B, 'f32', 'cosineMaxBoth B');
  if (A.shape.length !== 2 || B.shape.length !== 2 || A.shape[1] !== B.shape[1]) {
    throw new Error(`cosineMaxBoth: expected A [n, d] and B [m, d], got [${A.shape}] and [${B.shape}]`);
  }
  const [n, d] = A.shape as [number, number];
  const m = B.shape[0]!;
  if (A.device.kind === 'cpu' || n === 0 || m === 0) {
    const r =
      n === 0 || m === 0 ? emptyResult(n, m) : cosineMaxBothFastCpu(A.data as Float32Array, n, B.data as Float32Array, m, d);
    const dev = A.device;
    return { rowMax: dev.fromArray(r.rowMax), rowArg: dev.fromArray(r.rowArg), colMax: dev.fromArray(r.colMax), colArg: dev.fromArray(r.colArg) };
  }
  const dev = A.device as WebGpuDevice;
  const invA = invNorms(dev, A);
  const invB = invNorms(dev, B);
  const rowMax = dev.empty([n], 'f32');
  const rowArg = dev.empty([n], 'i32');
  const colMax = dev.empty([m], 'f32');
  const colArg = dev.empty([m], 'i32');

  // Chunks of A's rows (whole tiles) such that colP [rowTiles, m] fits the budget and one binding.
  const colTiles = Math.ceil(m / TILE);
  const bytesPerRowTile = 8 * m;
  const budget = Math.min(opts.partialBudgetBytes ?? COLP_BUDGET_BYTES, dev.limits.maxStorageBufferBindingSize);
  const tilesPerChunk = Math.max(1, Math.min(Math.floor(budget / bytesPerRowTile), Math.ceil(n / TILE), 65535));
  const chunkRows = Math.min(n, tilesPerChunk * TILE);
  // Split the column tiles so that a dispatch has enough workgroups to fill a large GPU.
  const wantSplits = Math.min(colTiles, Math.max(1, Math.ceil((opts.targetWorkgroups ?? TARGET_WORKGROUPS) / tilesPerChunk)), 65535);
  const tilesPerSplit = Math.ceil(colTiles / wantSplits);
  const splits = Math.ceil(colTiles / tilesPerSplit); // every split has at least one tile
  const rowP = dev.empty([splits, chunkRows, 2], 'u32');
  const colP = dev.empty([tilesPerChunk, m, 2], 'u32');

  for (let row0 = 0, chunk = 0; row0 < n; row0 += chunkRows, chunk++) {
    const rows = Math.min(chunkRows, n - row0);
    const rowTiles = Math.ceil(rows / TILE);
    dev.dispatch({
      label: 'cosine_max_tiles',
      code: d % 4 === 0 ? TILES_WGSL.vec4 : TILES_WGSL.scalar,
      buffers: [A, B, invA, invB, rowP, colP],
      params: u32Params(n, m, d, row0, chunkRows, tilesPerSplit, colTiles),
      workgroups: [rowTiles, splits],
    });
    dev.dispatch({
      label: 'cosine_max_reduce_rows',
      code: REDUCE_WGSL,
      buffers: [rowP, rowMax, rowArg],
      params: u32Params(rows, splits, chunkRows, row0, 0),
      workgroups: grid1d(rows, REDUCE_WG),
    });
    dev.dispatch({
      label: 'cosine_max_reduce_cols',
      code: REDUCE_WGSL,
      buffers: [colP, colMax, colArg],
      params: u32Params(m, rowTiles, m, 0, chunk === 0 ? 0 : 1),
      workgroups: grid1d(m, REDUCE_WG),
    });
  }
  // Later work on the queue runs after these dispatches, so the pool may reuse the scratch.
  for (const s of [invA, invB, rowP, colP]) s.dispose();
  return { rowMax, rowArg, colMax, colArg };
}

/** [rows] inverse Euclidean norms of x's rows (0 for a zero row). */
function invNorms(dev: WebGpuDevice, x: Tensor): Tensor {
  const [rows, d] = x.shape as [number, number];
  const inv = dev.empty([rows], 'f32');
  dev.dispatch({ label: 'inv_norm_rows', code: INV_NORM_WGSL, buffers: [x, inv], params: u32Params(rows, d), workgroups: grid1d(rows, 1) });
  return inv;
}
