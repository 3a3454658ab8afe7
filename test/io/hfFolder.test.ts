import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Rng } from '../../src/compute/random.js';
import { bf16ToF32Array } from '../../src/io/dtypes.js';
import { HfFolderError, SafetensorsError } from '../../src/io/errors.js';
import { HfWeights, openHfFolder, readHfConfig } from '../../src/io/hfFolder.js';
import { serializeSafetensors } from '../../src/io/safetensorsWrite.js';
import { ASSETS, needsAsset, tempDir } from './assets.js';

const rng = new Rng(5);
const CONFIG = JSON.stringify({ model_type: 'gpt2', n_embd: 4 });

/** A folder with config.json and the given files. */
function folder(files: Record<string, string | Uint8Array>): { dir: string; cleanup: () => void } {
  const t = tempDir();
  for (const [name, content] of Object.entries(files)) writeFileSync(join(t.dir, name), content);
  return t;
}

/** Assert a promise rejects with HfFolderError whose file ends with `fileEnd` and problem matches `re`. */
async function rejectsHf(p: Promise<unknown>, fileEnd: string, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof HfFolderError, `expected HfFolderError, got ${String(e)}`);
    assert.ok(e.file.endsWith(fileEnd), `${e.file} should end with ${fileEnd}`);
    assert.match(e.problem, re);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
}

const a = rng.normalArray(6);
const b = rng.normalArray(4);
const shard1 = serializeSafetensors({ 'h.0.w': { dtype: 'F32', shape: [2, 3], data: a } }, { format: 'pt' });
const shard2 = serializeSafetensors({ 'h.1.w': { dtype: 'BF16', shape: [4], data: b }, extra: { dtype: 'U8', shape: [1], data: new Uint8Array([1]) } });
const index = (map: Record<string, string>) => JSON.stringify({ metadata: { total_size: 32 }, weight_map: map });

test('single-file folder: config and weights', async () => {
  const { dir, cleanup } = folder({ 'config.json': CONFIG, 'model.safetensors': shard1 });
  try {
    const m = await openHfFolder(dir);
    assert.equal(m.config.model_type, 'gpt2');
    assert.equal(m.config['n_embd'], 4);
    assert.deepEqual(m.weights.names(), ['h.0.w']);
    assert.deepEqual(m.weights.files(), [join(dir, 'model.safetensors')]);
    assert.deepEqual(await m.weights.readF32('h.0.w'), a);
    assert.equal(m.weights.info('h.0.w').file, join(dir, 'model.safetensors'));
    await rejectsHf(Promise.resolve().then(() => m.weights.info('nope')), dir, /no tensor named "nope"/);
    await m.close();
  } finally {
    cleanup();
  }
});

test('sharded folder: one view over the index\'s tensors', async () => {
  const { dir, cleanup } = folder({
    'config.json': CONFIG,
    'model-00001-of-00002.safetensors': shard1,
    'model-00002-of-00002.safetensors': shard2,
    'model.safetensors.index.json': index({ 'h.1.w': 'model-00002-of-00002.safetensors', 'h.0.w': 'model-00001-of-00002.safetensors' }),
  });
  try {
    const w = await HfWeights.open(dir);
    assert.deepEqual(w.names(), ['h.0.w', 'h.1.w']); // only what the index maps; sorted
    assert.ok(!w.has('extra'));
    assert.deepEqual(await w.readF32('h.0.w'), a);
    const info = w.info('h.1.w');
    assert.equal(info.dtype, 'BF16');
    assert.equal(info.file, join(dir, 'model-00002-of-00002.safetensors'));
    const bits = (await w.readTyped('h.1.w')) as Uint16Array;
    assert.deepEqual(await w.readF32('h.1.w'), bf16ToF32Array(bits));
    assert.equal((await w.readRaw('h.1.w')).byteLength, 8);
    await w.close();
  } finally {
    cleanup();
  }
});

