// Reward attribution on the tiny random reward model (fixtures/gpt2-rm-tiny-random):
// - known answer: an orthonormal, exactly reconstructing SAE at ln_final.hook_normalized and a score
//   head set to c·q_j (decoder row j): the reward is linear there, so the planted feature must rank
//   first, its linear and exact effects must equal the analytic c·(relu(h_a·q_j) − relu(h_b·q_j)),
//   every other feature's effect must be ~0, and rest ~0;
// - completeness at a residual hook with a random TopK SAE: Σ effects + error + bias + rest = Δr, and
//   ablating every feature at once equals an independent splice of b_dec/s + e (the error-term-only reward);
// - the same text twice gives exactly zero differences.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import { Transformer } from '../../src/model/transformer.js';
import { createSae, initSaeParams } from '../../src/sae/initSae.js';
import type { SaeConfig } from '../../src/sae/types.js';
import { attributeRows, pairDifference, type AttributionRow, type AttributionSae } from '../../src/analysis/rewardAttribution.js';
import { ablatedRewards, rowCodes } from '../../src/analysis/rewardAblation.js';
import { ASSETS, needsAsset } from '../io/assets.js';

const skip = needsAsset('fixtures/gpt2-rm-tiny-random');
let rm: Transformer;
const D = 64;

before(async () => {
  if (skip) return;
  rm = await Transformer.load(join(ASSETS, 'fixtures/gpt2-rm-tiny-random'), cpu);
});

/** A random orthonormal basis of R^d, rows q_k (Gram–Schmidt in float64). */
function orthonormal(d: number, seed: number): Float64Array[] {
  const rng = new Rng(seed);
  const q: Float64Array[] = [];
  while (q.length < d) {
    const v = Float64Array.from(rng.normalArray(d, 1));
    for (const u of q) {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += v[j]! * u[j]!;
      for (let j = 0; j < d; j++) v[j] -= dot * u[j]!;
    }
    let n = 0;
    for (let j = 0; j < d; j++) n += v[j]! * v[j]!;
    n = Math.sqrt(n);
    for (let j = 0; j < d; j++) v[j] /= n;
    q.push(v);
  }
  return q;
}

/** Standard SAE with W_dec = [Q; −Q], W_enc = W_decᵀ, zero biases: x̂ = x exactly (through the scale s too). */
function basisSae(q: Float64Array[], hook: string, s: number): AttributionSae {
  const d = q.length;
  const m = 2 * d;
  const wd = new Float32Array(m * d);
  for (let k = 0; k < d; k++) for (let j = 0; j < d; j++) (wd[k * d + j] = q[k]![j]!), (wd[(d + k) * d + j] = -q[k]![j]!);
  const we = new Float32Array(d * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < d; j++) we[j * m + i] = wd[i * d + j]!;
  const cfg: SaeConfig = { architecture: 'standard', dIn: d, dSae: m, applyBDecToInput: false, decoderUnitNorm: false, normalizeActivations: 'expected_average_only_in', seed: 0 };
  const params = { W_enc: cpu.fromArray(we, [d, m]), b_enc: cpu.zeros([m]), W_dec: cpu.fromArray(wd, [m, d]), b_dec: cpu.zeros([d]) };
  return { label: 'basis', hook, cfg, model: createSae(cfg, params), normScalingFactor: s, wDec: wd, bDec: new Float32Array(d) };
}

function randomRow(rng: Rng, len: number, start: number): AttributionRow {
  return { ids: Int32Array.from({ length: len }, () => rng.int(998)), start };
}

