// evalSaes on the tiny random fixture models: an exactly invertible "SAE" must give CE recovered 1,
// KL 0 and FVU 0 (also through a normalisation factor, so x̂ is un-scaled before splicing); a
// random TopK SAE's numbers must equal an independent plain-TS computation (own encoder, own
// splice, own CE and KL from the logits); several SAEs in one call must equal each alone; bad
// input is one clear error; a reward model gets reward metrics.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import type { PackedWindow } from '../../src/data/packTokens.js';
import { evalSaes, type EvalSaeSpec } from '../../src/eval/evalSae.js';
import { Transformer } from '../../src/model/transformer.js';
import { createSae, initSaeParams } from '../../src/sae/initSae.js';
import type { SaeConfig } from '../../src/sae/types.js';
import { gpuOrSkip } from '../helpers/gpu.js';
import { ASSETS, needsAsset } from '../io/assets.js';
import { identityWeights } from '../helpers/e2eFixtures.js';

const skip = needsAsset('fixtures/gpt2-tiny-random') || needsAsset('fixtures/gpt2-rm-tiny-random');
const HOOK = 'blocks.1.hook_resid_pre';
let lm: Transformer;
let rm: Transformer;

before(async () => {
  if (skip) return;
  lm = await Transformer.load(join(ASSETS, 'fixtures/gpt2-tiny-random'), cpu);
  rm = await Transformer.load(join(ASSETS, 'fixtures/gpt2-rm-tiny-random'), cpu);
});

/** `n` windows of T random ids, position 0 excluded (as BOS). */
function randomWindows(n: number, T: number, seed: number, vocab = 1000): PackedWindow[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const ids = Int32Array.from({ length: T }, () => rng.int(vocab));
    const exclude = new Uint8Array(T);
    exclude[0] = 1;
    return { ids, exclude };
  });
}

/** x̂ = ReLU(x)·I − ReLU(−x)·I: a standard SAE with W_enc = [I, −I], W_dec = [I; −I] reconstructs x exactly. */
function identitySae(d: number, normScalingFactor?: number): EvalSaeSpec {
  const cfg: SaeConfig = { architecture: 'standard', dIn: d, dSae: 2 * d, applyBDecToInput: false, decoderUnitNorm: false, normalizeActivations: normScalingFactor ? 'expected_average_only_in' : 'none', seed: 0 };
  const params = identityWeights(d);
  const s: EvalSaeSpec = { label: 'identity', cfg, model: createSae(cfg, params), hook: HOOK };
  if (normScalingFactor) s.normScalingFactor = normScalingFactor;
  return s;
}

async function topkSae(d: number, dSae: number, k: number, seed: number, hook: string, factor: number): Promise<EvalSaeSpec & { host: { we: Float32Array; be: Float32Array; wd: Float32Array; bd: Float32Array } }> {
  const cfg: SaeConfig = { architecture: 'topk', dIn: d, dSae, k, applyBDecToInput: true, decoderUnitNorm: true, normalizeActivations: 'expected_average_only_in', seed };
  const params = await initSaeParams(cfg, cpu, { decoderNorm: 1 });
  // A non-zero b_dec and b_enc, so that the encoder's input centring and bias are exercised.
  const rng = new Rng(seed + 100);
  params.b_dec = cpu.fromArray(rng.normalArray(d, 0.1), [d]);
  params.b_enc = cpu.fromArray(rng.normalArray(dSae, 0.1), [dSae]);
  const host = { we: params.W_enc.data as Float32Array, be: params.b_enc.data as Float32Array, wd: params.W_dec.data as Float32Array, bd: params.b_dec.data as Float32Array };
  return { label: `topk-${hook}`, cfg, model: createSae(cfg, params), hook, normScalingFactor: factor, host };
}

/** Plain TopK SAE in float64: x̂ (model units) and f of one row. */
function plainTopk(x: Float32Array, s: Awaited<ReturnType<typeof topkSae>>): { xHat: Float64Array; f: Float64Array } {
  const { dIn: d, dSae: m, k } = s.cfg;
  const sc = s.normScalingFactor!;
  const pre = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let v = s.host.be[i]!;
    for (let j = 0; j < d; j++) v += (x[j]! * sc - s.host.bd[j]!) * s.host.we[j * m + i]!;
    pre[i] = v;
  }
  const order = Array.from(pre.keys()).sort((a, b) => pre[b]! - pre[a]! || a - b).slice(0, k!);
  const f = new Float64Array(m);
  for (const i of order) f[i] = Math.max(0, pre[i]!);
  const xHat = new Float64Array(d);
  for (let j = 0; j < d; j++) {
    let v = s.host.bd[j]!;
    for (let i = 0; i < m; i++) v += f[i]! * s.host.wd[i * d + j]!;
    xHat[j] = v / sc;
  }
  return { xHat, f };
}

