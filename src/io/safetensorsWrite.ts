// Writing safetensors. Output is byte-identical to the reference (Rust/Python) writer: tensors laid
// out by descending dtype alignment, then by name; header space-padded to a multiple of 8. Files are
// streamed tensor by tensor (never one giant buffer) into an atomic write.

import { openAtomic } from './atomicWrite.js';
import { alignRank, assertLittleEndian, DTYPE_SIZE, f32ToBf16Array, f32ToF16Array, isDtype, type Dtype, type TypedData } from './dtypes.js';
import { quoteName, SafetensorsError } from './errors.js';
import { buildHeader, compareCodePoints, type HeaderEntry } from './safetensorsHeader.js';

/**
 * One tensor to write. `data` is a typed array of the dtype's own kind (Float32Array for F32,
 * Int32Array for I32, BigInt64Array for I64, Uint8Array of 0/1 for BOOL, ...); for F16 and BF16 it may
 * be a Float32Array (converted, round to nearest even) or a Uint16Array of bits. Alternatively `raw`
 * gives the little-endian bytes as stored (e.g. from readRaw), written as they are.
 */
export type TensorToWrite =
  | { readonly dtype: Dtype; readonly shape: readonly number[]; readonly data: TypedData; readonly raw?: undefined }
  | { readonly dtype: Dtype; readonly shape: readonly number[]; readonly raw: Uint8Array; readonly data?: undefined };

/** Tensors by name, as a plain object or a Map. */
export type TensorsToWrite = Readonly<Record<string, TensorToWrite>> | ReadonlyMap<string, TensorToWrite>;

// The typed array each dtype's values may come in (F16/BF16 also accept Float32Array, converted).
const STORAGE: Readonly<Record<Dtype, new (n: number) => TypedData>> = {
  F64: Float64Array, F32: Float32Array, F16: Uint16Array, BF16: Uint16Array, I64: BigInt64Array, U64: BigUint64Array,
  I32: Int32Array, U32: Uint32Array, I16: Int16Array, U16: Uint16Array, I8: Int8Array, U8: Uint8Array, BOOL: Uint8Array,
};

// Conversion chunk (elements): bounds the scratch memory for F32 -> F16/BF16.
const CONVERT_CHUNK = 1 << 20;

interface Planned extends HeaderEntry {
  readonly tensor: TensorToWrite;
}

/** A validated write: the header bytes and each tensor's place. */
export interface SafetensorsPlan {
  /** Length prefix + padded JSON header. */
  readonly header: Uint8Array;
  readonly entries: readonly Planned[];
  /** Total file size in bytes. */
  readonly totalBytes: number;
}

/** Validate tensors and metadata and lay them out as the reference writer would. */
export function planSafetensors(tensors: TensorsToWrite, metadata: Readonly<Record<string, string>> | undefined, file: string): SafetensorsPlan {
  const fail = (problem: string): never => {
    throw new SafetensorsError(file, problem);
  };
  const list: [string, TensorToWrite][] = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  for (const [name, t] of list) checkTensor(name, t, fail);
  if (metadata !== undefined) {
    if (typeof metadata !== 'object' || metadata === null) fail('metadata must be an object of strings');
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') fail(`metadata ${quoteName(k)}: value is not a string`);
  }
  list.sort(([an, a], [bn, b]) => alignRank(b.dtype) - alignRank(a.dtype) || compareCodePoints(an, bn));
  let offset = 0;
  const entries: Planned[] = list.map(([name, tensor]) => {
    const begin = offset;
    offset += tensor.shape.reduce((p, d) => p * d, 1) * DTYPE_SIZE[tensor.dtype];
    return { name, dtype: tensor.dtype, shape: tensor.shape, begin, end: offset, tensor };
  });
  const header = buildHeader(entries, metadata);
  return { header, entries, totalBytes: header.byteLength + offset };
}

