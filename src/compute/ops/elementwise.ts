// Elementwise arithmetic on f32 tensors: add, sub, mul (with b broadcast onto a), scale, and
// a + s·b (axpy), each out of place and in place (training updates weights without reallocating).
// Broadcast rule: b has a's shape, or b's shape (leading 1s dropped) is a suffix of a's shape
// (e.g. a bias [cols] onto [rows, cols]), or b has one element. Then b repeats with period
// m = b.numel: out[i] = a[i] ∘ b[i mod m]. The output has a's shape.

import { nativeKernel } from '../cpu/blas.js';
import { assertDtype, assertSameDevice, type Tensor } from '../tensor.js';
import { ParamWriter } from '../webgpu/params.js';
import { gpuOf, memoKernel, outputOn, pointwiseGrid, pointwiseWgsl, type StorageDecl } from './wgslGen.js';
import { dispatchItems } from '../webgpu/chunkedDispatch.js';

/** Float arrays the twins of every op accept: f32 for work, f64 for gradient checks. */
export type Floats = Float32Array | Float64Array;

// ---- CPU twins -------------------------------------------------------------------------------
// b.length divides a.length; b repeats along a; `out` may be `a` itself. Written as nested loops: as plain as `i % m`, faster.

/** out = a + b (b repeating). */
export function addCpu(a: Floats, b: Floats, out: Floats): void {
  const m = b.length;
  for (let o = 0; o < a.length; o += m) for (let j = 0; j < m; j++) out[o + j] = a[o + j]! + b[j]!;
}

/** out = a − b (b repeating). */
export function subCpu(a: Floats, b: Floats, out: Floats): void {
  const m = b.length;
  for (let o = 0; o < a.length; o += m) for (let j = 0; j < m; j++) out[o + j] = a[o + j]! - b[j]!;
}

/** out = a ⊙ b (b repeating). */
export function mulCpu(a: Floats, b: Floats, out: Floats): void {
  const m = b.length;
  for (let o = 0; o < a.length; o += m) for (let j = 0; j < m; j++) out[o + j] = a[o + j]! * b[j]!;
}

/** out = s·a. */
export function scaleCpu(a: Floats, s: number, out: Floats): void {
  for (let i = 0; i < a.length; i++) out[i] = a[i]! * s;
}

/** out = a + s·b (b repeating). */
export function addScaledCpu(a: Floats, b: Floats, s: number, out: Floats): void {
  const m = b.length;
  for (let o = 0; o < a.length; o += m) for (let j = 0; j < m; j++) out[o + j] = a[o + j]! + s * b[j]!;
}

// ---- WGSL ------------------------------------------------------------------------------------

type BinaryOp = 'add' | 'sub' | 'mul' | 'addScaled';
const BINARY_EXPR: Record<BinaryOp, string> = { add: 'av + bv', sub: 'av - bv', mul: 'av * bv', addScaled: 'av + p.s * bv' };
const PARAMS = 'n: u32, m: u32, s: f32';

/** The kernel for one (op, in place?, broadcast?) variant, generated once. */
const binaryKernel = memoKernel((op: BinaryOp, inPlace: boolean, bcast: boolean) => {
  // In place, a is both read and written: one read_write binding, since WebGPU forbids binding
  // one buffer as writable storage and as anything else in the same dispatch.
  const storage: StorageDecl[] = inPlace ? [['a', 'read_write'], ['b', 'read']] : [['a', 'read'], ['b', 'read'], ['out', 'read_write']];
  const bIndex = bcast ? 'i % p.m' : 'i'; // the modulo only where needed
  return pointwiseWgsl(storage, PARAMS, `let av = a[i];\n  let bv = b[${bIndex}];\n  ${inPlace ? 'a' : 'out'}[i] = ${BINARY_EXPR[op]};`);
});

const SCALE_WGSL = pointwiseWgsl([['a', 'read'], ['out', 'read_write']], PARAMS, 'out[i] = a[i] * p.s;');
const SCALE_IN_PLACE_WGSL = pointwiseWgsl([['a', 'read_write']], PARAMS, 'a[i] = a[i] * p.s;');

function params(n: number, m: number, s: number): ArrayBuffer {
  return new ParamWriter(3).u32(n).u32(m).f32(s).bytes();
}

// ---- dispatch --------------------------------------------------------------------------------

/** The period m of b along a under the broadcast rule above; throws when b does not broadcast onto a. */
export function broadcastPeriod(a: Tensor, b: Tensor, what: string): number {
  if (b.numel === 1 && a.numel > 0) return 1;
  let bs = b.shape;
  while (bs.length > 0 && bs[0] === 1) bs = bs.slice(1);
  const off = a.shape.length - bs.length;
  if (off < 0 || bs.some((d, k) => d !== a.shape[off + k])) {
    throw new Error(`${what}: b of shape [${b.shape}] does not broadcast onto a of shape [${a.shape}] (b must match a's trailing dimensions or have one element)`);
  }
  return b.numel;
}