/** log-softmax of a row in float64. */
function logSoftmax(row: Float32Array): Float64Array {
  let mx = -Infinity;
  for (const v of row) mx = Math.max(mx, v);
  let s = 0;
  for (const v of row) s += Math.exp(v - mx);
  const lse = mx + Math.log(s);
  return Float64Array.from(row, (v) => v - lse);
}

const rel = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

test('an exactly invertible SAE: FVU 0, CE recovered 1, KL 0 (also through a normalisation factor)', { skip }, async () => {
  const windows = randomWindows(5, 16, 1);
  for (const factor of [undefined, 2]) {
    const r = await evalSaes({ model: lm, saes: [identitySae(64, factor)], windows, batchSize: 2 });
    const m = r.saes[0]!.metrics;
    assert.equal(r.tokens, 5 * 15);
    assert.equal(m.tokens, 75);
    assert.equal(m.mse, 0);
    assert.equal(m.fvu, 0);
    assert.equal(m.explained_variance, 1);
    assert.equal(m.l0, 64); // every coordinate is non-zero, so exactly one of ±x_j fires
    assert.equal(m.ce_sae, m.ce_clean);
    assert.equal(m.kl_sae, 0);
    assert.equal(m.ce_loss_recovered, 1);
    assert.equal(m.kl_score, 1);
    assert.notEqual(m.ce_zero_ablation, m.ce_clean); // ablating the hook changes the output (a random model need not get worse)
    assert.ok(r.saes[0]!.checks.error_term_max_abs_diff === 0);
    assert.equal(m.dead_count, 0);
  }
});

test('a random TopK SAE matches an independent plain-TS evaluation', { skip }, async () => {
  const T = 12;
  const windows = randomWindows(4, T, 2);
  const sae = await topkSae(64, 48, 5, 3, HOOK, 1.7);
  const r = await evalSaes({ model: lm, saes: [sae], windows, batchSize: 3 });
  const m = r.saes[0]!.metrics;

  // Independent: whole batch at once, own splice, own CE/KL in float64.
  const B = windows.length;
  const ids = new Int32Array(B * T);
  windows.forEach((w, b) => ids.set(w.ids, b * T));
  const clean = lm.forward(ids, [B, T], { keep: [HOOK] });
  const x = (await clean.activations.get(HOOK)!.read()) as Float32Array;
  const cleanLogits = ((await clean.logits!.read()) as Float32Array).slice();
  const V = lm.config.vocabSize;
  const d = 64;
  const spliced = x.slice();
  const zeroed = x.slice();
  let err = 0;
  let l0 = 0;
  const kept: number[] = [];
  for (let p = 0; p < B * T; p++) {
    if (p % T === 0) continue;
    kept.push(p);
    const { xHat, f } = plainTopk(x.subarray(p * d, (p + 1) * d), sae);
    for (let j = 0; j < d; j++) {
      err += (xHat[j]! - x[p * d + j]!) ** 2;
      spliced[p * d + j] = xHat[j]!;
      zeroed[p * d + j] = 0;
    }
    for (const v of f) if (v > 0) l0++;
  }
  const mean = new Float64Array(d);
  for (const p of kept) for (let j = 0; j < d; j++) mean[j] += x[p * d + j]! / kept.length;
  let vari = 0;
  for (const p of kept) for (let j = 0; j < d; j++) vari += (x[p * d + j]! - mean[j]!) ** 2;
  const run = async (host: Float32Array) => {
    const o = lm.forward(ids, [B, T], { hooks: { [HOOK]: () => cpu.fromArray(host, [B, T, d]) } });
    return ((await o.logits!.read()) as Float32Array).slice();
  };
  const saeLogits = await run(spliced);
  const zeroLogits = await run(zeroed);
  let ceClean = 0;
  let ceSae = 0;
  let ceZero = 0;
  let klSae = 0;
  let nCe = 0;
  for (const p of kept) {
    const lc = logSoftmax(cleanLogits.subarray(p * V, (p + 1) * V));
    const ls = logSoftmax(saeLogits.subarray(p * V, (p + 1) * V));
    for (let v = 0; v < V; v++) klSae += Math.exp(lc[v]!) * (lc[v]! - ls[v]!);
    if (p % T === T - 1) continue;
    nCe++;
    const tgt = ids[p + 1]!;
    ceClean -= lc[tgt]!;
    ceSae -= ls[tgt]!;
    ceZero -= logSoftmax(zeroLogits.subarray(p * V, (p + 1) * V))[tgt]!;
  }
  ceClean /= nCe;
  ceSae /= nCe;
  ceZero /= nCe;
  klSae /= kept.length;

  assert.equal(m.tokens, kept.length);
  assert.equal(m.ce_tokens, nCe);
  rel(m.l0, l0 / kept.length, 0, 'l0');
  rel(m.mse, err / kept.length, 1e-4, 'mse');
  rel(m.fvu, err / vari, 1e-4, 'fvu');
  rel(m.ce_clean!, ceClean, 1e-5, 'ce_clean');
  rel(m.ce_sae!, ceSae, 1e-4, 'ce_sae');
  rel(m.ce_zero_ablation!, ceZero, 1e-5, 'ce_zero_ablation');
  rel(m.ce_loss_recovered!, (ceZero - ceSae) / (ceZero - ceClean), 1e-3, 'ce_loss_recovered');
  rel(m.kl_sae!, klSae, 1e-3, 'kl_sae');
  assert.ok(m.kl_sae! > 0 && m.fvu > 0, 'a random SAE is not perfect');
  assert.ok(r.saes[0]!.checks.error_term_max_abs_diff < 1e-4, `error term: ${r.saes[0]!.checks.error_term_max_abs_diff}`);
  assert.equal(r.saes[0]!.ceIncreaseByPosition.length, T);
});

