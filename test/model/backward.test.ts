// The backward against HF's gradients (d mean next-token CE / d blocks.1.hook_resid_pre for the LMs,
// d(reward[0] − reward[1]) / d blocks.1.hook_resid_pre for the reward model) on the CPU and on
// WebGPU, and parameter gradients against finite differences of the forward.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import type { Device } from '../../src/compute/device.js';
import type { Tensor } from '../../src/compute/tensor.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { Rng } from '../../src/compute/random.js';
import { backward, NEXT_TOKEN_CE, REWARD_DIFF, type Objective } from '../../src/model/backward.js';
import { meanNextTokenCE, Transformer } from '../../src/model/transformer.js';
import { add } from '../../src/compute/ops/elementwise.js';
import { klDivergence } from '../../src/compute/ops/klDivergence.js';
import { listWeights } from '../../src/model/weights.js';
import { gpuOrSkip } from '../helpers/gpu.js';
import { ASSETS, needsAsset } from '../io/assets.js';

const { gpu, skip: gpuSkip } = await gpuOrSkip();
const FIXTURES = ['gpt2-tiny-random', 'pythia-tiny-random', 'llama-tiny-random', 'gpt2-rm-tiny-random'];
const devices: [string, Device | null, false | string][] = [
  ['cpu', cpu, false],
  ['webgpu', gpu, gpuSkip],
];