test('known answer: a score head reading decoder row j ranks feature j first with its analytic effect', { skip }, async () => {
  const q = orthonormal(D, 7);
  const j = 5;
  const c = 3;
  const score = rm.weights.score!;
  const saved = (score.data as Float32Array).slice();
  try {
    cpu.write(score, Float32Array.from(q[j]!, (v) => c * v));
    const sae = basisSae(q, 'ln_final.hook_normalized', 2);
    const rng = new Rng(3);
    // Draw pairs until h_a·q_j > 0 and h_b·q_j < 0 is not required: the analytic formula covers both signs.
    const a = randomRow(rng, 12, 4);
    const b = randomRow(rng, 9, 4);
    b.ids.set(a.ids.subarray(0, 4)); // a shared prompt
    const [ra, rb] = await attributeRows(rm, [sae], [a, b]);
    const pd = pairDifference(ra!, rb!, 0);
    // h at the last token, from the model directly.
    const hOf = async (row: AttributionRow) => {
      const r = rm.forward(row.ids, [1, row.ids.length], { keep: ['ln_final.hook_normalized'] });
      const h = (await r.activations.get('ln_final.hook_normalized')!.read()) as Float32Array;
      return h.subarray((row.ids.length - 1) * D);
    };
    const dot = (h: Float32Array) => h.reduce((s, v, k) => s + v * q[j]![k]!, 0);
    const pa = dot(await hOf(a));
    const pb = dot(await hOf(b));
    const relu = (v: number) => Math.max(0, v);
    const want = new Map([[j, c * (relu(pa) - relu(pb))], [D + j, c * (-relu(-pa) + relu(-pb))]]);
    assert.ok(Math.abs(pd.deltaR - c * (pa - pb)) < 1e-4, `Δr ${pd.deltaR} vs analytic ${c * (pa - pb)}`);
    const order = Array.from(pd.features.keys()).sort((x, y) => Math.abs(pd.effect[y]!) - Math.abs(pd.effect[x]!));
    assert.ok([j, D + j].includes(pd.features[order[0]!]!), `top feature ${pd.features[order[0]!]} is not the planted ${j} (or its negative twin ${D + j})`);
    pd.features.forEach((f, i) => {
      const w = want.get(f) ?? 0;
      assert.ok(Math.abs(pd.effect[i]! - w) < 1e-4, `feature ${f}: linear effect ${pd.effect[i]} vs analytic ${w}`);
    });
    // At the final norm only the last token has a gradient: no prompt term, and nothing nonlinear left.
    assert.ok(Math.abs(pd.error) < 1e-4 && Math.abs(pd.bias) < 1e-6 && Math.abs(pd.prompt) < 1e-9 && Math.abs(pd.rest) < 1e-4, `error ${pd.error}, bias ${pd.bias}, prompt ${pd.prompt}, rest ${pd.rest}`);
    // Exact ablation of j (and of D + j) matches the analytic effect.
    const codes = await rowCodes(rm, sae, [a, b]);
    for (const f of [j, D + j]) {
      const abl = await ablatedRewards(rm, sae, codes, [{ row: 0, features: [f] }, { row: 1, features: [f] }]);
      const exact = (codes[0]!.reward - abl[0]!) - (codes[1]!.reward - abl[1]!);
      assert.ok(Math.abs(exact - want.get(f)!) < 1e-4, `feature ${f}: exact ${exact} vs analytic ${want.get(f)}`);
    }
  } finally {
    cpu.write(score, saved);
  }
});

