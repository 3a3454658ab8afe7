// Rotary position embeddings in the HF / GPT-NeoX "rotate_half" convention (HF Llama uses the
// same one). For x [B, T, nHeads, dHead], the first rotaryDim dims of each head turn in pairs
// (i, i + rotaryDim/2), i < rotaryDim/2, by angle = pos · inv_freq[i]:
//   y[i] = x[i]·cos − x[i + h]·sin,   y[i + h] = x[i + h]·cos + x[i]·sin     (h = rotaryDim/2)
// dims ≥ rotaryDim pass through (Pythia: rotaryDim = dHead · rotary_pct; Llama: rotaryDim = dHead).
// pos = positionOffset + t. The backward is the rotation by −angle (the transpose of a rotation).
// cos/sin come from a host table built as HF builds it in float32 — inv_freq = 1 / theta^(2i/rd),
// angle = f32(pos · inv_freq), then cos/sin of that f32 angle (here in float64, rounded once) — so
// results match transformers to ~1 ulp. The table is also what the GPU reads: WGSL cos/sin of
// angles in the thousands are far less accurate than that on GPUs.

import { assertDtype, type Tensor } from '../tensor.js';
import type { WebGpuDevice } from '../webgpu/gpuDevice.js';
import { ParamWriter } from '../webgpu/params.js';
import type { Floats } from './elementwise.js';
import { gpuOf, outputOn, pointwiseGrid, pointwiseWgsl } from './wgslGen.js';

export interface RopeOptions {
  /** Dims of each head that rotate (even, ≤ dHead). */
  rotaryDim: number;
  /** Base of the frequencies (10,000 for GPT-NeoX and Llama 2; 500,000 for Llama 3). */
  theta: number;
  /** Position of token 0 (default 0). */
  positionOffset?: number;
}

// ---- the cos/sin table -----------------------------------------------------------------------

/** HF's inv_freq in float32: 1 / theta^(f32(2i / rotaryDim)), i < rotaryDim/2. */
export function ropeInvFreq(rotaryDim: number, theta: number): Float32Array {
  const half = rotaryDim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = Math.fround(1 / Math.fround(theta ** Math.fround((2 * i) / rotaryDim)));
  return inv;
}

/** [nPos, rotaryDim/2, 2] float32 (cos, sin) of angle = f32(pos · inv_freq[i]) for pos < nPos. */
export function ropeTable(rotaryDim: number, theta: number, nPos: number): Float32Array {
  const inv = ropeInvFreq(rotaryDim, theta);
  const half = rotaryDim / 2;
  const table = new Float32Array(nPos * half * 2);
  for (let pos = 0; pos < nPos; pos++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(pos * inv[i]!);
      table[(pos * half + i) * 2] = Math.cos(angle);
      table[(pos * half + i) * 2 + 1] = Math.sin(angle);
    }
  }
  return table;
}

// Host tables per (rotaryDim, theta), grown in powers of two from 2048 positions: a model builds
// its table once (to its context length or so), not once per layer and call.
const hostTables = new Map<string, Float32Array>();

/** A cached table with at least nPos positions (more rows than asked for is fine). */
export function ropeTableCached(rotaryDim: number, theta: number, nPos: number): { nPos: number; table: Float32Array } {
  const key = `${rotaryDim}/${theta}`;
  const half = rotaryDim / 2;
  let table = hostTables.get(key);
  if (!table || table.length < nPos * half * 2) {
    let n = 2048;
    while (n < nPos) n *= 2;
    hostTables.set(key, (table = ropeTable(rotaryDim, theta, n)));
  }
  return { nPos: half === 0 ? Infinity : table.length / (half * 2), table };
}

// ---- CPU twin --------------------------------------------------------------------------------

/**
 * Rotate x [rows = B·T·nHeads, dHead] into y (may alias x) by +angle (sign 1) or −angle (sign −1);
 * row r is token t = floor(r / nHeads) mod T at table position positionOffset + t.
 */
export function ropeCpu(x: Floats, y: Floats, T: number, nHeads: number, dHead: number, rotaryDim: number, table: Float32Array, positionOffset: number, sign: 1 | -1): void {
  const half = rotaryDim / 2;
  const rows = x.length / dHead;
  for (let r = 0; r < rows; r++) {
    const o = r * dHead;
    const tb = (positionOffset + (Math.floor(r / nHeads) % T)) * half * 2;
    for (let i = 0; i < half; i++) {
      const c = table[tb + 2 * i]!;
      const s = sign * table[tb + 2 * i + 1]!;
      const x1 = x[o + i]!;
      const x2 = x[o + i + half]!;
      y[o + i] = x1 * c - x2 * s;
      y[o + i + half] = x2 * c + x1 * s;
    }
    for (let j = rotaryDim; j < dHead; j++) y[o + j] = x[o + j]!;
  }
}

