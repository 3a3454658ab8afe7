// Row-wise top-k: per row of x [rows, cols], the k largest values sorted descending and their
// column indices. The TopK SAE encoder's hot op (cols 24,576, k 32..128, rows 4,096).
//
// Order (the spec, shared by every implementation):
// - larger value first; -0 and +0 are equal;
// - NaN ranks below every number, -Infinity included (so NaNs are picked only when k exceeds the
//   number of non-NaN values); all NaNs are equal to each other;
// - equal values: the lower column index first.
// This is a total order on (value, index), so the result is unique and deterministic.
// The values written are the input's own (a picked NaN stays NaN, -0 stays -0): values[r][j] = x[r][indices[r][j]].

import { cpu } from '../cpu/cpuDevice.js';
import { assertDtype, rowsCols, Tensor } from '../tensor.js';
import type { WebGpuDevice } from '../webgpu/gpuDevice.js';
import { grid1d, u32Params } from '../webgpu/params.js';

export interface TopK {
  /** [...leading, k] f32, descending along the last dimension. */
  values: Tensor;
  /** [...leading, k] i32 column indices. */
  indices: Tensor;
}

// ---- CPU twin (the specification) -------------------------------------------------------------

/** True when column a ranks strictly above column b in the row starting at `off` (the order above). */
function ranksAbove(x: Float32Array, off: number, a: number, b: number): boolean {
  const va = x[off + a]!;
  const vb = x[off + b]!;
  if (va === vb) return a < b; // equal numbers (±0 included)
  if (vb !== vb) return va === va || a < b; // b is NaN: any number beats it; two NaNs go by index
  if (va !== va) return false; // a is NaN, b is a number
  return va > vb;
}

/** Twin: sort each row's column indices by the order above and keep the first k. x [rows, cols] → values, indices [rows, k]. */
export function topkRowsCpu(x: Float32Array, rows: number, cols: number, k: number, values: Float32Array, indices: Int32Array): void {
  for (let r = 0; r < rows; r++) {
    const off = r * cols;
    const order = Array.from({ length: cols }, (_, i) => i).sort((a, b) => (ranksAbove(x, off, a, b) ? -1 : 1));
    for (let j = 0; j < k; j++) {
      indices[r * k + j] = order[j]!;
      values[r * k + j] = x[off + order[j]!]!;
    }
  }
}

/**
 * Fast CPU path (same result as the twin): a size-k heap whose root is the lowest-ranked pick, so
 * most elements cost one comparison; O(cols·log k) per row instead of O(cols·log cols).
 */
export function topkRowsFastCpu(x: Float32Array, rows: number, cols: number, k: number, values: Float32Array, indices: Int32Array): void {
  if (k === 0) return;
  const heap = new Int32Array(k);
  for (let r = 0; r < rows; r++) {
    const off = r * cols;
    // Min-heap under ranksAbove: heap[0] is the pick every newcomer must beat.
    const siftDown = (start: number) => {
      let i = start;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= k) break;
        const rr = l + 1;
        const c = rr < k && ranksAbove(x, off, heap[l]!, heap[rr]!) ? rr : l;
        if (!ranksAbove(x, off, heap[i]!, heap[c]!)) break;
        const t = heap[i]!;
        heap[i] = heap[c]!;
        heap[c] = t;
        i = c;
      }
    };
    for (let i = 0; i < k; i++) heap[i] = i;
    for (let i = (k >> 1) - 1; i >= 0; i--) siftDown(i);
    for (let i = k; i < cols; i++) {
      // Every index already held is lower than i, so i enters only on a strictly higher rank:
      // a larger number, or any number against a NaN root.
      const v = x[off + i]!;
      const tv = x[off + heap[0]!]!;
      if (v > tv || (tv !== tv && v === v)) {
        heap[0] = i;
        siftDown(0);
      }
    }
    const order = Array.from(heap).sort((a, b) => (ranksAbove(x, off, a, b) ? -1 : 1));
    for (let j = 0; j < k; j++) {
      indices[r * k + j] = order[j]!;
      values[r * k + j] = x[off + order[j]!]!;
    }
  }
}

