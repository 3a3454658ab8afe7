// The on-disk activation store: a round trip (f32 and bf16) equal to the harvested rows, checksums
// catching a corrupted shard, kill-and-resume giving byte-identical shards and manifest, options
// mismatches refused, seeded shuffled reading across shards, and `saelab harvest` end to end.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import { main } from '../../src/cli/main.js';
import { writeActivationStore, type WriteStoreOptions } from '../../src/data/activationStore.js';
import { ActivationStoreReader } from '../../src/data/activationStoreReader.js';
import { DataError } from '../../src/data/errors.js';
import { harvestActivations } from '../../src/data/harvest.js';
import type { PackedWindow, PackSettings } from '../../src/data/packTokens.js';
import { readManifest } from '../../src/data/storeManifest.js';
import { bf16ToF32Array, f32ToBf16Array } from '../../src/io/dtypes.js';
import { Transformer } from '../../src/model/transformer.js';
import { ASSETS, needsAsset, tempDir } from '../io/assets.js';

const FIXTURE = 'fixtures/gpt2-tiny-random';
const MODEL = 'models/gpt2-corpus-tiny';
const HOOKS = ['blocks.0.hook_resid_post', 'blocks.2.hook_resid_pre'];
const T = 16;
const PACKING: PackSettings = { contextSize: T, prependBos: true, separator: 'eos', excludeSpecial: true, excludeFirst: false };

function windows(n: number, vocab: number): PackedWindow[] {
  const rng = new Rng(11);
  return Array.from({ length: n }, () => {
    const ids = Int32Array.from({ length: T }, () => rng.int(vocab));
    const exclude = Uint8Array.from({ length: T }, (_, t) => (t === 0 || rng.uniform() < 0.1 ? 1 : 0));
    return { ids, exclude };
  });
}

/** Harvest straight into memory (the reference the store must reproduce). */
async function inMemory(model: Transformer, ws: PackedWindow[], maxRows: number): Promise<{ rows: Map<string, Float32Array>; ids: Int32Array }> {
  const parts = new Map<string, number[]>(HOOKS.map((h) => [h, []]));
  const ids: number[] = [];
  await harvestActivations(model, ws, {
    hooks: HOOKS, batchSize: 4, maxRows,
    onBatch: (h, r, info) => {
      parts.get(h)!.push(...r);
      if (h === HOOKS[0]) ids.push(...info.ids);
    },
  });
  return { rows: new Map([...parts].map(([h, v]) => [h, Float32Array.from(v)])), ids: Int32Array.from(ids) };
}

async function readAll(dir: string, hook: string): Promise<Float32Array> {
  const r = await ActivationStoreReader.open(dir);
  const parts: number[] = [];
  for await (const rows of r.rows(hook)) parts.push(...rows);
  return Float32Array.from(parts);
}

function files(dir: string): Map<string, Buffer> {
  return new Map(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f))]));
}

const skip = needsAsset(FIXTURE);
const load = () => Transformer.load(join(ASSETS, FIXTURE), cpu);
const base = (model: Transformer, ws: PackedWindow[], dir: string): WriteStoreOptions => ({
  dir, runner: model, windows: ws, model: 'gpt2-tiny-random', hooks: HOOKS, dtype: 'f32', packing: PACKING,
  dataset: { path: '/synthetic', textField: 'text', docSeparator: null }, targetRows: 230, shardRows: 50, batchSize: 4,
});

