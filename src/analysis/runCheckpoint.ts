// Checkpoints of long analysis runs (`saelab gradients`, `saelab connect`): a JSON header and f64
// arrays in one binary file written atomically (a kill leaves the previous checkpoint or the new one
// whole):
//   MAGIC (4 bytes) | u32 header bytes | header JSON { version, key, ..., lengths } | the arrays'
//   raw f64 bytes (little-endian, as the host) one after another from an 8-byte-aligned body start
// `key` holds the settings that shape the run; a resume compares it (checkKey) and names the first
// setting that differs. Restored arrays are bit-exact, so a resumed run equals an uninterrupted one.

import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { writeFileAtomic } from '../io/atomicWrite.js';

const VERSION = 1;

/** Write `header` (JSON-able, with `key`) and `arrays` to `path` atomically under a 4-letter `magic`. */
export async function writeRunCheckpoint(path: string, magic: string, header: { key: Record<string, unknown> } & Record<string, unknown>, arrays: readonly Float64Array[]): Promise<void> {
  const head = Buffer.from(JSON.stringify({ ...header, version: VERSION, lengths: arrays.map((a) => a.length) }), 'utf8');
  const bodyStart = Math.ceil((8 + head.length) / 8) * 8;
  const out = new Uint8Array(bodyStart + arrays.reduce((s, a) => s + a.byteLength, 0));
  out.set(Buffer.from(magic, 'latin1'), 0);
  new DataView(out.buffer).setUint32(4, head.length, true);
  out.set(head, 8);
  let at = bodyStart;
  for (const a of arrays) {
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
    at += a.byteLength;
  }
  await writeFileAtomic(path, out);
}

/** Read a checkpoint written with `magic`; `bad(why)` builds the one-line error for a file that is not one. */
export async function readRunCheckpoint<H extends { key: Record<string, unknown> }>(path: string, magic: string, bad: (why: string) => Error): Promise<{ header: H; arrays: Float64Array[] }> {
  const buf = await readFile(path);
  if (buf.length < 8 || buf.toString('latin1', 0, 4) !== magic) throw bad('not a checkpoint of this command (bad magic)');
  const hlen = buf.readUInt32LE(4);
  if (8 + hlen > buf.length) throw bad('truncated header');
  let h: H & { version: number; lengths: number[] };
  try {
    h = JSON.parse(buf.toString('utf8', 8, 8 + hlen));
  } catch {
    throw bad('header is not JSON');
  }
  if (h.version !== VERSION) throw bad(`version ${h.version}`);
  let at = Math.ceil((8 + hlen) / 8) * 8;
  const arrays = h.lengths.map((n) => {
    const a = new Float64Array(n);
    if (at + a.byteLength > buf.length) throw bad('truncated arrays');
    // Copy into a fresh, aligned array (the file buffer's offset need not be aligned).
    new Uint8Array(a.buffer).set(buf.subarray(at, at + a.byteLength));
    at += a.byteLength;
    return a;
  });
  return { header: h, arrays };
}

/** The first setting of `want` that the checkpoint's `got` does not match, as "name (checkpoint X, this run Y)"; null when all match. */
export function keyMismatch(got: Record<string, unknown>, want: Record<string, unknown>): string | null {
  for (const [k, v] of Object.entries(want)) if (JSON.stringify(got[k]) !== JSON.stringify(v)) return `${k} ${JSON.stringify(got[k])}, this run has ${JSON.stringify(v)}`;
  return null;
}

/** Whether a checkpoint is at `path`. */
export const hasRunCheckpoint = (path: string): boolean => existsSync(path);

/** Remove a checkpoint (no error when absent). */
export async function removeRunCheckpoint(path: string): Promise<void> {
  await rm(path, { force: true });
}
