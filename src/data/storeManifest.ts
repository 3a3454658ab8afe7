// The activation store's manifest (manifest.json): what was harvested (model, hooks, data, packing),
// how the shards are laid out, and each shard's row count and sha256. It is rewritten atomically
// after every shard, so it always describes complete shards only; `complete` turns true at the end.
//
// Shard layout (shard-NNNNN.bin), all little-endian, row-major:
//   for each hook in `hooks` order: rows × dIn[hook] values of `dtype` (f32, or bf16 bits)
//   then rows int32 token ids (the token at each row's position)

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataError } from './errors.js';
import type { PackSettings } from './packTokens.js';

export const MANIFEST_FILE = 'manifest.json';
export const STORE_FORMAT = 'saelab-activation-store';
export const STORE_FORMAT_VERSION = 1;

export type StoreDtype = 'f32' | 'bf16';

/** Bytes per value of a store dtype. */
export function storeDtypeSize(dtype: StoreDtype): number {
  return dtype === 'f32' ? 4 : 2;
}

/** What fixes a store's contents: a resumed harvest must match these exactly. */
export interface StoreIdentity {
  model: string;
  hooks: string[];
  dIn: Record<string, number>;
  dtype: StoreDtype;
  /** Packing, with defaults filled in (contextSize, prependBos, separator, exclusions). */
  packing: PackSettings;
  /** The text source: path and reading options. */
  dataset: { path: string; textField: string; docSeparator: string | null };
  /** Rows (kept tokens) the store holds when complete. */
  targetRows: number;
  /** Rows per shard (the last may hold fewer). */
  shardRows: number;
  /** Windows per forward: batch boundaries fix the numerics, so a resume keeps them. */
  batchSize: number;
}

export interface ShardEntry {
  file: string;
  rows: number;
  bytes: number;
  sha256: string;
}

export interface StoreManifest extends StoreIdentity {
  format: typeof STORE_FORMAT;
  formatVersion: number;
  saelabVersion: string;
  layout: string;
  shards: ShardEntry[];
  totalRows: number;
  complete: boolean;
}

export const LAYOUT_DESCRIPTION = 'per shard, little-endian row-major: for each hook in order, rows × dIn[hook] values of dtype; then rows int32 token ids';

/** The file name of shard `i`. */
export function shardName(i: number): string {
  return `shard-${String(i).padStart(5, '0')}.bin`;
}

/** Bytes of one row across every hook, plus its token id. */
export function rowBytes(m: Pick<StoreIdentity, 'hooks' | 'dIn' | 'dtype'>): number {
  return m.hooks.reduce((s, h) => s + m.dIn[h]! * storeDtypeSize(m.dtype), 0) + 4;
}

/** Read and check `dir/manifest.json`; null when there is none. */
export async function readManifest(dir: string): Promise<StoreManifest | null> {
  const path = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  let m: StoreManifest;
  try {
    m = JSON.parse(text) as StoreManifest;
  } catch (e) {
    throw new DataError(`${path}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
  if (m?.format !== STORE_FORMAT) throw new DataError(`${path}: not a saelab activation store manifest`);
  if (m.formatVersion !== STORE_FORMAT_VERSION) throw new DataError(`${path}: store format version ${m.formatVersion}; this saelab reads version ${STORE_FORMAT_VERSION}`);
  if (!Array.isArray(m.shards) || !Array.isArray(m.hooks)) throw new DataError(`${path}: malformed manifest (no shards or hooks list)`);
  return m;
}

/** The first field where two identities differ, as "field: a ≠ b", or null when they match. */
export function identityMismatch(a: StoreIdentity, b: StoreIdentity): string | null {
  const keys: (keyof StoreIdentity)[] = ['model', 'hooks', 'dIn', 'dtype', 'packing', 'dataset', 'targetRows', 'shardRows', 'batchSize'];
  for (const k of keys) {
    const x = stable(a[k]);
    const y = stable(b[k]);
    if (x !== y) return `${k}: ${x} ≠ ${y}`;
  }
  return null;
}

/** JSON with sorted object keys, for comparing values. */
function stable(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([p], [q]) => (p < q ? -1 : 1))) : x));
}