test('several SAEs in one call (two hooks) give the numbers each gives alone', { skip }, async () => {
  const windows = randomWindows(3, 10, 4);
  const a = await topkSae(64, 32, 4, 5, HOOK, 1);
  const b = await topkSae(64, 40, 6, 6, 'blocks.2.hook_resid_pre', 1.3);
  const both = await evalSaes({ model: lm, saes: [a, b], windows, batchSize: 2 });
  const aloneA = await evalSaes({ model: lm, saes: [a], windows, batchSize: 2 });
  const aloneB = await evalSaes({ model: lm, saes: [b], windows, batchSize: 2 });
  assert.deepEqual(both.saes[0]!.metrics, aloneA.saes[0]!.metrics);
  assert.deepEqual(both.saes[1]!.metrics, aloneB.saes[0]!.metrics);
  assert.notDeepEqual(both.saes[0]!.metrics, both.saes[1]!.metrics);
  // Batching changes no metric beyond rounding of the f64 sums.
  const oneBatch = await evalSaes({ model: lm, saes: [a], windows, batchSize: 3 });
  // A ratio of CE differences (loss recovered) magnifies that rounding: it gets a looser bound.
  for (const [k, v] of Object.entries(oneBatch.saes[0]!.metrics)) rel(v as number, (aloneA.saes[0]!.metrics as unknown as Record<string, number>)[k]!, k === 'ce_loss_recovered' ? 1e-4 : 1e-5, k);
});

test('bad input: wrong d_in, unknown hook, zero tokens — one clear line each', { skip }, async () => {
  const windows = randomWindows(2, 8, 5);
  const wrong = await topkSae(32, 16, 2, 1, HOOK, 1);
  await assert.rejects(evalSaes({ model: lm, saes: [wrong], windows }), (e: Error) => e.name === 'UsageError' && /d_in is 32 but blocks\.1\.hook_resid_pre of the model has d_model 64/.test(e.message) && !e.message.includes('\n'));
  const badHook = { ...identitySae(64), hook: 'blocks.1.hook_resid_pr' };
  await assert.rejects(evalSaes({ model: lm, saes: [badHook], windows }), (e: Error) => e.name === 'ModelError' && /did you mean "blocks\.1\.hook_resid_pre"/.test(e.message));
  const noLayer = { ...identitySae(64), hook: 'blocks.7.hook_resid_pre' };
  await assert.rejects(evalSaes({ model: lm, saes: [noLayer], windows }), /the model has 3 blocks/);
  await assert.rejects(evalSaes({ model: lm, saes: [identitySae(64)], windows: [] }), /zero tokens/);
  const allExcluded = windows.map((w) => ({ ids: w.ids, exclude: new Uint8Array(w.ids.length).fill(1) }));
  await assert.rejects(evalSaes({ model: lm, saes: [identitySae(64)], windows: allExcluded }), /zero evaluation tokens/);
});

