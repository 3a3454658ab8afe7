// backward's `collect`: the gradients at several hooks from one pass equal those of one backward per
// hook (bit for bit on CPU: the same ops), for sequential (GPT-2, Llama) and parallel (Pythia) blocks,
// with a downstream term injected and the parameter gradients unchanged; and each collected
// gradient matches finite differences of the KL through the blocks after its hook (deltas added at
// three hooks at once, the KL summed in f64).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { add } from '../../src/compute/ops/elementwise.js';
import { klDivergence } from '../../src/compute/ops/klDivergence.js';
import { Rng } from '../../src/compute/random.js';
import type { Tensor } from '../../src/compute/tensor.js';
import { backward } from '../../src/model/backward.js';
import { Transformer } from '../../src/model/transformer.js';
import { ASSETS, needsAsset } from '../io/assets.js';

function ids(seed: number, n: number, vocab: number): Int32Array {
  const rng = new Rng(seed);
  return Int32Array.from({ length: n }, () => Math.floor(rng.uniform() * vocab));
}

/** A forward of `model` on ids with `deltas` added at their hooks. */
function patched(model: Transformer, x: Int32Array, shape: [number, number], deltas: Map<string, Float32Array>, grad: boolean) {
  const hooks = Object.fromEntries([...deltas].map(([h, d]) => [h, (v: Tensor) => add(v, cpu.fromArray(d, v.shape))]));
  return model.forward(x, shape, { grad, hooks });
}

const FAMILIES = [
  { name: 'gpt2-tiny-random', mid: true },
  { name: 'llama-tiny-random', mid: true },
  { name: 'pythia-tiny-random', mid: false },
];

for (const fam of FAMILIES) {
  test(`${fam.name}: collected gradients equal one backward per hook, exactly`, { skip: needsAsset(`fixtures/${fam.name}`) }, async () => {
    const model = await Transformer.load(join(ASSETS, 'fixtures', fam.name), cpu);
    const cfg = model.config;
    assert.ok(cfg.nLayers >= 3, 'three blocks at least');
    const shape: [number, number] = [2, 8];
    const x = ids(3, 16, cfg.vocabSize);
    const clean = model.forward(x, shape).logits!;
    const rng = new Rng(5);
    const n = 16 * cfg.dModel;
    const hooks = ['blocks.0.hook_resid_post', 'blocks.1.hook_resid_pre', 'blocks.1.hook_attn_out', ...(fam.mid ? ['blocks.1.hook_resid_mid'] : []), 'blocks.1.hook_mlp_out', 'blocks.1.hook_resid_post', 'blocks.2.hook_resid_pre', 'blocks.2.hook_mlp_out'];
    const deltas = new Map(['blocks.0.hook_resid_post', 'blocks.1.hook_attn_out', 'blocks.2.hook_resid_pre'].map((h) => [h, rng.normalArray(n, 0.3)]));
    const r = patched(model, x, shape, deltas, true);
    const inject = new Map([['blocks.2.hook_resid_post', cpu.fromArray(rng.normalArray(n, 0.01), [2, 8, cfg.dModel])]]);
    const objective = { kind: 'kl-to-clean', cleanLogits: clean } as const;
    const joint = backward(model, r.cache!, objective, { collect: [...hooks].reverse(), inject });
    assert.equal(joint.grads.size, hooks.length);
    assert.equal(joint.grads.get('blocks.0.hook_resid_post'), joint.grad, 'the earliest hook is where the backward stops');
    for (const h of hooks) {
      const one = backward(model, r.cache!, objective, { to: h, params: h === hooks[0] , inject });
      assert.deepEqual(joint.grads.get(h)!.data, one.grad.data, h);
      if (h === hooks[0]) {
        assert.deepEqual([...joint.params.keys()].sort(), [...one.params.keys()].sort());
        for (const [k, g] of one.params) assert.deepEqual(joint.params.get(k)!.data, g.data, k);
      }
      one.grad.dispose();
    }
    // resid_post of block 0 and resid_pre of block 1 are the same point of the residual stream.
    assert.deepEqual(joint.grads.get('blocks.0.hook_resid_post')!.data, joint.grads.get('blocks.1.hook_resid_pre')!.data);
    assert.throws(() => backward(model, r.cache!, objective, { to: 'blocks.1.hook_resid_pre', collect: ['blocks.0.hook_resid_post'] }), /comes before the hook the backward stops at/);
    assert.throws(() => backward(model, r.cache!, objective, { collect: ['blocks.1.hook_mlp_out', 'blocks.1.hook_mlp_out'] }), /listed twice/);
    assert.throws(() => backward(model, r.cache!, objective, { collect: ['blocks.9.hook_mlp_out'] }), /unknown hook/);
    r.cache!.dispose();
    model.dispose();
  });
}

test('collected gradients match finite differences of the KL (deltas at three hooks, through up to three blocks)', { skip: needsAsset('fixtures/gpt2-tiny-random') }, async (t) => {
  const model = await Transformer.load(join(ASSETS, 'fixtures/gpt2-tiny-random'), cpu);
  const shape: [number, number] = [2, 8];
  const x = ids(7, 16, model.config.vocabSize);
  const clean = model.forward(x, shape).logits!;
  const n = 16 * model.config.dModel;
  const rng = new Rng(13);
  const hooks = ['blocks.0.hook_resid_pre', 'blocks.1.hook_attn_out', 'blocks.2.hook_resid_pre'];
  const deltas = new Map(hooks.map((h) => [h, rng.normalArray(n, 0.5)]));
  const klOf = (ds: Map<string, Float32Array>) => {
    const kl = klDivergence(clean, patched(model, x, shape, ds, false).logits!).data as Float32Array;
    let s = 0;
    for (const v of kl) s += v;
    return s / kl.length;
  };
  const r = patched(model, x, shape, deltas, true);
  const { grads } = backward(model, r.cache!, { kind: 'kl-to-clean', cleanLogits: clean }, { collect: hooks, params: false });
  assert.ok(klOf(deltas) > 1e-3, 'the patches move the output');
  for (const h of hooks) {
    const G = grads.get(h)!.data as Float32Array;
    const u = rng.normalArray(n);
    const un = Math.hypot(...u);
    let expected = 0;
    for (let i = 0; i < n; i++) expected += G[i]! * (u[i]! / un);
    const eps = 1e-2;
    const at = (s: number) => klOf(new Map([...deltas].map(([k, d]) => [k, k === h ? Float32Array.from(d, (v, i) => v + (s * eps * u[i]!) / un) : d])));
    const num = (at(1) - at(-1)) / (2 * eps);
    t.diagnostic(`${h}: ⟨G, u⟩ = ${expected.toExponential(4)}, finite difference ${num.toExponential(4)}`);
    assert.ok(Math.abs(num - expected) <= 2e-2 * Math.abs(expected) + 1e-8, `${h}: backward ⟨G, u⟩ = ${expected}, finite difference ${num}`);
  }
  r.cache!.dispose();
  model.dispose();
});
