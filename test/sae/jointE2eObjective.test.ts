// The joint end-to-end objective (SAEs at several hooks spliced in together), on gpt2-tiny-random
// (3 blocks; CPU): the gradient of the joint loss with respect to each SAE's parameters against
// directional finite differences (SAEs at blocks.0.hook_resid_pre and blocks.1.hook_resid_post, so
// the KL reaches the first through all three blocks), for every architecture, e2e and e2e+ds; exact
// identity SAEs at two hooks give KL 0 and downstream terms 0; with one hook the joint objective is
// the single-hook one bit for bit; two joint sets trained together equal each trained alone.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Transformer } from '../../src/model/transformer.js';
import { e2eObjective, type TokenBatch } from '../../src/sae/e2eObjective.js';
import { createSae, initSaeParams } from '../../src/sae/initSae.js';
import { jointE2eObjective, type JointE2eObjectiveOptions } from '../../src/sae/jointE2eObjective.js';
import { trainingCode } from '../../src/sae/spliceForward.js';
import { trainSaes } from '../../src/sae/trainer.js';
import type { TrainLogRow } from '../../src/sae/trainLog.js';
import type { SaeArchitecture, SaeConfig, SaeModel, SaeParams } from '../../src/sae/types.js';
import { checkDirectionalGrads } from '../helpers/directionalGrad.js';
import { identitySae, tokenBatch } from '../helpers/e2eFixtures.js';
import { ASSETS, needsAsset } from '../io/assets.js';

const MODEL = 'fixtures/gpt2-tiny-random';
const HOOKS = ['blocks.0.hook_resid_pre', 'blocks.1.hook_resid_post'];
const skip = needsAsset(MODEL);

function config(arch: SaeArchitecture, dIn: number, dSae: number, seed: number, extra: Partial<SaeConfig> = {}): SaeConfig {
  return { architecture: arch, dIn, dSae, applyBDecToInput: true, decoderUnitNorm: false, normalizeActivations: 'none', seed, ...(arch === 'standard' ? { l1Coefficient: 0.05 } : { k: 6 }), ...extra };
}

const ctx = (sae: SaeModel) => ({ tokensSinceFired: cpu.zeros([sae.cfg.dSae]), l1Coefficient: sae.cfg.l1Coefficient ?? 0, tokensSeen: 0 });

/** Each hook's SAE input on batch b: its clean kept rows times its scale. */
function inputs(model: Transformer, b: TokenBatch, hooks: readonly string[], scales: readonly number[]): Float32Array[] {
  const d = model.config.dModel;
  const r = model.forward(b.ids, [b.B, b.T], { keep: [...hooks] });
  const out = hooks.map((h, i) => {
    const a = r.activations.get(h)!.data as Float32Array;
    const rows: number[] = [];
    for (let p = 0; p < b.B * b.T; p++) if (!b.exclude[p]) for (let j = 0; j < d; j++) rows.push(a[p * d + j]! * Math.fround(scales[i]!));
    return Float32Array.from(rows);
  });
  for (const t of r.activations.values()) t.dispose();
  r.logits?.dispose();
  return out;
}

/**
 * The joint loss on one batch (each SAE's row carries the shared terms: they are counted once), every
 * SAE's gradients, the shared terms, and which latents are active (the piece of the piecewise-smooth loss).
 */
async function jointLoss(model: Transformer, obj: ReturnType<typeof jointE2eObjective>, b: TokenBatch, saes: SaeModel[], coef: Record<string, number>, scales: number[]) {
  const prep = await obj.prepare(b, saes);
  let loss = 0;
  const grads: Record<string, Float64Array>[] = [];
  let terms: Record<string, number> = {};
  for (const sae of saes) {
    const res = await prep.step(sae, ctx(sae));
    const s = await res.stats();
    terms = s.terms!;
    loss += s.loss;
    grads.push(Object.fromEntries(Object.entries(res.grads).map(([k, g]) => [k, Float64Array.from(g!.data as Float32Array)])));
    res.dispose();
  }
  prep.dispose();
  const shared = Object.entries(terms).reduce((a, [k, v]) => a + v * coef[k]!, 0);
  loss -= (saes.length - 1) * shared;
  let active = '';
  const xs = inputs(model, b, HOOKS, scales);
  for (const [i, sae] of saes.entries()) {
    const x = cpu.fromArray(xs[i]!, [xs[i]!.length / sae.cfg.dIn, sae.cfg.dIn]);
    const code = trainingCode(sae, x);
    active += Array.from(code.data as Float32Array, (v) => (v > 0 ? 1 : 0)).join('');
    code.dispose();
    x.dispose();
  }
  return { loss, grads, active, terms };
}

