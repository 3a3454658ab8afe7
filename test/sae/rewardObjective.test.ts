// The reward-preserving objective on gpt2-rm-tiny-random (SAE at blocks.1.hook_resid_pre: the reward
// reaches it through blocks 1 and 2): gradients with respect to the SAE parameters against
// directional finite differences of the objective's loss, per reward and per pair, for every
// architecture; an exact-identity SAE gives a reward term of 0; the term's own formula on numbers;
// a causal LM is refused.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import { Transformer } from '../../src/model/transformer.js';
import type { TokenBatch } from '../../src/sae/e2eObjective.js';
import { createSae, initSaeParams } from '../../src/sae/initSae.js';
import { rewardObjective, rewardTerm } from '../../src/sae/rewardObjective.js';
import { trainingCode } from '../../src/sae/spliceForward.js';
import type { SaeArchitecture, SaeConfig, SaeModel, SaeParams } from '../../src/sae/types.js';
import { ASSETS, needsAsset } from '../io/assets.js';
import { checkDirectionalGrads } from '../helpers/directionalGrad.js';

const RM = 'fixtures/gpt2-rm-tiny-random';
const HOOK = 'blocks.1.hook_resid_pre';
const skip = needsAsset(RM);

function batch(seed: number, B = 4, T = 8): TokenBatch {
  const rng = new Rng(seed);
  // Token ids below the pad id (999), so every row's reward is read at its last position.
  return { ids: Int32Array.from({ length: B * T }, () => Math.floor(rng.uniform() * 998)), exclude: new Uint8Array(B * T), B, T };
}

function config(arch: SaeArchitecture, d: number, dSae: number, extra: Partial<SaeConfig> = {}): SaeConfig {
  return { architecture: arch, dIn: d, dSae, applyBDecToInput: true, decoderUnitNorm: false, normalizeActivations: 'none', seed: 4, ...(arch === 'standard' ? { l1Coefficient: 0.05 } : { k: 6 }), ...extra };
}

async function evaluate(obj: ReturnType<typeof rewardObjective>, b: TokenBatch, sae: SaeModel, l1: number) {
  const prep = await obj.prepare(b);
  const res = await prep.step(sae, { tokensSinceFired: cpu.zeros([sae.cfg.dSae]), l1Coefficient: l1, tokensSeen: 0 });
  const stats = await res.stats();
  const grads = Object.fromEntries(Object.entries(res.grads).map(([k, g]) => [k, Float64Array.from(g!.data as Float32Array)]));
  const code = trainingCode(sae, prep.x);
  const active = Array.from(code.data as Float32Array, (v) => (v > 0 ? 1 : 0)).join('');
  code.dispose();
  res.dispose();
  prep.dispose();
  return { stats, grads, active };
}

test('rewardTerm: (r_s − r_c)² per row, (Δr_s − Δr_c)² per pair, and their gradients', () => {
  const one = rewardTerm([1, 3], [0, 1], false);
  assert.equal(one.value, (1 + 4) / 2);
  assert.deepEqual([...one.grad], [1, 2]);
  const pair = rewardTerm([1, 3, 2, 2], [0, 1, 0, 0], true); // Δs = −2, 0; Δc = −1, 0
  assert.equal(pair.value, 1 / 2);
  assert.deepEqual([...pair.grad], [-1, 1, 0, -0]);
  assert.throws(() => rewardTerm([1, 2, 3], [1, 2, 3], true), /even number of rows/);
});

for (const arch of ['standard', 'topk', 'batchtopk'] as const) {
  for (const pairs of [false, true]) {
    test(`${arch}, reward${pairs ? ' differences of pairs' : ''}: parameter gradients match finite differences`, { skip }, async (t) => {
      const model = await Transformer.load(join(ASSETS, RM), cpu);
      const d = model.config.dModel;
      const cfg = config(arch, d, 48);
      const params: SaeParams = await initSaeParams(cfg, cpu, { decoderNorm: 1 });
      const sae = createSae(cfg, params);
      const obj = rewardObjective({ model, hook: HOOK, normScale: 0.9, rewardCoefficient: 3, localCoefficient: 0.2, pairs });
      const b = batch(6);
      const l1 = cfg.l1Coefficient ?? 0;
      const base = await evaluate(obj, b, sae, l1);
      const term = base.stats.terms![pairs ? 'reward_diff' : 'reward']!;
      assert.ok(term > 1e-6, `the splice moves the reward (term ${term})`);
      // A step that moves the loss by ~1e-2: well above f32 rounding of a loss of order 10–100.
      await checkDirectionalGrads(t, arch, params, () => evaluate(obj, b, sae, l1), { lossStep: 1e-2 });
      model.dispose();
    });
  }
}

test('an exact-identity SAE gives reward term 0; a causal LM is refused', { skip: skip || needsAsset('fixtures/gpt2-tiny-random') }, async () => {
  const model = await Transformer.load(join(ASSETS, RM), cpu);
  const d = model.config.dModel;
  const cfg = config('standard', d, 2 * d, { applyBDecToInput: false });
  const wEnc = new Float32Array(d * 2 * d);
  const wDec = new Float32Array(2 * d * d);
  for (let j = 0; j < d; j++) (wEnc[j * 2 * d + j] = 1), (wEnc[j * 2 * d + d + j] = -1), (wDec[j * d + j] = 1), (wDec[(d + j) * d + j] = -1);
  const sae = createSae(cfg, { W_enc: cpu.fromArray(wEnc, [d, 2 * d]), b_enc: cpu.zeros([2 * d]), W_dec: cpu.fromArray(wDec, [2 * d, d]), b_dec: cpu.zeros([d]) });
  for (const pairs of [false, true]) {
    const { stats } = await evaluate(rewardObjective({ model, hook: HOOK, normScale: 0.37, pairs }), batch(2), sae, 0);
    assert.equal(stats.terms![pairs ? 'reward_diff' : 'reward'], 0);
    assert.equal(stats.mse, 0);
  }
  model.dispose();
  const lm = await Transformer.load(join(ASSETS, 'fixtures/gpt2-tiny-random'), cpu);
  assert.throws(() => rewardObjective({ model: lm, hook: HOOK, normScale: 1 }), /needs a sequence-classification \(reward\) model/);
  lm.dispose();
});
