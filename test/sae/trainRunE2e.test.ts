// `trainRun` with end-to-end objectives on the real gpt2-corpus-tiny (CPU): an e2e+ds run trains
// (KL falls), records its objective in cfg.json and its terms in the log and workspace; a run killed
// after a checkpoint and resumed is bit-identical to the uninterrupted one; a warm start from a
// local SAE records its lineage and starts from its weights; bad input fails with a usage error
// before any folder exists.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { openWorkspaceDb } from '../../src/io/workspaceDb.js';
import { loadSae } from '../../src/sae/saeFiles.js';
import { readTrainLog } from '../../src/sae/trainLog.js';
import { trainRun, type TrainRunOptions } from '../../src/sae/trainRun.js';
import { ASSETS, needsAsset, tempDir } from '../io/assets.js';

const MODEL = join(ASSETS, 'models/gpt2-corpus-tiny');
const RM = join(ASSETS, 'models/gpt2-corpus-tiny-rm-hh');
const CORPUS = join(ASSETS, 'corpora/mixed-public-domain.txt.xz');
const skip = needsAsset('models/gpt2-corpus-tiny') || needsAsset('corpora/mixed-public-domain.txt.xz');
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

const base = (out: string, extra: Partial<TrainRunOptions> = {}): TrainRunOptions => ({
  device: cpu, model: MODEL, data: CORPUS, hook: 'blocks.2.hook_resid_pre', arch: 'standard', l1: 0.02, dSae: 96, seeds: [3],
  tokens: 12 * 256, batchSize: 256, lr: 2e-3, contextSize: 32, logEvery: 2, checkpointEvery: 4 * 256, sparsityTokens: 10 * 256, normTokens: 512,
  loss: 'e2e+ds', downstream: 'next:2', downstreamCoefficients: [0.5, 0.25], out, ...extra,
});

test('e2e+ds run: KL falls, cfg.json records the objective, terms logged; killed and resumed = uninterrupted', { skip, timeout: 300_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const kls: number[] = [];
    const whole = await trainRun(base(join(dir, 'a')), { onProgress: (p) => p.kl !== undefined && kls.push(p.kl) });
    assert.equal(whole.steps, 12);
    const rows = await readTrainLog(whole.logFile);
    assert.ok(rows.every((r) => r.terms && r.terms.kl! >= 0 && r.terms['ds:blocks.2.hook_resid_post'] !== undefined && r.terms['ds:blocks.3.hook_resid_post'] !== undefined));
    const k = rows.map((r) => r.terms!.kl!);
    assert.ok(mean(k.slice(-2)) < mean(k.slice(0, 2)), `KL falls: first ${k.slice(0, 2)}, last ${k.slice(-2)}`);
    assert.ok(kls.length > 0, 'progress reports the KL');
    const cfg = JSON.parse(readFileSync(join(whole.saes[0]!.path, 'cfg.json'), 'utf8')) as { metadata: { training_objective: { loss: string; kl_coefficient: number; downstream: { hook: string; coefficient: number }[] } } };
    assert.equal(cfg.metadata.training_objective.loss, 'e2e+ds');
    assert.equal(cfg.metadata.training_objective.kl_coefficient, 1);
    assert.deepEqual(cfg.metadata.training_objective.downstream.map((d) => [d.hook, d.coefficient]), [['blocks.2.hook_resid_post', 0.5], ['blocks.3.hook_resid_post', 0.25]]);
    const db = openWorkspaceDb(whole.db);
    const saeId = db.listSaes(whole.runId)[0]!.id;
    assert.ok(db.readMetrics(saeId, { name: 'kl' }).length === rows.length, 'the KL is a workspace metric');
    db.close();

    const ac = new AbortController();
    const part = await trainRun(base(join(dir, 'b')), { signal: ac.signal, onProgress: (p) => p.step === 6 && ac.abort() });
    assert.equal(part.aborted, true);
    const resumed = await trainRun({ ...base(join(dir, 'b')), resume: true });
    assert.equal(resumed.resumedFromStep, 6, 'the abort checkpointed step 6');
    const a = await loadSae(whole.saes[0]!.path, cpu);
    const b = await loadSae(resumed.saes[0]!.path, cpu);
    for (const p of ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const) assert.deepEqual(await b.params[p].read(), await a.params[p].read(), p);
    const strip = (rs: Awaited<ReturnType<typeof readTrainLog>>) => rs.map(({ tokensPerSecond: _t, ...r }) => r);
    assert.deepEqual(strip(await readTrainLog(resumed.logFile)), strip(rows));
  } finally {
    cleanup();
  }
});

