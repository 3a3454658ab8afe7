// Every folder saelab writes loads in SAELens 6 with saelab's encode/decode: a transcription of
// SAELens 6.18.0's load_from_disk + encode/decode (test/helpers/saelens618.ts) reads what saveSae
// wrote for ReLU+L1, TopK and BatchTopK trained with input normalisation, and must give the trained
// SAE's encode(s·x) and decode(f)/s within 1e-5 on random inputs, with its metadata intact. The
// transcription also reproduces, on the layout saelab used to write, the failures this fixes.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import { reconstruct } from '../../src/eval/evalSae.js';
import { writeSafetensors } from '../../src/io/safetensorsWrite.js';
import { initSae } from '../../src/sae/initSae.js';
import { loadSae, saveSae } from '../../src/sae/saeFiles.js';
import type { SaeConfig, SaeModel } from '../../src/sae/types.js';
import { loadFromDisk, PyError } from '../helpers/saelens618.js';

const root = await mkdtemp(join(tmpdir(), 'saelab-saelens-'));
after(() => rm(root, { recursive: true, force: true }));

const [dIn, dSae, N] = [8, 24, 32];
const S = 1.7; // the expected_average_only_in factor the SAE was trained with
const meta = { model_name: 'gpt2', hook_name: 'blocks.3.hook_resid_pre', hook_layer: 3, context_size: 128, dataset_path: 'Skylion007/openwebtext', prepend_bos: true };

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** A trained-looking SAE: random decoder, biases and (BatchTopK) threshold. */
async function randomSae(arch: SaeConfig['architecture'], seed: number): Promise<SaeModel> {
  const cfg: SaeConfig = {
    architecture: arch, dIn, dSae, applyBDecToInput: true, decoderUnitNorm: arch !== 'standard', normalizeActivations: 'expected_average_only_in', seed,
    ...(arch === 'standard' ? { l1Coefficient: 5 } : { k: 4 }),
  };
  const m = await initSae(cfg, cpu, { decoderNorm: 1 });
  const rng = new Rng(seed + 100);
  m.params.b_dec.data.set(rng.normalArray(dIn).map((v) => v * 0.5));
  m.params.b_enc.data.set(rng.normalArray(dSae).map((v) => v * 0.2));
  if (m.params.threshold) m.params.threshold.data[0] = 0.6;
  return m;
}

for (const arch of ['standard', 'topk', 'batchtopk'] as const) {
  test(`${arch} with normalisation: SAELens 6.18 loads saelab's folder with the same encode/decode`, async () => {
    const model = await randomSae(arch, 3);
    const dir = join(root, arch);
    await saveSae(dir, model.cfg, model.params, { normScalingFactor: S, metadata: meta });

    const sl = loadFromDisk(dir);
    assert.equal(sl.architecture, arch === 'batchtopk' ? 'jumprelu' : arch);
    assert.equal(sl.cfg.normalize_activations, 'none');
    for (const [k, v] of Object.entries(meta)) assert.deepEqual(sl.metadata[k], v, `metadata.${k} survives`);
    if (arch === 'topk') assert.equal(sl.cfg.k, 4);

    const xs = new Rng(7).normalArray(N * dIn).map((v) => v * 2);
    const fTrained = model.encode(cpu.fromArray(xs.map((v) => v * S), [N, dIn]));
    const xhatTrained = Array.from(model.decode(fTrained).data, (v) => v / S);
    const fSl = sl.encode(Float64Array.from(xs), N);
    const fired = fSl.filter((v) => v > 0).length;
    assert.ok(fired > N && fired < N * dSae, `some latents fire, not all (${fired} active of ${N * dSae})`);
    assert.ok(maxDiff(fSl, fTrained.data) < 1e-5, `SAELens encode differs from saelab's by ${maxDiff(fSl, fTrained.data)}`);
    assert.ok(maxDiff(sl.decode(fSl, N), xhatTrained) < 1e-5, `SAELens decode differs by ${maxDiff(sl.decode(fSl, N), xhatTrained)}`);

    // saelab reads the same folder back to the same maths.
    const back = await loadSae(dir, cpu);
    assert.equal(back.cfg.architecture, arch);
    const fBack = back.model.encode(cpu.fromArray(xs, [N, dIn]));
    assert.ok(maxDiff(fBack.data, fSl) < 1e-5);
    assert.ok(maxDiff(back.model.decode(fBack).data, xhatTrained) < 1e-5);
  });
}

