// Read an activation store: the manifest, shards checked against their sha256 as they are opened
// (a corrupted shard is a DataError naming it, never silently wrong training data), and shuffled
// batches. Rows of one shard are neighbouring tokens of a few documents, so shuffling whole shards
// through a buffer of a few shards mixes poorly (docs/training.md, "Shuffling": 5.8 % worse held-out
// FVU than a full permutation). Instead every shard is cut into chunks of `chunkRows` rows, the
// chunks of the whole store are taken in a seeded random order (each read by byte range; its shard's
// checksum checked once, on first touch), and their rows mixed through a ShuffleBuffer: a batch then
// draws from many places of the corpus at the memory of a small buffer. A buffer that holds the
// whole store gives a full permutation per epoch instead.

import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Rng } from '../compute/random.js';
import { bf16ToF32Array } from '../io/dtypes.js';
import { DataError } from './errors.js';
import { ShuffleBuffer } from './shuffleBuffer.js';
import { decodeShard, readVerifiedShard, type ShardRows } from './shardIo.js';
import { readManifest, storeDtypeSize, type StoreManifest } from './storeManifest.js';

export interface StoreBatchOptions {
  hook: string;
  batchSize: number;
  seed: number;
  /** Rows in the shuffle buffer. Default: two shards' worth (at least 2 × batchSize). At least the store's rows: a full random permutation of them every epoch (the whole store in memory). */
  bufferRows?: number;
  /** Passes over the store. Default 1. */
  epochs?: number;
  /** Rows per chunk read in random order (default STORE_CHUNK_ROWS). */
  chunkRows?: number;
}

/** Rows per chunk of the store's random chunk order (see the file comment and docs/training.md). */
export const STORE_CHUNK_ROWS = 256;

/** An opened activation store (see the file comment). */
export class ActivationStoreReader {
  /** Shards whose checksum this reader has checked (chunk reads check a shard once). */
  private readonly verified = new Set<number>();

  private constructor(
    readonly dir: string,
    readonly manifest: StoreManifest,
  ) {}

  /** Open the store at `dir`; an incomplete one (a harvest still running or killed) only with `allowIncomplete`. */
  static async open(dir: string, opts: { allowIncomplete?: boolean } = {}): Promise<ActivationStoreReader> {
    const m = await readManifest(dir);
    if (!m) throw new DataError(`${dir}: no activation store here (no manifest.json)`);
    if (!m.complete && !opts.allowIncomplete) throw new DataError(`${dir}: the harvest is incomplete (${m.totalRows} of ${m.targetRows} rows); run the same harvest again to finish it`);
    return new ActivationStoreReader(dir, m);
  }

  get hooks(): string[] {
    return this.manifest.hooks;
  }

  get totalRows(): number {
    return this.manifest.totalRows;
  }

  /** Row width of a hook. */
  dIn(hook: string): number {
    const d = this.manifest.dIn[hook];
    if (d === undefined) throw new DataError(`${this.dir}: the store has no hook "${hook}" (it has ${this.hooks.join(', ')})`);
    return d;
  }

  /** Shard `i`, verified and decoded to f32. */
  async readShard(i: number): Promise<ShardRows> {
    const e = this.manifest.shards[i];
    if (!e) throw new DataError(`${this.dir}: no shard ${i} (the store has ${this.manifest.shards.length})`);
    const m = this.manifest;
    return decodeShard(await readVerifiedShard(this.dir, e), e.rows, m.hooks, m.dIn, m.dtype);
  }

