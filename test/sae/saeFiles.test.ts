// SAE folders: SAELens round trips (input scaling folded into the weights, BatchTopK as jumprelu),
// older saelab folders, SAELens jumprelu and rescaled TopK folders, atomic replacement, sparsify and
// dictionary_learning imports with their transposes, one-line SaeFileErrors for malformed folders
// and non-finite weights, and portable model / dataset names in cfg.json.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import { writeSafetensors } from '../../src/io/safetensorsWrite.js';
import { resolveModel } from '../../src/io/resolveModel.js';
import { initSae } from '../../src/sae/initSae.js';
import { LOCAL_DATASET_PATH_KEY, LOCAL_MODEL_PATH_KEY, MODEL_SHA256_KEY, saeDatasetPath, saeModelSpec } from '../../src/sae/runSource.js';
import { loadSae, saveSae, SaeFileError } from '../../src/sae/saeFiles.js';
import type { SaeConfig, SaeParams } from '../../src/sae/types.js';
import { SAELENS_FORMAT_VERSION } from '../../src/sae/saelensCompat.js';
import { SAELAB_VERSION } from '../../src/version.js';

const root = await mkdtemp(join(tmpdir(), 'saelab-saefiles-'));
after(() => rm(root, { recursive: true, force: true }));

function cfgOf(architecture: SaeConfig['architecture'], extra: Partial<SaeConfig> = {}): SaeConfig {
  return { architecture, dIn: 6, dSae: 10, applyBDecToInput: true, decoderUnitNorm: false, normalizeActivations: 'none', seed: 4, ...extra };
}

async function arrays(p: SaeParams): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const [k, t] of Object.entries(p)) if (t) out[k] = Array.from(await t.read());
  return out;
}

const meta = { model_name: 'gpt2', hook_name: 'blocks.6.hook_resid_post', hook_layer: 6, context_size: 128, dataset_path: 'Skylion007/openwebtext', prepend_bos: true, exclude_special_tokens: false };

/** Max |a − b| over two host arrays of one length. */
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('SAELens round trip: identical tensors, cfg, metadata and sparsity, for every architecture', async () => {
  const cases: SaeConfig[] = [
    cfgOf('standard', { l1Coefficient: 5 }),
    cfgOf('topk', { k: 3, auxK: 4, auxKCoefficient: 1 / 32, deadTokensThreshold: 1000, decoderUnitNorm: true }),
    cfgOf('batchtopk', { k: 2.5 }),
  ];
  for (const cfg of cases) {
    const sample = cpu.fromArray(new Rng(1).normalArray(40 * 6), [40, 6]);
    const model = await initSae(cfg, cpu, { bDecInit: 'geometric_median', sample });
    if (model.params.threshold) model.params.threshold.data[0] = 0.125;
    const dir = join(root, `rt-${cfg.architecture}`);
    const freq = Float32Array.from({ length: 10 }, (_, i) => i / 10);
    await saveSae(dir, cfg, model.params, { metadata: meta, firingFrequency: freq });
    assert.deepEqual((await readdir(dir)).sort(), ['cfg.json', 'sae_weights.safetensors', 'sparsity.safetensors']);
    const json = JSON.parse(await readFile(join(dir, 'cfg.json'), 'utf8'));
    // BatchTopK is written as SAELens's inference class, jumprelu.
    assert.equal(json.architecture, cfg.architecture === 'batchtopk' ? 'jumprelu' : cfg.architecture);
    assert.equal(json.saelab.architecture, cfg.architecture);
    assert.equal(json.d_in, 6);
    assert.equal(json.d_sae, 10);
    assert.equal(json.dtype, 'float32');
    assert.equal(json.device, 'cpu');
    assert.equal(json.apply_b_dec_to_input, true);
    assert.equal(json.normalize_activations, 'none');
    assert.equal(json.k, cfg.architecture === 'topk' ? 3 : undefined);
    assert.equal(json.metadata.saelab_version, SAELAB_VERSION);
    assert.equal(json.metadata.sae_lens_version, SAELENS_FORMAT_VERSION);
    assert.equal(json.metadata.hook_name, meta.hook_name);
    const loaded = await loadSae(dir, cpu);
    assert.equal(loaded.format, 'saelens');
    assert.deepEqual(loaded.cfg, cfg);
    assert.deepEqual(await arrays(loaded.params), await arrays(model.params));
    assert.equal(loaded.normScalingFactor, undefined);
    assert.equal(loaded.foldedNormScalingFactor, undefined);
    for (const [k, v] of Object.entries(meta)) assert.deepEqual(loaded.metadata[k], v, k);
    assert.deepEqual(Array.from(loaded.sparsity!), Array.from(freq, (v) => Math.fround(Math.log10(v + 1e-10))));
    const x = cpu.fromArray(new Rng(2).normalArray(5 * 6), [5, 6]);
    assert.deepEqual(Array.from(loaded.model.encode(x).data), Array.from(model.encode(x).data));
  }
});

