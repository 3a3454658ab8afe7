// Shard files of the activation store: encode rows to bytes, write them atomically while hashing,
// and read one back checking its size and sha256 (so a corrupted shard is caught before it trains
// anything).

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bf16ToF32Array, f32ToBf16Array } from '../io/dtypes.js';
import { openAtomic } from '../io/atomicWrite.js';
import { DataError } from './errors.js';
import { storeDtypeSize, type ShardEntry, type StoreDtype } from './storeManifest.js';

/** Rows of one shard: per-hook values [rows, dIn] and token ids [rows]. */
export interface ShardRows {
  rows: number;
  values: Map<string, Float32Array>;
  ids: Int32Array;
}

/** Little-endian bytes of a typed array (a view, no copy; the store needs a little-endian host like safetensors). */
function bytesOf(a: Float32Array | Uint16Array | Int32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Write a shard atomically (temp + rename); returns its manifest entry. */
export async function writeShard(dir: string, file: string, hooks: readonly string[], dtype: StoreDtype, shard: ShardRows): Promise<ShardEntry> {
  const hash = createHash('sha256');
  const f = await openAtomic(join(dir, file));
  let bytes = 0;
  try {
    const put = async (b: Uint8Array): Promise<void> => {
      hash.update(b);
      bytes += b.byteLength;
      await f.write(b);
    };
    for (const h of hooks) {
      const v = shard.values.get(h)!;
      await put(bytesOf(dtype === 'f32' ? v : f32ToBf16Array(v)));
    }
    await put(bytesOf(shard.ids));
    await f.commit();
  } catch (e) {
    await f.abort();
    throw e;
  }
  return { file, rows: shard.rows, bytes, sha256: hash.digest('hex') };
}

/** The sha256 of a shard's bytes, checked against its entry; a DataError names a missing, short or corrupted shard. */
export async function readVerifiedShard(dir: string, entry: ShardEntry): Promise<Uint8Array> {
  const path = join(dir, entry.file);
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    throw new DataError(`${path}: shard missing (${(e as Error).message})`, { cause: e });
  }
  if (buf.byteLength !== entry.bytes) throw new DataError(`${path}: shard is ${buf.byteLength} bytes, the manifest says ${entry.bytes}: it is truncated or corrupted`);
  const sha = createHash('sha256').update(buf).digest('hex');
  if (sha !== entry.sha256) throw new DataError(`${path}: shard checksum mismatch (sha256 ${sha.slice(0, 12)}…, manifest ${entry.sha256.slice(0, 12)}…): the shard is corrupted`);
  return buf;
}

/** Decode a shard's bytes into per-hook f32 rows and token ids. */
export function decodeShard(bytes: Uint8Array, rows: number, hooks: readonly string[], dIn: Record<string, number>, dtype: StoreDtype): ShardRows {
  const size = storeDtypeSize(dtype);
  const values = new Map<string, Float32Array>();
  let off = 0;
  for (const h of hooks) {
    const n = rows * dIn[h]!;
    const raw = copy(bytes, off, off + n * size);
    values.set(h, dtype === 'f32' ? new Float32Array(raw.buffer, 0, n) : bf16ToF32Array(new Uint16Array(raw.buffer, 0, n)));
    off += n * size;
  }
  const ids = new Int32Array(copy(bytes, off, off + rows * 4).buffer, 0, rows);
  return { rows, values, ids };
}

/** Bytes [start, end) in a fresh, aligned buffer of their own (a Buffer's slice() is only a view into a shared pool). */
function copy(b: Uint8Array, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  out.set(b.subarray(start, end));
  return out;
}
