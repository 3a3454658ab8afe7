// One end-to-end (e2e+ds) step on WebGPU against the same step on the CPU (gpt2-tiny-random, SAE at
// blocks.1.hook_resid_pre, every architecture): the SAE's gradients and the KL and downstream terms
// agree to f32 accuracy. Runs on lavapipe in CI; skipped without a WebGPU adapter.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import type { Device } from '../../src/compute/device.js';
import { Rng } from '../../src/compute/random.js';
import { Transformer } from '../../src/model/transformer.js';
import { downstreamHooks, e2eObjective, type TokenBatch } from '../../src/sae/e2eObjective.js';
import { createSae, initSaeParams } from '../../src/sae/initSae.js';
import type { SaeArchitecture, SaeConfig, SaeParams, SaeStepStats } from '../../src/sae/types.js';
import { gpuOrSkip } from '../helpers/gpu.js';
import { ASSETS, needsAsset } from '../io/assets.js';

const MODEL = 'fixtures/gpt2-tiny-random';
const HOOK = 'blocks.1.hook_resid_pre';
const { gpu, skip: gpuSkip } = await gpuOrSkip();

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) (num += (a[i]! - b[i]!) ** 2), (den += b[i]! ** 2);
  return Math.sqrt(num / Math.max(den, 1e-30));
}

async function stepOn(dev: Device, arch: SaeArchitecture, host: Record<string, Float32Array>, b: TokenBatch): Promise<{ grads: Record<string, Float32Array>; stats: SaeStepStats }> {
  const model = await Transformer.load(join(ASSETS, MODEL), dev);
  const d = model.config.dModel;
  const cfg: SaeConfig = { architecture: arch, dIn: d, dSae: 48, applyBDecToInput: true, decoderUnitNorm: false, normalizeActivations: 'none', seed: 3, ...(arch === 'standard' ? { l1Coefficient: 0.05 } : { k: 6 }) };
  const params = Object.fromEntries(Object.entries(host).map(([k, v]) => [k, dev.fromArray(v, k === 'W_enc' ? [d, 48] : k === 'W_dec' ? [48, d] : [v.length])])) as unknown as SaeParams;
  const sae = createSae(cfg, params);
  const obj = e2eObjective({ model, hook: HOOK, normScale: 0.8, localCoefficient: 0.1, downstream: downstreamHooks('all', HOOK, model).map((hook) => ({ hook, coefficient: 0.5 })) });
  const prep = await obj.prepare(b);
  const res = await prep.step(sae, { tokensSinceFired: dev.zeros([48]), l1Coefficient: cfg.l1Coefficient ?? 0, tokensSeen: 0 });
  const stats = await res.stats();
  const grads: Record<string, Float32Array> = {};
  for (const [k, g] of Object.entries(res.grads)) grads[k] = Float32Array.from((await g!.read()) as Float32Array);
  res.dispose();
  prep.dispose();
  model.dispose();
  return { grads, stats };
}

for (const arch of ['standard', 'topk', 'batchtopk'] as const) {
  test(`${arch}: an e2e+ds step on WebGPU matches the CPU`, { skip: needsAsset(MODEL) || gpuSkip }, async (t) => {
    const d = 64;
    const cfg: SaeConfig = { architecture: arch, dIn: d, dSae: 48, applyBDecToInput: true, decoderUnitNorm: false, normalizeActivations: 'none', seed: 3, ...(arch === 'standard' ? { l1Coefficient: 0.05 } : { k: 6 }) };
    const p = await initSaeParams(cfg, cpu, { decoderNorm: 1 });
    const host: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(p)) if (v) host[k] = Float32Array.from(v.data as Float32Array);
    const rng = new Rng(5);
    const B = 2;
    const T = 8;
    const b: TokenBatch = { ids: Int32Array.from({ length: B * T }, () => Math.floor(rng.uniform() * 1000)), exclude: Uint8Array.from({ length: B * T }, (_, i) => (i % T === 0 ? 1 : 0)), B, T };
    const c = await stepOn(cpu, arch, host, b);
    const g = await stepOn(gpu!, arch, host, b);
    for (const k of Object.keys(c.grads)) {
      const e = relErr(g.grads[k]!, c.grads[k]!);
      t.diagnostic(`${k}: relative error ${e.toExponential(2)}`);
      assert.ok(e <= 1e-3, `${arch} ${k}: relative error ${e}`);
    }
    for (const [k, v] of Object.entries(c.stats.terms!)) assert.ok(Math.abs(g.stats.terms![k]! - v) <= 1e-4 * Math.abs(v) + 1e-6, `${k}: gpu ${g.stats.terms![k]} cpu ${v}`);
    assert.ok(Math.abs(g.stats.loss - c.stats.loss) <= 1e-4 * Math.abs(c.stats.loss), `loss: gpu ${g.stats.loss} cpu ${c.stats.loss}`);
  });
}