test('with normalisation the factor is folded into the written weights: encode(x) = trained encode(s·x), decode = trained decode / s', async () => {
  const s = 1.75;
  for (const cfg of [cfgOf('standard', { l1Coefficient: 5 }), cfgOf('topk', { k: 3, decoderUnitNorm: true }), cfgOf('batchtopk', { k: 2 })]) {
    cfg.normalizeActivations = 'expected_average_only_in';
    const model = await initSae(cfg, cpu, { decoderNorm: 1 });
    const rng = new Rng(5);
    model.params.b_dec.data.set(rng.normalArray(6));
    model.params.b_enc.data.set(rng.normalArray(10).map((v) => v * 0.1));
    if (model.params.threshold) model.params.threshold.data[0] = 0.2;
    const before = await arrays(model.params);
    const dir = join(root, `fold-${cfg.architecture}`);
    await saveSae(dir, cfg, model.params, { normScalingFactor: s, metadata: meta });
    assert.deepEqual(await arrays(model.params), before, 'the live parameters are not touched');
    const json = JSON.parse(await readFile(join(dir, 'cfg.json'), 'utf8'));
    assert.equal(json.normalize_activations, 'none');
    assert.equal(json.norm_scaling_factor, undefined);
    assert.equal(json.saelab.folded_norm_scaling_factor, s);
    const loaded = await loadSae(dir, cpu);
    assert.deepEqual(loaded.cfg, { ...cfg, normalizeActivations: 'none' });
    assert.equal(loaded.normScalingFactor, undefined, 'consumers must not scale again');
    assert.equal(loaded.foldedNormScalingFactor, s);
    const xs = rng.normalArray(8 * 6);
    const x = cpu.fromArray(xs, [8, 6]);
    const fTrained = model.encode(cpu.fromArray(xs.map((v) => v * s), [8, 6]));
    const f = loaded.model.encode(x);
    assert.ok(maxDiff(f.data, fTrained.data) < 1e-5, `encode differs by ${maxDiff(f.data, fTrained.data)}`);
    assert.ok(Array.from(f.data).filter((v) => v > 0).length > 0, 'some latents fire');
    const xhat = loaded.model.decode(f).data;
    const xhatTrained = Array.from(model.decode(fTrained).data, (v) => v / s);
    assert.ok(maxDiff(xhat, xhatTrained) < 1e-5, `decode differs by ${maxDiff(xhat, xhatTrained)}`);
  }
});