test('the transcription reproduces what SAELens made of the layout saelab used to write', async () => {
  // cfg.json as saelab wrote it before: no sae_lens_version, an unfolded factor, BatchTopK as batchtopk.
  const model = await randomSae('topk', 5);
  const p = model.params;
  const old = async (name: string, arch: string, extra: Record<string, unknown>) => {
    const dir = join(root, name);
    await mkdir(dir);
    await writeFile(join(dir, 'cfg.json'), JSON.stringify({
      architecture: arch, d_in: dIn, d_sae: dSae, dtype: 'float32', device: 'cpu', apply_b_dec_to_input: true,
      normalize_activations: 'expected_average_only_in', reshape_activations: 'none', k: 4, norm_scaling_factor: S, metadata: { ...meta, saelab_version: '0.1.0' }, ...extra,
    }));
    await writeSafetensors(join(dir, 'sae_weights.safetensors'), {
      W_enc: { dtype: 'F32', shape: [dIn, dSae], data: p.W_enc.data as Float32Array },
      W_dec: { dtype: 'F32', shape: [dSae, dIn], data: p.W_dec.data as Float32Array },
      b_enc: { dtype: 'F32', shape: [dSae], data: p.b_enc.data as Float32Array },
      b_dec: { dtype: 'F32', shape: [dIn], data: p.b_dec.data as Float32Array },
    });
    return dir;
  };
  const sl = loadFromDisk(await old('old-topk', 'topk', {}));
  // The pre-6.0 path rebuilt metadata from top-level keys: the nested hook and model were lost.
  assert.equal(sl.metadata.hook_name, undefined);
  assert.equal(sl.metadata.model_name, undefined);
  assert.equal(sl.metadata.context_size, undefined);
  // expected_average_only_in does nothing at inference in SAELens: the factor was ignored.
  const xs = new Rng(8).normalArray(N * dIn).map((v) => v * 2);
  const fTrained = model.encode(cpu.fromArray(xs.map((v) => v * S), [N, dIn])).data;
  assert.ok(maxDiff(sl.encode(Float64Array.from(xs), N), fTrained) > 0.1, 'the unfolded factor changes the code');
  // And batchtopk is not an inference class there.
  assert.throws(() => loadFromDisk(join(root, 'batchtopk-old')), /ENOENT/);
  const bt = await old('old-batchtopk', 'batchtopk', {});
  assert.throws(() => loadFromDisk(bt), (e: unknown) => e instanceof PyError && e.pyClass === 'KeyError' && /'batchtopk'/.test(e.message));
});

test("eval's reconstruction of a folded folder equals the trained SAE's with its factor (same codes, same x̂)", async () => {
  for (const arch of ['standard', 'topk', 'batchtopk'] as const) {
    const model = await randomSae(arch, 11);
    const dir = join(root, `eval-${arch}`);
    await saveSae(dir, model.cfg, model.params, { normScalingFactor: S, metadata: meta });
    const loaded = await loadSae(dir, cpu);
    const x = cpu.fromArray(new Rng(13).normalArray(N * dIn).map((v) => v * 3), [N, dIn]);
    const trained = await reconstruct({ cfg: model.cfg, model, normScalingFactor: S }, x);
    const spec = { cfg: loaded.cfg, model: loaded.model, ...(loaded.normScalingFactor !== undefined ? { normScalingFactor: loaded.normScalingFactor } : {}) };
    const folded = await reconstruct(spec, x);
    assert.ok(maxDiff(folded.f, trained.f) < 1e-5, `${arch}: codes differ by ${maxDiff(folded.f, trained.f)}`);
    assert.deepEqual(Array.from(folded.f, (v) => v > 0), Array.from(trained.f, (v) => v > 0), `${arch}: the same latents fire`);
    assert.ok(maxDiff(folded.xHat, trained.xHat) < 1e-5, `${arch}: x̂ differs by ${maxDiff(folded.xHat, trained.xHat)}`);
  }
});
