// The end-to-end objectives' gradients with respect to the SAE parameters, through the frozen model
// (gpt2-tiny-random: the SAE at blocks.1.hook_resid_pre, so the KL reaches it through blocks 1 and 2,
// the final norm and the head), against finite differences of the objective's own loss, for every
// architecture; and an exact-identity SAE, which must give KL 0 and downstream terms 0.
// The model runs in f32 (there is no f64 twin of the transformer); the differences are directional
// (along G/|G| + a random unit vector, so that the loss moves well above f32 rounding) and summed in
// f64, as test/model/backward.test.ts checks the model's own parameter gradients.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Transformer } from '../../src/model/transformer.js';
import { downstreamHooks, e2eObjective, type E2eObjectiveOptions, type TokenBatch } from '../../src/sae/e2eObjective.js';
import { createSae, initSaeParams } from '../../src/sae/initSae.js';
import { trainingCode } from '../../src/sae/spliceForward.js';
import type { SaeArchitecture, SaeConfig, SaeModel, SaeParams } from '../../src/sae/types.js';
import { ASSETS, needsAsset } from '../io/assets.js';
import { checkDirectionalGrads } from '../helpers/directionalGrad.js';
import { identitySae, tokenBatch } from '../helpers/e2eFixtures.js';

const MODEL = 'fixtures/gpt2-tiny-random';
const HOOK = 'blocks.1.hook_resid_pre';
const skip = needsAsset(MODEL);

function config(arch: SaeArchitecture, dIn: number, dSae: number, extra: Partial<SaeConfig> = {}): SaeConfig {
  return { architecture: arch, dIn, dSae, applyBDecToInput: true, decoderUnitNorm: false, normalizeActivations: 'none', seed: 3, ...(arch === 'standard' ? { l1Coefficient: 0.05 } : { k: 6 }), ...extra };
}

/** The objective's total loss and gradients for `sae` on one batch, and which latents are active (the piece of the piecewise-smooth loss). */
async function lossAndGrads(obj: ReturnType<typeof e2eObjective>, b: TokenBatch, sae: SaeModel, l1: number) {
  const prep = await obj.prepare(b);
  const res = await prep.step(sae, { tokensSinceFired: cpu.zeros([sae.cfg.dSae]), l1Coefficient: l1, tokensSeen: 0 });
  const stats = await res.stats();
  const code = trainingCode(sae, prep.x);
  const active = Array.from(code.data as Float32Array, (v) => (v > 0 ? 1 : 0)).join('');
  code.dispose();
  const grads = Object.fromEntries(Object.entries(res.grads).map(([k, g]) => [k, Float64Array.from(g!.data as Float32Array)]));
  res.dispose();
  prep.dispose();
  return { stats, grads, active };
}

const CASES: { name: string; opts: (m: Transformer) => Partial<E2eObjectiveOptions> }[] = [
  { name: 'e2e (KL)', opts: () => ({ klCoefficient: 1 }) },
  { name: 'e2e+ds (KL·0.5 + 2·downstream at next:2)', opts: (m) => ({ klCoefficient: 0.5, downstream: downstreamHooks('next:2', HOOK, m).map((hook) => ({ hook, coefficient: 2 })) }) },
  { name: 'e2e + local MSE·0.3, normalised inputs', opts: () => ({ klCoefficient: 1, localCoefficient: 0.3, normScale: 0.7 }) },
];

for (const arch of ['standard', 'topk', 'batchtopk'] as const) {
  for (const c of CASES) {
    test(`${arch}, ${c.name}: parameter gradients match finite differences of the loss`, { skip }, async (t) => {
      const model = await Transformer.load(join(ASSETS, MODEL), cpu);
      const d = model.config.dModel;
      const cfg = config(arch, d, 48);
      // Decoder rows of norm 1 (not the usual 0.1) so the splice moves the output well above rounding.
      const params: SaeParams = await initSaeParams(cfg, cpu, { decoderNorm: 1 });
      const sae = createSae(cfg, params);
      const obj = e2eObjective({ model, hook: HOOK, normScale: 1, ...c.opts(model) });
      const b = tokenBatch(5);
      const l1 = cfg.l1Coefficient ?? 0;
      const base = await lossAndGrads(obj, b, sae, l1);
      assert.ok(base.stats.terms && base.stats.terms.kl! > 1e-4, `the splice changes the output (KL ${base.stats.terms?.kl})`);
      await checkDirectionalGrads(t, arch, params, () => lossAndGrads(obj, b, sae, l1), { lossStep: 1e-3 });
      model.dispose();
    });
  }
}

for (const arch of ['standard', 'topk', 'batchtopk'] as const) {
  test(`${arch}: an exact-identity SAE gives KL 0 and downstream terms 0 (and no gradient from them)`, { skip }, async () => {
    const model = await Transformer.load(join(ASSETS, MODEL), cpu);
    const d = model.config.dModel;
    const sae = identitySae(config(arch, d, 2 * d, arch === 'standard' ? {} : { k: d }));
    const obj = e2eObjective({ model, hook: HOOK, normScale: 0.37, downstream: downstreamHooks('all', HOOK, model).map((hook) => ({ hook, coefficient: 1 })) });
    const { stats, grads } = await lossAndGrads(obj, tokenBatch(8), sae, 0);
    assert.equal(stats.terms!.kl, 0);
    for (const [k, v] of Object.entries(stats.terms!)) if (k.startsWith('ds:')) assert.equal(v, 0, k);
    assert.equal(Object.keys(stats.terms!).filter((k) => k.startsWith('ds:')).length, 2, 'blocks.1 and blocks.2 hook_resid_post');
    // With the MSE weight 0 and no L1, the only gradient left is AuxK's (none at tokensSeen 0): all zero.
    for (const [k, g] of Object.entries(grads)) assert.ok(g.every((v) => v === 0), `${k} gradient is zero`);
    model.dispose();
  });
}

test('--downstream: all, next, next:N, names, and the bad ones', { skip }, async () => {
  const model = await Transformer.load(join(ASSETS, MODEL), cpu);
  assert.deepEqual(downstreamHooks('all', HOOK, model), ['blocks.1.hook_resid_post', 'blocks.2.hook_resid_post']);
  assert.deepEqual(downstreamHooks('next', HOOK, model), ['blocks.1.hook_resid_post']);
  assert.deepEqual(downstreamHooks('next:2', HOOK, model), ['blocks.1.hook_resid_post', 'blocks.2.hook_resid_post']);
  assert.deepEqual(downstreamHooks('blocks.2.hook_resid_post', HOOK, model), ['blocks.2.hook_resid_post']);
  assert.throws(() => downstreamHooks('next:3', HOOK, model), /only 2 residual hook/);
  assert.throws(() => downstreamHooks('blocks.0.hook_resid_post', HOOK, model), /does not come after/);
  assert.throws(() => downstreamHooks('blocks.2.hook_mlp_out', HOOK, model), /only residual-stream hooks/);
  model.dispose();
});