test('older saelab folders (unfolded factor, batchtopk with threshold [1]) load folded, as the new ones', async () => {
  const cfg = cfgOf('batchtopk', { k: 2, normalizeActivations: 'expected_average_only_in' });
  const model = await initSae(cfg, cpu, { decoderNorm: 1 });
  model.params.threshold!.data[0] = 0.05;
  const dir = join(root, 'legacy');
  await mkdir(dir);
  await writeFile(join(dir, 'cfg.json'), JSON.stringify({ architecture: 'batchtopk', d_in: 6, d_sae: 10, dtype: 'float32', apply_b_dec_to_input: true, normalize_activations: 'expected_average_only_in', norm_scaling_factor: 2, k: 2, metadata: meta, saelab: { decoder_unit_norm: true, seed: 4 } }));
  const p = await arrays(model.params);
  await writeSafetensors(join(dir, 'sae_weights.safetensors'), {
    W_enc: { dtype: 'F32', shape: [6, 10], data: Float32Array.from(p.W_enc!) },
    W_dec: { dtype: 'F32', shape: [10, 6], data: Float32Array.from(p.W_dec!) },
    b_enc: { dtype: 'F32', shape: [10], data: Float32Array.from(p.b_enc!) },
    b_dec: { dtype: 'F32', shape: [6], data: Float32Array.from(p.b_dec!) },
    threshold: { dtype: 'F32', shape: [1], data: Float32Array.from([0.05]) },
  });
  const loaded = await loadSae(dir, cpu);
  assert.equal(loaded.cfg.architecture, 'batchtopk');
  assert.equal(loaded.cfg.normalizeActivations, 'none');
  assert.equal(loaded.normScalingFactor, undefined);
  assert.equal(loaded.foldedNormScalingFactor, 2);
  const xs = new Rng(9).normalArray(4 * 6);
  const want = model.encode(cpu.fromArray(xs.map((v) => v * 2), [4, 6])).data;
  assert.ok(maxDiff(loaded.model.encode(cpu.fromArray(xs, [4, 6])).data, want) < 1e-5);
});

test('SAELens jumprelu folders (per-latent thresholds) load for inference: f = ReLU(pre)·[pre > θ]', async () => {
  const [dIn, dSae] = [3, 4];
  const dir = join(root, 'jumprelu');
  await mkdir(dir);
  await writeFile(join(dir, 'cfg.json'), JSON.stringify({ architecture: 'jumprelu', d_in: dIn, d_sae: dSae, dtype: 'float32', device: 'cpu', apply_b_dec_to_input: false, normalize_activations: 'none', reshape_activations: 'none', metadata: { sae_lens_version: '6.5.0', model_name: 'gemma-2-2b', hook_name: 'blocks.3.hook_resid_post' } }));
  const eye = Float32Array.from([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]); // W_enc [3, 4]: latent j reads x_j, latent 3 reads nothing
  await writeSafetensors(join(dir, 'sae_weights.safetensors'), {
    W_enc: { dtype: 'F32', shape: [dIn, dSae], data: eye },
    W_dec: { dtype: 'F32', shape: [dSae, dIn], data: Float32Array.from({ length: dSae * dIn }, (_, i) => i) },
    b_enc: { dtype: 'F32', shape: [dSae], data: Float32Array.from([0, 0, 0, 0.5]) },
    b_dec: { dtype: 'F32', shape: [dIn], data: new Float32Array(dIn) },
    threshold: { dtype: 'F32', shape: [dSae], data: Float32Array.from([0.5, 1, 2, 0.5]) },
  });
  const s = await loadSae(dir, cpu);
  assert.equal(s.cfg.architecture, 'jumprelu');
  assert.deepEqual(s.params.threshold!.shape, [dSae]);
  const f = s.model.encode(cpu.fromArray(Float32Array.from([0.75, 1, 3]), [1, 3])).data;
  // latent 0: 0.75 > 0.5 fires; latent 1: 1 > 1 does not; latent 2: 3 > 2 fires; latent 3: 0.5 > 0.5 does not.
  assert.deepEqual(Array.from(f), [0.75, 0, 3, 0]);
  assert.throws(() => s.model.step(cpu.zeros([1, 3]), { tokensSinceFired: cpu.zeros([dSae]), l1Coefficient: 0 }), /inference only/);
});