// ---- WGSL ----------------------------------------------------------------------------------
//
// One workgroup of 256 threads per row. Each element gets a u32 key that orders like the spec
// (NaN → 0, ±0 → the same key), and ties are broken by rev = cols-1-index, so (key, rev) is a
// unique composite key whose descending order is the spec's order.
// 1. Lower bound: the k-th largest of the 256 per-thread maxima. k distinct elements reach it, so
//    the k-th largest of the row does too; on random rows only ~k..2k elements pass it.
// 2. Gather the elements at or above the bound into a candidate list (capacity CAP).
// 3. If that overflowed (many ties, adversarial rows, k > 256): radix-select on the composite key,
//    8 bits a pass (4 key digits, then index digits only while ties remain), stopping as soon as
//    the elements at or above the selected prefix fit in CAP; then gather again. No float atomics;
//    only integer histogram atomics, whose order does not affect the result.
// 4. Bitonic-sort the candidates (padded to a power of two) and write the first k.
// Work per row: 2 passes over the row in the common case (≤ 2 + passes of radix otherwise), plus
// an O(P log² P) sort of P ≈ 2k candidates; never O(cols·k).
// Candidates live in workgroup memory (CAP = 1024) when k ≤ 1024; otherwise in a global scratch
// buffer [rows, 2·cap] with cap = nextPow2(k) ("global" variant, same code).

const WG = 256;
const SHARED_CAP = 1024;