const DS = 'blocks.2.hook_resid_post';
const CASES: { name: string; opts: Partial<JointE2eObjectiveOptions>; scales: number[]; coef: Record<string, number> }[] = [
  { name: 'e2e', opts: {}, scales: [1, 1], coef: { kl: 1 } },
  { name: 'e2e+ds (KL·0.5 + 2·downstream at blocks.2.hook_resid_post, local MSE·0.3, normalised inputs)', opts: { klCoefficient: 0.5, localCoefficient: 0.3, downstream: [{ hook: DS, coefficient: 2 }] }, scales: [0.7, 1.3], coef: { kl: 0.5, [`ds:${DS}`]: 2 } },
];

async function twoSaes(arch: SaeArchitecture, d: number): Promise<SaeModel[]> {
  const saes: SaeModel[] = [];
  for (let i = 0; i < HOOKS.length; i++) {
    const cfg = config(arch, d, 48, 3 + i);
    // Decoder rows of norm 1 (not the usual 0.1) so the splices move the output well above rounding.
    saes.push(createSae(cfg, await initSaeParams(cfg, cpu, { decoderNorm: 1 })));
  }
  return saes;
}

for (const arch of ['standard', 'topk', 'batchtopk'] as const) {
  for (const c of CASES) {
    test(`${arch}, joint ${c.name}: each SAE's parameter gradients match finite differences of the joint loss`, { skip }, async (t) => {
      const model = await Transformer.load(join(ASSETS, MODEL), cpu);
      const saes = await twoSaes(arch, model.config.dModel);
      const obj = jointE2eObjective({ model, hooks: HOOKS, normScales: c.scales, ...c.opts });
      const b = tokenBatch(5);
      const base = await jointLoss(model, obj, b, saes, c.coef, c.scales);
      assert.ok(base.terms.kl! > 1e-4, `the splices change the output (KL ${base.terms.kl})`);
      assert.deepEqual(Object.keys(base.terms).sort(), Object.keys(c.coef).sort());
      for (const [i, sae] of saes.entries()) {
        const evaluate = async () => {
          const r = await jointLoss(model, obj, b, saes, c.coef, c.scales);
          return { stats: { loss: r.loss }, grads: r.grads[i]!, active: r.active };
        };
        await checkDirectionalGrads(t, `${arch} SAE at ${HOOKS[i]}`, sae.params as SaeParams, evaluate, { lossStep: 1e-3 });
      }
      model.dispose();
    });
  }
}

for (const arch of ['standard', 'topk'] as const) {
  test(`${arch}: exact-identity SAEs at two hooks give KL 0 and downstream 0`, { skip }, async () => {
    const model = await Transformer.load(join(ASSETS, MODEL), cpu);
    const d = model.config.dModel;
    const cfg = config(arch, d, 2 * d, 0, arch === 'standard' ? { l1Coefficient: 0 } : { k: d });
    const saes = [identitySae(cfg), identitySae(cfg)];
    const obj = jointE2eObjective({ model, hooks: HOOKS, normScales: [0.37, 2], downstream: [{ hook: DS, coefficient: 1 }] });
    const prep = await obj.prepare(tokenBatch(8), saes);
    for (const sae of saes) {
      const res = await prep.step(sae, ctx(sae));
      const s = await res.stats();
      assert.equal(s.terms!.kl, 0);
      assert.equal(s.terms![`ds:${DS}`], 0);
      for (const [k, g] of Object.entries(res.grads)) assert.ok((g!.data as Float32Array).every((v) => v === 0), `${k} gradient is zero`);
      res.dispose();
    }
    prep.dispose();
    model.dispose();
  });
}

