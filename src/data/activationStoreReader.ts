// Read an activation store: the manifest, shards checked against their sha256 as they are opened
// (a corrupted shard is a DataError naming it, never silently wrong training data), and shuffled
// batches across shards — shards in a seeded random order, their rows mixed through a ShuffleBuffer
// that spans more than one shard.

import { Rng } from '../compute/random.js';
import { DataError } from './errors.js';
import { ShuffleBuffer } from './shuffleBuffer.js';
import { decodeShard, readVerifiedShard, type ShardRows } from './shardIo.js';
import { readManifest, type StoreManifest } from './storeManifest.js';

export interface StoreBatchOptions {
  hook: string;
  batchSize: number;
  seed: number;
  /** Rows in the shuffle buffer. Default: two shards' worth (at least 2 × batchSize). At least the store's rows: a full random permutation of them every epoch (the whole store in memory). */
  bufferRows?: number;
  /** Passes over the store. Default 1. */
  epochs?: number;
}

/** An opened activation store (see the file comment). */
export class ActivationStoreReader {
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
    for (let epoch = 0; epoch < (opts.epochs ?? 1); epoch++) {
      const order = this.manifest.shards.map((_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      for (const i of order) yield* buf.push((await this.readShard(i)).values.get(opts.hook)!);
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