test('a SAELens TopK folder that rescales by decoder norms loads with the norms folded in', async () => {
  const cfg = cfgOf('topk', { k: 2 });
  const model = await initSae(cfg, cpu, { decoderNorm: 1 });
  const rng = new Rng(12);
  const norms = Array.from({ length: 10 }, () => 0.2 + rng.uniform() * 3);
  const W_dec = Float32Array.from(model.params.W_dec.data, (v, i) => v * norms[Math.floor(i / 6)]!);
  const raw = { W_enc: model.params.W_enc.data as Float32Array, b_enc: rng.normalArray(10), b_dec: rng.normalArray(6) };
  const dir = join(root, 'rescale');
  await mkdir(dir);
  await writeFile(join(dir, 'cfg.json'), JSON.stringify({ architecture: 'topk', d_in: 6, d_sae: 10, k: 2, rescale_acts_by_decoder_norm: true, dtype: 'float32', normalize_activations: 'none', metadata: { sae_lens_version: '6.18.0' } }));
  await writeSafetensors(join(dir, 'sae_weights.safetensors'), {
    W_enc: { dtype: 'F32', shape: [6, 10], data: raw.W_enc },
    W_dec: { dtype: 'F32', shape: [10, 6], data: W_dec },
    b_enc: { dtype: 'F32', shape: [10], data: raw.b_enc },
    b_dec: { dtype: 'F32', shape: [6], data: raw.b_dec },
  });
  const s = await loadSae(dir, cpu);
  const w = await arrays(s.params);
  for (let i = 0; i < 10; i++) assert.ok(Math.abs(Math.hypot(...w.W_dec!.slice(i * 6, i * 6 + 6)) - 1) < 1e-6, 'unit decoder rows');
  // SAELens: r = pre·‖W_dec‖ ranked and kept, decode (f/‖W_dec‖)·W_dec + b_dec. One token by hand.
  const x = rng.normalArray(6);
  const r = Array.from({ length: 10 }, (_, i) => {
    let v = 0;
    for (let j = 0; j < 6; j++) v += (x[j]! - raw.b_dec[j]!) * raw.W_enc[j * 10 + i]!;
    return (v + raw.b_enc[i]!) * norms[i]!;
  });
  const top = [...r.keys()].sort((p, q) => r[q]! - r[p]!).slice(0, 2);
  const want = r.map((v, i) => (top.includes(i) ? Math.max(v, 0) : 0));
  const f = s.model.encode(cpu.fromArray(x, [1, 6]));
  assert.ok(maxDiff(f.data, want) < 1e-5, `encode ${Array.from(f.data)} vs ${want}`);
  const xhat = Array.from({ length: 6 }, (_, j) => raw.b_dec[j]! + want.reduce((acc, v, i) => acc + (v / norms[i]!) * W_dec[i * 6 + j]!, 0));
  assert.ok(maxDiff(s.model.decode(f).data, xhat) < 1e-5);
});

test('saving over a folder replaces it whole; a failed save leaves the old folder and no temp files', async () => {
  const dir = join(root, 'atomic');
  const cfg = cfgOf('standard');
  const a = await initSae(cfg, cpu);
  const b = await initSae({ ...cfg, seed: 99 }, cpu);
  await saveSae(dir, cfg, a.params, { firingFrequency: new Float32Array(10) });
  await saveSae(dir, { ...cfg, seed: 99 }, b.params);
  assert.deepEqual((await readdir(dir)).sort(), ['cfg.json', 'sae_weights.safetensors'], 'the old sparsity file went with the old folder');
  assert.deepEqual(await arrays((await loadSae(dir, cpu)).params), await arrays(b.params));
  await assert.rejects(saveSae(dir, cfg, a.params, { firingFrequency: new Float32Array(3) }), /firingFrequency has 3 entries/);
  assert.deepEqual(await arrays((await loadSae(dir, cpu)).params), await arrays(b.params));
  assert.deepEqual((await readdir(root)).filter((n) => n.startsWith('.')), []);
});

test('a hand-made sparsify folder loads with encoder.weight transposed into W_enc', async () => {
  const dir = join(root, 'sparsify');
  await mkdir(dir);
  const [n, d] = [4, 3];
  const enc = Float32Array.from({ length: n * d }, (_, i) => i + 1); // [n, d]
  const dec = Float32Array.from({ length: n * d }, (_, i) => -(i + 1) / 10); // [n, d]
  await writeFile(join(dir, 'cfg.json'), JSON.stringify({ expansion_factor: 32, normalize_decoder: true, num_latents: n, k: 2, multi_topk: false, skip_connection: false, d_in: d }));
  await writeSafetensors(join(dir, 'sae.safetensors'), {
    'encoder.weight': { dtype: 'F32', shape: [n, d], data: enc },
    'encoder.bias': { dtype: 'F32', shape: [n], data: Float32Array.from([0.1, 0.2, 0.3, 0.4]) },
    W_dec: { dtype: 'F32', shape: [n, d], data: dec },
    b_dec: { dtype: 'F32', shape: [d], data: Float32Array.from([1, 2, 3]) },
  });
  const s = await loadSae(dir, cpu);
  assert.equal(s.format, 'sparsify');
  assert.equal(s.cfg.architecture, 'topk');
  assert.equal(s.cfg.k, 2);
  assert.deepEqual(s.params.W_enc.shape, [3, 4]);
  // W_enc[j, i] = encoder.weight[i, j]
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) assert.equal(s.params.W_enc.data[j * n + i], enc[i * d + j]);
  assert.deepEqual(Array.from(s.params.W_dec.data), Array.from(dec));
  assert.deepEqual(Array.from(s.params.b_dec.data), [1, 2, 3]);
  // x = b_dec + e_0: pre = W_enc[0,:] + b_enc = [1,4,7,10] + b_enc → top 2 are latents 3, 2.
  const f = s.model.encode(cpu.fromArray(Float32Array.from([2, 2, 3]), [1, 3])).data;
  assert.deepEqual(Array.from(f), [0, 0, Math.fround(7.3), Math.fround(10.4)]);
});

