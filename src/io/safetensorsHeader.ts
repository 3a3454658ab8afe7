// The safetensors header: parse and validate it (as strictly as the Rust `safetensors` crate), and
// build it for writing (byte-identical to the reference writer).
//
// Layout: u64 little-endian N, then N bytes of JSON
//   {"__metadata__": {str: str}, name: {"dtype": D, "shape": [..], "data_offsets": [begin, end]}, ...}
// then the data buffer. Offsets are relative to the data buffer, which the tensors must cover
// exactly: sorted by offsets, each begins where the previous ended and the last ends at the end of
// the file.

import { DTYPE_SIZE, isDtype, isUnsupportedDtype, type Dtype } from './dtypes.js';
import { quoteName, SafetensorsError } from './errors.js';

/** The reference implementation refuses headers over 100 MB; so do we (and so never allocate more). */
export const MAX_HEADER_BYTES = 100_000_000;

/** Where one tensor lives and what it is. */
export interface TensorInfo {
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  /** Number of elements (product of the shape; 1 for a scalar). */
  readonly numel: number;
  /** Absolute byte offset of the tensor's data in the file (or buffer). */
  readonly byteOffset: number;
  readonly byteLength: number;
  /** The offsets as the header states them, relative to the start of the data buffer. */
  readonly dataOffsets: readonly [number, number];
}

/** A validated header. */
export interface ParsedHeader {
  /** N, the JSON header's length in bytes. */
  readonly headerLength: number;
  /** Byte offset of the data buffer in the file: 8 + N. */
  readonly dataStart: number;
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** Tensor names sorted (by code point, as Rust sorts strings). */
  readonly names: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
}

/** Order strings by code point (= UTF-8 byte order, Rust's `str` order), not by UTF-16 unit. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (D800-DFFF) stand for code points above FFFF: move them above E000-FFFF.
    if (x >= 0xd800) x += x >= 0xe000 ? -0x800 : 0x2000;
    if (y >= 0xd800) y += y >= 0xe000 ? -0x800 : 0x2000;
    return x - y;
  }
  return a.length - b.length;
}

/**
 * Validate the 8-byte length prefix against the file size; returns N. Call this before reading
 * (or allocating for) the header.
 */
export function checkHeaderLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8) throw new SafetensorsError(file, `file is ${fileSize} bytes, too short for the 8-byte header length`);
  const dv = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  if (hi !== 0 || lo > MAX_HEADER_BYTES) {
    const n = dv.getBigUint64(0, true);
    const neg = hi >= 0x80000000 ? ` (${dv.getBigInt64(0, true)} as a signed integer)` : '';
    throw new SafetensorsError(file, `header length ${n}${neg} is over the ${MAX_HEADER_BYTES}-byte limit: not a safetensors file, or corrupt`);
  }
  if (lo > fileSize - 8) {
    throw new SafetensorsError(file, `header length ${lo} is larger than the ${fileSize - 8} bytes after the length field: truncated or not a safetensors file`);
  }
  return lo;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parse and validate the JSON header (the N bytes after the prefix) of a file of `fileSize` bytes. */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, file: string): ParsedHeader {
  const headerLength = headerBytes.byteLength;
  const dataStart = 8 + headerLength;
  const bufferLength = fileSize - dataStart;
  const fail = (problem: string): never => {
    throw new SafetensorsError(file, problem);
  };

  let text: string;
  try {
    text = utf8.decode(headerBytes);
  } catch {
    return fail('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail(`header does not start with '{' (starts with ${JSON.stringify(text.slice(0, 12))})`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON: ${(e as Error).message.slice(0, 200)}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return fail('header is not a JSON object');

  let metadata: Record<string, string> = {};
  const entries: { name: string; info: TensorInfo }[] = [];
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(value, fail);
      continue;
    }
    entries.push({ name, info: parseEntry(name, value, dataStart, fail) });
  }

  // The Rust crate sorts by (begin, end) and then demands contiguity; we give the same verdicts
  // with messages that say which tensor and why.
  entries.sort((a, b) => a.info.dataOffsets[0] - b.info.dataOffsets[0] || a.info.dataOffsets[1] - b.info.dataOffsets[1]);
  let cursor = 0;
  let prev = '';
  for (const { name, info } of entries) {
    const [begin, end] = info.dataOffsets;
    const q = quoteName(name);
    if (end > bufferLength) {
      fail(`tensor ${q}: data_offsets [${begin}, ${end}] run past the end of the ${bufferLength}-byte data buffer (truncated file?)`);
    }
    if (begin < cursor) fail(`tensor ${q}: data_offsets [${begin}, ${end}] overlap tensor ${quoteName(prev)}, which ends at ${cursor}`);
    if (begin > cursor) fail(`data buffer has a ${begin - cursor}-byte hole at offset ${cursor}, before tensor ${q}: tensors must cover it contiguously`);
    cursor = end;
    prev = name;
  }
  if (cursor !== bufferLength) {
    fail(`data buffer is ${bufferLength} bytes but the tensors cover only ${cursor}: ${bufferLength - cursor} trailing bytes belong to no tensor`);
  }

  const tensors = new Map<string, TensorInfo>();
  for (const { name, info } of entries) tensors.set(name, info);
  const names = entries.map((e) => e.name).sort(compareCodePoints);
  return { headerLength, dataStart, tensors, names, metadata };
}

/** Validate `__metadata__`: a map from strings to strings (null means none, as serde allows). */
function parseMetadata(value: unknown, fail: (p: string) => never): Record<string, string> {
  if (value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) return fail('__metadata__ is not a JSON object of strings');
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string') fail(`__metadata__ ${quoteName(k)}: value is ${describe(v)}, not a string`);
  }
  // Object.fromEntries defines own properties, so a "__proto__" key stays data, not a prototype.
  return Object.fromEntries(Object.entries(value as Record<string, string>));
}

