// Harvest activations into an on-disk store (a folder of shards plus manifest.json; the format is
// in storeManifest.ts). Each shard is written atomically and the manifest is rewritten atomically
// after it, so a killed harvest leaves only complete shards behind. Running the same harvest again
// resumes after the last complete shard: the window stream is replayed (tokenizing only), batches
// before the resume point are skipped without a forward, and since batch boundaries are the same,
// the resumed shards equal an uninterrupted harvest's. Different options are an error, not a
// silent mix of two harvests.

import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanStaleTemps, writeFileAtomic } from '../io/atomicWrite.js';
import type { Transformer } from '../model/transformer.js';
import { SAELAB_VERSION } from '../version.js';
import { DataError } from './errors.js';
import { harvestActivations, planHooks, type HarvestStats } from './harvest.js';
import type { PackedWindow } from './packTokens.js';
import { readVerifiedShard, writeShard } from './shardIo.js';
import {
  identityMismatch, LAYOUT_DESCRIPTION, MANIFEST_FILE, readManifest, rowBytes, shardName, STORE_FORMAT, STORE_FORMAT_VERSION,
  type ShardEntry, type StoreIdentity, type StoreManifest,
} from './storeManifest.js';

/** Default shard size: about this many bytes. */
const SHARD_BYTES = 64 * 2 ** 20;

export interface WriteStoreOptions extends Omit<StoreIdentity, 'dIn' | 'shardRows'> {
  /** The store folder (created if needed). */
  dir: string;
  /** The model to run (its dModel gives every hook's dIn). */
  runner: Transformer;
  /** The window stream from its start (replayed in full on resume). */
  windows: AsyncIterable<PackedWindow> | Iterable<PackedWindow>;
  /** Rows per shard. Default: about 64 MiB per shard. */
  shardRows?: number;
  /** Called after each batch and each shard (may throw to stop; the store stays resumable). */
  onProgress?(p: StoreProgress): void | Promise<void>;
}

export interface StoreProgress {
  /** Rows in the store, written or buffered. */
  rows: number;
  targetRows: number;
  /** Complete shards on disk. */
  shards: number;
  /** Rows that were already on disk when this run started. */
  resumedFromRows: number;
}

export interface WriteStoreResult {
  manifest: StoreManifest;
  /** Rows already on disk when this run started (0 for a fresh store). */
  resumedFromRows: number;
  /** Whether the corpus ran out before targetRows. */
  exhausted: boolean;
  /** Null when the store was complete already. */
  stats: HarvestStats | null;
}