test('a dictionary_learning BatchTopK export loads with its transposes, k and threshold', async () => {
  const dir = join(root, 'dl');
  await mkdir(dir);
  const [dSae, dIn] = [5, 2];
  const enc = Float32Array.from({ length: dSae * dIn }, (_, i) => i); // [dSae, dIn]
  const dec = Float32Array.from({ length: dIn * dSae }, (_, i) => 100 + i); // [dIn, dSae]
  await writeFile(join(dir, 'config.json'), JSON.stringify({ trainer: { dict_class: 'BatchTopKSAE', activation_dim: dIn, dict_size: dSae, k: 2, lm_name: 'EleutherAI/pythia-70m-deduped', layer: 3, submodule_name: 'resid_post_layer_3' } }));
  await writeSafetensors(join(dir, 'ae.safetensors'), {
    'encoder.weight': { dtype: 'F32', shape: [dSae, dIn], data: enc },
    'encoder.bias': { dtype: 'F32', shape: [dSae], data: new Float32Array(dSae) },
    'decoder.weight': { dtype: 'F32', shape: [dIn, dSae], data: dec },
    b_dec: { dtype: 'F32', shape: [dIn], data: Float32Array.from([0.5, -0.5]) },
    k: { dtype: 'I64', shape: [], data: BigInt64Array.from([2n]) },
    threshold: { dtype: 'F32', shape: [], data: Float32Array.from([0.25]) },
  });
  const s = await loadSae(dir, cpu);
  assert.equal(s.format, 'dictionary_learning');
  assert.equal(s.cfg.architecture, 'batchtopk');
  assert.equal(s.cfg.k, 2);
  assert.deepEqual(Array.from(s.params.threshold!.data), [0.25]);
  assert.equal(s.metadata.model_name, 'EleutherAI/pythia-70m-deduped');
  for (let i = 0; i < dSae; i++) for (let j = 0; j < dIn; j++) {
    assert.equal(s.params.W_enc.data[j * dSae + i], enc[i * dIn + j]);
    assert.equal(s.params.W_dec.data[i * dIn + j], dec[j * dSae + i]);
  }
});

async function expectSaeError(dir: string, pattern: RegExp): Promise<void> {
  await assert.rejects(loadSae(dir, cpu), (e: unknown) => {
    assert.ok(e instanceof SaeFileError, `expected SaeFileError, got ${String(e)}`);
    assert.equal(e.name, 'SaeFileError');
    assert.ok(!e.message.includes('\n'), 'one line');
    assert.match(e.message, pattern);
    return true;
  });
}

