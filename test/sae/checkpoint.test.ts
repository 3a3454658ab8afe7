// Checkpoints and resume: an interrupted run resumed from its last checkpoint ends with exactly the
// weights (and log) of a run that was never interrupted; checkpoints are complete or absent.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { checkpointName, latestCheckpoint, listCheckpoints, readCheckpointState } from '../../src/sae/checkpoint.js';
import { trainSaes, type BatchSource, type TrainOptions } from '../../src/sae/trainer.js';
import { readTrainLog } from '../../src/sae/trainLog.js';
import type { SaeModel } from '../../src/sae/types.js';
import { snapshot, syntheticBatches, tinyConfig, TinySae } from './tinySae.js';

const D_IN = 6;
const cfgs = () => [tinyConfig(D_IN, 16, 11, { decoderUnitNorm: true }), tinyConfig(D_IN, 10, 12, { l1Coefficient: 0.03 })];
const batchAt = syntheticBatches(D_IN, 24, 9);

function opts(saes: SaeModel[], batches: BatchSource, extra: Partial<TrainOptions>): TrainOptions {
  return {
    saes, batches, totalSteps: 40, lr: 5e-3, gradClip: 1, logEvery: 5,
    schedule: { warmupSteps: 5, decay: 'cosine', l1WarmupSteps: 10 }, deadTokensThreshold: 200, ...extra,
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'saelab-ckpt-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function assertSameWeights(a: SaeModel[], b: SaeModel[]): void {
  for (let i = 0; i < a.length; i++) {
    const sa = snapshot(a[i]!);
    const sb = snapshot(b[i]!);
    for (const k of Object.keys(sa)) assert.deepEqual(sa[k], sb[k], `SAE ${i} ${k}`);
  }
}

const withoutSpeed = (rows: object[]) => rows.map((r) => ({ ...r, tokensPerSecond: 0 }));

for (const kind of ['batchAt', 'iterable'] as const) {
  test(`resume (${kind} source): 40 straight = 20, killed at 25, resumed to 40, bit for bit`, async () => {
    await withDir(async (dir) => {
      const source = (): BatchSource =>
        kind === 'batchAt'
          ? batchAt
          : (async function* () {
              for (let s = 0; ; s++) yield batchAt(s);
            })();
      const straight = cfgs().map((c) => new TinySae(c));
      const straightLog = join(dir, 'straight.jsonl');
      const full = await trainSaes(opts(straight, source(), { logFile: straightLog }));
      assert.equal(full.step, 40);

      const ckpt = join(dir, 'ckpt');
      const log = join(dir, 'run.jsonl');
      const ac = new AbortController();
      const first = cfgs().map((c) => new TinySae(c));
      const r1 = await trainSaes(opts(first, source(), { checkpointDir: ckpt, checkpointEvery: 10, logFile: log, signal: ac.signal, onStep: (s) => s === 25 && ac.abort() }));
      assert.equal(r1.aborted, true);
      assert.equal(r1.step, 25);
      assert.deepEqual((await listCheckpoints(ckpt)).map((c) => c.step), [10, 20]);
      assert.equal((await readTrainLog(log)).at(-1)!.step, 25);

      // A new process: fresh models (initial weights), resume from the step-20 checkpoint.
      const resumed = cfgs().map((c) => new TinySae(c));
      const r2 = await trainSaes(opts(resumed, source(), { checkpointDir: ckpt, checkpointEvery: 10, logFile: log, resume: true }));
      assert.equal(r2.resumedFrom, join(ckpt, checkpointName(20)));
      assert.equal(r2.step, 40);
      assert.equal(r2.tokens, 40 * 24);
      assertSameWeights(resumed, straight);
      for (let i = 0; i < 2; i++) {
        for (const k of ['W_enc', 'b_enc', 'W_dec', 'b_dec']) {
          assert.deepEqual(r2.states[i]!.m[k]!.data, full.states[i]!.m[k]!.data, `m ${k}`);
          assert.deepEqual(r2.states[i]!.v[k]!.data, full.states[i]!.v[k]!.data, `v ${k}`);
        }
        assert.deepEqual(r2.states[i]!.tokensSinceFired.data, full.states[i]!.tokensSinceFired.data);
      }
      // The log reads as one run: steps 21–25 of the killed run were dropped and rewritten.
      assert.deepEqual(withoutSpeed(await readTrainLog(log)), withoutSpeed(await readTrainLog(straightLog)));
      // Two kept, the final one included; resuming a finished run does nothing.
      assert.deepEqual((await listCheckpoints(ckpt)).map((c) => c.step), [30, 40]);
      const again = cfgs().map((c) => new TinySae(c));
      const r3 = await trainSaes(opts(again, source(), { checkpointDir: ckpt, checkpointEvery: 10, resume: true }));
      assert.equal(r3.step, 40);
      assertSameWeights(again, straight);
    });
  });
}

test('checkpoint contents: tensors by name, state.json, configs; incomplete folders are ignored', async () => {
  await withDir(async (dir) => {
    const saes = cfgs().map((c) => new TinySae(c));
    await trainSaes(opts(saes, batchAt, { totalSteps: 6, checkpointDir: dir, checkpointEvery: 3, keepCheckpoints: 5, batchState: () => ({ shard: 2 }) }));
    const path = (await latestCheckpoint(dir))!;
    assert.equal(path, join(dir, 'step-00000006'));
    const state = await readCheckpointState(path);
    assert.equal(state.step, 6);
    assert.equal(state.tokens, 6 * 24);
    assert.equal(state.totalSteps, 6);
    assert.deepEqual(state.batchState, { shard: 2 });
    assert.deepEqual(state.saes.map((s) => s.cfg), cfgs());
    const f = await SafetensorsFile.open(join(path, 'sae-0.safetensors'));
    try {
      assert.deepEqual(f.names(), ['W_dec', 'W_enc', 'adam_m.W_dec', 'adam_m.W_enc', 'adam_m.b_dec', 'adam_m.b_enc', 'adam_v.W_dec', 'adam_v.W_enc', 'adam_v.b_dec', 'adam_v.b_enc', 'b_dec', 'b_enc', 'fired_count', 'tokens_since_fired']);
      assert.deepEqual(await f.readF32('W_dec'), saes[0]!.params.W_dec.data);
      assert.deepEqual(f.info('W_enc').shape, [D_IN, 16]);
    } finally {
      await f.close();
    }
    // A half-written checkpoint (no state.json) and temp folders are not "latest".
    await mkdir(join(dir, 'step-00000009'));
    await writeFile(join(dir, 'step-00000009', 'sae-0.safetensors'), 'partial');
    await mkdir(join(dir, '.step-00000012.1.abc.tmp'));
    assert.equal(await latestCheckpoint(dir), path);
    assert.deepEqual((await listCheckpoints(dir)).map((c) => c.step), [3, 6]);
    assert.ok(!(await readdir(dir)).some((n) => n.startsWith('.step-00000006')), 'no temp folder left');
    assert.equal(await latestCheckpoint(join(dir, 'missing')), null);
  });
});

test('resume refuses a checkpoint of other SAEs; resume with no checkpoint starts fresh', async () => {
  await withDir(async (dir) => {
    await trainSaes(opts(cfgs().map((c) => new TinySae(c)), batchAt, { totalSteps: 2, checkpointDir: dir, checkpointEvery: 2 }));
    await assert.rejects(trainSaes(opts([new TinySae(tinyConfig(D_IN, 16, 11))], batchAt, { checkpointDir: dir, resume: true })), /has 2 SAEs, this run trains 1/);
    const other = [new TinySae(tinyConfig(D_IN, 8, 11)), new TinySae(tinyConfig(D_IN, 10, 12))];
    await assert.rejects(trainSaes(opts(other, batchAt, { checkpointDir: dir, resume: true })), /SAE 0 is standard 6×16/);
    const fresh = await trainSaes(opts(cfgs().map((c) => new TinySae(c)), batchAt, { totalSteps: 3, checkpointDir: join(dir, 'new'), resume: true }));
    assert.equal(fresh.resumedFrom, null);
    assert.equal(fresh.step, 3);
  });
});

test('checkpointOnAbort saves the aborted step', async () => {
  await withDir(async (dir) => {
    const ac = new AbortController();
    await trainSaes(opts(cfgs().map((c) => new TinySae(c)), batchAt, { checkpointDir: dir, checkpointEvery: 10, checkpointOnAbort: true, signal: ac.signal, onStep: (s) => s === 13 && ac.abort() }));
    assert.deepEqual((await listCheckpoints(dir)).map((c) => c.step), [10, 13]);
  });
});
