// SAE folders: SAELens round trips, atomic replacement, sparsify and dictionary_learning imports with
// their transposes, and one-line SaeFileErrors for malformed folders.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import { writeSafetensors } from '../../src/io/safetensorsWrite.js';
import { initSae } from '../../src/sae/initSae.js';
import { loadSae, saveSae, SaeFileError } from '../../src/sae/saeFiles.js';
import type { SaeConfig, SaeParams } from '../../src/sae/types.js';
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

test('SAELens round trip: identical tensors, cfg, metadata and sparsity, for every architecture', async () => {
  const cases: SaeConfig[] = [
    cfgOf('standard', { l1Coefficient: 5 }),
    cfgOf('topk', { k: 3, auxK: 4, auxKCoefficient: 1 / 32, deadTokensThreshold: 1000, decoderUnitNorm: true, normalizeActivations: 'expected_average_only_in' }),
    cfgOf('batchtopk', { k: 2.5 }),
  ];
  for (const cfg of cases) {
    const sample = cpu.fromArray(new Rng(1).normalArray(40 * 6), [40, 6]);
    const model = await initSae(cfg, cpu, { bDecInit: 'geometric_median', sample });
    const dir = join(root, `rt-${cfg.architecture}`);
    const freq = Float32Array.from({ length: 10 }, (_, i) => i / 10);
    const factor = cfg.normalizeActivations === 'none' ? undefined : 1.75;
    await saveSae(dir, cfg, model.params, { metadata: meta, firingFrequency: freq, ...(factor ? { normScalingFactor: factor } : {}) });
    assert.deepEqual((await readdir(dir)).sort(), ['cfg.json', 'sae_weights.safetensors', 'sparsity.safetensors']);
    const json = JSON.parse(await readFile(join(dir, 'cfg.json'), 'utf8'));
    assert.equal(json.architecture, cfg.architecture);
    assert.equal(json.d_in, 6);
    assert.equal(json.d_sae, 10);
    assert.equal(json.dtype, 'float32');
    assert.equal(json.device, 'cpu');
    assert.equal(json.apply_b_dec_to_input, true);
    assert.equal(json.normalize_activations, cfg.normalizeActivations);
    assert.equal(json.k, cfg.k);
    assert.equal(json.metadata.saelab_version, SAELAB_VERSION);
    assert.equal(json.metadata.hook_name, meta.hook_name);
    const loaded = await loadSae(dir, cpu);
    assert.equal(loaded.format, 'saelens');
    assert.deepEqual(loaded.cfg, cfg);
    assert.deepEqual(await arrays(loaded.params), await arrays(model.params));
    assert.equal(loaded.normScalingFactor, factor);
    for (const [k, v] of Object.entries(meta)) assert.deepEqual(loaded.metadata[k], v, k);
    assert.deepEqual(Array.from(loaded.sparsity!), Array.from(freq, (v) => Math.fround(Math.log10(v + 1e-10))));
    const x = cpu.fromArray(new Rng(2).normalArray(5 * 6), [5, 6]);
    assert.deepEqual(Array.from(loaded.model.encode(x).data), Array.from(model.encode(x).data));
  }
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