test('malformed folders give one-line SaeFileErrors naming the file and problem', async () => {
  const cfg = cfgOf('topk', { k: 3 });
  const model = await initSae(cfg, cpu);
  const good = join(root, 'good');
  await saveSae(good, cfg, model.params);
  const weights = await readFile(join(good, 'sae_weights.safetensors'));

  // W_enc stored transposed
  const tr = join(root, 'transposed');
  await mkdir(tr);
  await writeFile(join(tr, 'cfg.json'), await readFile(join(good, 'cfg.json')));
  const p = model.params;
  await writeSafetensors(join(tr, 'sae_weights.safetensors'), {
    W_enc: { dtype: 'F32', shape: [10, 6], data: p.W_enc.data as Float32Array },
    W_dec: { dtype: 'F32', shape: [10, 6], data: p.W_dec.data as Float32Array },
    b_enc: { dtype: 'F32', shape: [10], data: p.b_enc.data as Float32Array },
    b_dec: { dtype: 'F32', shape: [6], data: p.b_dec.data as Float32Array },
  });
  await expectSaeError(tr, /sae_weights\.safetensors: W_enc has shape \[10, 6\], expected \[6, 10\] \(it is stored transposed\)/);

  const bad = async (name: string, cfgText: string | null, w: Uint8Array | null) => {
    const d = join(root, name);
    await mkdir(d);
    if (cfgText !== null) await writeFile(join(d, 'cfg.json'), cfgText);
    if (w) await writeFile(join(d, 'sae_weights.safetensors'), w);
    return d;
  };
  await expectSaeError(await bad('badjson', '{"d_in": 6,', weights), /cfg\.json: invalid JSON/);
  await expectSaeError(await bad('arch', JSON.stringify({ architecture: 'gated', d_in: 6, d_sae: 10 }), weights), /cfg\.json: unsupported architecture "gated"/);
  await expectSaeError(await bad('nok', JSON.stringify({ architecture: 'topk', d_in: 6, d_sae: 10 }), weights), /cfg\.json: architecture topk needs k/);
  await expectSaeError(await bad('dsae', JSON.stringify({ architecture: 'topk', d_in: 6, d_sae: 12, k: 3 }), weights), /W_enc has shape \[6, 10\], expected \[6, 12\]/);
  await expectSaeError(await bad('trunc', JSON.stringify({ architecture: 'topk', d_in: 6, d_sae: 10, k: 3 }), weights.subarray(0, 100)), /sae_weights\.safetensors/);
  await expectSaeError(await bad('nocfg', null, weights), /cfg\.json: cannot read/);
  await expectSaeError(await bad('empty', null, null), /not an SAE folder/);
  await expectSaeError(join(root, 'missing'), /no such folder/);
  const pt = await bad('pt', null, null);
  await writeFile(join(pt, 'ae.pt'), 'not really a pickle');
  await expectSaeError(pt, /ae\.pt: a torch pickle cannot be read; convert it with: python -c/);
});