test('completeness at a residual hook: the terms add up to Δr and ablating every feature gives the error-term-only reward', { skip }, async () => {
  const hook = 'blocks.1.hook_resid_pre';
  const cfg: SaeConfig = { architecture: 'topk', dIn: D, dSae: 96, k: 8, applyBDecToInput: true, decoderUnitNorm: true, normalizeActivations: 'expected_average_only_in', seed: 4 };
  const params = await initSaeParams(cfg, cpu, { decoderNorm: 1 });
  const rng = new Rng(11);
  params.b_dec = cpu.fromArray(rng.normalArray(D, 0.1), [D]);
  const sae: AttributionSae = { label: 'topk', hook, cfg, model: createSae(cfg, params), normScalingFactor: 1.7, wDec: (params.W_dec.data as Float32Array).slice(), bDec: (params.b_dec.data as Float32Array).slice() };
  const a = randomRow(rng, 20, 6);
  const b = randomRow(rng, 15, 6);
  b.ids.set(a.ids.subarray(0, 6));
  const [ra, rb] = await attributeRows(rm, [sae], [a, b]);
  const pd = pairDifference(ra!, rb!, 0);
  const sum = pd.effect.reduce((s, v) => s + v, 0) + pd.error + pd.bias + pd.prompt + pd.rest;
  assert.ok(Math.abs(sum - pd.deltaR) < 1e-9, `Σ terms ${sum} vs Δr ${pd.deltaR}`);
  assert.ok(pd.features.length > 8, 'features fire on the completions');
  // Per-token sums agree with the per-feature sums.
  const tokSum = ra!.saes[0]!.tokenEffect.reduce((s, v) => s + v, 0);
  const featSum = ra!.saes[0]!.effect.reduce((s, v) => s + v, 0);
  assert.ok(Math.abs(tokSum - featSum) < 1e-6 * (1 + Math.abs(featSum)), `per token ${tokSum} vs per feature ${featSum}`);

  // Every feature removed at once = b_dec/s + (x − x̂) spliced on the completion, computed here independently.
  const codes = await rowCodes(rm, sae, [a, b]);
  const all = await ablatedRewards(rm, sae, codes, [{ row: 0, features: 'all' }, { row: 1, features: 'all' }]);
  for (const [k, row] of [a, b].entries()) {
    const T = row.ids.length;
    const clean = rm.forward(row.ids, [1, T], { keep: [hook] });
    const x = ((await clean.activations.get(hook)!.read()) as Float32Array).slice();
    const n = T - row.start;
    const xs = cpu.fromArray(Float32Array.from(x.subarray(row.start * D), (v) => v * 1.7), [n, D]);
    const xHat = ((await sae.model.decode(sae.model.encode(xs)).read()) as Float32Array);
    const h = x.slice();
    for (let t = 0; t < n; t++) for (let jj = 0; jj < D; jj++) {
      const p = (row.start + t) * D + jj;
      h[p] = sae.bDec[jj]! / 1.7 + (x[p]! - xHat[t * D + jj]! / 1.7);
    }
    const r = rm.forward(row.ids, [1, T], { hooks: { [hook]: () => cpu.fromArray(h, [1, T, D]) } });
    const want = ((await r.rewards!.read()) as Float32Array)[0]!;
    assert.ok(Math.abs(all[k]! - want) < 1e-4, `row ${k}: all ablated ${all[k]} vs error-term-only ${want}`);
    assert.ok(Math.abs(codes[k]!.reward - (k === 0 ? ra! : rb!).reward) < 1e-5, 'the clean rewards agree');
  }
});

test('the same completion twice gives exactly zero differences', { skip }, async () => {
  const hook = 'blocks.2.hook_resid_pre';
  const cfg: SaeConfig = { architecture: 'topk', dIn: D, dSae: 80, k: 6, applyBDecToInput: true, decoderUnitNorm: true, normalizeActivations: 'none', seed: 9 };
  const params = await initSaeParams(cfg, cpu, { decoderNorm: 1 });
  const sae: AttributionSae = { label: 't', hook, cfg, model: createSae(cfg, params), wDec: (params.W_dec.data as Float32Array).slice(), bDec: (params.b_dec.data as Float32Array).slice() };
  const row = randomRow(new Rng(2), 14, 3);
  const [ra, rb] = await attributeRows(rm, [sae], [row, { ids: row.ids.slice(), start: 3 }]);
  const pd = pairDifference(ra!, rb!, 0);
  assert.equal(pd.deltaR, 0);
  assert.ok(pd.features.length > 0);
  for (let i = 0; i < pd.features.length; i++) {
    assert.equal(pd.effect[i], 0);
    assert.equal(pd.actA[i], pd.actB[i]);
  }
  assert.equal(pd.error, 0);
  assert.equal(pd.prompt, 0);
  assert.equal(pd.rest, 0);
});
