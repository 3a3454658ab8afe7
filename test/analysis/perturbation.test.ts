// The matched perturbation hits its cosine and norm ratio; seeds fix it; the sweep on
// gpt2-corpus-tiny gives KL 0 at cos 1, KL growing with 1 − cos, and SAE points with their
// token-matched random twins.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import { cosineAndNormRatio, epsilonPerturbation, logSpaced, matchedPerturbation } from '../../src/analysis/perturbation.js';
import { logLogInterpolate, perturbSweep, spreadOf } from '../../src/analysis/perturbSweep.js';
import type { PackedWindow } from '../../src/data/packTokens.js';
import { Transformer } from '../../src/model/transformer.js';
import { createSae, initSae } from '../../src/sae/initSae.js';
import { ASSETS, needsAsset } from '../io/assets.js';

test('matched perturbation: cos c and norm ratio r to 1e-5 for random x and targets; kept tokens only', () => {
  const d = 64;
  const n = 50;
  const rng = new Rng(1);
  const x = rng.normalArray(n * d, 3);
  x.fill(0, 7 * d, 8 * d); // a zero row stays zero
  const c = Float64Array.from({ length: n }, (_, t) => [1, 0.999, 0.9, 0.5, 0, -0.5, -0.99][t % 7]!);
  const r = Float64Array.from({ length: n }, () => 0.2 + 2 * rng.uniform());
  const keep = Uint8Array.from({ length: n }, (_, t) => (t === 3 ? 0 : 1));
  const y = matchedPerturbation(x, d, c, r, new Rng(9), keep);
  const m = cosineAndNormRatio(x, y, d);
  for (let t = 0; t < n; t++) {
    if (t === 3) assert.deepEqual(y.subarray(t * d, (t + 1) * d), x.subarray(t * d, (t + 1) * d), 'excluded token untouched');
    else if (t === 7) assert.ok(y.subarray(t * d, (t + 1) * d).every((v) => v === 0));
    else {
      assert.ok(Math.abs(m.cos[t]! - c[t]!) < 1e-5, `token ${t}: cos ${m.cos[t]} vs ${c[t]}`);
      assert.ok(Math.abs(m.ratio[t]! - r[t]!) < 1e-5 * r[t]!, `token ${t}: ratio ${m.ratio[t]} vs ${r[t]}`);
    }
  }
  // c = 1, r = 1 gives x back exactly; a seed fixes the draw, another seed changes it.
  assert.deepEqual(matchedPerturbation(x, d, 1, 1, new Rng(2)), x);
  assert.deepEqual(matchedPerturbation(x, d, 0.5, 1, new Rng(2)), matchedPerturbation(x, d, 0.5, 1, new Rng(2)));
  assert.notDeepEqual(matchedPerturbation(x, d, 0.5, 1, new Rng(2)), matchedPerturbation(x, d, 0.5, 1, new Rng(3)));
  // ε-perturbation: ‖x' − x‖ = ε‖x‖.
  const e = epsilonPerturbation(x, d, 0.1, new Rng(4));
  for (const t of [0, 10]) {
    let dn = 0;
    let xn = 0;
    for (let j = 0; j < d; j++) (dn += (e[t * d + j]! - x[t * d + j]!) ** 2), (xn += x[t * d + j]! ** 2);
    assert.ok(Math.abs(Math.sqrt(dn) - 0.1 * Math.sqrt(xn)) < 1e-4 * Math.sqrt(xn));
  }
});

test('bad targets: one-line errors that the CLI maps to exit 2', () => {
  const x = new Float32Array(8).fill(1);
  for (const [c, r, re] of [[-1, 1, /cosine/], [1.5, 1, /cosine/], [0.5, 0, /norm ratio/], [0.5, -2, /norm ratio/], [NaN, 1, /cosine/]] as const) {
    assert.throws(() => matchedPerturbation(x, 4, c, r, new Rng(1)), (e: Error) => e.name === 'UsageError' && re.test(e.message));
  }
  assert.throws(() => epsilonPerturbation(x, 4, -1, new Rng(1)), /epsilon/);
  assert.throws(() => logSpaced(0, 1, 5), /log-spaced/);
});