test('a reward model: reward metrics, identity SAE changes nothing, a random one matches a direct forward', { skip }, async () => {
  // Pairs (chosen, rejected) of different lengths, right-padded with pad id 999 (excluded).
  const T = 10;
  const rng = new Rng(9);
  const windows: PackedWindow[] = [];
  for (let i = 0; i < 6; i++) {
    const len = 4 + rng.int(T - 4);
    const ids = new Int32Array(T).fill(999);
    const exclude = new Uint8Array(T).fill(1);
    for (let t = 0; t < len; t++) (ids[t] = rng.int(999), (exclude[t] = 0));
    windows.push({ ids, exclude });
  }
  const id = await evalSaes({ model: rm, saes: [identitySae(64)], windows, pairs: true, batchSize: 4 });
  const mi = id.saes[0]!.metrics;
  assert.equal(id.head, 'classifier');
  assert.equal(mi.pairs, 3);
  assert.equal(mi.reward_abs_delta, 0);
  assert.equal(mi.pair_diff_change, 0);
  assert.equal(mi.ce_clean, undefined);

  const sae = await topkSae(64, 48, 4, 8, HOOK, 1);
  const r = await evalSaes({ model: rm, saes: [sae], windows, pairs: true, batchSize: 4 });
  const m = r.saes[0]!.metrics;
  const B = windows.length;
  const ids = new Int32Array(B * T);
  windows.forEach((w, b) => ids.set(w.ids, b * T));
  const clean = rm.forward(ids, [B, T], { keep: [HOOK] });
  const x = (await clean.activations.get(HOOK)!.read()) as Float32Array;
  const rc = (await clean.rewards!.read()) as Float32Array;
  const spliced = x.slice();
  for (let p = 0; p < B * T; p++) {
    if (windows[Math.floor(p / T)]!.exclude[p % T]) continue;
    spliced.set(plainTopk(x.subarray(p * 64, (p + 1) * 64), sae).xHat, p * 64);
  }
  const rs = (await rm.forward(ids, [B, T], { hooks: { [HOOK]: () => cpu.fromArray(spliced, [B, T, 64]) } }).rewards!.read()) as Float32Array;
  let abs = 0;
  let dc = 0;
  let ds = 0;
  for (let b = 0; b < B; b++) abs += Math.abs(rs[b]! - rc[b]!) / B;
  for (let b = 0; b < B; b += 2) (dc += (rc[b]! - rc[b + 1]!) / 3, (ds += (rs[b]! - rs[b + 1]!) / 3));
  rel(m.reward_clean!, rc.reduce((a, v) => a + v, 0) / B, 1e-6, 'reward_clean');
  rel(m.reward_abs_delta!, abs, 1e-4, 'reward_abs_delta');
  rel(m.pair_diff_clean!, dc, 1e-6, 'pair_diff_clean');
  rel(m.pair_diff_change!, ds - dc, 1e-4, 'pair_diff_change');
  assert.ok(m.reward_abs_delta! > 0);
});

test('on WebGPU: the same metrics as on the CPU (rounding aside)', { skip: skip || (await gpuOrSkip()).skip }, async () => {
  const { gpu } = await gpuOrSkip();
  const windows = randomWindows(3, 8, 11);
  const onCpu = await topkSae(64, 32, 4, 12, HOOK, 1.5);
  const cpuRes = await evalSaes({ model: lm, saes: [onCpu], windows, batchSize: 3 });
  const gModel = await Transformer.load(join(ASSETS, 'fixtures/gpt2-tiny-random'), gpu!);
  try {
    const p = onCpu.model.params;
    const up = (t: { data: unknown; shape: readonly number[] }) => gpu!.fromArray(t.data as Float32Array, t.shape);
    const params = { W_enc: up(p.W_enc), b_enc: up(p.b_enc), W_dec: up(p.W_dec), b_dec: up(p.b_dec) };
    const onGpu: EvalSaeSpec = { ...onCpu, model: createSae(onCpu.cfg, params) };
    const gpuRes = await evalSaes({ model: gModel, saes: [onGpu], windows, batchSize: 3 });
    const a = cpuRes.saes[0]!.metrics as unknown as Record<string, number>;
    const b = gpuRes.saes[0]!.metrics as unknown as Record<string, number>;
    for (const k of ['l0', 'mse', 'fvu', 'cosine', 'ce_clean', 'ce_sae', 'ce_zero_ablation', 'kl_sae', 'alive_fraction']) rel(b[k]!, a[k]!, 1e-3, k);
    for (const t of Object.values(params)) t.dispose();
  } finally {
    gModel.dispose();
  }
});