/** Validate one tensor entry, including that dtype and shape account for exactly its bytes. */
function parseEntry(name: string, value: unknown, dataStart: number, fail: (p: string) => never): TensorInfo {
  const q = quoteName(name);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail(`tensor ${q}: entry is ${describe(value)}, not an object`);
  const v = value as Record<string, unknown>;
  const { dtype, shape, data_offsets: offsets } = v;

  if (dtype === undefined) fail(`tensor ${q}: missing "dtype"`);
  if (typeof dtype !== 'string') return fail(`tensor ${q}: dtype is ${describe(dtype)}, not a string`);
  if (!isDtype(dtype)) {
    return fail(isUnsupportedDtype(dtype) ? `tensor ${q}: dtype ${dtype} is not supported by saelab` : `tensor ${q}: unknown dtype ${quoteName(dtype)}`);
  }

  if (shape === undefined) fail(`tensor ${q}: missing "shape"`);
  if (!Array.isArray(shape)) return fail(`tensor ${q}: shape is ${describe(shape)}, not an array`);
  let numel = 1;
  for (const d of shape as unknown[]) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      fail(`tensor ${q}: shape has dimension ${describe(d)}, not a non-negative integer`);
    }
    numel *= d as number;
    if (numel > Number.MAX_SAFE_INTEGER) fail(`tensor ${q}: shape [${shape.join(', ')}] has too many elements`);
  }

  if (offsets === undefined) fail(`tensor ${q}: missing "data_offsets"`);
  if (!Array.isArray(offsets) || offsets.length !== 2) return fail(`tensor ${q}: data_offsets is ${describe(offsets)}, not [begin, end]`);
  const [begin, end] = offsets as unknown[];
  for (const o of [begin, end]) {
    if (typeof o !== 'number' || !Number.isSafeInteger(o) || o < 0) fail(`tensor ${q}: data_offsets has ${describe(o)}, not a non-negative integer`);
  }
  const b = begin as number;
  const e = end as number;
  if (e < b) fail(`tensor ${q}: data_offsets [${b}, ${e}] end before they begin`);
  const need = numel * DTYPE_SIZE[dtype];
  if (need > Number.MAX_SAFE_INTEGER) fail(`tensor ${q}: shape [${shape.join(', ')}] is too large`);
  if (e - b !== need) {
    fail(`tensor ${q}: dtype ${dtype} with shape [${shape.join(', ')}] needs ${need} bytes but data_offsets [${b}, ${e}] hold ${e - b}`);
  }
  // Frozen: info() hands these out directly, and callers must not be able to corrupt the index.
  return Object.freeze({
    dtype,
    shape: Object.freeze((shape as number[]).map((d) => d + 0)), // + 0 turns -0 into 0
    numel,
    byteOffset: dataStart + b,
    byteLength: e - b,
    dataOffsets: Object.freeze([b, e] as const),
  });
}

/** A short description of a JSON value for error messages. */
function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${quoteName(v)}`;
  return String(v);
}

/** One tensor's header entry, as the writer lays it out. */
export interface HeaderEntry {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

/**
 * The 8-byte length prefix plus the JSON header, space-padded to a multiple of 8 as the reference
 * writer does (so the data buffer starts 8-aligned). Entries are written in the order given;
 * metadata keys are sorted so output is deterministic.
 */
export function buildHeader(entries: readonly HeaderEntry[], metadata?: Readonly<Record<string, string>>): Uint8Array {
  const parts: string[] = [];
  if (metadata !== undefined) {
    const keys = Object.keys(metadata).sort(compareCodePoints);
    parts.push(`"__metadata__":{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`).join(',')}}`);
  }
  for (const e of entries) {
    parts.push(`${JSON.stringify(e.name)}:{"dtype":"${e.dtype}","shape":[${e.shape.join(',')}],"data_offsets":[${e.begin},${e.end}]}`);
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const n = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(8 + n);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength);
  return out;
}