  /** Rows [start, start + n) of one hook of shard `i` as f32, read by byte range; the shard's checksum is checked on its first touch. */
  async readChunk(i: number, hook: string, start: number, n: number): Promise<Float32Array> {
    const m = this.manifest;
    const e = m.shards[i];
    if (!e) throw new DataError(`${this.dir}: no shard ${i} (the store has ${m.shards.length})`);
    if (!(start >= 0 && n >= 0 && start + n <= e.rows)) throw new DataError(`${this.dir}: rows ${start}..${start + n} are outside shard ${i} of ${e.rows} rows`);
    if (!this.verified.has(i)) {
      await readVerifiedShard(this.dir, e);
      this.verified.add(i);
    }
    const size = storeDtypeSize(m.dtype);
    let offset = 0;
    for (const h of m.hooks) {
      if (h === hook) break;
      offset += e.rows * m.dIn[h]! * size;
    }
    const d = this.dIn(hook);
    const bytes = new Uint8Array(n * d * size);
    const path = join(this.dir, e.file);
    const f = await open(path, 'r');
    try {
      const { bytesRead } = await f.read(bytes, 0, bytes.byteLength, offset + start * d * size);
      if (bytesRead !== bytes.byteLength) throw new DataError(`${path}: shard is shorter than the manifest says: it is truncated`);
    } finally {
      await f.close();
    }
    return m.dtype === 'f32' ? new Float32Array(bytes.buffer, 0, n * d) : bf16ToF32Array(new Uint16Array(bytes.buffer, 0, n * d));
  }

  /** Check every shard's checksum (a DataError names the first bad one). */
  async verify(): Promise<void> {
    for (const e of this.manifest.shards) await readVerifiedShard(this.dir, e);
  }

  /** A hook's rows in store order, shard by shard. */
  async *rows(hook: string): AsyncGenerator<Float32Array> {
    this.dIn(hook);
    for (let i = 0; i < this.manifest.shards.length; i++) yield (await this.readShard(i)).values.get(hook)!;
  }

  /** Shuffled batches [batchSize, dIn] of one hook (seeded: the same seed gives the same batches; the last may be short). */
  async *batches(opts: StoreBatchOptions): AsyncGenerator<Float32Array> {
    const dIn = this.dIn(opts.hook);
    const rng = new Rng(opts.seed);
    const shardRows = Math.max(...this.manifest.shards.map((s) => s.rows), 1);
    const capacity = opts.bufferRows ?? Math.max(2 * opts.batchSize, Math.min(2 * shardRows, this.totalRows));
    const bufSeed = rng.nextU32();
    if (capacity >= this.totalRows) {
      yield* this.permutedBatches(opts.hook, dIn, opts.batchSize, opts.epochs ?? 1, rng);
      return;
    }
    const buf = new ShuffleBuffer({ dIn, capacity, batchSize: opts.batchSize, seed: bufSeed });
    const chunkRows = opts.chunkRows ?? STORE_CHUNK_ROWS;
    if (!(Number.isInteger(chunkRows) && chunkRows > 0)) throw new DataError(`chunk rows must be a positive integer (got ${chunkRows})`);
    // [shard, first row, rows] of every chunk of the store.
    const chunks: [number, number, number][] = [];
    for (const [i, s] of this.manifest.shards.entries()) for (let r = 0; r < s.rows; r += chunkRows) chunks.push([i, r, Math.min(chunkRows, s.rows - r)]);
    for (let epoch = 0; epoch < (opts.epochs ?? 1); epoch++) {
      for (let i = chunks.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [chunks[i], chunks[j]] = [chunks[j]!, chunks[i]!];
      }
      for (const [i, r, n] of chunks) yield* buf.push(await this.readChunk(i, opts.hook, r, n));
    }
    yield* buf.flush();
  }

  /** Every row in memory, a fresh random permutation each epoch; a batch may span two epochs, the last may be short. */
  private async *permutedBatches(hook: string, dIn: number, batchSize: number, epochs: number, rng: Rng): AsyncGenerator<Float32Array> {
    const n = this.totalRows;
    const all = new Float32Array(n * dIn);
    let at = 0;
    for await (const rows of this.rows(hook)) (all.set(rows, at), (at += rows.length));
    const order = new Uint32Array(n);
    let batch = new Float32Array(batchSize * dIn);
    let fill = 0;
    for (let epoch = 0; epoch < epochs; epoch++) {
      for (let i = 0; i < n; i++) order[i] = i;
      for (let i = n - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        const t = order[i]!;
        order[i] = order[j]!;
        order[j] = t;
      }
      for (let i = 0; i < n; i++) {
        const r = order[i]!;
        batch.set(all.subarray(r * dIn, (r + 1) * dIn), fill * dIn);
        if (++fill === batchSize) {
          yield batch;
          batch = new Float32Array(batchSize * dIn);
          fill = 0;
        }
      }
    }
    if (fill > 0) yield batch.slice(0, fill * dIn);
  }
}