test('NaN or Inf weights are refused by every loader, naming the tensor and the file', async () => {
  // SAELens folder: a NaN in W_dec.
  const cfg = cfgOf('standard');
  const model = await initSae(cfg, cpu);
  const dir = join(root, 'nan-saelens');
  model.params.W_dec.data[2 * 6 + 4] = Number.NaN;
  await saveSae(dir, cfg, model.params);
  await expectSaeError(dir, /nan-saelens\/sae_weights\.safetensors: tensor W_dec row 2, column 4 is NaN: the SAE's weights must be finite/);
  // sparsify: an Inf in encoder.bias.
  const sp = join(root, 'nan-sparsify');
  await mkdir(sp);
  await writeFile(join(sp, 'cfg.json'), JSON.stringify({ num_latents: 2, k: 1, d_in: 2 }));
  const f32 = (shape: number[], data: number[]) => ({ dtype: 'F32' as const, shape, data: Float32Array.from(data) });
  await writeSafetensors(join(sp, 'sae.safetensors'), { 'encoder.weight': f32([2, 2], [1, 0, 0, 1]), 'encoder.bias': f32([2], [0, Infinity]), W_dec: f32([2, 2], [1, 0, 0, 1]), b_dec: f32([2], [0, 0]) });
  await expectSaeError(sp, /nan-sparsify\/sae\.safetensors: tensor encoder\.bias entry 1 is Infinity/);
  // dictionary_learning: a NaN threshold.
  const dl = join(root, 'nan-dl');
  await mkdir(dl);
  await writeSafetensors(join(dl, 'ae.safetensors'), {
    'encoder.weight': f32([2, 2], [1, 0, 0, 1]), 'encoder.bias': f32([2], [0, 0]), 'decoder.weight': f32([2, 2], [1, 0, 0, 1]), b_dec: f32([2], [0, 0]),
    k: { dtype: 'I64', shape: [], data: BigInt64Array.from([1n]) }, threshold: f32([], [Number.NaN]),
  });
  await expectSaeError(dl, /nan-dl\/ae\.safetensors: tensor threshold element 0 is NaN/);
});

test('cfg.json names the model and dataset portably; the local paths are kept and found first', async () => {
  const base = join(root, 'prov');
  const modelDir = join(base, 'my-model');
  await mkdir(modelDir, { recursive: true });
  await writeFile(join(modelDir, 'config.json'), '{"model_type": "gpt2"}');
  const corpus = join(base, 'corpus.txt');
  await writeFile(corpus, 'hello');
  // An HF cache snapshot: the name is the hub id.
  const hfHome = join(base, 'hf');
  const snap = join(hfHome, 'hub', 'models--org--tiny-lm', 'snapshots', 'abc123');
  await mkdir(snap, { recursive: true });
  await mkdir(join(hfHome, 'hub', 'models--org--tiny-lm', 'refs'), { recursive: true });
  await writeFile(join(hfHome, 'hub', 'models--org--tiny-lm', 'refs', 'main'), 'abc123');
  await writeFile(join(snap, 'config.json'), '{"model_type": "gpt2", "n_layer": 1}');
  const cfg = cfgOf('standard');
  const model = await initSae(cfg, cpu);

  const local = join(base, 'sae-local');
  await saveSae(local, cfg, model.params, { metadata: { ...meta, model_name: modelDir, dataset_path: corpus } });
  const j1 = JSON.parse(await readFile(join(local, 'cfg.json'), 'utf8')).metadata;
  assert.equal(j1.model_name, 'my-model');
  assert.equal(j1.dataset_path, 'corpus.txt');
  assert.equal(j1[LOCAL_MODEL_PATH_KEY], modelDir);
  assert.equal(j1[LOCAL_DATASET_PATH_KEY], corpus);
  assert.equal(j1[MODEL_SHA256_KEY], createHash('sha256').update('{"model_type": "gpt2"}').digest('hex'));
  const l1 = await loadSae(local, cpu);
  assert.equal(saeModelSpec(l1.metadata), modelDir);
  assert.equal(saeDatasetPath(l1.metadata), corpus);

  const cached = join(base, 'sae-cached');
  await saveSae(cached, cfg, model.params, { metadata: { ...meta, model_name: snap } });
  const j2 = JSON.parse(await readFile(join(cached, 'cfg.json'), 'utf8')).metadata;
  assert.equal(j2.model_name, 'org/tiny-lm');
  assert.equal(j2[LOCAL_MODEL_PATH_KEY], snap);
  const l2 = await loadSae(cached, cpu);
  assert.equal(saeModelSpec(l2.metadata), snap, 'the local path first');
  // On another machine (the local path gone), the hub id resolves through the HF cache there.
  const moved = { ...l2.metadata, [LOCAL_MODEL_PATH_KEY]: join(base, 'elsewhere', 'snapshot') };
  const oldCache = process.env.HF_HUB_CACHE;
  process.env.HF_HUB_CACHE = join(hfHome, 'hub');
  try {
    assert.equal(saeModelSpec(moved), 'org/tiny-lm');
    assert.equal(await resolveModel(saeModelSpec(moved)!), snap);
  } finally {
    if (oldCache === undefined) delete process.env.HF_HUB_CACHE;
    else process.env.HF_HUB_CACHE = oldCache;
  }
  // Neither the path nor the name found: undefined, so callers fall back to --model or their default.
  assert.equal(saeModelSpec({ ...l1.metadata, [LOCAL_MODEL_PATH_KEY]: join(base, 'gone') }), undefined);
  // A hub id given as such stays as it is.
  const hub = join(base, 'sae-hub');
  await saveSae(hub, cfg, model.params, { metadata: { ...meta, model_name: 'gpt2' } });
  const j3 = JSON.parse(await readFile(join(hub, 'cfg.json'), 'utf8')).metadata;
  assert.equal(j3.model_name, 'gpt2');
  assert.equal(j3[LOCAL_MODEL_PATH_KEY], undefined);
  // Older folders with an absolute model_name still find their model.
  assert.equal(saeModelSpec({ model_name: modelDir }), modelDir);
});