function topkWgsl(mode: 'shared' | 'global'): string {
  const shared = mode === 'shared';
  const candDecl = shared
    ? `var<workgroup> ck: array<u32, ${SHARED_CAP}>;
var<workgroup> ci: array<u32, ${SHARED_CAP}>;
fn getK(j: u32) -> u32 { return ck[j]; }
fn getI(j: u32) -> u32 { return ci[j]; }
fn put(j: u32, key: u32, idx: u32) { ck[j] = key; ci[j] = idx; }
fn bar() { workgroupBarrier(); }`
    : `@group(0) @binding(3) var<storage, read_write> scratch: array<u32>;
var<private> sbase: u32;
fn getK(j: u32) -> u32 { return scratch[sbase + 2u * j]; }
fn getI(j: u32) -> u32 { return scratch[sbase + 2u * j + 1u]; }
fn put(j: u32, key: u32, idx: u32) { scratch[sbase + 2u * j] = key; scratch[sbase + 2u * j + 1u] = idx; }
fn bar() { storageBarrier(); workgroupBarrier(); }`;
  return /* wgsl */ `
struct P { rows: u32, cols: u32, k: u32, cap: u32, idxDigits: u32, row0: u32 }
const WG: u32 = ${WG}u;
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> outV: array<f32>;
@group(0) @binding(2) var<storage, read_write> outI: array<i32>;
@group(0) @binding(${shared ? 3 : 4}) var<uniform> p: P;
${candDecl}

var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> scan: array<u32, 256>;
var<workgroup> count: atomic<u32>;
// The selection: elements whose ((key & sKm), (rev & sIm)) is >= (sKp, sIp) are candidates.
var<workgroup> sKp: u32;
var<workgroup> sKm: u32;
var<workgroup> sIp: u32;
var<workgroup> sIm: u32;
var<workgroup> sAbove: u32; // elements strictly above the prefix
var<workgroup> sEq: u32;    // elements matching the prefix

// Order-preserving u32 key: larger value → larger key; ±0 share a key; NaN (tested on bits, as
// compilers may fold v != v) is 0, below -inf's key 0x007fffff.
fn keyOf(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  let a = b & 0x7fffffffu;
  if (a > 0x7f800000u) { return 0u; }
  if (a == 0u) { return 0x80000000u; }
  return select(~b, b | 0x80000000u, (b & 0x80000000u) == 0u);
}

// Composite order: higher key first, then lower index.
fn better(ka: u32, ia: u32, kb: u32, ib: u32) -> bool {
  return ka > kb || (ka == kb && ia < ib);
}

// Append every element at or above the current selection to the candidate list (slots past cap are counted, not stored).
fn gather(t: u32, rowBase: u32, cols: u32, cap: u32) {
  let kp = sKp; let km = sKm; let ip = sIp; let im = sIm;
  for (var i = t; i < cols; i += WG) {
    let key = keyOf(x[rowBase + i]);
    let mk = key & km;
    let rev = cols - 1u - i;
    if (mk > kp || (mk == kp && (rev & im) >= ip)) {
      let slot = atomicAdd(&count, 1u);
      if (slot < cap) { put(slot, key, i); }
    }
  }
}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let local = wid.x + wid.y * nwg.x;
  if (local >= p.rows) { return; }
  let row = p.row0 + local;
  let cols = p.cols;
  let k = p.k;
  let cap = p.cap;
  let rowBase = row * cols;
  ${shared ? '' : 'sbase = local * 2u * cap;'}

  // 1. Lower bound from per-thread maxima (threads with no element hold key 0, which admits all).
  var lb = 0u;
  if (k <= WG) {
    var m = 0u;
    for (var i = t; i < cols; i += WG) { m = max(m, keyOf(x[rowBase + i])); }
    scan[t] = m;
    workgroupBarrier();
    var rank = 0u;
    for (var s = 0u; s < WG; s++) {
      let o = scan[s];
      if (o > m || (o == m && s < t)) { rank++; }
    }
    if (rank == k - 1u) { sKp = m; }
  }
  if (t == 0u) {
    if (k > WG) { sKp = 0u; }
    sKm = 0xffffffffu; sIp = 0u; sIm = 0u;
    atomicStore(&count, 0u);
  }
  lb = workgroupUniformLoad(&sKp);

  // 2. Gather at or above the bound, unless it surely overflows.
  var n = cols;
  if (lb != 0u || cols <= cap) {
    gather(t, rowBase, cols, cap);
    n = workgroupUniformLoad(&count);
  }

  // 3. Radix-select until the candidates fit.
  if (n > cap) {
    if (t == 0u) { sKp = 0u; sKm = 0u; sIp = 0u; sIm = 0u; sAbove = 0u; sEq = cols; atomicStore(&count, 0u); }
    let nd = 4u + p.idxDigits;
    for (var d = 0u; d < nd; d++) {
      let above = workgroupUniformLoad(&sAbove);
      let eq = workgroupUniformLoad(&sEq);
      if (above + eq <= cap) { break; }
      let kp = sKp; let km = sKm; let ip = sIp; let im = sIm;
      let onKey = d < 4u;
      let kshift = select(0u, 24u - 8u * d, onKey);
      let ishift = select(8u * (p.idxDigits - (d - 4u) - 1u), 0u, onKey);
      atomicStore(&hist[t], 0u);
      workgroupBarrier();
      for (var i = t; i < cols; i += WG) {
        let key = keyOf(x[rowBase + i]);
        let rev = cols - 1u - i;
        if ((key & km) == kp && (rev & im) == ip) {
          let dig = select((rev >> ishift) & 255u, (key >> kshift) & 255u, onKey);
          atomicAdd(&hist[dig], 1u);
        }
      }
      workgroupBarrier();
      scan[t] = atomicLoad(&hist[t]);
      // Suffix sums: scan[b] = elements in bins >= b.
      for (var off = 1u; off < WG; off <<= 1u) {
        workgroupBarrier();
        var v = scan[t];
        if (t + off < WG) { v += scan[t + off]; }
        workgroupBarrier();
        scan[t] = v;
      }
      workgroupBarrier();
      // The bin holding the (k - above)-th element of those matching the prefix (exactly one thread).
      let need = k - above;
      let sb = scan[t];
      let sb1 = select(0u, scan[min(t + 1u, WG - 1u)], t + 1u < WG);
      if (sb1 < need && need <= sb) {
        sAbove = above + sb1;
        sEq = sb - sb1;
        if (onKey) { sKm = km | (255u << kshift); sKp = kp | (t << kshift); }
        else { sIm = im | (255u << ishift); sIp = ip | (t << ishift); }
      }
    }
    workgroupBarrier();
    gather(t, rowBase, cols, cap);
    n = workgroupUniformLoad(&count);
  }

  // 4. Bitonic sort of the n candidates padded to P (a power of two ≤ cap), best first.
  var P = 1u;
  while (P < n) { P <<= 1u; }
  for (var j = n + t; j < P; j += WG) { put(j, 0u, 0xffffffffu); }
  bar();
  for (var s = 2u; s <= P; s <<= 1u) {
    for (var j = s >> 1u; j > 0u; j >>= 1u) {
      for (var q = t; q < P / 2u; q += WG) {
        let i = 2u * j * (q / j) + (q % j);
        let l = i + j;
        let ki = getK(i); let ii = getI(i); let kl = getK(l); let il = getI(l);
        // Blocks with bit s clear sort best-first, the others worst-first (classic bitonic).
        if (better(kl, il, ki, ii) == ((i & s) == 0u)) { put(i, kl, il); put(l, ki, ii); }
      }
      bar();
    }
  }
  for (var j = t; j < k; j += WG) {
    let idx = getI(j);
    outV[row * k + j] = x[rowBase + idx];
    outI[row * k + j] = i32(idx);
  }
}`;
}

