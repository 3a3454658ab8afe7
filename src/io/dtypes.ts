// Safetensors element types and conversions between them: F16/BF16 bits <-> f32 (round to nearest,
// ties to even, as numpy and torch do), and bulk decoding of raw little-endian bytes to Float32Array.


/** Element types saelab reads and writes (the safetensors names). */
export type Dtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

/** Bytes per element. */
export const DTYPE_SIZE: Readonly<Record<Dtype, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
};

// The Rust crate's Dtype enum order ("increasing alignment"); its writer lays tensors out by
// descending rank, then by name, which keeps every tensor naturally aligned. We copy it so our
// files are byte-identical to the reference writer's.
const ALIGN_RANK: Readonly<Record<Dtype, number>> = {
  BOOL: 0, U8: 1, I8: 2, I16: 5, U16: 6, F16: 7, BF16: 8, I32: 9, U32: 10, F32: 11, F64: 12, I64: 13, U64: 14,
};

/** Dtypes the format knows but saelab does not decode (so the error can say "unsupported", not "unknown"). */
const KNOWN_UNSUPPORTED = new Set(['F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2', 'C64']);

/** Whether a string is a dtype saelab supports. */
export function isDtype(s: unknown): s is Dtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZE, s);
}

/** Whether a string is a safetensors dtype that saelab does not support (FP8, FP4, ...). */
export function isUnsupportedDtype(s: string): boolean {
  return KNOWN_UNSUPPORTED.has(s);
}

/** The reference writer's layout rank: higher ranks are written first. */
export function alignRank(d: Dtype): number {
  return ALIGN_RANK[d];
}

/** Typed arrays as they come out of readTyped, by dtype (F16/BF16 come as raw bits). */
export type TypedData =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array;

/** Throws unless this machine is little-endian: typed arrays use host order and the format is LE. */
export function assertLittleEndian(): void {
  // Checked on a typed array (not node:os) so the same module runs in a browser.
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('saelab io needs a little-endian machine (safetensors is little-endian)');
}

// ---------------------------------------------------------------------------------------------
// Scalar conversions. These work on bit patterns (numbers holding u16/u32) so NaN payloads and
// signed zeros survive.

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** The IEEE bits of a number rounded to f32. */
export function f32Bits(x: number): number {
  f32Scratch[0] = x;
  return u32Scratch[0]!;
}

/** The f32 value of a bit pattern. */
export function f32FromBits(bits: number): number {
  u32Scratch[0] = bits;
  return f32Scratch[0]!;
}

/** f32 bits -> f16 bits, round to nearest even; overflow -> inf, NaN stays NaN (quiet). */
export function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return mant !== 0 ? sign | 0x7e00 | (mant >>> 13) : sign | 0x7c00;
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Result is an f16 subnormal (or zero): shift the full significand right, rounding once.
    if (e < -10) return sign;
    const sig = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rem = sig & ((1 << shift) - 1);
    let m = sig >>> shift;
    if (rem > half || (rem === half && (m & 1) === 1)) m++; // m may carry into 0x400: the smallest normal, correctly
    return sign | m;
  }
  let h = sign | (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++; // a carry rolls into the exponent (up to inf): correct
  return h;
}

/** f32 bits -> bf16 bits, round to nearest even; NaN stays NaN (quiet). */
export function f32BitsToBf16Bits(bits: number): number {
  const x = bits >>> 0;
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x0040) & 0xffff;
  const lsb = (x >>> 16) & 1;
  return ((x + 0x7fff + lsb) >>> 16) & 0xffff;
}