test('warm start: a local SAE fine-tuned with e2e starts from its weights and records the lineage', { skip, timeout: 300_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const local = await trainRun(base(join(dir, 'local'), { loss: 'local', downstream: undefined, downstreamCoefficients: undefined, tokens: 8 * 256 }));
    const localPath = local.saes[0]!.path;
    const l = await loadSae(localPath, cpu);
    // Zero steps of learning rate: the fine-tuned SAE is the local one (the warm start is really used).
    const same = await trainRun(base(join(dir, 'ft0'), { loss: 'e2e', downstream: undefined, downstreamCoefficients: undefined, initFrom: localPath, lr: 1e-30, tokens: 2 * 256 }));
    const s = await loadSae(same.saes[0]!.path, cpu);
    for (const p of ['W_enc', 'b_enc', 'b_dec'] as const) {
      const x = (await s.params[p].read()) as Float32Array;
      const y = (await l.params[p].read()) as Float32Array;
      assert.ok(x.every((v, i) => Math.abs(v - y[i]!) <= 1e-6 * (1 + Math.abs(y[i]!))), p);
    }
    // Folders store the input scaling folded into the weights; the warm start unfolds it and keeps it.
    assert.ok(l.foldedNormScalingFactor !== undefined && l.foldedNormScalingFactor > 0, 'the local SAE normalised its inputs');
    assert.equal(s.foldedNormScalingFactor, l.foldedNormScalingFactor, 'the warm start keeps its normalisation factor');
    const cfg = JSON.parse(readFileSync(join(same.saes[0]!.path, 'cfg.json'), 'utf8')) as { metadata: { init_from: { path: string; objective: string } } };
    assert.equal(cfg.metadata.init_from.path, localPath);
    assert.equal(cfg.metadata.init_from.objective, 'local');

    // Mismatches: another width, another architecture, another hook.
    const bad = (extra: Partial<TrainRunOptions>) => trainRun(base(join(dir, 'bad'), { loss: 'e2e', downstream: undefined, downstreamCoefficients: undefined, initFrom: localPath, ...extra }));
    await assert.rejects(bad({ dSae: 64 }), (e: Error) => e.name === 'UsageError' && /d_sae 96, this run trains d_sae 64/.test(e.message));
    await assert.rejects(bad({ arch: 'topk', k: 8 }), (e: Error) => e.name === 'UsageError' && /a standard SAE, this run trains topk/.test(e.message));
    await assert.rejects(bad({ hook: 'blocks.1.hook_resid_pre' }), (e: Error) => e.name === 'UsageError' && /trained at blocks\.2\.hook_resid_pre/.test(e.message));
    await assert.rejects(bad({ seeds: [0, 1] }), (e: Error) => e.name === 'UsageError' && /--seeds 0,1 would train identical copies/.test(e.message));
    assert.equal(existsSync(join(dir, 'bad')), false, 'nothing written');
  } finally {
    cleanup();
  }
});

