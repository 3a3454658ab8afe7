// The dtype a model's weight matrices are kept in (`--dtype`): float32, or bfloat16 / float16 bits
// in a Uint16Array. Norm weights and biases are always float32 (they are small, and Gemma's f32(1 + w)
// must round as HF does). Activations and accumulation are float32 whatever the weights are: a 16-bit
// matrix is widened to f32 (exactly) right before its layer runs.

import { bf16ToF32Array, decodeToF32, f16ToF32Array, f32ToBf16Array, f32ToF16Array, type Dtype } from '../io/dtypes.js';
import { ModelError } from './errors.js';

/** How weight matrices are stored in memory. */
export type WeightDtype = 'float32' | 'bfloat16' | 'float16';
/** What `--dtype` accepts: a WeightDtype, or `auto` (the file's own dtype). */
export type WeightDtypeRequest = WeightDtype | 'auto';

export const WEIGHT_DTYPES: readonly WeightDtypeRequest[] = ['auto', 'float32', 'bfloat16', 'float16'];

/** Bytes per element. */
export function weightDtypeBytes(d: WeightDtype): number {
  return d === 'float32' ? 4 : 2;
}

/** Parse a `--dtype` value (ModelError, one line, for anything else). */
export function parseWeightDtype(s: string): WeightDtypeRequest {
  const aliases: Record<string, WeightDtypeRequest> = { auto: 'auto', float32: 'float32', f32: 'float32', fp32: 'float32', bfloat16: 'bfloat16', bf16: 'bfloat16', float16: 'float16', f16: 'float16', fp16: 'float16', half: 'float16' };
  const d = aliases[s.toLowerCase()];
  if (!d) throw new ModelError(`unsupported dtype "${s}": use one of ${WEIGHT_DTYPES.join(', ')}`);
  return d;
}

/** The WeightDtype that keeps a file's dtype as it is (F32 and wider integers: float32). */
export function weightDtypeOfFile(d: Dtype): WeightDtype {
  return d === 'BF16' ? 'bfloat16' : d === 'F16' ? 'float16' : 'float32';
}

/** A matrix's elements: f32 values, or 16-bit patterns (bf16 or f16, as its StoredTensor says). */
export type StoredData = Float32Array | Uint16Array;

/** A host tensor in its storage dtype. */
export interface StoredTensor {
  data: StoredData;
  shape: number[];
  dtype: WeightDtype;
}

/** Stored bytes of file dtype `from` as elements of `to` (exact when the dtypes match or widen; else rounded to nearest even). */
export function convertStored(raw: Uint8Array, from: Dtype, to: WeightDtype, numel: number): StoredData {
  const same = (from === 'BF16' && to === 'bfloat16') || (from === 'F16' && to === 'float16');
  if (same) return new Uint16Array(raw.buffer, raw.byteOffset, numel);
  if (from === 'F32' && to === 'float32') return new Float32Array(raw.buffer, raw.byteOffset, numel);
  const f32 = new Float32Array(numel);
  decodeToF32(from, raw, f32);
  if (to === 'float32') return f32;
  return to === 'bfloat16' ? f32ToBf16Array(f32) : f32ToF16Array(f32);
}

/** Widen 16-bit patterns (or copy f32 values) into `out` as f32. */
export function widenInto(src: StoredData, dtype: WeightDtype, out: Float32Array): Float32Array {
  if (src instanceof Float32Array) out.set(src);
  else if (dtype === 'bfloat16') bf16ToF32Array(src, out);
  else f16ToF32Array(src, out);
  return out;
}

/** A stored tensor as f32 values (the data itself when already f32). */
export function widen(t: StoredTensor): Float32Array {
  return t.data instanceof Float32Array ? t.data : widenInto(t.data, t.dtype, new Float32Array(t.data.length));
}