/** Checks shared by every binary op; returns b's period. */
function check(a: Tensor, b: Tensor, what: string): number {
  assertSameDevice(a, b);
  assertDtype(a, 'f32', what);
  assertDtype(b, 'f32', what);
  return broadcastPeriod(a, b, what);
}

function binary(op: BinaryOp, a: Tensor, b: Tensor, s: number): Tensor {
  const m = check(a, b, op);
  const out = outputOn(a, a.shape);
  const dev = gpuOf(a);
  if (!dev) binaryCpu(op, a.data as Float32Array, b.data as Float32Array, s, out.data as Float32Array);
  else dispatchItems(dev, { label: op, code: binaryKernel(op, false, m !== a.numel), buffers: [a, b, out], strides: [1, m !== a.numel ? 0 : 1, 1], itemMultiple: m !== a.numel ? m : 1, params: params(a.numel, m, s), count: a.numel, grid: pointwiseGrid });
  return out;
}

function binaryInPlace(op: BinaryOp, a: Tensor, b: Tensor, s: number): void {
  const m = check(a, b, `${op}InPlace`);
  const dev = gpuOf(a);
  if (!dev) {
    binaryCpu(op, a.data as Float32Array, b.data as Float32Array, s, a.data as Float32Array);
    return;
  }
  // b may share a's buffer (a reshape, or the same tensor): read it from a copy, as WebGPU forbids the alias.
  const src = b.buffer === a.buffer ? dev.empty(b.shape) : b;
  if (src !== b) dev.copy(b, src);
  dispatchItems(dev, { label: `${op}_in_place`, code: binaryKernel(op, true, m !== a.numel), buffers: [a, src], strides: [1, m !== a.numel ? 0 : 1], itemMultiple: m !== a.numel ? m : 1, params: params(a.numel, m, s), count: a.numel, grid: pointwiseGrid });
  if (src !== b) src.dispose(); // safe at once: later use of the pooled buffer is queued after this dispatch
}

function binaryCpu(op: BinaryOp, a: Float32Array, b: Float32Array, s: number, out: Float32Array): void {
  // A long equal-shape add (the residual stream's [tokens, d_model]) goes to the native twin.
  const addArrays = op === 'add' && b.length === a.length ? nativeKernel('addArrays', a.length) : undefined;
  if (addArrays) addArrays(a, b, out);
  else if (op === 'add') addCpu(a, b, out);
  else if (op === 'sub') subCpu(a, b, out);
  else if (op === 'mul') mulCpu(a, b, out);
  else addScaledCpu(a, b, s, out);
}

/** a + b, shape of a (b broadcast: same shape, trailing dims, or one element). */
export function add(a: Tensor, b: Tensor): Tensor {
  return binary('add', a, b, 0);
}

/** a − b, shape of a (b broadcast as in `add`). */
export function sub(a: Tensor, b: Tensor): Tensor {
  return binary('sub', a, b, 0);
}

/** a ⊙ b, shape of a (b broadcast as in `add`). */
export function mul(a: Tensor, b: Tensor): Tensor {
  return binary('mul', a, b, 0);
}

/** a + s·b (axpy); s is rounded to f32 on both devices so that they agree. */
export function addScaled(a: Tensor, b: Tensor, s: number): Tensor {
  return binary('addScaled', a, b, Math.fround(s));
}

/** s·a; s is rounded to f32. */
export function scale(a: Tensor, s: number): Tensor {
  assertDtype(a, 'f32', 'scale');
  const sf = Math.fround(s);
  const out = outputOn(a, a.shape);
  const dev = gpuOf(a);
  if (!dev) scaleCpu(a.data as Float32Array, sf, out.data as Float32Array);
  else dispatchItems(dev, { label: 'scale', code: SCALE_WGSL, buffers: [a, out], strides: [1, 1], params: params(a.numel, 1, sf), count: a.numel, grid: pointwiseGrid });
  return out;
}

/** a += b in place (b broadcast as in `add`). */
export function addInPlace(a: Tensor, b: Tensor): void {
  binaryInPlace('add', a, b, 0);
}

/** a −= b in place (b broadcast as in `add`). */
export function subInPlace(a: Tensor, b: Tensor): void {
  binaryInPlace('sub', a, b, 0);
}

/** a ⊙= b in place (b broadcast as in `add`). */
export function mulInPlace(a: Tensor, b: Tensor): void {
  binaryInPlace('mul', a, b, 0);
}

/** a += s·b in place: the SGD-style update `w += −lr·g`. */
export function addScaledInPlace(a: Tensor, b: Tensor, s: number): void {
  binaryInPlace('addScaled', a, b, Math.fround(s));
}

/** a ·= s in place. */
export function scaleInPlace(a: Tensor, s: number): void {
  assertDtype(a, 'f32', 'scaleInPlace');
  const sf = Math.fround(s);
  const dev = gpuOf(a);
  if (!dev) scaleCpu(a.data as Float32Array, sf, a.data as Float32Array);
  else dispatchItems(dev, { label: 'scale_in_place', code: SCALE_IN_PLACE_WGSL, buffers: [a], strides: [1], params: params(a.numel, 1, sf), count: a.numel, grid: pointwiseGrid });
}
