// A corrupt newest checkpoint (state.json cut short or not an object, a tensor file gone) is a
// CheckpointError line, and a resume falls back to the previous intact checkpoint with a line; the
// broken one is kept aside as `<name>.corrupt`. Also: a resume's settings must match the
// checkpoint's (resumeCheck), and a run's memory is checked against a budget before it starts.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isUserError } from '../../src/cli/errors.js';
import { CheckpointError, latestIntactCheckpoint, listCheckpoints, readCheckpointState } from '../../src/sae/checkpoint.js';
import { checkTrainMemory, MemoryPlanError, parseBytes, trainMemoryNeed } from '../../src/sae/memoryPlan.js';
import { checkResumeSettings } from '../../src/sae/resumeCheck.js';
import { trainSaes } from '../../src/sae/trainer.js';
import { TrainRunError } from '../../src/sae/trainOptions.js';
import { syntheticBatches, tinyConfig, TinySae } from './tinySae.js';

const D_IN = 6;
const batchAt = syntheticBatches(D_IN, 24, 9);

async function withCheckpoints(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'saelab-ckrec-'));
  try {
    const saes = [new TinySae(tinyConfig(D_IN, 8, 1))];
    await trainSaes({ saes, batches: batchAt, totalSteps: 30, lr: 1e-3, logEvery: 5, checkpointDir: dir, checkpointEvery: 10, keepCheckpoints: 3 });
    assert.deepEqual((await listCheckpoints(dir)).map((c) => c.step), [10, 20, 30]);
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

for (const [what, corrupt] of [
  ['state.json cut short', (p: string) => writeFile(join(p, 'state.json'), '{"version": 1, "step": 3')],
  ['state.json is null (was a TypeError)', (p: string) => writeFile(join(p, 'state.json'), 'null')],
  ['state.json with a bad step', (p: string) => writeFile(join(p, 'state.json'), JSON.stringify({ version: 1, step: 'x', tokens: 0, totalSteps: 30, saes: [] }))],
  ['a tensor file gone', (p: string) => unlink(join(p, 'sae-0.safetensors'))],
] as const) {
  test(`corrupt newest checkpoint (${what}): a CheckpointError line, and resume falls back to the previous one`, async () => {
    await withCheckpoints(async (dir) => {
      const newest = join(dir, 'step-00000030');
      await corrupt(newest);
      if (what.startsWith('state.json')) await assert.rejects(readCheckpointState(newest), (e: Error) => e instanceof CheckpointError && isUserError(e) && e.message.startsWith(`checkpoint ${newest}: `) && !e.message.includes('\n'));
      const notes: string[] = [];
      const found = await latestIntactCheckpoint(dir, (l) => notes.push(l));
      assert.equal(found?.path, join(dir, 'step-00000020'));
      assert.equal(found?.state.step, 20);
      assert.equal(notes.length, 1);
      assert.match(notes[0]!, new RegExp(`checkpoint ${newest}: .*; falling back to ${join(dir, 'step-00000020')}`));
      assert.ok(existsSync(`${newest}.corrupt`), 'the broken checkpoint is kept aside');
      // The trainer resumes from step 20 and finishes.
      const saes = [new TinySae(tinyConfig(D_IN, 8, 1))];
      const r = await trainSaes({ saes, batches: batchAt, totalSteps: 40, lr: 1e-3, logEvery: 5, checkpointDir: dir, checkpointEvery: 10, resume: true });
      assert.equal(r.resumedFrom, join(dir, 'step-00000020'));
      assert.equal(r.step, 40);
    });
  });
}

test('every checkpoint broken: the newest\'s CheckpointError, not a TypeError', async () => {
  await withCheckpoints(async (dir) => {
    for (const s of ['10', '20', '30']) await writeFile(join(dir, `step-000000${s}`, 'state.json'), '[]');
    await assert.rejects(latestIntactCheckpoint(dir), (e: Error) => e instanceof CheckpointError && /step-00000030: state\.json is not a JSON object/.test(e.message));
  });
});

test('checkResumeSettings names the first changed setting with its old and new value', () => {
  const cfg = tinyConfig(D_IN, 8, 0, { architecture: 'topk', k: 4 });
  const base = { '--hook': 'blocks.3.hook_resid_pre', '--seeds': [0], '--k/--ks': [4], '--data': '/c/a.txt' };
  const ok = { checkpoint: '/o/checkpoints/step-00000010', saved: base, savedCfgs: [cfg], cfgs: [cfg] };
  checkResumeSettings({ ...ok, now: { ...base } });
  const refused = (now: object, cfgs = [cfg]) => {
    try {
      checkResumeSettings({ ...ok, now: now as typeof base, cfgs });
    } catch (e) {
      assert.ok(e instanceof TrainRunError && isUserError(e));
      return (e as Error).message;
    }
    assert.fail('not refused');
  };
  assert.equal(refused({ ...base, '--hook': 'blocks.2.hook_resid_pre' }), '--resume: --hook was "blocks.3.hook_resid_pre" when the run in /o/checkpoints/step-00000010 started, now "blocks.2.hook_resid_pre"; resume with the same settings, or train into a new --out');
  assert.match(refused({ ...base, '--seeds': [1] }), /^--resume: --seeds was 0 .* now 1;/);
  assert.match(refused({ ...base, '--k/--ks': [8] }), /^--resume: --k\/--ks was 4 .* now 8;/);
  assert.match(refused({ ...base, '--data': '/c/b.txt' }), /^--resume: --data was "\/c\/a\.txt" .* now "\/c\/b\.txt";/);
  // Checkpoints of an older saelab (no settings recorded): the SAE configs still catch a changed seed.
  assert.match((() => {
    try {
      checkResumeSettings({ ...ok, saved: undefined, now: base, cfgs: [{ ...cfg, seed: 5 }] });
    } catch (e) {
      return (e as Error).message;
    }
    return '';
  })(), /^--resume: SAE 0's seed was 0 .* now 5;/);
});

test('memory plan: params + Adam + batch buffers per SAE against a budget, saying what fits', () => {
  const cfgs = [0, 1].map((seed) => ({ dIn: 192, dSae: 4_000_000, seed }));
  const need = trainMemoryNeed(cfgs, 4096);
  // Per SAE: 4 copies (params, m, v, grad) of 2·192·4e6 + 4e6 + 192 floats, plus 2·4e6 counters.
  const perSaeState = 4 * (4 * (2 * 192 * 4e6 + 4e6 + 192) + 2 * 4e6);
  assert.equal(need.stateBytes, 2 * perSaeState);
  assert.equal(need.batchBytes, 4 * (3 * 4096 * 4e6 + 3 * 4096 * 192), 'one width: batch buffers counted once');
  const budget = { bytes: 16 * 2 ** 30, tensorBytes: 4 * 2 ** 32, source: 'the free memory of this machine', tensorSource: "Node's longest typed array" };
  assert.throws(() => checkTrainMemory(cfgs, 4096, budget), (e: Error) => {
    assert.ok(e instanceof MemoryPlanError && isUserError(e));
    const m = /at most d_sae (\d+) fits with these 2 SAE\(s\)/.exec(e.message);
    assert.ok(m, e.message);
    const fit = Number(m[1]);
    assert.ok(trainMemoryNeed(cfgs.map(() => ({ dIn: 192, dSae: fit })), 4096).bytes <= budget.bytes);
    assert.ok(trainMemoryNeed(cfgs.map(() => ({ dIn: 192, dSae: fit + 1 })), 4096).bytes > budget.bytes);
    return true;
  });
  // 1e12 latents: one tensor is past any typed array.
  assert.throws(() => checkTrainMemory([{ dIn: 192, dSae: 1e12 }], 4096, { ...budget, bytes: null }), /need a tensor of .* over the 16\.0 GiB of Node's longest typed array/);
  checkTrainMemory([{ dIn: 192, dSae: 6144 }], 4096, budget);
  assert.equal(parseBytes('80G'), 80 * 2 ** 30);
  assert.equal(parseBytes('512MiB'), 512 * 2 ** 20);
  assert.equal(parseBytes('lots'), null);
});
