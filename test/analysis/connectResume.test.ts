// `saelab connect` survives a kill: with a checkpoint after every batch, a run stopped after two
// batches and resumed reports the same edges, ablation checks and token count as an uninterrupted
// run, bit for bit. A checkpoint is refused without --resume, and a resume with different settings
// names the one that differs.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { connectRun, type ConnectRunOptions } from '../../src/analysis/connectRun.js';
import { initSae } from '../../src/sae/initSae.js';
import { saveSae } from '../../src/sae/saeFiles.js';
import { ASSETS, needsAsset, tempDir } from '../io/assets.js';

const skip = needsAsset('models/gpt2-corpus-tiny') || needsAsset('corpora/mixed-public-domain.txt.xz');

test('connect: killed after 2 batches and resumed = uninterrupted, bit for bit; checkpoint checks', { skip, timeout: 300_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const model = join(ASSETS, 'models/gpt2-corpus-tiny');
    const mk = async (name: string, hook: string, seed: number) => {
      const cfg = { architecture: 'topk' as const, dIn: 192, dSae: 96, k: 8, applyBDecToInput: true, decoderUnitNorm: true, normalizeActivations: 'none' as const, seed };
      const p = join(dir, name);
      await saveSae(p, cfg, (await initSae(cfg, cpu)).params, { metadata: { model_name: model, hook_name: hook, context_size: 16 } });
      return p;
    };
    const saes = [await mk('early', 'blocks.1.hook_resid_pre', 1), await mk('late', 'blocks.2.hook_resid_pre', 2)];
    const base = (out: string): ConnectRunOptions => ({
      device: cpu, saes, model, data: join(ASSETS, 'corpora/mixed-public-domain.txt.xz'), tokens: 120, contextSize: 16, batchSize: 2, topFeatures: 5, topK: 4, checkEdges: 3, out, db: null,
    });
    const whole = await connectRun(base(join(dir, 'whole')));
    const out = join(dir, 'resumed');
    const ckpt = join(out, 'connect.checkpoint');
    const killed = new Error('killed');
    await assert.rejects(connectRun({ ...base(out), checkpointSeconds: 0, onProgress: (done) => {
      if (done === 2) throw killed;
    } }), (e) => e === killed);
    assert.ok(existsSync(ckpt), 'a checkpoint after the batches done');
    await assert.rejects(connectRun(base(out)), /pass --resume/);
    await assert.rejects(connectRun({ ...base(out), resume: true, topFeatures: 6 }), /with topFeatures 5, this run has 6/);
    const seen: number[] = [];
    const resumed = await connectRun({ ...base(out), resume: true, onProgress: (done) => seen.push(done) });
    assert.equal(seen[0], 3, 'continues at the third batch');
    assert.ok(whole.batches > 3);
    assert.ok(!existsSync(ckpt), 'the checkpoint is removed when the run finishes');
    assert.equal(resumed.tokens, whole.tokens);
    assert.deepEqual(resumed.features, whole.features);
    assert.deepEqual(resumed.checks, whole.checks);
    assert.ok(whole.features.length === 5 && whole.checks.length === 3);
  } finally {
    cleanup();
  }
});