const TOPK_SHARED_WGSL = topkWgsl('shared');
const TOPK_GLOBAL_WGSL = topkWgsl('global');

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Index digits (8 bits each) needed for rev = cols-1-index. */
function indexDigits(cols: number): number {
  const bits = cols <= 1 ? 1 : 32 - Math.clz32(cols - 1);
  return Math.max(1, Math.ceil(bits / 8));
}

// ---- dispatch --------------------------------------------------------------------------------

/** Per row of x [..., cols] (f32): the k largest values, descending, and their indices (ties: lower index; NaN lowest). */
export function topkRows(x: Tensor, k: number): TopK {
  assertDtype(x, 'f32', 'topkRows');
  if (x.shape.length === 0) throw new Error('topkRows: x must have at least one dimension');
  const [rows, cols] = rowsCols(x.shape);
  if (!Number.isInteger(k) || k < 0 || k > cols) throw new Error(`topkRows: k must be an integer in [0, ${cols}] (got ${k})`);
  const outShape = [...x.shape.slice(0, -1), k];
  if (x.device.kind === 'cpu') {
    const values = cpu.zeros(outShape, 'f32');
    const indices = cpu.zeros(outShape, 'i32');
    topkRowsFastCpu(x.data as Float32Array, rows, cols, k, values.data as Float32Array, indices.data as Int32Array);
    return { values, indices };
  }
  const dev = x.device as WebGpuDevice;
  const values = dev.empty(outShape, 'f32');
  const indices = dev.empty(outShape, 'i32');
  if (rows === 0 || k === 0) return { values, indices };
  const idxDigits = indexDigits(cols);
  if (k <= SHARED_CAP) {
    dispatchRows(dev, rows, rows, (row0, n) => ({
      label: 'topk_rows',
      code: TOPK_SHARED_WGSL,
      buffers: [x, values, indices],
      params: u32Params(n, cols, k, SHARED_CAP, idxDigits, row0),
    }));
    return { values, indices };
  }
  // Large k: candidates in a global scratch of [batch, 2·cap] u32, rows in batches that fit one binding.
  const cap = nextPow2(k);
  const maxBatch = Math.max(1, Math.floor(dev.limits.maxStorageBufferBindingSize / (8 * cap)));
  const batch = Math.min(rows, maxBatch, 65535 * 64);
  const scratch = dev.empty([batch, 2 * cap], 'u32');
  dispatchRows(dev, rows, batch, (row0, n) => ({
    label: 'topk_rows_large_k',
    code: TOPK_GLOBAL_WGSL,
    buffers: [x, values, indices, scratch],
    params: u32Params(n, cols, k, cap, idxDigits, row0),
  }));
  scratch.dispose(); // later work on the queue runs after this dispatch, so the pool may reuse it
  return { values, indices };
}

/** One workgroup per row, `batch` rows a dispatch. */
function dispatchRows(
  dev: WebGpuDevice,
  rows: number,
  batch: number,
  spec: (row0: number, n: number) => { label: string; code: string; buffers: Tensor[]; params: ArrayBuffer },
): void {
  for (let row0 = 0; row0 < rows; row0 += batch) {
    const n = Math.min(batch, rows - row0);
    dev.dispatch({ ...spec(row0, n), workgroups: grid1d(n, 1) });
  }
}
