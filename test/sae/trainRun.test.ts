// `trainRun` end to end on the real gpt2-corpus-tiny and the shared corpus (CPU): the loss falls,
// the saved folders load back exactly, two seeds in one run differ from one stream, the workspace
// database and the JSONL log are filled; a run killed (AbortSignal) after a checkpoint and resumed
// ends bit-identical to an uninterrupted one; bad input fails before any SAE folder exists.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { openWorkspaceDb } from '../../src/io/workspaceDb.js';
import { loadSae } from '../../src/sae/saeFiles.js';
import { readTrainLog } from '../../src/sae/trainLog.js';
import { saeFolderName, sweepConfigs, trainRun, type TrainRunOptions } from '../../src/sae/trainRun.js';
import { writeActivationStore } from '../../src/data/activationStore.js';
import { packSettings, packTokens } from '../../src/data/packTokens.js';
import { readDocuments } from '../../src/data/textSource.js';
import { loadTokenizer } from '../../src/model/tokenizers/index.js';
import { Transformer } from '../../src/model/transformer.js';
import { ASSETS, needsAsset, tempDir } from '../io/assets.js';

const MODEL = join(ASSETS, 'models/gpt2-corpus-tiny');
const CORPUS = join(ASSETS, 'corpora/mixed-public-domain.txt.xz');
const skip = needsAsset('models/gpt2-corpus-tiny') || needsAsset('corpora/mixed-public-domain.txt.xz');

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The weights of a saved SAE folder as host arrays, by name. */
async function folderWeights(dir: string): Promise<Record<string, Float32Array>> {
  const sae = await loadSae(dir, cpu);
  const out: Record<string, Float32Array> = {};
  for (const [k, t] of Object.entries(sae.params)) if (t) out[k] = (await t.read()) as Float32Array;
  return out;
}

