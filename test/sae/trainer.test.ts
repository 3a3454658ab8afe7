// The trainer on a tiny hand-written SAE (test/sae/tinySae.ts): schedules by value, loss falls,
// determinism, one stream for several SAEs, clipping, decoder unit norm, dead-latent counts, logs.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import type { Tensor } from '../../src/compute/tensor.js';
import { deadFractionOf, updateTokensSinceFiredCpu } from '../../src/sae/deadFeatures.js';
import { normalizeRowsCpu, removeParallelGradCpu } from '../../src/sae/decoderNorm.js';
import { decayStepsOf, l1CoefficientAt, lrAt, lrFactorAt } from '../../src/sae/schedule.js';
import { globalNorm, trainSaes } from '../../src/sae/trainer.js';
import { readTrainLog, type TrainLogRow } from '../../src/sae/trainLog.js';
import type { SaeModel, SaeStepResult } from '../../src/sae/types.js';
import { assertClose } from '../helpers/assertClose.js';
import { gpuOrSkip } from '../helpers/gpu.js';
import { initSae } from '../../src/sae/initSae.js';
import type { SaeConfig } from '../../src/sae/types.js';
import type { Device } from '../../src/compute/device.js';
import { normalizeRowsInPlace, removeParallelGrad } from '../../src/sae/decoderNorm.js';
import { updateTokensSinceFired } from '../../src/sae/deadFeatures.js';
import { snapshot, syntheticBatches, tinyConfig, TinySae } from './tinySae.js';

const { gpu, skip } = await gpuOrSkip();

test('schedule: warm-up, linear and cosine decay, min factor, L1 warm-up', () => {
  assert.equal(lrFactorAt(0, 100), 1);
  // warm-up over 4 steps: 1/4, 2/4, 3/4, then 1
  assert.deepEqual([0, 1, 2, 3, 4, 50].map((s) => lrFactorAt(s, 100, { warmupSteps: 4 })), [0.25, 0.5, 0.75, 1, 1, 1]);
  // linear decay over the last 10 of 100: 1 until 89, then 10/10 … 1/10
  const lin = { decay: 'linear' as const, decaySteps: 10 };
  assert.equal(lrFactorAt(89, 100, lin), 1);
  assert.equal(lrFactorAt(90, 100, lin), 1);
  assert.equal(lrFactorAt(95, 100, lin), 0.5);
  assert.equal(lrFactorAt(99, 100, lin), 0.1);
  assert.equal(decayStepsOf({ decay: 'linear' }, 100), 20);
  // cosine over all steps after a 10-step warm-up: 1 at 10, ½ half way, → 0
  const cos = { decay: 'cosine' as const, warmupSteps: 10 };
  assert.equal(decayStepsOf(cos, 110), 100);
  assert.equal(lrFactorAt(10, 110, cos), 1);
  assertClose([lrFactorAt(60, 110, cos)], [0.5], { atol: 1e-12 });
  assertClose([lrFactorAt(109, 110, cos)], [0.5 * (1 + Math.cos((Math.PI * 99) / 100))], { atol: 1e-15 });
  assert.equal(lrFactorAt(5, 110, cos), 0.6); // warm-up, before the decay phase
  assert.equal(lrFactorAt(109, 110, { ...cos, minLrFactor: 0.1 }), 0.1);
  assert.equal(lrAt(0, 3e-4, 100, { warmupSteps: 2 }), 1.5e-4);
  // none
  assert.equal(lrFactorAt(99, 100, { decay: 'none', decaySteps: 50 }), 1);
  // L1 warm-up: 0 at the first step, final from l1WarmupSteps on
  assert.deepEqual([0, 1, 5, 10, 20].map((s) => l1CoefficientAt(s, 2, 10)), [0, 0.2, 1, 2, 2]);
  assert.equal(l1CoefficientAt(0, 2, 0), 2);
});

test('tokens since fired and dead fraction', () => {
  const tsf = new Float32Array([0, 5, 100, 7]);
  updateTokensSinceFiredCpu(tsf, new Float32Array([1, 0, 3, 0]), 10);
  assert.deepEqual([...tsf], [0, 15, 0, 17]);
  assert.equal(deadFractionOf(tsf, 15), 0.5);
  assert.equal(deadFractionOf(tsf, 100), 0);
});

