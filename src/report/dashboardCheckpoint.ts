// A dashboard pass's checkpoint: the collector's typed arrays and how far the pass got, in one
// binary file written atomically (a crash leaves the previous checkpoint or the new one whole):
//   "SLDS" | u32 header bytes | header JSON { version, windows, options, arrays: [{ name, type, length, offset }] }
//   | each array's raw bytes (little-endian, as the host), at 8-byte-aligned offsets from the body start

import { readFile, rm } from 'node:fs/promises';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { DataError } from '../data/errors.js';
import type { DashboardState, DashboardStatsOptions } from './dashboardStats.js';

const MAGIC = 'SLDS';
const VERSION = 1;

type Arr = Float64Array | Float32Array | Int32Array | Uint32Array;
const CTORS = { f64: Float64Array, f32: Float32Array, i32: Int32Array, u32: Uint32Array } as const;
type TypeName = keyof typeof CTORS;
const typeOf = (a: Arr): TypeName => (a instanceof Float64Array ? 'f64' : a instanceof Float32Array ? 'f32' : a instanceof Int32Array ? 'i32' : 'u32');

/** What a checkpoint holds. */
export interface DashboardCheckpoint {
  /** Windows of the stream already counted. */
  windows: number;
  options: DashboardStatsOptions;
  state: DashboardState;
}

/** Write a checkpoint to `path` atomically. */
export async function writeDashboardCheckpoint(path: string, c: DashboardCheckpoint): Promise<void> {
  const entries = Object.entries(c.state) as [string, Arr][];
  const arrays: { name: string; type: TypeName; length: number; offset: number }[] = [];
  let off = 0;
  for (const [name, a] of entries) {
    arrays.push({ name, type: typeOf(a), length: a.length, offset: off });
    off += Math.ceil(a.byteLength / 8) * 8;
  }
  const header = Buffer.from(JSON.stringify({ version: VERSION, windows: c.windows, options: c.options, arrays }), 'utf8');
  const bodyStart = Math.ceil((8 + header.length) / 8) * 8;
  const out = new Uint8Array(bodyStart + off);
  out.set(Buffer.from(MAGIC, 'latin1'), 0);
  new DataView(out.buffer).setUint32(4, header.length, true);
  out.set(header, 8);
  entries.forEach(([, a], i) => out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), bodyStart + arrays[i]!.offset));
  await writeFileAtomic(path, out);
}

/** Read a checkpoint written by writeDashboardCheckpoint; a DataError naming the file when it is not one. */
export async function readDashboardCheckpoint(path: string): Promise<DashboardCheckpoint> {
  const buf = await readFile(path);
  const bad = (why: string) => new DataError(`${path}: not a dashboard checkpoint (${why}); delete it to start the pass afresh`);
  if (buf.length < 8 || buf.toString('latin1', 0, 4) !== MAGIC) throw bad('bad magic');
  const hlen = buf.readUInt32LE(4);
  if (8 + hlen > buf.length) throw bad('truncated header');
  let header: { version: number; windows: number; options: DashboardStatsOptions; arrays: { name: string; type: TypeName; length: number; offset: number }[] };
  try {
    header = JSON.parse(buf.toString('utf8', 8, 8 + hlen));
  } catch {
    throw bad('header is not JSON');
  }
  if (header.version !== VERSION) throw bad(`version ${header.version}`);
  const bodyStart = Math.ceil((8 + hlen) / 8) * 8;
  const state: Record<string, Arr> = {};
  for (const e of header.arrays) {
    const C = CTORS[e.type];
    if (!C) throw bad(`unknown array type ${e.type}`);
    const start = bodyStart + e.offset;
    const bytes = e.length * C.BYTES_PER_ELEMENT;
    if (start + bytes > buf.length) throw bad(`array ${e.name} truncated`);
    // Copy into a fresh, aligned array (the file buffer's offset need not be aligned).
    const a = new C(e.length);
    new Uint8Array(a.buffer).set(buf.subarray(start, start + bytes));
    state[e.name] = a;
  }
  return { windows: header.windows, options: header.options, state: state as unknown as DashboardState };
}

/** Remove a checkpoint (no error when absent). */
export async function removeDashboardCheckpoint(path: string): Promise<void> {
  await rm(path, { force: true });
}