test('a small real run: loss falls, folders load back exactly, two seeds differ, log and db filled', { skip, timeout: 300_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const out = join(dir, 'run');
    const opts: TrainRunOptions = {
      device: cpu, model: MODEL, data: CORPUS, hook: 'blocks.2.hook_resid_pre', arch: 'topk', k: 16, dSae: 384, seeds: [0, 1],
      tokens: 40_960, batchSize: 512, lr: 1e-3, contextSize: 64, logEvery: 4, checkpointEvery: 1e9, sparsityTokens: 8192, out,
    };
    const progress: number[] = [];
    const r = await trainRun(opts, { onProgress: (p) => progress.push(p.step) });
    assert.equal(r.steps, 80);
    assert.equal(r.tokens, 80 * 512);
    assert.equal(progress.length, 80);
    assert.equal(r.saes.length, 2);
    assert.ok(r.normScalingFactor! > 0);
    console.log(`end-to-end harvest+train: ${Math.round(r.tokensPerSecond)} tokens/s (${r.seconds.toFixed(1)} s for ${r.tokens} tokens, 2 SAEs 192×384)`);

    // The logged loss falls for every SAE.
    const rows = await readTrainLog(r.logFile);
    for (const i of [0, 1]) {
      const losses = rows.filter((x) => x.saeIndex === i).map((x) => x.loss);
      assert.equal(losses.length, 20);
      const q = Math.floor(losses.length / 4);
      assert.ok(mean(losses.slice(-q)) < mean(losses.slice(0, q)), `SAE ${i}: last-quarter loss ${mean(losses.slice(-q))} ≥ first-quarter ${mean(losses.slice(0, q))}`);
    }

    // Folders: names, cfg.json metadata, weights equal to the final checkpoint's.
    assert.deepEqual(r.saes.map((s) => s.path), [join(out, 'topk-k16-s0'), join(out, 'topk-k16-s1')]);
    const ck = readdirSync(join(out, 'checkpoints')).filter((n) => n.startsWith('step-'));
    assert.deepEqual(ck, ['step-00000080']);
    for (const i of [0, 1]) {
      const loaded = await loadSae(r.saes[i]!.path, cpu);
      assert.equal(loaded.format, 'saelens');
      assert.equal(loaded.cfg.architecture, 'topk');
      assert.equal(loaded.cfg.k, 16);
      assert.equal(loaded.cfg.dSae, 384);
      assert.equal(loaded.cfg.seed, i);
      assert.equal(loaded.cfg.decoderUnitNorm, true);
      // Trained on scaled inputs; the folder holds the factor folded into the weights (SAELens's layout).
      assert.equal(loaded.cfg.normalizeActivations, 'none');
      assert.equal(loaded.foldedNormScalingFactor, r.normScalingFactor);
      assert.equal(loaded.metadata.hook_name, 'blocks.2.hook_resid_pre');
      assert.equal(loaded.metadata.hook_layer, 2);
      assert.equal(loaded.metadata.context_size, 64);
      assert.equal(loaded.metadata.prepend_bos, true);
      assert.equal(loaded.metadata.dataset_path, basename(CORPUS));
      assert.equal(loaded.metadata.saelab_dataset_path, CORPUS);
      assert.ok(typeof loaded.metadata.saelab_version === 'string');
      assert.equal(loaded.sparsity!.length, 384);
      assert.ok(loaded.sparsity!.every((v) => Number.isFinite(v) && v <= 0));
      const f = await SafetensorsFile.open(join(out, 'checkpoints', 'step-00000080', `sae-${i}.safetensors`));
      try {
        const w = await folderWeights(r.saes[i]!.path);
        const s = r.normScalingFactor!;
        for (const name of ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const) {
          const want = Float32Array.from(await f.readF32(name), (v) => (name === 'W_enc' ? v * s : name === 'b_enc' ? v : v / s));
          assert.deepEqual(w[name], want, `${name} of SAE ${i}`);
        }
      } finally {
        await f.close();
      }
    }
    const [w0, w1] = [await folderWeights(r.saes[0]!.path), await folderWeights(r.saes[1]!.path)];
    assert.notDeepEqual(w0.W_dec, w1.W_dec);
    // One stream: the same b_dec initialisation (geometric median of the same sample) for both seeds,
    // so their b_dec stay close while the random decoders differ.
    assert.equal(w0.b_dec!.length, 192);

    // The workspace database holds the run, both SAEs with their paths, and the metrics.
    const db = openWorkspaceDb(r.db);
    try {
      const run = db.getRun(r.runId)!;
      assert.equal(run.kind, 'train');
      assert.equal(run.status, 'done');
      const saes = db.listSaes(r.runId);
      assert.deepEqual(saes.map((s) => s.path), r.saes.map((s) => s.path));
      assert.equal(db.readMetrics(saes[0]!.id, { name: 'loss' }).length, 20);
    } finally {
      db.close();
    }
  } finally {
    cleanup();
  }
});

test('killed after a checkpoint and resumed: bit-identical to the uninterrupted run', { skip, timeout: 300_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const base = (out: string): TrainRunOptions => ({
      device: cpu, model: MODEL, data: CORPUS, hook: 'blocks.1.hook_resid_post', arch: 'topk', k: 8, dSae: 96, seeds: [3],
      tokens: 12 * 256, batchSize: 256, lr: 1e-3, contextSize: 32, bufferBatches: 4, logEvery: 2, checkpointEvery: 4 * 256, sparsityTokens: 10 * 256, out,
    });
    const whole = await trainRun(base(join(dir, 'a')));
    assert.equal(whole.steps, 12);

    const ac = new AbortController();
    const part = await trainRun(base(join(dir, 'b')), { signal: ac.signal, onProgress: (p) => p.step === 6 && ac.abort() });
    assert.equal(part.aborted, true);
    assert.equal(part.steps, 6);
    assert.equal(existsSync(join(dir, 'b', 'topk-k8-s3')), false, 'no SAE folder from an aborted run');
    const resumed = await trainRun({ ...base(join(dir, 'b')), resume: true });
    assert.equal(resumed.resumedFromStep, 6);
    assert.equal(resumed.steps, 12);
    assert.equal(resumed.runId, part.runId, 'the resumed run continues the same workspace run');

    const a = await loadSae(whole.saes[0]!.path, cpu);
    const b = await loadSae(resumed.saes[0]!.path, cpu);
    for (const k of ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const) assert.deepEqual(await b.params[k].read(), await a.params[k].read(), k);
    // The sparsity window (steps 2–11) spans the kill at step 6: its counts came through the checkpoint.
    assert.deepEqual(b.sparsity, a.sparsity);
    const strip = (rows: Awaited<ReturnType<typeof readTrainLog>>) => rows.map(({ tokensPerSecond: _t, ...r }) => r);
    assert.deepEqual(strip(await readTrainLog(resumed.logFile)), strip(await readTrainLog(whole.logFile)));

    // A fresh run over old checkpoints, or a resume of a finished run, is refused.
    await assert.rejects(trainRun(base(join(dir, 'b'))), (e: Error) => e.name === 'UsageError' && /holds checkpoints of an earlier run/.test(e.message));
    await assert.rejects(trainRun({ ...base(join(dir, 'b')), resume: true }), (e: Error) => e.name === 'UsageError' && /already finished/.test(e.message));
  } finally {
    cleanup();
  }
});

