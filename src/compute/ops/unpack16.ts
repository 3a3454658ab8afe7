// 16-bit weights (bfloat16 or float16) packed two to a u32 word, little-endian: element i is the
// low half of word i >> 1 when i is even, the high half when odd (the bytes of a safetensors
// F16/BF16 tensor, read as u32). Two ops widen them to f32, exactly:
//   unpack16:  out[i] = f32(element i)                     (a whole matrix, before its GEMM)
//   gather16:  out[n, :] = f32(table[ids[n], :])           (embedding rows from a packed [V, d] table)
// The WGSL widens with integer bit operations (no `shader-f16` needed, and f16 subnormals stay exact
// on every adapter); the CPU twins below are the specification.

import { cpu } from '../cpu/cpuDevice.js';
import { assertDtype, assertSameDevice, type Tensor } from '../tensor.js';
import { dispatchItems, itemsPerPiece } from '../webgpu/chunkedDispatch.js';
import { DeviceLimitError } from '../webgpu/gpuDevice.js';
import { u32Params } from '../webgpu/params.js';
import { gpuOf, outputOn, pointwiseGrid, pointwiseWgsl } from './wgslGen.js';

/** Which 16-bit format the halves hold. */
export type Half = 'bf16' | 'f16';

// ---- CPU twins -------------------------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The f32 value of 16-bit pattern h. */
export function halfToF32(h: number, kind: Half): number {
  if (kind === 'bf16') {
    u32[0] = h << 16;
    return f32[0]!;
  }
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24; // zero or subnormal
  if (exp === 0x1f) {
    u32[0] = ((h & 0x8000) << 16) | 0x7f800000 | (mant << 13);
    return f32[0]!;
  }
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** out[i] = f32(element i of `words`) for i < out.length. */
export function unpack16Cpu(words: Uint32Array, kind: Half, out: Float32Array): void {
  for (let i = 0; i < out.length; i++) out[i] = halfToF32((words[i >>> 1]! >>> ((i & 1) * 16)) & 0xffff, kind);
}

/** out[n, :] = f32(table[ids[n], :]) for a packed table [V, d]; throws on an id outside [0, V). */
export function gather16Cpu(words: Uint32Array, V: number, d: number, ids: Int32Array, kind: Half, out: Float32Array): void {
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n]!;
    if (!(id >= 0 && id < V)) throw new RangeError(`gather16: id ${id} at position ${n} is outside [0, ${V})`);
    for (let j = 0; j < d; j++) {
      const e = id * d + j;
      out[n * d + j] = halfToF32((words[e >>> 1]! >>> ((e & 1) * 16)) & 0xffff, kind);
    }
  }
}

// ---- WGSL ------------------------------------------------------------------------------------

/** WGSL `fn widen(h: u32) -> f32` for one 16-bit pattern (in the low bits of h). */
function widenWgsl(kind: Half): string {
  if (kind === 'bf16') return 'fn widen(h: u32) -> f32 { return bitcast<f32>(h << 16u); }';
  return /* wgsl */ `fn widen(h: u32) -> f32 {
  let sign = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) {
    // Zero or subnormal: m · 2^-24, exact in f32 (m < 1024).
    let v = f32(m) * 5.9604644775390625e-8;
    return select(v, -v, sign != 0u);
  }
  if (e == 0x1fu) { return bitcast<f32>(sign | 0x7f800000u | (m << 13u)); }
  return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));
}`;
}

// One thread per word: both halves (the second only when it exists: an odd total has a lone last half).
const unpackWgsl = (kind: Half) =>
  pointwiseWgsl(
    [['words', 'read', 'u32'], ['out', 'read_write']],
    'n: u32, total: u32',
    `let w = words[i];
  out[2u * i] = widen(w & 0xffffu);
  if (2u * i + 1u < p.total) { out[2u * i + 1u] = widen(w >> 16u); }`,
    widenWgsl(kind),
  );

const gatherWgsl = (kind: Half) =>
  pointwiseWgsl(
    [['words', 'read', 'u32'], ['ids', 'read', 'i32'], ['out', 'read_write']],
    'n: u32, d: u32, V: u32, v0: u32',
    `let row = i / p.d;
  let j = i - row * p.d;
  let id = ids[row] - i32(p.v0);
  if (id >= 0 && u32(id) < p.V) {
    let e = u32(id) * p.d + j;
    out[i] = widen((words[e >> 1u] >> ((e & 1u) * 16u)) & 0xffffu);
  }`,
    widenWgsl(kind),
  );

