// `trainRun` / `saelab train` with SAEs at several hooks trained jointly (gpt2-corpus-tiny, CPU): one
// SAELens folder per hook under <out>/<hook>/, each cfg.json with its own hook, factor and the joint
// set; log rows per SAE with the shared KL and downstream terms; workspace rows per SAE with its hook;
// a run killed after a checkpoint and resumed is bit-identical to the uninterrupted one; bad input is
// one usage error (exit 2) with nothing written.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { openWorkspaceDb } from '../../src/io/workspaceDb.js';
import { loadSae } from '../../src/sae/saeFiles.js';
import { readTrainLog } from '../../src/sae/trainLog.js';
import { trainRun, type TrainRunOptions } from '../../src/sae/trainRun.js';
import { saelab, userLines } from '../helpers/cli.js';
import { ASSETS, needsAsset, tempDir } from '../io/assets.js';

const MODEL = join(ASSETS, 'models/gpt2-corpus-tiny');
const CORPUS = join(ASSETS, 'corpora/mixed-public-domain.txt.xz');
const skip = needsAsset('models/gpt2-corpus-tiny') || needsAsset('corpora/mixed-public-domain.txt.xz');
const H1 = 'blocks.1.hook_resid_pre';
const H3 = 'blocks.3.hook_resid_pre';

const base = (out: string, extra: Partial<TrainRunOptions> = {}): TrainRunOptions => ({
  device: cpu, model: MODEL, data: CORPUS, hook: `${H1},${H3}`, arch: 'topk', k: 8, dSae: 96, seeds: [3],
  tokens: 8 * 256, batchSize: 256, lr: 2e-3, contextSize: 32, logEvery: 2, checkpointEvery: 2 * 256, sparsityTokens: 4 * 256, normTokens: 512,
  loss: 'e2e+ds', downstream: 'next', out, ...extra,
});

test('joint e2e+ds at two hooks: folders per hook, cfg.json, log and workspace rows; killed and resumed = uninterrupted', { skip, timeout: 300_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const whole = await trainRun(base(join(dir, 'a')));
    assert.deepEqual(whole.hooks, [H1, H3]);
    assert.deepEqual(whole.saes.map((s) => [s.hook, s.path]), [[H1, join(dir, 'a', H1, 'topk-k8-s3')], [H3, join(dir, 'a', H3, 'topk-k8-s3')]]);
    const cfgs = whole.saes.map((s) => JSON.parse(readFileSync(join(s.path, 'cfg.json'), 'utf8')) as { metadata: { hook_name: string; hook_layer: number; training_objective: { loss: string; joint_hooks: string[]; downstream: { hook: string }[] } } });
    assert.deepEqual(cfgs.map((c) => [c.metadata.hook_name, c.metadata.hook_layer]), [[H1, 1], [H3, 3]]);
    for (const c of cfgs) {
      assert.deepEqual(c.metadata.training_objective.joint_hooks, [H1, H3]);
      assert.equal(c.metadata.training_objective.loss, 'e2e+ds');
      assert.deepEqual(c.metadata.training_objective.downstream.map((d) => d.hook), ['blocks.3.hook_resid_post'], 'next counts from the last SAE hook');
    }
    const [s1, s3] = await Promise.all(whole.saes.map((s) => loadSae(s.path, cpu)));
    assert.ok(s1!.foldedNormScalingFactor! > 0 && s3!.foldedNormScalingFactor! > 0);
    assert.notEqual(s1!.foldedNormScalingFactor, s3!.foldedNormScalingFactor, 'each hook has its own normalisation factor');
    const rows = await readTrainLog(whole.logFile);
    assert.equal(rows.length, 8, '4 logged steps × 2 SAEs');
    for (let i = 0; i < rows.length; i += 2) {
      assert.deepEqual([rows[i]!.saeIndex, rows[i + 1]!.saeIndex], [0, 1]);
      assert.equal(rows[i]!.terms!.kl, rows[i + 1]!.terms!.kl, 'the set shares one KL');
      assert.ok(rows[i]!.terms!['ds:blocks.3.hook_resid_post']! >= 0);
      assert.notEqual(rows[i]!.l0, undefined);
    }
    const db = openWorkspaceDb(whole.db);
    const saeRows = db.listSaes(whole.runId);
    assert.deepEqual(saeRows.map((r) => [r.hook, r.path]), whole.saes.map((s) => [s.hook, s.path]));
    assert.equal(db.readMetrics(saeRows[1]!.id, { name: 'kl' }).length, 4);
    db.close();

    const ac = new AbortController();
    const part = await trainRun(base(join(dir, 'b')), { signal: ac.signal, onProgress: (p) => p.step === 4 && ac.abort() });
    assert.equal(part.aborted, true);
    const resumed = await trainRun({ ...base(join(dir, 'b')), resume: true });
    assert.equal(resumed.resumedFromStep, 4);
    for (const [i, s] of whole.saes.entries()) {
      const a = await loadSae(s.path, cpu);
      const b = await loadSae(resumed.saes[i]!.path, cpu);
      for (const p of ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const) assert.deepEqual(await b.params[p].read(), await a.params[p].read(), `${s.hook} ${p}`);
    }
    const strip = (rs: Awaited<ReturnType<typeof readTrainLog>>) => rs.map(({ tokensPerSecond: _t, ...r }) => r);
    assert.deepEqual(strip(await readTrainLog(resumed.logFile)), strip(rows));
  } finally {
    cleanup();
  }
});

test('bad joint input: one usage error, nothing written', { skip, timeout: 120_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const out = join(dir, 'x');
    const bad = (extra: Partial<TrainRunOptions>) => trainRun(base(out, extra));
    const usage = (re: RegExp) => (e: Error) => (e.name === 'UsageError' || e.name === 'ModelError') && re.test(e.message);
    await assert.rejects(bad({ hook: `${H1},${H1}` }), usage(/--hook lists blocks\.1\.hook_resid_pre twice/));
    await assert.rejects(bad({ hook: `${H1},blocks.9.hook_resid_pre` }), usage(/unknown hook "blocks\.9\.hook_resid_pre"/));
    await assert.rejects(bad({ loss: 'local', downstream: undefined }), usage(/--hook lists 2 hooks.*use --loss e2e or e2e\+ds/));
    await assert.rejects(bad({ initFrom: dir }), usage(/--init-from takes one hook's SAE folder/));
    await assert.rejects(bad({ downstream: 'blocks.2.hook_resid_post' }), usage(/does not come after the SAE's hook blocks\.3\.hook_resid_pre/));
    assert.equal(existsSync(out), false, 'no --out folder');

    // The command line: one line on stderr, exit 2.
    for (const [args, re] of [
      [['--hook', `${H1},${H3}`, '--loss', 'local'], /use --loss e2e or e2e\+ds/],
      [['--hook', `${H3},${H3}`, '--loss', 'e2e'], /lists blocks\.3\.hook_resid_pre twice/],
      [['--hook', `${H1},blocks.3.hook_resid_prex`, '--loss', 'e2e'], /unknown hook/],
      [['--hook', `${H1},${H3}`, '--loss', 'reward'], /use --loss e2e or e2e\+ds/],
    ] as const) {
      const r = await saelab(['train', '--model', MODEL, '--data', CORPUS, '--out', out, '--tokens', '512', '--batch-size', '256', '--d-sae', '96', '--json', ...args]);
      const lines = userLines(r.stderr);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.match(lines[0]!, re);
    }
    assert.equal(existsSync(out), false, 'no --out folder');
  } finally {
    cleanup();
  }
});