test('bad input fails before any SAE folder exists', { skip, timeout: 120_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const out = join(dir, 'bad');
    const base: TrainRunOptions = { device: cpu, model: MODEL, data: CORPUS, arch: 'topk', dSae: 64, tokens: 1024, batchSize: 256, out };
    await assert.rejects(trainRun({ ...base, hook: 'blocks.2.hook_resid_pr' }), (e: Error) => e.name === 'ModelError' && /did you mean "blocks\.2\.hook_resid_pre"/.test(e.message));
    await assert.rejects(trainRun({ ...base, k: 65 }), (e: Error) => e.name === 'UsageError' && /--k 65 is larger than --d-sae 64/.test(e.message));
    assert.equal(existsSync(out) && readdirSync(out).some((n) => n.startsWith('topk')), false);
  } finally {
    cleanup();
  }
});

test('from an activation store: trains, records the store in cfg.json; a diverging run stops naming step and hook', { skip, timeout: 120_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const model = await Transformer.load(MODEL, cpu);
    const tok = await loadTokenizer(MODEL);
    const packing = packSettings({ contextSize: 32 }, tok);
    const storeDir = join(dir, 'store');
    try {
      await writeActivationStore({
        dir: storeDir, runner: model, windows: packTokens(readDocuments(CORPUS), tok, packing), model: MODEL, hooks: ['blocks.1.hook_resid_post'],
        dtype: 'f32', packing, dataset: { path: CORPUS, textField: 'text', docSeparator: '<|endoftext|>' }, targetRows: 2048, batchSize: 8, shardRows: 512,
      });
    } finally {
      model.dispose();
    }
    const r = await trainRun({ device: cpu, store: storeDir, arch: 'batchtopk', k: 8, dSae: 96, tokens: 3072, batchSize: 256, out: join(dir, 'run'), logEvery: 2 });
    assert.equal(r.source, 'store');
    assert.equal(r.hook, 'blocks.1.hook_resid_post');
    assert.equal(r.steps, 12);
    const loaded = await loadSae(r.saes[0]!.path, cpu);
    assert.equal(loaded.cfg.architecture, 'batchtopk');
    assert.equal(loaded.metadata.context_size, 32);
    assert.equal(loaded.metadata.hook_layer, 1);
    assert.ok(loaded.params.threshold);

    // An absurd learning rate blows the loss up: a one-line DataError naming step and hook, no SAE folder.
    const out = join(dir, 'diverge');
    await assert.rejects(
      trainRun({ device: cpu, store: storeDir, arch: 'standard', l1: 1, dSae: 96, tokens: 2048, batchSize: 256, lr: 1e38, out, logEvery: 1, checkpointEvery: 256 }),
      (e: Error) => e.name === 'DataError' && /non-finite loss .* at step \d+ for SAE standard-l1_1-s0 at hook blocks\.1\.hook_resid_post/.test(e.message),
    );
    assert.equal(existsSync(join(out, 'standard-l1_1-s0')), false);
  } finally {
    cleanup();
  }
});

