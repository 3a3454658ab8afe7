// A `saelab gradients` run's checkpoint: the Gram sums of every hook, how many batches they hold, the
// KL sampler's generator state and the settings that shape the run, in one binary file written
// atomically (a kill leaves the previous checkpoint or the new one whole):
//   "SLGC" | u32 header bytes | header JSON { version, key, batches, rng, hooks: [{ hook, count }] }
//   | each hook's d×d f64 sums (little-endian, as the host), at an 8-byte-aligned body start
// Resuming restores the sums bit for bit, so a resumed run's report equals an uninterrupted one's.

import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { writeFileAtomic } from '../io/atomicWrite.js';
import type { GramAccumulator } from './gradientGram.js';

const MAGIC = 'SLGC';
const VERSION = 1;

/** What a checkpoint holds besides the sums. */
export interface GradientsCheckpointHeader {
  /** The settings that shape the run (compared on resume). */
  key: Record<string, unknown>;
  /** Batches already added. */
  batches: number;
  rng: { s: [number, number, number, number]; spare: number | null };
  hooks: { hook: string; count: number }[];
}

/** Write the checkpoint of `grams` (in `header.hooks` order) to `path` atomically. */
export async function writeGradientsCheckpoint(path: string, header: Omit<GradientsCheckpointHeader, 'hooks'>, grams: Map<string, GramAccumulator>): Promise<void> {
  const hooks = [...grams.entries()];
  const head = Buffer.from(JSON.stringify({ version: VERSION, ...header, hooks: hooks.map(([hook, g]) => ({ hook, count: g.count })) }), 'utf8');
  const bodyStart = Math.ceil((8 + head.length) / 8) * 8;
  const per = hooks[0] ? hooks[0][1].sum.byteLength : 0;
  const out = new Uint8Array(bodyStart + per * hooks.length);
  out.set(Buffer.from(MAGIC, 'latin1'), 0);
  new DataView(out.buffer).setUint32(4, head.length, true);
  out.set(head, 8);
  hooks.forEach(([, g], i) => out.set(new Uint8Array(g.sum.buffer, g.sum.byteOffset, g.sum.byteLength), bodyStart + i * per));
  await writeFileAtomic(path, out);
}

/** Read a checkpoint into `grams` (same hooks, same d); returns its header. `bad` builds the one-line error. */
export async function readGradientsCheckpoint(path: string, grams: Map<string, GramAccumulator>, bad: (why: string) => Error): Promise<GradientsCheckpointHeader> {
  const buf = await readFile(path);
  if (buf.length < 8 || buf.toString('latin1', 0, 4) !== MAGIC) throw bad('not a gradients checkpoint (bad magic)');
  const hlen = buf.readUInt32LE(4);
  if (8 + hlen > buf.length) throw bad('truncated header');
  let h: GradientsCheckpointHeader & { version: number };
  try {
    h = JSON.parse(buf.toString('utf8', 8, 8 + hlen));
  } catch {
    throw bad('header is not JSON');
  }
  if (h.version !== VERSION) throw bad(`version ${h.version}`);
  const want = [...grams.keys()];
  if (JSON.stringify(h.hooks.map((x) => x.hook)) !== JSON.stringify(want)) throw bad(`it holds hooks ${h.hooks.map((x) => x.hook).join(', ')}, this run ${want.join(', ')}`);
  const bodyStart = Math.ceil((8 + hlen) / 8) * 8;
  h.hooks.forEach((x, i) => {
    const g = grams.get(x.hook)!;
    const start = bodyStart + i * g.sum.byteLength;
    if (start + g.sum.byteLength > buf.length) throw bad(`sums of ${x.hook} truncated`);
    new Uint8Array(g.sum.buffer, g.sum.byteOffset, g.sum.byteLength).set(buf.subarray(start, start + g.sum.byteLength));
    g.count = x.count;
  });
  return h;
}

/** Whether a checkpoint is at `path`. */
export const hasGradientsCheckpoint = (path: string): boolean => existsSync(path);

/** Remove a checkpoint (no error when absent). */
export async function removeGradientsCheckpoint(path: string): Promise<void> {
  await rm(path, { force: true });
}