test('round trip: shards hold exactly the harvested rows and token ids (f32), and bf16 rounds them', { skip }, async () => {
  const model = await load();
  const ws = windows(20, model.config.vocabSize);
  const ref = await inMemory(model, ws, 230);
  const { dir, cleanup } = tempDir();
  try {
    const r = await writeActivationStore(base(model, ws, join(dir, 'f32')));
    const m = r.manifest;
    assert.equal(m.totalRows, 230);
    assert.deepEqual(m.shards.map((s) => s.rows), [50, 50, 50, 50, 30]);
    assert.deepEqual(m.shards.map((s) => s.file), ['shard-00000.bin', 'shard-00001.bin', 'shard-00002.bin', 'shard-00003.bin', 'shard-00004.bin']);
    assert.equal(m.complete, true);
    assert.deepEqual(m.dIn, { [HOOKS[0]!]: 64, [HOOKS[1]!]: 64 });
    assert.equal(m.shards[0]!.bytes, 50 * (64 * 4 * 2 + 4));
    assert.deepEqual(await readManifest(join(dir, 'f32')), m, 'the manifest on disk is the one returned');
    for (const h of HOOKS) assert.deepEqual(await readAll(join(dir, 'f32'), h), ref.rows.get(h));
    const reader = await ActivationStoreReader.open(join(dir, 'f32'));
    const ids = [...(await reader.readShard(0)).ids, ...(await reader.readShard(1)).ids];
    assert.deepEqual(ids, [...ref.ids.subarray(0, 100)]);
    await reader.verify();

    await writeActivationStore({ ...base(model, ws, join(dir, 'bf16')), dtype: 'bf16' });
    for (const h of HOOKS) assert.deepEqual(await readAll(join(dir, 'bf16'), h), bf16ToF32Array(f32ToBf16Array(ref.rows.get(h)!)));
    assert.equal((await readManifest(join(dir, 'bf16')))!.shards[0]!.bytes, 50 * (64 * 2 * 2 + 4));
  } finally {
    cleanup();
    model.dispose();
  }
});

test('a corrupted or truncated shard is a DataError naming it, on read, verify and resume', { skip }, async () => {
  const model = await load();
  const ws = windows(20, model.config.vocabSize);
  const { dir, cleanup } = tempDir();
  try {
    await writeActivationStore(base(model, ws, dir));
    const p = join(dir, 'shard-00002.bin');
    const bytes = readFileSync(p);
    bytes[1234] ^= 0x01;
    writeFileSync(p, bytes);
    const reader = await ActivationStoreReader.open(dir);
    await reader.readShard(1);
    const named = (e: Error) => e instanceof DataError && /shard-00002\.bin: shard checksum mismatch/.test(e.message);
    await assert.rejects(reader.readShard(2), named);
    await assert.rejects(reader.verify(), named);
    await assert.rejects(async () => {
      for await (const _ of reader.batches({ hook: HOOKS[0]!, batchSize: 16, seed: 1 })) void _;
    }, named);
    await assert.rejects(writeActivationStore(base(model, ws, dir)), named);
    writeFileSync(p, bytes.subarray(0, 100));
    await assert.rejects(reader.readShard(2), /shard-00002\.bin: shard is 100 bytes, the manifest says/);
  } finally {
    cleanup();
    model.dispose();
  }
});

test('kill and resume: interrupted after shard 1, then resumed, gives byte-identical shards and manifest', { skip }, async () => {
  const model = await load();
  const ws = windows(20, model.config.vocabSize);
  const { dir, cleanup } = tempDir();
  try {
    const once = join(dir, 'once');
    const twice = join(dir, 'twice');
    await writeActivationStore(base(model, ws, once));
    // "Kill" the harvest as soon as shard 1 (the second) is on disk.
    await assert.rejects(
      writeActivationStore({
        ...base(model, ws, twice),
        onProgress: (p) => {
          if (p.shards === 2) throw new Error('killed');
        },
      }),
      /killed/,
    );
    const partial = (await readManifest(twice))!;
    assert.equal(partial.complete, false);
    assert.equal(partial.shards.length, 2);
    assert.ok(!existsSync(join(twice, 'shard-00002.bin')));
    writeFileSync(join(twice, '.shard-00002.bin.999.abcdef.tmp'), 'half a shard from a killed write');
    let forwards = 0;
    const orig = model.forward.bind(model);
    model.forward = (...a) => {
      forwards++;
      return orig(...a);
    };
    const r = await writeActivationStore(base(model, ws, twice));
    model.forward = orig;
    assert.equal(r.resumedFromRows, 100);
    assert.ok(forwards < 5, `batches before the resume point skipped (${forwards} forwards)`);
    assert.deepEqual(files(twice), files(once), 'same files, same bytes (manifest included); the temp file is gone');
    // A complete store: running again does nothing.
    const again = await writeActivationStore(base(model, ws, twice));
    assert.equal(again.stats, null);
    assert.deepEqual(files(twice), files(once));
  } finally {
    cleanup();
    model.dispose();
  }
});