/** Check one tensor's dtype, shape and data agree. */
function checkTensor(name: string, t: TensorToWrite, fail: (p: string) => never): void {
  const q = quoteName(name);
  if (name === '__metadata__') fail('a tensor may not be named "__metadata__" (the header reserves it)');
  if (typeof t !== 'object' || t === null) fail(`tensor ${q}: not an object`);
  if (!isDtype(t.dtype)) fail(`tensor ${q}: unknown dtype ${JSON.stringify(t.dtype)}`);
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(`tensor ${q}: shape must be an array of non-negative integers`);
  }
  const numel = t.shape.reduce((p, d) => p * d, 1);
  if (!Number.isSafeInteger(numel * DTYPE_SIZE[t.dtype])) fail(`tensor ${q}: shape [${t.shape.join(', ')}] is too large`);
  if (t.raw !== undefined) {
    if (t.data !== undefined) fail(`tensor ${q}: give data or raw, not both`);
    if (!(t.raw instanceof Uint8Array)) fail(`tensor ${q}: raw must be a Uint8Array`);
    const need = numel * DTYPE_SIZE[t.dtype];
    if (t.raw.byteLength !== need) fail(`tensor ${q}: raw has ${t.raw.byteLength} bytes, dtype ${t.dtype} with shape [${t.shape.join(', ')}] needs ${need}`);
    return;
  }
  const d = t.data;
  const f32ok = (t.dtype === 'F16' || t.dtype === 'BF16') && d instanceof Float32Array;
  if (!f32ok && !(d instanceof STORAGE[t.dtype])) {
    const want = STORAGE[t.dtype].name + (t.dtype === 'F16' || t.dtype === 'BF16' ? ' (bits) or Float32Array' : '');
    fail(`tensor ${q}: dtype ${t.dtype} needs data as ${want}, got ${describeData(d)}`);
  }
  if (d.length !== numel) fail(`tensor ${q}: data has ${d.length} elements, shape [${t.shape.join(', ')}] needs ${numel}`);
}

/** A name for what the caller passed as data. */
function describeData(d: unknown): string {
  if (d === undefined) return 'nothing';
  if (d === null) return 'null';
  return typeof d === 'object' ? (d.constructor?.name ?? 'an object') : typeof d;
}

/**
 * The stored bytes of a tensor, in chunks. A chunk may reuse a scratch buffer: consume it (write or
 * copy) before asking for the next.
 */
export function* tensorChunks(name: string, t: TensorToWrite, file: string): Generator<Uint8Array> {
  if (t.raw !== undefined) {
    yield t.raw;
    return;
  }
  const d = t.data;
  if ((t.dtype === 'F16' || t.dtype === 'BF16') && d instanceof Float32Array) {
    const convert = t.dtype === 'F16' ? f32ToF16Array : f32ToBf16Array;
    const scratch = new Uint16Array(Math.min(d.length, CONVERT_CHUNK));
    for (let at = 0; at < d.length; at += CONVERT_CHUNK) {
      const part = d.subarray(at, Math.min(at + CONVERT_CHUNK, d.length));
      convert(part, scratch);
      yield new Uint8Array(scratch.buffer, 0, part.length * 2);
    }
    return;
  }
  if (t.dtype === 'BOOL') {
    // Checked here rather than in the plan so the check streams with the data.
    const b = d as Uint8Array;
    for (let i = 0; i < b.length; i++) {
      if (b[i]! > 1) throw new SafetensorsError(file, `tensor ${quoteName(name)}: BOOL data has ${b[i]} at index ${i} (must be 0 or 1)`);
    }
  }
  yield new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** Serialize tensors to one in-memory safetensors file (for small data; use writeSafetensors for files). */
export function serializeSafetensors(tensors: TensorsToWrite, metadata?: Readonly<Record<string, string>>): Uint8Array {
  assertLittleEndian();
  const plan = planSafetensors(tensors, metadata, '<buffer>');
  const out = new Uint8Array(plan.totalBytes);
  out.set(plan.header, 0);
  let at = plan.header.byteLength;
  for (const e of plan.entries) {
    for (const chunk of tensorChunks(e.name, e.tensor, '<buffer>')) {
      out.set(chunk, at);
      at += chunk.byteLength;
    }
  }
  return out;
}

/**
 * Write tensors (and optional `__metadata__` strings) to `path` as safetensors: validated first,
 * streamed tensor by tensor, committed atomically (on error the target is untouched).
 */
export async function writeSafetensors(path: string, tensors: TensorsToWrite, metadata?: Readonly<Record<string, string>>): Promise<void> {
  assertLittleEndian();
  const plan = planSafetensors(tensors, metadata, path);
  const f = await openAtomic(path);
  try {
    await f.write(plan.header);
    for (const e of plan.entries) {
      for (const chunk of tensorChunks(e.name, e.tensor, path)) await f.write(chunk);
    }
    await f.commit();
  } catch (e) {
    await f.abort();
    throw e;
  }
}