/** f16 bits -> f32 bits (exact). */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal: normalize the significand into an f32 normal.
  let m = mant;
  let e = 113;
  while ((m & 0x400) === 0) {
    m <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

/** The value of f16 bits. */
export function f16ToNumber(h: number): number {
  return f32FromBits(f16BitsToF32Bits(h));
}

/** The f16 bits nearest to a number (via f32, as torch's .half() does from f32). */
export function numberToF16(x: number): number {
  return f32BitsToF16Bits(f32Bits(x));
}

/** The value of bf16 bits. */
export function bf16ToNumber(b: number): number {
  return f32FromBits((b << 16) >>> 0);
}

/** The bf16 bits nearest to a number (via f32). */
export function numberToBf16(x: number): number {
  return f32BitsToBf16Bits(f32Bits(x));
}

// ---------------------------------------------------------------------------------------------
// Bulk conversions.

let f16Table: Uint32Array | null = null;

/** All 65536 f16 -> f32 bit patterns, built once on first use (256 KiB): a lookup beats the branches. */
function f16ToF32Table(): Uint32Array {
  if (!f16Table) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32Bits(h);
  }
  return f16Table;
}

/** Convert f32 values to f16 bits into `out` (round to nearest even). */
export function f32ToF16Array(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) out[i] = f32BitsToF16Bits(bits[i]!);
  return out;
}

/** Convert f32 values to bf16 bits into `out` (round to nearest even). */
export function f32ToBf16Array(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i]!;
    out[i] = (x & 0x7fffffff) > 0x7f800000 ? ((x >>> 16) | 0x0040) & 0xffff : ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return out;
}

/** Convert f16 bits to f32 values. */
export function f16ToF32Array(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  const t = f16ToF32Table();
  const o = new Uint32Array(out.buffer, out.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) o[i] = t[src[i]!]!;
  return out;
}

/** Convert bf16 bits to f32 values (exact: bf16 is the top half of an f32). */
export function bf16ToF32Array(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  const o = new Uint32Array(out.buffer, out.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) o[i] = src[i]! << 16;
  return out;
}

/**
 * A typed view of little-endian bytes as `dtype` (F16/BF16 as Uint16Array bits). Copies when the
 * bytes are not aligned for the element size; `bytes.byteLength` must be a multiple of it.
 */
export function viewAs(dtype: Dtype, bytes: Uint8Array): TypedData {
  const size = DTYPE_SIZE[dtype];
  const b = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  const n = b.byteLength / size;
  switch (dtype) {
    case 'F64': return new Float64Array(b.buffer, b.byteOffset, n);
    case 'F32': return new Float32Array(b.buffer, b.byteOffset, n);
    case 'F16':
    case 'BF16':
    case 'U16': return new Uint16Array(b.buffer, b.byteOffset, n);
    case 'I64': return new BigInt64Array(b.buffer, b.byteOffset, n);
    case 'U64': return new BigUint64Array(b.buffer, b.byteOffset, n);
    case 'I32': return new Int32Array(b.buffer, b.byteOffset, n);
    case 'U32': return new Uint32Array(b.buffer, b.byteOffset, n);
    case 'I16': return new Int16Array(b.buffer, b.byteOffset, n);
    case 'I8': return new Int8Array(b.buffer, b.byteOffset, n);
    case 'U8':
    case 'BOOL': return new Uint8Array(b.buffer, b.byteOffset, n);
  }
}

/**
 * Decode little-endian `bytes` of `dtype` into `out` starting at element `at`, as f32.
 * 64-bit integers beyond 2^53 may round twice (to f64, then f32): off by at most one f32 ulp.
 */
export function decodeToF32(dtype: Dtype, bytes: Uint8Array, out: Float32Array, at = 0): void {
  const src = viewAs(dtype, bytes);
  const n = src.length;
  const dst = out.subarray(at, at + n);
  switch (dtype) {
    case 'F16': f16ToF32Array(src as Uint16Array, dst); return;
    case 'BF16': bf16ToF32Array(src as Uint16Array, dst); return;
    case 'I64':
    case 'U64': {
      // BigInt per element is slow; combine the two 32-bit halves as doubles instead.
      const lo = new Uint32Array(src.buffer, src.byteOffset, n * 2);
      const hi = dtype === 'I64' ? new Int32Array(src.buffer, src.byteOffset, n * 2) : lo;
      for (let i = 0; i < n; i++) dst[i] = hi[2 * i + 1]! * 4294967296 + lo[2 * i]!;
      return;
    }
    default:
      // TypedArray.set converts numerically (and rounds to f32 once).
      dst.set(src as Exclude<TypedData, BigInt64Array | BigUint64Array>);
  }
}