// ---- WGSL ------------------------------------------------------------------------------------

// One thread per element; the rotating ones read their partner (i ± half) and the table entry.
const ROPE_WGSL = pointwiseWgsl(
  [['x', 'read'], ['table', 'read'], ['y', 'read_write']],
  'n: u32, T: u32, H: u32, D: u32, half: u32, offset: u32, sign: f32',
  `let j = i % p.D;
  if (j >= 2u * p.half) { y[i] = x[i]; return; }
  let t = (i / (p.D * p.H)) % p.T;
  let lo = j < p.half;
  let pair = select(j - p.half, j, lo);
  let tb = ((p.offset + t) * p.half + pair) * 2u;
  let c = table[tb];
  let s = p.sign * table[tb + 1u];
  if (lo) { y[i] = x[i] * c - x[i + p.half] * s; } else { y[i] = x[i] * c + x[i - p.half] * s; }`,
);

// Tables on the GPU, per device and (rotaryDim, theta), grown to cover the positions asked for.
const gpuTables = new WeakMap<WebGpuDevice, Map<string, { nPos: number; t: Tensor }>>();

function gpuTable(dev: WebGpuDevice, rotaryDim: number, theta: number, nPos: number): Tensor {
  let m = gpuTables.get(dev);
  if (!m) gpuTables.set(dev, (m = new Map()));
  const key = `${rotaryDim}/${theta}`;
  const have = m.get(key);
  if (have && have.nPos >= nPos && !have.t.isDisposed) return have.t;
  const host = ropeTableCached(rotaryDim, theta, nPos);
  have?.t.dispose(); // safe: the pool hands it out again only to work recorded later
  const t = dev.fromArray(host.table, [host.table.length]);
  m.set(key, { nPos: host.nPos, t });
  return t;
}

// ---- dispatch --------------------------------------------------------------------------------

function ropeApply(x: Tensor, opts: RopeOptions, sign: 1 | -1, what: string): Tensor {
  assertDtype(x, 'f32', what);
  if (x.shape.length !== 4) throw new Error(`${what}: expected [B, T, nHeads, dHead], got [${x.shape}]`);
  const [, T, H, D] = x.shape as [number, number, number, number];
  const { rotaryDim, theta } = opts;
  const offset = opts.positionOffset ?? 0;
  if (!(Number.isInteger(rotaryDim) && rotaryDim >= 0 && rotaryDim % 2 === 0 && rotaryDim <= D)) throw new Error(`${what}: rotaryDim ${rotaryDim} must be even and ≤ dHead ${D}`);
  if (!(Number.isInteger(offset) && offset >= 0)) throw new Error(`${what}: positionOffset ${offset} must be a non-negative integer`);
  const y = outputOn(x, x.shape);
  const dev = gpuOf(x);
  const nPos = offset + T;
  if (!dev) {
    ropeCpu(x.data as Float32Array, y.data as Float32Array, T, H, D, rotaryDim, ropeTableCached(rotaryDim, theta, nPos).table, offset, sign);
    return y;
  }
  const n = x.numel;
  // rotaryDim 0: a copy through the kernel, with a dummy table (the binding must exist).
  const table = gpuTable(dev, Math.max(rotaryDim, 2), theta, nPos);
  const params = new ParamWriter().u32(n).u32(T).u32(H).u32(D).u32(rotaryDim / 2).u32(offset).f32(sign).bytes();
  dev.dispatch({ label: sign > 0 ? 'rope' : 'rope_backward', code: ROPE_WGSL, buffers: [x, table, y], params, workgroups: pointwiseGrid(n) });
  return y;
}

/** Rotary embedding of x [B, T, nHeads, dHead] (positions positionOffset + t): y, same shape. */
export function rope(x: Tensor, opts: RopeOptions): Tensor {
  return ropeApply(x, opts, 1, 'rope');
}

/** Gradient of rope: dx = the rotation of dy by −angle, same shape. */
export function ropeBackward(dy: Tensor, opts: RopeOptions): Tensor {
  return ropeApply(dy, opts, -1, 'ropeBackward');
}