test('bad end-to-end input: one usage error, nothing written', { skip, timeout: 120_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const out = join(dir, 'x');
    const bad = (extra: Partial<TrainRunOptions>) => trainRun(base(out, extra));
    await assert.rejects(bad({ downstream: 'blocks.1.hook_resid_post' }), (e: Error) => e.name === 'UsageError' && /does not come after the SAE's hook blocks\.2\.hook_resid_pre/.test(e.message));
    await assert.rejects(bad({ downstream: 'next:9' }), (e: Error) => e.name === 'UsageError' && /only 4 residual hook/.test(e.message));
    await assert.rejects(bad({ downstreamCoefficients: [1, 2, 3] }), (e: Error) => e.name === 'UsageError' && /3 values for 2 downstream hooks/.test(e.message));
    await assert.rejects(bad({ loss: 'e2e' }), (e: Error) => e.name === 'UsageError' && /--downstream goes with --loss e2e\+ds/.test(e.message));
    await assert.rejects(bad({ loss: 'local' as const, downstream: undefined, downstreamCoefficients: undefined, klCoefficient: 2 }), (e: Error) => e.name === 'UsageError' && /--kl-coefficient goes with --loss e2e/.test(e.message));
    await assert.rejects(bad({ loss: 'bogus' as never }), (e: Error) => e.name === 'UsageError' && /--loss must be one of/.test(e.message));
    if (existsSync(RM)) await assert.rejects(bad({ model: RM, loss: 'e2e', downstream: undefined, downstreamCoefficients: undefined }), (e: Error) => e.name === 'UsageError' && /sequence classifier/.test(e.message));
    assert.equal(existsSync(out), false, 'no --out folder');
  } finally {
    cleanup();
  }
});

const HH = join(ASSETS, 'preference/hh-harmless-base-test.jsonl.gz');
test('reward run on HH pairs: the pair-difference term is logged and recorded; bad pairs and wrong models are usage errors', { skip: needsAsset('models/gpt2-corpus-tiny-rm-hh') || needsAsset('preference/hh-harmless-base-test.jsonl.gz'), timeout: 300_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const opts = (out: string, extra: Partial<TrainRunOptions> = {}): TrainRunOptions => ({
      device: cpu, model: RM, data: HH, hook: 'blocks.2.hook_resid_pre', arch: 'topk', k: 8, dSae: 96, seeds: [0], tokens: 4 * 256, batchSize: 256, lr: 1e-3, contextSize: 64,
      logEvery: 1, checkpointEvery: 1e9, normTokens: 256, loss: 'reward', rewardDifference: true, rewardCoefficient: 2, out, ...extra,
    });
    const r = await trainRun(opts(join(dir, 'rm')));
    assert.equal(r.steps, 4);
    const rows = await readTrainLog(r.logFile);
    assert.ok(rows.every((x) => typeof x.terms?.reward_diff === 'number' && x.terms.reward_diff >= 0));
    const cfg = JSON.parse(readFileSync(join(r.saes[0]!.path, 'cfg.json'), 'utf8')) as { metadata: { training_objective: { loss: string; reward_coefficient: number; pairs_per_batch: number } } };
    assert.equal(cfg.metadata.training_objective.loss, 'reward');
    assert.equal(cfg.metadata.training_objective.reward_coefficient, 2);
    assert.equal(cfg.metadata.training_objective.pairs_per_batch, 2);

    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"chosen": "a b c", "rejected": "a b"}\n{"prompt": "x", "chosen": "y"}\n');
    await assert.rejects(trainRun(opts(join(dir, 'b1'), { data: bad })), (e: Error) => e.name === 'DataError' && /bad\.jsonl:2: .*missing or not text: rejected/.test(e.message));
    await assert.rejects(trainRun(opts(join(dir, 'b2'), { model: MODEL })), (e: Error) => e.name === 'UsageError' && /needs a sequence-classification \(reward\) model/.test(e.message));
    await assert.rejects(trainRun(opts(join(dir, 'b3'), { data: undefined })), (e: Error) => e.name === 'UsageError' && /--loss reward needs --data/.test(e.message));
    assert.equal(existsSync(join(dir, 'b1')) || existsSync(join(dir, 'b2')) || existsSync(join(dir, 'b3')), false, 'nothing written');
  } finally {
    cleanup();
  }
});