function relErr(g: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (g[i]! - ref[i]!) ** 2;
    den += ref[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

async function golden(dir: string): Promise<{ ids: Int32Array; shape: [number, number]; key: string; grad: Float32Array }> {
  const meta = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as { keys: Record<string, number[]> };
  const key = Object.keys(meta.keys).find((k) => k.startsWith('grad.'))!;
  const f = await SafetensorsFile.open(join(dir, 'golden.safetensors'));
  const ids = Int32Array.from((await f.readTyped('input_ids')) as Int32Array);
  const grad = await f.readF32(key);
  await f.close();
  return { ids, shape: meta.keys['input_ids'] as [number, number], key, grad };
}

for (const [kind, dev, devSkip] of devices) {
  for (const name of FIXTURES) {
    const rel = `fixtures/${name}`;
    test(`${name} on ${kind}: the gradient at blocks.1.hook_resid_pre matches HF within 1e-4 relative`, { skip: needsAsset(rel) || devSkip }, async (t) => {
      const dir = join(ASSETS, rel);
      const g = await golden(dir);
      const model = await Transformer.load(dir, dev!);
      const r = model.forward(g.ids, g.shape, { grad: true });
      const objective = g.key.startsWith('grad.reward_diff') ? REWARD_DIFF : NEXT_TOKEN_CE;
      const { grad, params } = backward(model, r.cache!, objective, { to: 'blocks.1.hook_resid_pre' });
      assert.deepEqual(grad.shape, [...g.shape, model.config.dModel]);
      const e = relErr((await grad.read()) as Float32Array, g.grad);
      t.diagnostic(`${name} ${kind}: ${g.key} relative error ${e.toExponential(2)}`);
      assert.ok(e <= 1e-4, `relative error ${e}`);
      // Parameters downstream of block 1: blocks 1 and 2, the final norm, the head; none of block 0.
      assert.ok(params.has('blocks.1.attn.W_Q') && params.has('blocks.2.mlp.W_out') && params.has('ln_final.w'));
      assert.ok(![...params.keys()].some((k) => k.startsWith('blocks.0.')));
      for (const [k, p] of params) {
        const wt = listWeights(model.weights).find(([n]) => n === k);
        assert.ok(wt, `gradient for unknown parameter ${k}`);
        assert.deepEqual(p.shape, wt[1].shape, k);
      }
      r.cache!.dispose();
      model.dispose();
    });
  }
}

/**
 * Directional finite differences of the f32 forward on the CPU: for each parameter W with computed
 * gradient G, along D = G/|G| + a random unit direction, (f(W + εD) − f(W − εD)) / 2ε must equal
 * ⟨G, D⟩. (Entrywise differences drown in f32 rounding of the loss; a direction moves it enough.)
 */
async function checkParamGrads(name: string, objectiveOf: (m: Transformer, ids: Int32Array, shape: [number, number]) => Promise<number>, paramNames: string[], objective: Objective): Promise<void> {
  const dir = join(ASSETS, `fixtures/${name}`);
  const g = await golden(dir);
  const model = await Transformer.load(dir, cpu);
  const r = model.forward(g.ids, g.shape, { grad: true });
  const { params } = backward(model, r.cache!, objective, { to: 'blocks.0.hook_resid_pre', embeddings: true });
  assert.deepEqual([...params.keys()].sort(), listWeights(model.weights).map(([n]) => n).sort(), 'every parameter has a gradient');
  const weights = new Map(listWeights(model.weights));
  const rng = new Rng(7);
  for (const pn of paramNames) {
    const w = weights.get(pn)!.data as Float32Array;
    const grad = params.get(pn)!.data as Float32Array;
    const gn = Math.hypot(...grad);
    const noise = rng.normalArray(w.length);
    const nn = Math.hypot(...noise);
    const D = Float64Array.from(grad, (v, i) => (gn > 0 ? v / gn : 0) + noise[i]! / nn); // (ln_final.b's reward-diff gradient is exactly 0)
    let expected = 0;
    for (let i = 0; i < w.length; i++) expected += grad[i]! * D[i]!;
    const eps = 2e-3 / Math.max(Math.abs(expected), 1e-3);
    const w0 = w.slice();
    const at = async (s: number) => {
      for (let i = 0; i < w.length; i++) w[i] = w0[i]! + s * eps * D[i]!;
      return objectiveOf(model, g.ids, g.shape);
    };
    const num = ((await at(1)) - (await at(-1))) / (2 * eps);
    w.set(w0);
    assert.ok(Math.abs(num - expected) <= 1e-2 * Math.abs(expected) + 1e-6, `${name} ${pn}: backward ⟨G, D⟩ = ${expected}, finite difference ${num}`);
  }
  r.cache!.dispose();
}

const ceOf = async (m: Transformer, ids: Int32Array, shape: [number, number]) => meanNextTokenCE(m.forward(ids, shape).logits!, ids, shape);
const rewardDiffOf = async (m: Transformer, ids: Int32Array, shape: [number, number]) => {
  const r = m.forward(ids, shape).rewards!.data;
  return r[0]! - r[1]!;
};

test('parameter gradients match finite differences of the forward (CPU, every family)', { skip: needsAsset('fixtures/llama-tiny-random') }, async () => {
  const common = ['blocks.0.ln1.w', 'blocks.0.attn.W_Q', 'blocks.0.attn.W_K', 'blocks.0.attn.W_V', 'blocks.0.attn.W_O', 'blocks.1.ln2.w', 'blocks.1.mlp.W_in', 'blocks.2.mlp.W_out', 'ln_final.w'];
  await checkParamGrads('llama-tiny-random', ceOf, [...common, 'blocks.1.mlp.W_gate', 'embed'], NEXT_TOKEN_CE);
  await checkParamGrads('pythia-tiny-random', ceOf, [...common, 'blocks.0.attn.b_Q', 'blocks.1.mlp.b_in', 'blocks.1.ln2.b', 'unembed', 'embed'], NEXT_TOKEN_CE);
  await checkParamGrads('gpt2-rm-tiny-random', rewardDiffOf, [...common, 'blocks.0.attn.b_V', 'blocks.2.mlp.b_out', 'ln_final.b', 'score', 'embed', 'pos_embed'], REWARD_DIFF);
});

test('KL(clean ‖ patched) objective: its hook gradient matches finite differences of the KL', { skip: needsAsset('fixtures/gpt2-tiny-random') }, async () => {
  const dir = join(ASSETS, 'fixtures/gpt2-tiny-random');
  const g = await golden(dir);
  const model = await Transformer.load(dir, cpu);
  const hook = 'blocks.1.hook_resid_pre';
  const clean = model.forward(g.ids, g.shape).logits!;
  const rng = new Rng(11);
  const n = g.shape[0] * g.shape[1] * model.config.dModel;
  const delta = rng.normalArray(n, 0.5); // a patch big enough that the KL is well away from 0
  const patched = (d: Float32Array, grad: boolean) =>
    model.forward(g.ids, g.shape, { grad, hooks: { [hook]: (x) => add(x, cpu.fromArray(d, x.shape)) } });
  const klOf = (d: Float32Array) => {
    const kl = klDivergence(clean, patched(d, false).logits!).data as Float32Array;
    return kl.reduce((s, v) => s + v, 0) / kl.length;
  };
  const r = patched(delta, true);
  const { grad } = backward(model, r.cache!, { kind: 'kl-to-clean', cleanLogits: clean }, { to: hook, params: false });
  const G = grad.data as Float32Array;
  assert.ok(klOf(delta) > 1e-3, 'the patch moves the output');
  assert.equal(klOf(new Float32Array(n)), 0, 'no patch: KL is exactly 0');
  const u = rng.normalArray(n);
  const un = Math.hypot(...u);
  let expected = 0;
  for (let i = 0; i < n; i++) expected += G[i]! * (u[i]! / un);
  const eps = 1e-2;
  const at = (s: number) => klOf(Float32Array.from(delta, (v, i) => v + (s * eps * u[i]!) / un));
  const num = (at(1) - at(-1)) / (2 * eps);
  assert.ok(Math.abs(num - expected) <= 2e-2 * Math.abs(expected) + 1e-6, `backward ⟨G, u⟩ = ${expected}, finite difference ${num}`);
  r.cache!.dispose();
});

test('startAt: a forward resumed from a clean residual equals the full one bit for bit (logits, hook gradient), and owns nothing of the caller', { skip: needsAsset('fixtures/llama-tiny-random') || needsAsset('fixtures/gpt2-tiny-random') }, async () => {
  for (const name of ['gpt2-tiny-random', 'llama-tiny-random']) {
    const model = await Transformer.load(join(ASSETS, 'fixtures', name), cpu);
    const L = 1;
    const start = `blocks.${L}.hook_resid_pre`;
    const hook = `blocks.${L}.hook_mlp_out`;
    const rng = new Rng(5);
    const [B, T] = [2, 6];
    const ids = Int32Array.from({ length: B * T }, () => rng.int(model.config.vocabSize));
    const clean = model.forward(ids, [B, T], { keep: [start] });
    const resid = clean.activations.get(start)!;
    const residBefore = Float32Array.from(resid.data as Float32Array);
    const delta = cpu.fromArray(rng.normalArray(B * T * model.config.dModel, 0.1), [B, T, model.config.dModel]);
    // A hook at the start point itself replaces the borrowed residual: it must survive that.
    const hooks = { [hook]: (h: Tensor) => add(h, delta), [start]: (h: Tensor) => add(h, delta) };
    const full = model.forward(ids, [B, T], { grad: true, hooks });
    const resumed = model.forward(ids, [B, T], { grad: true, hooks, startAt: { layer: L, resid } });
    assert.deepEqual(resumed.logits!.data, full.logits!.data, `${name}: logits`);
    const gFull = backward(model, full.cache!, NEXT_TOKEN_CE, { to: hook, params: false }).grad;
    const gResumed = backward(model, resumed.cache!, NEXT_TOKEN_CE, { to: hook, params: false }).grad;
    assert.deepEqual(gResumed.data, gFull.data, `${name}: hook gradient`);
    resumed.cache!.dispose();
    assert.deepEqual(resid.data, residBefore, `${name}: the caller's residual is untouched and alive`);
    const again = model.forward(ids, [B, T], { grad: true, startAt: { layer: L, resid } });
    assert.throws(() => backward(model, again.cache!, NEXT_TOKEN_CE, { to: 'blocks.0.hook_mlp_out' }), /no block 0/);
    assert.throws(() => model.forward(ids, [B, T], { hooks: { 'blocks.0.hook_mlp_out': () => undefined }, startAt: { layer: L, resid } }), /comes before startAt/);
    assert.throws(() => model.forward(ids, [B, T], { startAt: { layer: L, resid: delta.reshape([B * T, model.config.dModel]) } }), /residual of shape/);
    assert.throws(() => model.forward(ids, [B, T], { startAt: { layer: 99, resid } }), /not a block/);
    model.dispose();
  }
});