test('different options for an existing store, a foreign folder and an incomplete store are refused', { skip }, async () => {
  const model = await load();
  const ws = windows(20, model.config.vocabSize);
  const { dir, cleanup } = tempDir();
  try {
    await assert.rejects(writeActivationStore({ ...base(model, ws, dir), onProgress: () => { throw new Error('killed'); } }), /killed/);
    await assert.rejects(ActivationStoreReader.open(dir), /harvest is incomplete/);
    assert.equal((await ActivationStoreReader.open(dir, { allowIncomplete: true })).manifest.complete, false);
    await assert.rejects(writeActivationStore({ ...base(model, ws, dir), dtype: 'bf16' }), (e: Error) => e instanceof DataError && /different options \(dtype: "f32" ≠ "bf16"\)/.test(e.message));
    await assert.rejects(writeActivationStore({ ...base(model, ws, dir), hooks: [HOOKS[0]!] }), /different options \(hooks/);
    await assert.rejects(writeActivationStore({ ...base(model, ws, dir), batchSize: 8 }), /different options \(batchSize/);
    await assert.rejects(writeActivationStore({ ...base(model, ws, dir), packing: { ...PACKING, excludeFirst: true } }), /different options \(packing/);
    const other = join(dir, 'other');
    await writeActivationStore({ ...base(model, ws, other), targetRows: 10 });
    writeFileSync(join(other, 'manifest.json'), '{}');
    await assert.rejects(writeActivationStore(base(model, ws, other)), /not a saelab activation store manifest/);
    const foreign = join(dir, 'foreign');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'notes.txt'), 'x');
    await assert.rejects(writeActivationStore(base(model, ws, foreign)), (e: Error) => e instanceof DataError && /not empty and not an activation store \(has notes\.txt\)/.test(e.message));
    await assert.rejects(ActivationStoreReader.open(join(dir, 'nothing')), /no manifest\.json/);
  } finally {
    cleanup();
    model.dispose();
  }
});

test('shuffled batches across shards: seeded, every row once, shards mixed', { skip }, async () => {
  const model = await load();
  const ws = windows(20, model.config.vocabSize);
  const { dir, cleanup } = tempDir();
  try {
    await writeActivationStore(base(model, ws, dir));
    const reader = await ActivationStoreReader.open(dir);
    const hook = HOOKS[1]!;
    const get = async (seed: number): Promise<Float32Array[]> => {
      const out: Float32Array[] = [];
      for await (const b of reader.batches({ hook, batchSize: 16, seed })) out.push(b);
      return out;
    };
    const a = await get(7);
    assert.deepEqual(await get(7), a);
    assert.notDeepEqual(await get(8), a);
    const key = (x: Float32Array, i: number) => Array.from(x.subarray(i * 64, (i + 1) * 64)).join(',');
    const rowsOf = (bs: Float32Array[]) => bs.flatMap((b) => Array.from({ length: b.length / 64 }, (_, i) => key(b, i))).sort();
    const all = await readAll(dir, hook);
    assert.deepEqual(rowsOf(a), rowsOf([all]));
    assert.equal(a[0]!.length, 16 * 64);
    // The first batch already draws from more than one shard.
    const shardOf = new Map(Array.from({ length: 230 }, (_, i) => [key(all, i), Math.floor(i / 50)]));
    assert.ok(new Set(Array.from({ length: 16 }, (_, i) => shardOf.get(key(a[1]!, i)))).size > 1);
    await assert.rejects(async () => {
      for await (const _ of reader.batches({ hook: 'blocks.1.hook_mlp_out', batchSize: 4, seed: 0 })) void _;
    }, /no hook "blocks\.1\.hook_mlp_out"/);
    // Chunks of 7 rows in random order (the default is STORE_CHUNK_ROWS): every row once, seeded; a
    // chunk read by byte range equals those rows of the shard.
    const chunked = async (seed: number): Promise<Float32Array[]> => {
      const out: Float32Array[] = [];
      for await (const b of reader.batches({ hook, batchSize: 16, seed, chunkRows: 7, bufferRows: 32 })) out.push(b);
      return out;
    };
    const c = await chunked(5);
    assert.deepEqual(await chunked(5), c);
    assert.deepEqual(rowsOf(c), rowsOf([all]));
    assert.deepEqual(Array.from(await reader.readChunk(2, hook, 10, 7)), Array.from(all.subarray((2 * 50 + 10) * 64, (2 * 50 + 17) * 64)));
    // With a buffer of only 32 rows, the first batch already holds rows of ≥ 3 shards (whole shards through it: 1 or 2).
    assert.ok(new Set(Array.from({ length: 16 }, (_, i) => shardOf.get(key(c[0]!, i)))).size >= 3);
    // bufferRows ≥ the store's rows: a full permutation per epoch (every row once per epoch, 2 epochs
    // of 230 rows = 28 batches of 16 and one of 12), seeded, and not the store's order.
    const perm = async (seed: number): Promise<Float32Array[]> => {
      const out: Float32Array[] = [];
      for await (const b of reader.batches({ hook, batchSize: 16, seed, bufferRows: 230, epochs: 2 })) out.push(b);
      return out;
    };
    const p = await perm(3);
    assert.deepEqual(await perm(3), p);
    assert.deepEqual(p.map((b) => b.length / 64), [...new Array(28).fill(16), 12]);
    const flat = p.flatMap((b) => Array.from({ length: b.length / 64 }, (_, i) => key(b, i)));
    assert.deepEqual(flat.slice(0, 230).sort(), rowsOf([all]));
    assert.deepEqual(flat.slice(230).sort(), rowsOf([all]));
    assert.notDeepEqual(flat.slice(0, 230), flat.slice(230));
    // Rows of one shard spread over the epoch: the first 50 of the permutation come from ≥ 4 of the 5 shards.
    assert.ok(new Set(flat.slice(0, 50).map((k) => shardOf.get(k))).size >= 4);
  } finally {
    cleanup();
    model.dispose();
  }
});

/** Run the CLI in-process, capturing stdout and stderr. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const w1 = process.stdout.write.bind(process.stdout);
  const w2 = process.stderr.write.bind(process.stderr);
  // Only strings: node:test's own reporting goes through stdout as bytes and must pass on.
  process.stdout.write = ((s: string | Uint8Array, ...rest: never[]) => (typeof s === 'string' ? ((stdout += s), true) : w1(s, ...rest))) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array, ...rest: never[]) => (typeof s === 'string' ? ((stderr += s), true) : w2(s, ...rest))) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = w1;
    process.stderr.write = w2;
  }
}

test('saelab harvest on gpt2-corpus-tiny: a store, a resume that does nothing, mismatched options exit 2', { skip: needsAsset(MODEL) }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeFileSync(join(dir, 'corpus.jsonl'), ['Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse.', 'It was the best of times, it was the worst of times, it was the age of wisdom.', 'Mr. Speaker, Mr. President, members of Congress, my fellow Americans: the state of our union is strong.']
      .map((t) => JSON.stringify({ body: t })).join('\n').repeat(1) + '\n');
    const out = join(dir, 'store');
    const args = ['harvest', '--model', join(ASSETS, MODEL), '--hooks', 'blocks.2.hook_resid_post', '--data', join(dir, 'corpus.jsonl'), '--text-field', 'body', '--tokens', '40', '--out', out, '--context-size', '16', '--shard-tokens', '15', '--batch-size', '2', '--device', 'cpu', '--json'];
    const r = await cli(args);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as { rows: number; shards: number; tokensPerSecond: number; exhausted: boolean };
    assert.equal(rep.rows, 40);
    assert.equal(rep.shards, 3);
    assert.equal(rep.exhausted, false);
    const m = (await readManifest(out))!;
    assert.deepEqual([m.hooks, m.dIn, m.packing.contextSize, m.packing.prependBos, m.dataset.textField], [['blocks.2.hook_resid_post'], { 'blocks.2.hook_resid_post': 192 }, 16, true, 'body']);
    const again = await cli(args);
    assert.equal(again.code, 0);
    assert.equal((JSON.parse(again.stdout) as { resumedFromRows: number }).resumedFromRows, 40);
    const bad = await cli([...args.slice(0, -1), '--dtype', 'bf16', '--json']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /saelab: .*different options \(dtype/);
    const more = await cli([...args.slice(0, 9), '--tokens', '1000', '--out', join(dir, 'big'), '--context-size', '16', '--device', 'cpu', '--json']);
    assert.equal(more.code, 0, more.stderr);
    assert.equal((JSON.parse(more.stdout) as { exhausted: boolean }).exhausted, true, 'the tiny corpus runs out');
    const missing = await cli(['harvest', '--model', join(ASSETS, MODEL), '--hooks', 'blocks.0.hook_resid_pre', '--data', join(dir, 'nope.txt'), '--tokens', '10', '--out', join(dir, 'x'), '--device', 'cpu']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /saelab: .*nope\.txt: no such file or folder/);
  } finally {
    cleanup();
  }
});