/** Train `saes` for 3 steps (log every step) with `objective`; returns their params and log rows. */
async function train(saes: SaeModel[], objective: ReturnType<typeof jointE2eObjective>): Promise<{ params: Float32Array[]; rows: TrainLogRow[] }> {
  const rows: TrainLogRow[] = [];
  await trainSaes({ saes, objective, batches: [tokenBatch(1), tokenBatch(2), tokenBatch(3)], totalSteps: 3, lr: 1e-2, logEvery: 1, onLog: (r) => rows.push({ ...r, tokensPerSecond: 0 }) });
  const params = saes.flatMap((s) => (['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const).map((k) => Float32Array.from(s.params[k].data as Float32Array)));
  return { params, rows };
}

for (const arch of ['topk', 'standard'] as const) {
  test(`${arch}: a joint objective with one hook trains exactly as the single-hook one`, { skip }, async () => {
    const model = await Transformer.load(join(ASSETS, MODEL), cpu);
    const d = model.config.dModel;
    const make = async () => [0, 1].map(async (s) => { const cfg = config(arch, d, 32, s); return createSae(cfg, await initSaeParams(cfg, cpu)); });
    const o = { model, klCoefficient: 0.8, localCoefficient: 0.1, downstream: [{ hook: DS, coefficient: 0.5 }] };
    const a = await train(await Promise.all(await make()), jointE2eObjective({ ...o, hooks: ['blocks.1.hook_resid_pre'], normScales: [0.9] }));
    const b = await train(await Promise.all(await make()), e2eObjective({ ...o, hook: 'blocks.1.hook_resid_pre', normScale: 0.9 }));
    assert.equal(a.rows.length, 6);
    assert.ok(a.rows.every((r) => r.terms?.kl !== undefined && r.terms[`ds:${DS}`] !== undefined));
    assert.deepEqual(a.rows, b.rows);
    assert.deepEqual(a.params, b.params);
    model.dispose();
  });
}

test('two joint sets (two seeds × two hooks) trained together equal each set trained alone', { skip }, async () => {
  const model = await Transformer.load(join(ASSETS, MODEL), cpu);
  const d = model.config.dModel;
  const set = async (seed: number) => Promise.all(HOOKS.map(async (_h, i) => { const cfg = config('topk', d, 32, seed * 10 + i); return createSae(cfg, await initSaeParams(cfg, cpu)); }));
  const obj = () => jointE2eObjective({ model, hooks: HOOKS, normScales: [1.5, 0.5] });
  const both = await train([...(await set(0)), ...(await set(1))], obj());
  const first = await train(await set(0), obj());
  const second = await train(await set(1), obj());
  assert.deepEqual(both.params, [...first.params, ...second.params]);
  // The sets' KLs differ (each its own spliced forward), and both SAEs of a set log the same one.
  const kl = (rows: TrainLogRow[], i: number) => rows.filter((r) => r.saeIndex === i).map((r) => r.terms!.kl);
  assert.deepEqual(kl(both.rows, 0), kl(both.rows, 1));
  assert.deepEqual(kl(both.rows, 2), kl(second.rows, 0));
  assert.notDeepEqual(kl(both.rows, 0), kl(both.rows, 2));
  model.dispose();
});

test('bad joint input: hooks twice, downstream before the last SAE hook, SAEs not in sets', { skip }, async () => {
  const model = await Transformer.load(join(ASSETS, MODEL), cpu);
  assert.throws(() => jointE2eObjective({ model, hooks: [HOOKS[0]!, HOOKS[0]!], normScales: [1, 1] }), /listed twice/);
  assert.throws(() => jointE2eObjective({ model, hooks: HOOKS, normScales: [1, 1], downstream: [{ hook: 'blocks.1.hook_resid_post', coefficient: 1 }] }), /does not come after the last SAE hook/);
  const cfg = config('topk', model.config.dModel, 32, 0);
  const sae = createSae(cfg, await initSaeParams(cfg, cpu));
  await assert.rejects(jointE2eObjective({ model, hooks: HOOKS, normScales: [1, 1] }).prepare(tokenBatch(1), [sae]), /do not make sets of one per hook/);
  model.dispose();
});