test('decoder norm twins: gradient loses its row-parallel part; rows become unit', () => {
  const rng = new Rng(3);
  const rows = 5;
  const cols = 7;
  const w = rng.normalArray(rows * cols);
  normalizeRowsCpu(w, rows, cols);
  const g = rng.normalArray(rows * cols);
  removeParallelGradCpu(g, w, rows, cols);
  for (let r = 0; r < rows; r++) {
    let nn = 0;
    let dot = 0;
    for (let c = 0; c < cols; c++) {
      nn += w[r * cols + c]! ** 2;
      dot += w[r * cols + c]! * g[r * cols + c]!;
    }
    assertClose([nn, dot], [1, 0], { atol: 1e-6 }, `row ${r}`);
  }
  const z = new Float32Array(6);
  normalizeRowsCpu(z, 2, 3);
  assert.deepEqual([...z], [0, 0, 0, 0, 0, 0]);
});

test('globalNorm: sqrt of the sum of squares over every tensor', async () => {
  const a = cpu.fromArray(new Float32Array([3, 0, 0, 0, 0, 0]), [2, 3]);
  const b = cpu.fromArray(new Float32Array([4]), [1]);
  assert.equal(await globalNorm([a, b]), 5);
});

test('the loss falls; runs are bit-for-bit reproducible; logs go to onLog and the JSONL file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'saelab-train-'));
  try {
    const run = async (logFile?: string) => {
      const sae = new TinySae(tinyConfig(8, 24, 7));
      const rows: TrainLogRow[] = [];
      const r = await trainSaes({ saes: [sae], batches: syntheticBatches(8, 32), totalSteps: 200, lr: 1e-2, logEvery: 20, logFile, onLog: (row) => rows.push(row), schedule: { warmupSteps: 10, decay: 'linear', l1WarmupSteps: 20 } });
      return { sae, rows, r };
    };
    const logFile = join(dir, 'train.jsonl');
    const a = await run(logFile);
    const b = await run();
    assert.equal(a.r.step, 200);
    assert.equal(a.r.tokens, 200 * 32);
    assert.equal(a.r.aborted, false);
    assert.equal(a.rows.length, 10);
    assert.deepEqual(a.rows.map((r) => r.step), [20, 40, 60, 80, 100, 120, 140, 160, 180, 200]);
    const first = a.rows[0]!;
    const last = a.rows[a.rows.length - 1]!;
    assert.ok(last.mse < first.mse * 0.5, `mse ${first.mse} → ${last.mse}`);
    for (const r of a.rows) {
      assert.equal(r.saeIndex, 0);
      assert.ok(Number.isFinite(r.loss) && Number.isFinite(r.l0) && r.l1 !== undefined && r.tokensPerSecond > 0);
      assert.equal(r.tokens, r.step * 32);
    }
    // lr of the last step under linear decay over the last 40: 1e-2 · 1/40
    assertClose([last.lr], [1e-2 / 40], { rtol: 1e-12 });
    // L1 warm-up reached the step context
    assert.equal(a.sae.seenL1[0], 0);
    assertClose([a.sae.seenL1[10]!, a.sae.seenL1[199]!], [0.005, 0.01], { rtol: 1e-12 });
    // the file holds the same rows
    const logged = await readTrainLog(logFile);
    assert.deepEqual(logged, a.rows);
    assert.equal((await readFile(logFile, 'utf8')).trim().split('\n').length, 10);
    // determinism
    const sa = snapshot(a.sae);
    const sb = snapshot(b.sae);
    for (const k of Object.keys(sa)) assert.deepEqual(sa[k], sb[k], k);
    // a fresh (non-resumed) run starts a fresh log
    await run(logFile);
    assert.equal((await readTrainLog(logFile)).length, 10);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('several SAEs from one stream: each ends as it would trained alone; an iterable source equals batchAt', async () => {
  const cfgs = [tinyConfig(6, 12, 1), tinyConfig(6, 20, 2, { l1Coefficient: 0.05 }), tinyConfig(6, 12, 3, { decoderUnitNorm: true })];
  const batches = syntheticBatches(6, 16, 5);
  const together = cfgs.map((c) => new TinySae(c));
  await trainSaes({ saes: together, batches, totalSteps: 30, lr: [1e-2, 5e-3, 1e-2], gradClip: 1 });
  async function* iter() {
    for (let s = 0; ; s++) yield batches(s);
  }
  for (let i = 0; i < cfgs.length; i++) {
    const alone = new TinySae(cfgs[i]!);
    await trainSaes({ saes: [alone], batches: i === 1 ? iter() : batches, totalSteps: 30, lr: [1e-2, 5e-3, 1e-2][i]!, gradClip: 1 });
    const s1 = snapshot(together[i]!);
    const s2 = snapshot(alone);
    for (const k of Object.keys(s1)) assert.deepEqual(s1[k], s2[k], `SAE ${i} ${k}`);
  }
  // decoderUnitNorm kept SAE 2's decoder rows at unit norm
  const wd = together[2]!.params.W_dec.data as Float32Array;
  for (let r = 0; r < 12; r++) {
    let nn = 0;
    for (let c = 0; c < 6; c++) nn += wd[r * 6 + c]! ** 2;
    assertClose([nn], [1], { atol: 1e-5 }, `row ${r}`);
  }
});

/** A stub SAE with fixed gradients (all `g`) and a fixed firing pattern, to test clipping and dead counts. */
class StubSae implements SaeModel {
  readonly params;
  readonly grads: Tensor[] = [];
  constructor(readonly cfg = tinyConfig(2, 4, 0, { deadTokensThreshold: 25 }), private g = 3, private fired = new Float32Array([2, 0, 0, 1])) {
    this.params = { W_enc: cpu.zeros([2, 4]), b_enc: cpu.zeros([4]), W_dec: cpu.zeros([4, 2]), b_dec: cpu.zeros([2]) };
  }
  encode(x: Tensor): Tensor {
    return cpu.zeros([x.shape[0]!, 4]);
  }
  decode(f: Tensor): Tensor {
    return cpu.zeros([f.shape[0]!, 2]);
  }
  step(): SaeStepResult {
    const mk = (shape: number[]) => {
      const t = cpu.fromArray(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(this.g), shape);
      this.grads.push(t);
      return t;
    };
    return {
      grads: { W_enc: mk([2, 4]), b_enc: mk([4]), W_dec: mk([4, 2]), b_dec: mk([2]) },
      firedCounts: cpu.fromArray(this.fired),
      stats: async () => ({ loss: 1, mse: 1, l0: 0.5 }),
      dispose() {},
    };
  }
}

test('gradient clipping scales every gradient to the global norm; gradNorm is logged before clipping', async () => {
  const sae = new StubSae();
  const rows: TrainLogRow[] = [];
  await trainSaes({ saes: [sae], batches: () => cpu.zeros([10, 2]), totalSteps: 1, lr: 0.1, gradClip: 2, logEvery: 1, onLog: (r) => rows.push(r) });
  const norm = Math.sqrt(22 * 9); // 22 elements of 3
  assertClose([rows[0]!.gradNorm!], [norm], { rtol: 1e-6 });
  let ss = 0;
  for (const g of sae.grads) for (const v of g.data) ss += v * v;
  assertClose([Math.sqrt(ss)], [2], { rtol: 1e-5 });
  // no clipping below the limit
  const loose = new StubSae();
  await trainSaes({ saes: [loose], batches: () => cpu.zeros([10, 2]), totalSteps: 1, lr: 0.1, gradClip: 100 });
  assert.ok(loose.grads.every((g) => [...g.data].every((v) => v === 3)));
});

test('dead fraction from the firing counts and the threshold (10 tokens a step, dead at 25)', async () => {
  const sae = new StubSae();
  const rows: TrainLogRow[] = [];
  const r = await trainSaes({ saes: [sae], batches: () => cpu.zeros([10, 2]), totalSteps: 4, lr: 0.1, logEvery: 1, onLog: (row) => rows.push(row) });
  assert.deepEqual(rows.map((x) => x.deadFraction), [0, 0, 0.5, 0.5]);
  assert.deepEqual([...(r.states[0]!.tokensSinceFired.data as Float32Array)], [0, 40, 40, 0]);
  // the option overrides the config
  const rows2: TrainLogRow[] = [];
  await trainSaes({ saes: [new StubSae()], batches: () => cpu.zeros([10, 2]), totalSteps: 2, lr: 0.1, logEvery: 1, deadTokensThreshold: 10, onLog: (row) => rows2.push(row) });
  assert.deepEqual(rows2.map((x) => x.deadFraction), [0.5, 0.5]);
});

test('abort stops after the current step; bad inputs are refused', async () => {
  const ac = new AbortController();
  const r = await trainSaes({ saes: [new StubSae()], batches: () => cpu.zeros([10, 2]), totalSteps: 50, lr: 0.1, onStep: (s) => s === 7 && ac.abort(), signal: ac.signal });
  assert.equal(r.step, 7);
  assert.equal(r.aborted, true);
  await assert.rejects(trainSaes({ saes: [], batches: () => cpu.zeros([1, 2]), totalSteps: 1, lr: 0.1 }), /no SAEs/);
  await assert.rejects(trainSaes({ saes: [new StubSae()], batches: () => cpu.zeros([3, 5]), totalSteps: 1, lr: 0.1 }), /shape \[3,5\]/);
  await assert.rejects(trainSaes({ saes: [new StubSae()], batches: [cpu.zeros([3, 2])], totalSteps: 2, lr: 0.1 }), /ended after 1/);
  await assert.rejects(trainSaes({ saes: [new StubSae()], batches: () => cpu.zeros([3, 2]), totalSteps: 2, lr: 0.1, checkpointEvery: 1 }), /checkpointDir/);
});

const topkCfg = (seed: number): SaeConfig => ({
  architecture: 'topk', dIn: 16, dSae: 64, k: 4, auxK: 8, deadTokensThreshold: 2000,
  applyBDecToInput: true, decoderUnitNorm: true, normalizeActivations: 'none', seed,
});

/** Train a TopK SAE on `device` with batches made on the CPU and moved there. */
async function trainTopk(device: Device, steps: number, rows: TrainLogRow[]) {
  const sae = await initSae(topkCfg(4), device);
  const src = syntheticBatches(16, 64, 21, 32, 3);
  const batches = (s: number) => {
    const x = src(s);
    return device.kind === 'cpu' ? x : device.fromArray(x.data, x.shape);
  };
  await trainSaes({ saes: [sae], batches, totalSteps: steps, lr: 4e-3, gradClip: 1, logEvery: 10, onLog: (r) => rows.push(r), schedule: { warmupSteps: 5 } });
  return sae;
}

test('integration: a TopK SAE (src/sae/topkSae.ts) trained for 100 steps; the loss falls', async () => {
  const rows: TrainLogRow[] = [];
  const sae = await trainTopk(cpu, 100, rows);
  const first = rows[0]!;
  const last = rows.at(-1)!;
  assert.ok(last.mse < first.mse * 0.5, `mse ${first.mse} → ${last.mse}`);
  assert.ok(rows.every((r) => r.l0 === 4 && r.auxK !== undefined && Number.isFinite(r.loss)));
  const wd = sae.params.W_dec.data as Float32Array;
  for (let r = 0; r < 64; r++) {
    let nn = 0;
    for (let c = 0; c < 16; c++) nn += wd[r * 16 + c]! ** 2;
    assertClose([nn], [1], { atol: 1e-5 }, `decoder row ${r}`);
  }
});

test('WebGPU: decoder-norm and tokens-since-fired kernels and globalNorm match their CPU twins', { skip }, async () => {
  const rng = new Rng(8);
  for (const [rows, cols] of [[5, 7], [33, 300], [1, 64]] as const) {
    const w = rng.normalArray(rows * cols);
    const g = rng.normalArray(rows * cols);
    normalizeRowsCpu(w, rows, cols);
    const gw = gpu!.fromArray(w, [rows, cols]);
    const gg = gpu!.fromArray(g, [rows, cols]);
    removeParallelGrad(gg, gw);
    removeParallelGradCpu(g, w, rows, cols);
    assertClose((await gg.read()) as Float32Array, g, { atol: 1e-5, rtol: 1e-5 }, `grad ${rows}x${cols}`);
    const raw = rng.normalArray(rows * cols, 3);
    const gr = gpu!.fromArray(raw, [rows, cols]);
    normalizeRowsInPlace(gr);
    normalizeRowsCpu(raw, rows, cols);
    assertClose((await gr.read()) as Float32Array, raw, { atol: 1e-6, rtol: 1e-5 }, `rows ${rows}x${cols}`);
    assertClose([await globalNorm([gw, gr])], [await globalNorm([cpu.fromArray(w, [rows, cols]), cpu.fromArray(raw, [rows, cols])])], { rtol: 1e-5 });
    for (const t of [gw, gg, gr]) t.dispose();
  }
  const tsf = new Float32Array([0, 5, 100, 7, 3e6]);
  const fired = new Float32Array([1, 0, 3, 0, 0]);
  const gt = gpu!.fromArray(tsf);
  updateTokensSinceFired(gt, gpu!.fromArray(fired), 4096);
  updateTokensSinceFiredCpu(tsf, fired, 4096);
  assert.deepEqual(await gt.read(), tsf);
});

test('WebGPU: training a TopK SAE follows the CPU run', { skip }, async () => {
  const cpuRows: TrainLogRow[] = [];
  const gpuRows: TrainLogRow[] = [];
  const a = await trainTopk(cpu, 20, cpuRows);
  const b = await trainTopk(gpu!, 20, gpuRows);
  for (let i = 0; i < cpuRows.length; i++) assertClose([gpuRows[i]!.mse, gpuRows[i]!.deadFraction], [cpuRows[i]!.mse, cpuRows[i]!.deadFraction], { rtol: 1e-2, atol: 1e-4 }, `row ${i}`);
  assertClose((await b.params.W_dec.read()) as Float32Array, a.params.W_dec.data as Float32Array, { atol: 1e-3, rtol: 1e-2 }, 'W_dec');
});