test('spread, log-log interpolation', () => {
  assert.deepEqual(spreadOf([5, 1, 4, 2, 3, 6, 7, 8, 9, 10]), { mean: 5.5, q10: 1, q50: 5, q90: 9 });
  assert.ok(Math.abs(logLogInterpolate([1e-3, 1e-1], [1e-4, 1e-2], 1e-2)! - 1e-3) < 1e-12);
  assert.equal(logLogInterpolate([1e-3, 1e-1], [1e-4, 1e-2], 1), null);
});

const MODEL = 'models/gpt2-corpus-tiny';

test('sweep on gpt2-corpus-tiny: KL 0 at cos 1, growing with 1 − cos, reproducible; SAE points beside matched noise', { skip: needsAsset(MODEL) }, async () => {
  const model = await Transformer.load(join(ASSETS, MODEL), cpu);
  try {
    const rng = new Rng(5);
    const T = 24;
    const windows: PackedWindow[] = Array.from({ length: 4 }, () => {
      const ids = Int32Array.from({ length: T }, () => rng.int(model.config.vocabSize));
      const exclude = new Uint8Array(T);
      exclude[0] = 1; // as BOS
      return { ids, exclude };
    });
    const d = model.config.dModel;
    const cfg = { architecture: 'topk' as const, dIn: d, dSae: 2 * d, k: 16, applyBDecToInput: true, decoderUnitNorm: true, normalizeActivations: 'none' as const, seed: 1 };
    const sae = createSae(cfg, (await initSae(cfg, cpu)).params);
    const hooks = ['blocks.1.hook_resid_pre', 'blocks.2.hook_mlp_out'];
    const opts = { model, hooks, windows, oneMinusCos: [0, 1e-3, 1e-2, 1e-1, 0.5], seed: 3, batchSize: 2, saes: [{ label: 'random-init', cfg, model: sae, hook: hooks[0]! }] };
    const a = await perturbSweep(opts);
    assert.equal(a.tokens, 4 * (T - 1));
    for (const h of a.hooks) {
      assert.ok(Math.abs(h.curve[0]!.kl.mean) < 1e-6, `${h.hook}: KL at cos 1 is ${h.curve[0]!.kl.mean}`);
      assert.ok(Math.abs(h.curve[0]!.ceIncrease) < 1e-5);
      for (let j = 2; j < h.curve.length; j++) assert.ok(h.curve[j]!.kl.mean > h.curve[j - 1]!.kl.mean, `${h.hook}: KL grows with 1 − cos`);
      assert.ok(h.klAtReference! > h.curve[1]!.kl.mean && h.klAtReference! < h.curve[3]!.kl.mean);
    }
    const pt = a.hooks[0]!.saes[0]!;
    assert.equal(pt.label, 'random-init');
    assert.ok(pt.oneMinusCos > 0 && pt.kl.mean > 0 && pt.randomMatched.kl.mean > 0);
    assert.equal(a.hooks[1]!.saes.length, 0);
    const b = await perturbSweep(opts);
    assert.deepEqual(b, a, 'same seed, same report');
    const c = await perturbSweep({ ...opts, seed: 4 });
    assert.notEqual(c.hooks[0]!.curve[3]!.kl.mean, a.hooks[0]!.curve[3]!.kl.mean);
    await assert.rejects(perturbSweep({ ...opts, hooks: ['blocks.9.hook_resid_pre'] }), /unknown hook/);
    await assert.rejects(perturbSweep({ ...opts, hooks: [hooks[1]!] }), /not among the perturbed hooks/);
    await assert.rejects(perturbSweep({ ...opts, oneMinusCos: [2] }), /\[0, 2\)/);
  } finally {
    model.dispose();
  }
});
