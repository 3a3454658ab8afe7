// `saelab gradients` survives a kill: with a checkpoint after every batch, a run stopped after two
// batches and resumed gives the same report, bit for bit, as an uninterrupted run (the Gram sums and
// the KL sampler's generator are restored). A checkpoint is refused without --resume, and a resume
// with different settings names the one that differs.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { gradientsRun, type GradientsRunOptions } from '../../src/analysis/gradientsRun.js';
import { ASSETS, needsAsset, tempDir } from '../io/assets.js';

const skip = needsAsset('models/gpt2-corpus-tiny') || needsAsset('corpora/mixed-public-domain.txt.xz');

test('gradients: killed after 2 batches and resumed = uninterrupted, bit for bit; checkpoint checks', { skip, timeout: 300_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const base = (out: string): GradientsRunOptions => ({
      device: cpu, model: join(ASSETS, 'models/gpt2-corpus-tiny'), data: join(ASSETS, 'corpora/mixed-public-domain.txt.xz'),
      hooks: ['blocks.1.hook_resid_pre', 'blocks.4.hook_resid_pre'], objective: 'kl', tokens: 160, contextSize: 32, batchSize: 1, seed: 3, out,
    });
    const whole = await gradientsRun(base(join(dir, 'whole')));
    const out = join(dir, 'resumed');
    const ckpt = join(out, 'gradients.checkpoint');
    const killed = new Error('killed');
    await assert.rejects(gradientsRun({ ...base(out), checkpointSeconds: 0, onProgress: (done) => {
      if (done === 2) throw killed;
    } }), (e) => e === killed);
    assert.ok(existsSync(ckpt), 'a checkpoint after the batches done');
    await assert.rejects(gradientsRun(base(out)), /pass --resume/);
    await assert.rejects(gradientsRun({ ...base(out), resume: true, seed: 4 }), /with seed 3, this run has 4/);
    const seen: number[] = [];
    const resumed = await gradientsRun({ ...base(out), resume: true, onProgress: (done) => seen.push(done) });
    assert.equal(seen[0], 3, 'continues at the third batch');
    assert.ok(!existsSync(ckpt), 'the checkpoint is removed when the run finishes');
    assert.deepEqual(resumed.hooks, whole.hooks);
    assert.deepEqual(JSON.parse(readFileSync(resumed.json, 'utf8')).hooks, JSON.parse(readFileSync(whole.json, 'utf8')).hooks);
    assert.ok(whole.hooks[0]!.spectrum.tokens > 100);
  } finally {
    cleanup();
  }
});