test('sweepConfigs: the cross product of seeds × widths × ks (or l1s), seed-major; folder names carry the width only when asked', () => {
  const base = { dIn: 8, seeds: [0, 1], ks: [2, 4], l1s: [1, 5], decoderUnitNorm: true, normalize: true };
  const topk = sweepConfigs({ ...base, arch: 'topk', dSaes: [16, 32] });
  assert.deepEqual(topk.map((c) => [c.seed, c.dSae, c.k]), [
    [0, 16, 2], [0, 16, 4], [0, 32, 2], [0, 32, 4],
    [1, 16, 2], [1, 16, 4], [1, 32, 2], [1, 32, 4],
  ]);
  assert.ok(topk.every((c) => c.architecture === 'topk' && c.dIn === 8 && c.l1Coefficient === undefined));
  assert.deepEqual(topk.slice(0, 4).map((c) => saeFolderName(c, true)), ['topk-k2-d16-s0', 'topk-k4-d16-s0', 'topk-k2-d32-s0', 'topk-k4-d32-s0']);
  assert.equal(new Set(topk.map((c) => saeFolderName(c, true))).size, 8);
  assert.equal(saeFolderName(topk[0]!), 'topk-k2-s0');

  const std = sweepConfigs({ ...base, arch: 'standard', seeds: [3], dSaes: [16, 32, 64] });
  assert.deepEqual(std.map((c) => [c.dSae, c.l1Coefficient]), [[16, 1], [16, 5], [32, 1], [32, 5], [64, 1], [64, 5]]);
  assert.equal(saeFolderName(std[5]!, true), 'standard-l1_5-d64-s3');

  // The single-width form is unchanged.
  const one = sweepConfigs({ ...base, arch: 'batchtopk', dSae: 24 });
  assert.deepEqual(one.map((c) => [c.seed, c.dSae, c.k]), [[0, 24, 2], [0, 24, 4], [1, 24, 2], [1, 24, 4]]);
});

test('two widths from one stream: two folders, each with its d_sae in cfg.json and W_enc [d_in, d_sae]', { skip, timeout: 120_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const out = join(dir, 'widths');
    const r = await trainRun({
      device: cpu, model: MODEL, data: CORPUS, hook: 'blocks.1.hook_resid_post', arch: 'topk', k: 8, dSaes: [48, 96], seeds: [0],
      tokens: 4 * 256, batchSize: 256, lr: 1e-3, contextSize: 32, bufferBatches: 2, logEvery: 2, checkpointEvery: 1e9, sparsityTokens: 512, out,
    });
    assert.equal(r.steps, 4);
    assert.deepEqual(r.dSaes, [48, 96]);
    assert.deepEqual(r.saes.map((s) => s.path), [join(out, 'topk-k8-d48-s0'), join(out, 'topk-k8-d96-s0')]);
    assert.deepEqual(r.saes.map((s) => s.dSae), [48, 96]);
    for (const [i, d] of [48, 96].entries()) {
      const path = r.saes[i]!.path;
      const json = JSON.parse(readFileSync(join(path, 'cfg.json'), 'utf8')) as { d_sae: number; d_in: number; k: number };
      assert.equal(json.d_sae, d);
      assert.equal(json.k, 8);
      const loaded = await loadSae(path, cpu);
      assert.equal(loaded.cfg.dSae, d);
      assert.deepEqual(loaded.params.W_enc.shape, [r.dIn, d]);
      assert.deepEqual(loaded.params.W_dec.shape, [d, r.dIn]);
      assert.equal(loaded.sparsity!.length, d);
    }
    const db = openWorkspaceDb(r.db);
    try {
      assert.deepEqual(db.listSaes(r.runId).map((s) => s.dSae), [48, 96]);
    } finally {
      db.close();
    }

    // k must fit every width; --d-sae and --d-saes together are refused; both before any SAE folder.
    const bad = join(dir, 'bad');
    const base: TrainRunOptions = { device: cpu, model: MODEL, data: CORPUS, arch: 'topk', tokens: 1024, batchSize: 256, out: bad };
    await assert.rejects(trainRun({ ...base, k: 40, dSaes: [64, 32] }), (e: Error) => e.name === 'UsageError' && /--k 40 is larger than --d-saes width 32/.test(e.message));
    await assert.rejects(trainRun({ ...base, dSae: 64, dSaes: [32, 64] }), (e: Error) => e.name === 'UsageError' && /not both/.test(e.message));
    assert.equal(existsSync(bad) && readdirSync(bad).some((n) => n.startsWith('topk')), false);
  } finally {
    cleanup();
  }
});
