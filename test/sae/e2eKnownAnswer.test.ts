// A known answer for end-to-end training: a tiny model (pythia-tiny-random) whose output reads only a
// planted 8-dimensional subspace S of the SAE's hook (ln_final.hook_normalized: the unembedding's
// rows outside S are zeroed), while the hook's variance lies mostly outside S (the final norm's
// gain is 4 outside S, 0.5 inside). Local training must spend its latents on the variance, i.e.
// outside S; e2e training (KL at the output) must spend them on S. Measured: the fraction of the
// decoder's squared norm inside S, Σ_i ‖P_S W_dec[i]‖² / Σ_i ‖W_dec[i]‖² (8/64 = 0.125 for random rows).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import type { Tensor } from '../../src/compute/tensor.js';
import { Transformer } from '../../src/model/transformer.js';
import { e2eObjective, type TokenBatch } from '../../src/sae/e2eObjective.js';
import { initSae } from '../../src/sae/initSae.js';
import { localObjective, type TrainObjective } from '../../src/sae/objective.js';
import { trainSaes } from '../../src/sae/trainer.js';
import type { SaeConfig } from '../../src/sae/types.js';
import { ASSETS, needsAsset } from '../io/assets.js';

const MODEL = 'fixtures/pythia-tiny-random';
const HOOK = 'ln_final.hook_normalized';
const S = 8; // the planted subspace: the first S coordinates

function tokenBatch(rng: Rng, B: number, T: number, V: number): TokenBatch {
  return { ids: Int32Array.from({ length: B * T }, () => Math.floor(rng.uniform() * V)), exclude: new Uint8Array(B * T), B, T };
}

/** Fraction of W_dec's squared norm in the first S coordinates. */
async function massInS(W_dec: Tensor, d: number): Promise<number> {
  const w = (await W_dec.read()) as Float32Array;
  let inS = 0;
  let all = 0;
  for (let i = 0; i < w.length; i++) {
    const v = w[i]! * w[i]!;
    all += v;
    if (i % d < S) inS += v;
  }
  return inS / all;
}

test('known answer: e2e latents go to the subspace the output reads, local ones to the variance', { skip: needsAsset(MODEL), timeout: 600_000 }, async (t) => {
  const model = await Transformer.load(join(ASSETS, MODEL), cpu);
  const d = model.config.dModel;
  const V = model.config.vocabSize;
  const w = model.weights;
  const U = w.unembed!.data as Float32Array; // [d, V]
  for (let j = S; j < d; j++) U.fill(0, j * V, (j + 1) * V);
  for (let j = 0; j < S; j++) for (let v = 0; v < V; v++) U[j * V + v]! *= 8; // a readable output
  const g = w.lnFinal.w.data as Float32Array;
  for (let j = 0; j < d; j++) g[j] = j < S ? 0.5 : 4;

  const T = 16;
  const B = 4;
  const steps = 150;
  // ReLU + L1 weighted by ‖W_dec[i]‖ (Braun et al.'s architecture): decoder mass that buys no loss is shrunk by the L1.
  const cfg = (seed: number): SaeConfig => ({ architecture: 'standard', l1Coefficient: 0.05, dIn: d, dSae: 8, applyBDecToInput: true, decoderUnitNorm: false, normalizeActivations: 'none', seed });
  const run = async <B2>(objective: TrainObjective<B2>, batches: (rng: Rng) => B2) => {
    const sae = await initSae(cfg(1), cpu, { decoderNorm: 1 });
    const rng = new Rng(42);
    await trainSaes({ saes: [sae], batches: () => batches(rng), objective, totalSteps: steps, lr: 1e-2, logEvery: 1e9 });
    return massInS(sae.params.W_dec, d);
  };
  const hookActs = (rng: Rng): Tensor => {
    const b = tokenBatch(rng, B, T, V);
    const r = model.forward(b.ids, [B, T], { keep: [HOOK] });
    r.logits?.dispose();
    return r.activations.get(HOOK)!.reshape([B * T, d]);
  };
  const local = await run(localObjective, hookActs);
  const e2e = await run(e2eObjective({ model, hook: HOOK, normScale: 1 }), (rng) => tokenBatch(rng, B, T, V));
  t.diagnostic(`decoder mass in the planted subspace: local ${local.toFixed(3)}, e2e ${e2e.toFixed(3)} (random rows: ${(S / d).toFixed(3)})`);
  assert.ok(local < S / d, `local SAE follows the variance outside S (mass in S ${local})`);
  assert.ok(e2e > 0.5, `e2e SAE spends its decoder on S (mass in S ${e2e})`);
  model.dispose();
});