const CODE = {
  unpack: { bf16: unpackWgsl('bf16'), f16: unpackWgsl('f16') },
  gather: { bf16: gatherWgsl('bf16'), f16: gatherWgsl('f16') },
};

// ---- dispatch --------------------------------------------------------------------------------

/** The u32 words that hold `n` 16-bit elements. */
export function wordsFor(n: number): number {
  return Math.ceil(n / 2);
}

/**
 * Widen a packed tensor (u32 words [ceil(n/2)]) to f32 of `shape` (n elements), into `out` when
 * given (e.g. a reused scratch of that shape).
 */
export function unpack16(words: Tensor, kind: Half, shape: readonly number[], out?: Tensor): Tensor {
  assertDtype(words, 'u32', 'unpack16 words');
  const n = shape.reduce((a, b) => a * b, 1);
  if (words.numel !== wordsFor(n)) throw new Error(`unpack16: ${words.numel} words do not hold the ${n} elements of [${shape}]`);
  const y = out ?? outputOn(words, shape);
  assertSameDevice(words, y);
  if (y.numel !== n || y.dtype !== 'f32') throw new Error(`unpack16: out ${y} is not f32 with ${n} elements`);
  const dev = gpuOf(words);
  if (!dev) {
    unpack16Cpu(words.data as Uint32Array, kind, y.data as Float32Array);
    return y;
  }
  if (n === 0) return y;
  const code = CODE.unpack[kind];
  // Pieces of whole words need every word to hold two elements: an odd total goes in one dispatch.
  if (n % 2 === 0) dispatchItems(dev, { label: `unpack16 ${kind}`, code, buffers: [words, y], strides: [1, 2], params: u32Params(n / 2, Number.MAX_SAFE_INTEGER >>> 0), count: n / 2, grid: pointwiseGrid });
  else dev.dispatch({ label: `unpack16 ${kind}`, code, buffers: [words, y], params: u32Params(words.numel, n), workgroups: pointwiseGrid(words.numel) });
  return y;
}

/** Rows of a packed table (u32 words of [V, d]) picked by `ids` [...] i32, widened → [..., d] f32. */
export function gather16(words: Tensor, kind: Half, V: number, d: number, ids: Tensor): Tensor {
  assertSameDevice(words, ids);
  assertDtype(words, 'u32', 'gather16 words');
  assertDtype(ids, 'i32', 'gather16 ids');
  if (words.numel !== wordsFor(V * d)) throw new Error(`gather16: ${words.numel} words do not hold a [${V}, ${d}] table`);
  const outShape = [...ids.shape, d];
  const dev = gpuOf(words);
  if (!dev) {
    const out = cpu.zeros(outShape);
    gather16Cpu(words.data as Uint32Array, V, d, ids.data as Int32Array, kind, out.data as Float32Array);
    return out;
  }
  // Zeros: each piece writes only its own tokens' rows (an id outside [0, V) leaves a row of zeros).
  const out = dev.zeros(outShape);
  if (out.numel === 0) return out;
  const limit = dev.limits.maxStorageBufferBindingSize;
  if (words.byteLength <= limit) {
    dev.dispatch({ label: `gather16 ${kind}`, code: CODE.gather[kind], buffers: [words, ids, out], params: u32Params(out.numel, d, V, 0), workgroups: pointwiseGrid(out.numel) });
    return out;
  }
  if (d % 2 !== 0) throw new DeviceLimitError(`gather16: a [${V}, ${d}] table over this GPU's maxStorageBufferBindingSize ${limit} needs an even row length to be cut`);
  const per = itemsPerPiece([d / 2], limit, dev.limits.minStorageBufferOffsetAlignment);
  if (per < 1) throw new DeviceLimitError(`gather16: a row of ${d} elements does not fit this GPU's maxStorageBufferBindingSize ${limit}`);
  for (let v0 = 0; v0 < V; v0 += per) {
    const rows = Math.min(per, V - v0);
    const piece = { source: words, offset: v0 * d * 2, size: rows * d * 2 };
    dev.dispatch({ label: `gather16 ${kind} piece`, code: CODE.gather[kind], buffers: [piece, ids, out], params: u32Params(out.numel, d, rows, v0), workgroups: pointwiseGrid(out.numel) });
  }
  return out;
}