test('folder errors: missing folder, no config, bad config, no weights (with hints)', async () => {
  await rejectsHf(readHfConfig('/nonexistent/saelab-model'), 'saelab-model', /does not exist/);
  const t = folder({ 'model.safetensors': shard1 });
  try {
    await rejectsHf(openHfFolder(t.dir), t.dir, /no config.json/);
    await rejectsHf(openHfFolder(join(t.dir, 'model.safetensors')), 'model.safetensors', /not a folder/);
    writeFileSync(join(t.dir, 'config.json'), '{"a":');
    await rejectsHf(openHfFolder(t.dir), 'config.json', /config.json is not valid JSON/);
    writeFileSync(join(t.dir, 'config.json'), '[1]');
    await rejectsHf(openHfFolder(t.dir), 'config.json', /not a JSON object/);
  } finally {
    t.cleanup();
  }
  const bin = folder({ 'config.json': CONFIG, 'pytorch_model.bin': 'x' });
  try {
    await rejectsHf(openHfFolder(bin.dir), bin.dir, /no weights: expected model.safetensors or model.safetensors.index.json \(found pytorch_model.bin: saelab reads only safetensors/);
  } finally {
    bin.cleanup();
  }
  const stray = folder({ 'config.json': CONFIG, 'weights.safetensors': shard1 });
  try {
    await rejectsHf(HfWeights.open(stray.dir), stray.dir, /found weights.safetensors, but no index/);
  } finally {
    stray.cleanup();
  }
});

test('index errors: bad JSON, no weight_map, missing shard, tensor not in its shard, shard outside the folder', async () => {
  const cases: [Record<string, string | Uint8Array>, string, RegExp][] = [
    [{ 'model.safetensors.index.json': '{' }, 'model.safetensors.index.json', /not valid JSON/],
    [{ 'model.safetensors.index.json': '{"metadata":{}}' }, 'index.json', /no "weight_map" object/],
    [{ 'model.safetensors.index.json': index({}) }, 'index.json', /weight_map is empty/],
    [{ 'model.safetensors.index.json': JSON.stringify({ weight_map: { x: 3 } }) }, 'index.json', /"x": shard is not a file name/],
    [{ 'model.safetensors.index.json': index({ 'h.0.w': 'model-00009.safetensors' }) }, 'index.json', /names shard "model-00009.safetensors" \(for 1 tensors\), but .* does not exist/],
    [{ 's1.safetensors': shard1, 'model.safetensors.index.json': index({ 'h.0.w': 's1.safetensors', 'h.9.w': 's1.safetensors' }) }, 'index.json', /maps tensor "h.9.w" to "s1.safetensors", which does not contain it/],
    [{ 'model.safetensors.index.json': index({ x: '../outside.safetensors' }) }, 'index.json', /is outside the folder/],
    [{ 'model.safetensors.index.json': index({ x: '/etc/passwd' }) }, 'index.json', /is outside the folder/],
  ];
  for (const [files, fileEnd, re] of cases) {
    const t = folder({ 'config.json': CONFIG, ...files });
    try {
      await rejectsHf(HfWeights.open(t.dir), fileEnd, re);
    } finally {
      t.cleanup();
    }
  }
  // A corrupt shard is the shard's problem: SafetensorsError naming the shard.
  const t = folder({ 'config.json': CONFIG, 's1.safetensors': shard1.subarray(0, 50), 'model.safetensors.index.json': index({ 'h.0.w': 's1.safetensors' }) });
  try {
    await assert.rejects(HfWeights.open(t.dir), (e: unknown) => e instanceof SafetensorsError && e.file.endsWith('s1.safetensors'));
  } finally {
    t.cleanup();
  }
  // Shards in a subfolder are fine.
  const s = tempDir();
  try {
    mkdirSync(join(s.dir, 'w'));
    writeFileSync(join(s.dir, 'config.json'), CONFIG);
    writeFileSync(join(s.dir, 'w', 'a.safetensors'), shard1);
    writeFileSync(join(s.dir, 'model.safetensors.index.json'), index({ 'h.0.w': 'w/a.safetensors' }));
    const w = await HfWeights.open(s.dir);
    assert.deepEqual(await w.readF32('h.0.w'), a);
    await w.close();
  } finally {
    s.cleanup();
  }
});

const CORPUS = 'models/gpt2-corpus-tiny';

test('real sharded bf16 model: gpt2-corpus-tiny', { skip: needsAsset(CORPUS) }, async () => {
  const dir = join(ASSETS, CORPUS);
  const m = await openHfFolder(dir);
  try {
    const idx = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
    assert.deepEqual(m.weights.names(), Object.keys(idx.weight_map).sort());
    assert.equal(m.weights.files().length, 2);
    const hidden = m.config['n_embd'] as number;
    const vocab = m.config['vocab_size'] as number;
    const wte = m.weights.info('transformer.wte.weight');
    assert.equal(wte.dtype, 'BF16');
    assert.deepEqual(wte.shape, [vocab, hidden]);
    assert.ok(wte.file.endsWith('model-00001-of-00002.safetensors'));
    // wte is bigger than one read chunk, so this exercises the chunked BF16 -> f32 path.
    const bits = (await m.weights.readTyped('transformer.wte.weight')) as Uint16Array;
    const f32 = await m.weights.readF32('transformer.wte.weight');
    assert.equal(f32.length, vocab * hidden);
    assert.deepEqual(f32, bf16ToF32Array(bits));
    assert.ok(f32.every(Number.isFinite));
    let total = 0;
    for (const n of m.weights.names()) total += m.weights.info(n).numel;
    const report = JSON.parse(readFileSync(join(dir, 'train-report.json'), 'utf8')) as { lm_params: number };
    assert.equal(total, report.lm_params);
    const ln = await m.weights.readF32('transformer.ln_f.weight');
    assert.equal(ln.length, hidden);
  } finally {
    await m.close();
  }
});