/** Harvest into (or resume) the store at `opts.dir`; see the file comment. */
export async function writeActivationStore(opts: WriteStoreOptions): Promise<WriteStoreResult> {
  const { hooks } = planHooks(opts.runner, opts.hooks);
  const d = opts.runner.config.dModel;
  const dIn = Object.fromEntries(hooks.map((h) => [h, d]));
  if (!Number.isInteger(opts.targetRows) || opts.targetRows < 1) throw new DataError(`tokens to harvest must be a positive integer (got ${opts.targetRows})`);
  const shardRows = opts.shardRows ?? Math.max(1, Math.floor(SHARD_BYTES / rowBytes({ hooks, dIn, dtype: opts.dtype })));
  if (!Number.isInteger(shardRows) || shardRows < 1) throw new DataError(`rows per shard must be a positive integer (got ${shardRows})`);
  const identity: StoreIdentity = {
    model: opts.model, hooks, dIn, dtype: opts.dtype, packing: opts.packing, dataset: opts.dataset,
    targetRows: opts.targetRows, shardRows, batchSize: opts.batchSize,
  };

  await mkdir(opts.dir, { recursive: true });
  const shards = await resumeState(opts.dir, identity);
  const manifest = (complete: boolean): StoreManifest => ({
    format: STORE_FORMAT, formatVersion: STORE_FORMAT_VERSION, saelabVersion: SAELAB_VERSION, ...identity, layout: LAYOUT_DESCRIPTION,
    shards: [...shards.entries], totalRows: shards.entries.reduce((s, e) => s + e.rows, 0), complete,
  });
  if (shards.complete) return { manifest: manifest(true), resumedFromRows: manifest(true).totalRows, exhausted: manifest(true).totalRows < opts.targetRows, stats: null };
  const resumedFromRows = shards.entries.reduce((s, e) => s + e.rows, 0);

  // The shard being filled: per-hook rows and token ids.
  const values = new Map(hooks.map((h) => [h, new Float32Array(shardRows * d)]));
  const ids = new Int32Array(shardRows);
  let fill = 0;
  let total = resumedFromRows;
  const pending = new Map<string, Float32Array>();
  const progress = (): void | Promise<void> => opts.onProgress?.({ rows: total, targetRows: opts.targetRows, shards: shards.entries.length, resumedFromRows });

  const flush = async (): Promise<void> => {
    const shard = { rows: fill, values: new Map(hooks.map((h) => [h, values.get(h)!.subarray(0, fill * d)])), ids: ids.subarray(0, fill) };
    shards.entries.push(await writeShard(opts.dir, shardName(shards.entries.length), hooks, opts.dtype, shard));
    fill = 0;
    await writeFileAtomic(join(opts.dir, MANIFEST_FILE), JSON.stringify(manifest(false), null, 2) + '\n');
    await progress();
  };

  const stats = await harvestActivations(opts.runner, opts.windows, {
    hooks, batchSize: opts.batchSize, startRow: resumedFromRows, maxRows: opts.targetRows,
    onBatch: async (hook, rows, info) => {
      pending.set(hook, rows);
      if (pending.size < hooks.length) return; // every hook of this batch first
      const n = info.ids.length;
      let done = 0;
      while (done < n) {
        const take = Math.min(n - done, shardRows - fill);
        for (const h of hooks) values.get(h)!.set(pending.get(h)!.subarray(done * d, (done + take) * d), fill * d);
        ids.set(info.ids.subarray(done, done + take), fill);
        fill += take;
        done += take;
        total += take;
        if (fill === shardRows) await flush();
      }
      pending.clear();
      await progress();
    },
  });
  if (fill > 0) await flush();
  // An empty "complete" store would only fail later, in train: say now that the corpus is too short.
  if (total === 0) throw new DataError(`${opts.dataset.path}: the corpus gives no ${opts.packing.contextSize}-token window with a kept position (too short or empty); use more text or a smaller --context-size`);
  const final = manifest(true);
  await writeFileAtomic(join(opts.dir, MANIFEST_FILE), JSON.stringify(final, null, 2) + '\n');
  return { manifest: final, resumedFromRows, exhausted: final.totalRows < opts.targetRows, stats };
}

/** The shards already in `dir` (checked) when its manifest matches `identity`; a DataError when it does not. */
async function resumeState(dir: string, identity: StoreIdentity): Promise<{ entries: ShardEntry[]; complete: boolean }> {
  const entries = await readdir(dir);
  // Temp files of a killed write: never part of the store (a live writer's are its own).
  await cleanStaleTemps(dir);
  const m = await readManifest(dir);
  if (!m) {
    const foreign = entries.filter((e) => !e.startsWith('.') && !/^shard-\d{5,}\.bin$/.test(e));
    if (foreign.length) throw new DataError(`${dir}: not empty and not an activation store (has ${foreign.slice(0, 3).join(', ')}); choose an empty or new --out folder`);
    return { entries: [], complete: false };
  }
  const why = identityMismatch(m, identity);
  if (why) throw new DataError(`${dir} holds a harvest with different options (${why}); use the same options to resume it, or a new --out folder`);
  // Check what is there before building on it: a bad shard would poison the whole store.
  for (const e of m.shards) await readVerifiedShard(dir, e);
  return { entries: [...m.shards], complete: m.complete };
}
