// Each architecture's step against a float64 recomputation of its loss: the loss value, and every
// gradient against central finite differences of that loss. Then CPU vs WebGPU parity of a step.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import type { Device } from '../../src/compute/device.js';
import { Rng } from '../../src/compute/random.js';
import { createSae, geometricMedian, initSae } from '../../src/sae/initSae.js';
import { ActivationNormalizer } from '../../src/sae/normalize.js';
import { denseCodeStep, topkActivations, topkSparseStep } from '../../src/sae/topkSae.js';
import type { SaeConfig, SaeParams, SaeStepContext } from '../../src/sae/types.js';
import { assertClose } from '../helpers/assertClose.js';
import { numericGrad } from '../helpers/finiteDiff.js';
import { gpuOrSkip } from '../helpers/gpu.js';

interface Host {
  W_enc: Float64Array; // [dIn, dSae]
  b_enc: Float64Array;
  W_dec: Float64Array; // [dSae, dIn]
  b_dec: Float64Array;
}

function randomHost(rng: Rng, dIn: number, dSae: number): Host {
  const r = (n: number, s: number) => Float64Array.from(rng.normalArray(n, s), (v) => Math.fround(v));
  return { W_enc: r(dIn * dSae, 0.5), b_enc: r(dSae, 0.1), W_dec: r(dSae * dIn, 0.5), b_dec: r(dIn, 0.2) };
}

function toParams(h: Host, dev: Device, dIn: number, dSae: number, threshold?: number): SaeParams {
  const p: SaeParams = {
    W_enc: dev.fromArray(Float32Array.from(h.W_enc), [dIn, dSae]),
    b_enc: dev.fromArray(Float32Array.from(h.b_enc), [dSae]),
    W_dec: dev.fromArray(Float32Array.from(h.W_dec), [dSae, dIn]),
    b_dec: dev.fromArray(Float32Array.from(h.b_dec), [dIn]),
  };
  if (threshold !== undefined) p.threshold = dev.fromArray(new Float32Array([threshold]), [1]);
  return p;
}

/** Pre-activations in float64: [N, dSae]. */
function preF64(h: Host, cfg: SaeConfig, x: Float64Array, N: number): Float64Array {
  const { dIn, dSae } = cfg;
  const pre = new Float64Array(N * dSae);
  for (let t = 0; t < N; t++)
    for (let i = 0; i < dSae; i++) {
      let s = h.b_enc[i]!;
      for (let j = 0; j < dIn; j++) s += (x[t * dIn + j]! - (cfg.applyBDecToInput ? h.b_dec[j]! : 0)) * h.W_enc[j * dSae + i]!;
      pre[t * dSae + i] = s;
    }
  return pre;
}

/** Keep, per row, the entries whose (row, col) is in `keep`; ReLU'd. */
function decodeF64(h: Host, f: Float64Array, N: number, dIn: number, dSae: number, bias: boolean): Float64Array {
  const y = new Float64Array(N * dIn);
  for (let t = 0; t < N; t++)
    for (let j = 0; j < dIn; j++) {
      let s = bias ? h.b_dec[j]! : 0;
      for (let i = 0; i < dSae; i++) s += f[t * dSae + i]! * h.W_dec[i * dIn + j]!;
      y[t * dIn + j] = s;
    }
  return y;
}

/** Row-wise top-k mask of v [rows, cols] (ties: lower index). */
function topkMask(v: Float64Array, rows: number, cols: number, k: number): Uint8Array {
  const m = new Uint8Array(v.length);
  for (let r = 0; r < rows; r++) {
    const order = Array.from({ length: cols }, (_, i) => i).sort((a, b) => v[r * cols + b]! - v[r * cols + a]! || a - b);
    for (let j = 0; j < k; j++) m[r * cols + order[j]!] = 1;
  }
  return m;
}

interface Case {
  cfg: SaeConfig;
  ctx: (dev: Device) => SaeStepContext;
  tsf: Float32Array;
  lambda: number;
}

/** The loss in float64 for host params (selections recomputed; the AuxK residual e is `eFixed` when given). */
function lossF64(h: Host, c: Case, x: Float64Array, N: number, eFixed?: Float64Array): { loss: number; e: Float64Array } {
  const { dIn, dSae } = c.cfg;
  const pre = preF64(h, c.cfg, x, N);
  const f = new Float64Array(N * dSae);
  if (c.cfg.architecture === 'standard') for (let i = 0; i < f.length; i++) f[i] = Math.max(0, pre[i]!);
  else if (c.cfg.architecture === 'topk') {
    const m = topkMask(pre, N, dSae, c.cfg.k!);
    for (let i = 0; i < f.length; i++) f[i] = m[i] ? Math.max(0, pre[i]!) : 0;
  } else {
    const r = pre.map((v) => Math.max(0, v));
    const m = topkMask(r, 1, N * dSae, Math.round(c.cfg.k! * N));
    for (let i = 0; i < f.length; i++) f[i] = m[i] ? r[i]! : 0;
  }
  const xhat = decodeF64(h, f, N, dIn, dSae, true);
  let mse = 0;
  for (let i = 0; i < xhat.length; i++) mse += (xhat[i]! - x[i]!) ** 2;
  mse /= N;
  const e = eFixed ?? x.map((v, i) => v - xhat[i]!);
  if (c.cfg.architecture === 'standard') {
    let l1 = 0;
    for (let i = 0; i < dSae; i++) {
      let n = 0;
      for (let j = 0; j < dIn; j++) n += h.W_dec[i * dIn + j]! ** 2;
      n = Math.sqrt(n);
      for (let t = 0; t < N; t++) l1 += f[t * dSae + i]! * n;
    }
    return { loss: mse + (c.lambda * l1) / N, e };
  }
  const cut = c.cfg.deadTokensThreshold!;
  const dead = Array.from(c.tsf, (v) => v >= cut);
  if (!dead.some(Boolean)) return { loss: mse, e };
  const masked = pre.map((v, i) => (dead[i % dSae] ? v : -1e30));
  const ma = topkMask(masked, N, dSae, Math.min(c.cfg.auxK!, dSae));
  const fa = masked.map((v, i) => (ma[i] ? Math.max(0, v) : 0));
  const ehat = decodeF64(h, fa, N, dIn, dSae, false);
  let aux = 0;
  for (let i = 0; i < ehat.length; i++) aux += (ehat[i]! - e[i]!) ** 2;
  return { loss: mse + (c.cfg.auxKCoefficient! * aux) / N, e };
}

function makeCase(architecture: SaeConfig['architecture'], dSae: number, tsf: number[]): Case {
  const cfg: SaeConfig = {
    architecture, dIn: 4, dSae, k: 2, l1Coefficient: 0.3, auxK: 3, auxKCoefficient: 0.25, deadTokensThreshold: 50,
    applyBDecToInput: true, decoderUnitNorm: false, normalizeActivations: 'none', seed: 1,
  };
  const t = Float32Array.from(tsf);
  return { cfg, tsf: t, lambda: 0.3, ctx: (dev) => ({ tokensSinceFired: dev.fromArray(t, [dSae]), l1Coefficient: 0.3 }) };
}

async function gradCheck(c: Case, seed: number): Promise<void> {
  const N = 5;
  const { dIn, dSae } = c.cfg;
  const rng = new Rng(seed);
  const h = randomHost(rng, dIn, dSae);
  const x = Float64Array.from(rng.normalArray(N * dIn, 1), (v) => Math.fround(v));
  const model = createSae(c.cfg, toParams(h, cpu, dIn, dSae, c.cfg.architecture === 'batchtopk' ? -1 : undefined));
  const res = model.step(cpu.fromArray(Float32Array.from(x), [N, dIn]), c.ctx(cpu));
  const stats = await res.stats();
  const ref = lossF64(h, c, x, N);
  assertClose([stats.loss], [ref.loss], { atol: 1e-5, rtol: 1e-4 }, `${c.cfg.architecture} loss`);
  for (const name of ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const) {
    const num = numericGrad(() => lossF64(h, c, x, N, ref.e).loss, h[name], 1e-6);
    assertClose(res.grads[name]!.data, num, { atol: 2e-4, rtol: 2e-3 }, `${c.cfg.architecture} d${name}`);
  }
  // firedCounts and l0 from the float64 selection
  const fired = res.firedCounts.data;
  const sum = Array.from(fired).reduce((a, b) => a + b, 0);
  assertClose([stats.l0], [sum / N], {}, 'l0');
  res.dispose();
}

test('standard: loss and gradients (L1 through decoder norms) match float64 finite differences', async () => {
  for (const seed of [1, 2, 3]) await gradCheck(makeCase('standard', 6, [0, 0, 0, 0, 0, 0]), seed);
});

test('topk: loss and gradients with AuxK over dead latents match float64 finite differences', async () => {
  for (const seed of [4, 5, 6]) await gradCheck(makeCase('topk', 8, [0, 100, 0, 60, 50, 0, 49, 100]), seed);
});

test('topk: no dead latent → AuxK is 0 and gradients still match', async () => {
  const c = makeCase('topk', 8, [0, 1, 2, 3, 4, 5, 6, 7]);
  await gradCheck(c, 7);
  const rng = new Rng(7);
  const h = randomHost(rng, 4, 8);
  const res = createSae(c.cfg, toParams(h, cpu, 4, 8)).step(cpu.fromArray(rng.normalArray(20), [5, 4]), c.ctx(cpu));
  assert.equal((await res.stats()).auxK, 0);
});

test('batchtopk: loss and gradients match; k·N kept over the batch; threshold tracks the smallest kept value', async () => {
  for (const seed of [8, 9]) await gradCheck(makeCase('batchtopk', 8, [0, 100, 0, 0, 0, 0, 0, 100]), seed);
  const c = makeCase('batchtopk', 8, [0, 0, 0, 0, 0, 0, 0, 0]);
  const rng = new Rng(10);
  const h = randomHost(rng, 4, 8);
  const model = createSae(c.cfg, toParams(h, cpu, 4, 8, -1));
  const x = rng.normalArray(40);
  const res = model.step(cpu.fromArray(x, [10, 4]), c.ctx(cpu));
  const pre = preF64(h, c.cfg, Float64Array.from(x), 10).map((v) => Math.fround(Math.max(0, v)));
  const kept = [...pre].sort((a, b) => b - a).slice(0, 20).filter((v) => v > 0);
  assert.equal(Array.from(res.firedCounts.data).reduce((a, b) => a + b, 0), kept.length);
  const thr1 = model.params.threshold!.data[0]!;
  assertClose([thr1], [Math.min(...kept)], { atol: 1e-6 }, 'threshold after the first batch');
  // Inference: only activations above θ survive.
  const f = model.encode(cpu.fromArray(x, [10, 4])).data;
  for (let i = 0; i < f.length; i++) assert.ok(f[i] === 0 || f[i]! > thr1);
  model.step(cpu.fromArray(x, [10, 4]), c.ctx(cpu)).dispose();
  assertClose([model.params.threshold!.data[0]!], [0.999 * thr1 + 0.001 * Math.min(...kept)], { atol: 1e-6 }, 'running mean');
});

test('initSae: seeded, decoder rows of norm decoderNorm (given alone: W_enc = W_decᵀ), b_dec from the sample', async () => {
  const cfg: SaeConfig = { architecture: 'batchtopk', dIn: 5, dSae: 7, k: 2, applyBDecToInput: true, decoderUnitNorm: false, normalizeActivations: 'none', seed: 42 };
  const a = await initSae(cfg, cpu, { decoderNorm: 0.1 });
  const b = await initSae(cfg, cpu, { decoderNorm: 0.1 });
  assert.deepEqual(Array.from(a.params.W_dec.data), Array.from(b.params.W_dec.data));
  assert.notDeepEqual(Array.from((await initSae({ ...cfg, seed: 43 }, cpu, { decoderNorm: 0.1 })).params.W_dec.data), Array.from(a.params.W_dec.data));
  const W = a.params.W_dec.data;
  for (let i = 0; i < 7; i++) {
    let s = 0;
    for (let j = 0; j < 5; j++) {
      s += W[i * 5 + j]! ** 2;
      assert.equal(a.params.W_enc.data[j * 7 + i], W[i * 5 + j]);
    }
    assertClose([Math.sqrt(s)], [0.1], { atol: 1e-6 }, 'row norm');
  }
  assert.deepEqual(Array.from(a.params.b_enc.data), new Array(7).fill(0));
  assert.deepEqual(Array.from(a.params.threshold!.data), [-1]);
  // Points on a line: the geometric median is the 1-D median; the mean is pulled by the outlier.
  const pts = Float32Array.from([0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 3, 0, 0, 0, 0, 100, 0, 0, 0, 0]);
  const sample = cpu.fromArray(pts, [5, 5]);
  const gm = await initSae(cfg, cpu, { bDecInit: 'geometric_median', sample, decoderNorm: 1 });
  assertClose([gm.params.b_dec.data[0]!], [2], { atol: 1e-3 }, 'geometric median');
  assertClose(Array.from(geometricMedian(pts, 5, 5)).slice(1), [0, 0, 0, 0], { atol: 1e-9 }, 'median off-axis');
  const mean = await initSae(cfg, cpu, { bDecInit: 'mean', sample });
  assertClose([mean.params.b_dec.data[0]!], [21.2], { atol: 1e-5 }, 'mean');
  await assert.rejects(initSae(cfg, cpu, { bDecInit: 'mean' }), /needs a sample/);
});

test('expected_average_only_in: scaled inputs have mean squared norm dIn; denormalize inverts', async () => {
  const x = cpu.fromArray(new Rng(3).normalArray(200 * 16, 7), [200, 16]);
  const n = await ActivationNormalizer.fromSample(x);
  const y = n.normalize(x).data;
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i]! ** 2;
  assertClose([s / 200], [16], { rtol: 1e-5 }, 'mean ‖x‖²');
  assertClose(n.denormalize(n.normalize(x)).data, x.data, { rtol: 1e-6, atol: 1e-6 }, 'round trip');
});

const { gpu, skip } = await gpuOrSkip();

test('CPU and WebGPU steps agree (every architecture)', { skip }, async () => {
  const N = 64;
  const dIn = 32;
  const dSae = 128;
  for (const architecture of ['standard', 'topk', 'batchtopk'] as const) {
    const cfg: SaeConfig = {
      architecture, dIn, dSae, k: 8, l1Coefficient: 0.1, auxK: 16, auxKCoefficient: 1 / 32, deadTokensThreshold: 1000,
      applyBDecToInput: true, decoderUnitNorm: false, normalizeActivations: 'none', seed: 3,
    };
    const rng = new Rng(11);
    const h = randomHost(rng, dIn, dSae);
    const x = rng.normalArray(N * dIn);
    const tsf = Float32Array.from({ length: dSae }, (_, i) => (i % 3 === 0 ? 5000 : 0));
    const run = async (dev: Device) => {
      const model = createSae(cfg, toParams(h, dev, dIn, dSae, architecture === 'batchtopk' ? -1 : undefined));
      const res = model.step(dev.fromArray(x, [N, dIn]), { tokensSinceFired: dev.fromArray(tsf, [dSae]), l1Coefficient: 0.1 });
      const out: Record<string, Float32Array> = {};
      for (const [k, t] of Object.entries(res.grads)) out[k] = (await t!.read()) as Float32Array;
      out.fired = (await res.firedCounts.read()) as Float32Array;
      if (model.params.threshold) out.threshold = (await model.params.threshold.read()) as Float32Array;
      const enc = model.encode(dev.fromArray(x, [N, dIn]));
      out.encode = (await enc.read()) as Float32Array;
      return { out, stats: await res.stats() };
    };
    const a = await run(cpu);
    const b = await run(gpu!);
    for (const k of Object.keys(a.out)) assertClose(b.out[k]!, a.out[k]!, { atol: 1e-4, rtol: 1e-3 }, `${architecture} ${k}`);
    for (const k of ['loss', 'mse', 'l0', 'l1', 'auxK'] as const) {
      if (a.stats[k] !== undefined) assertClose([b.stats[k]!], [a.stats[k]!], { atol: 1e-4, rtol: 1e-4 }, `${architecture} ${k}`);
    }
    assert.ok((a.stats.auxK ?? 1) > 0, 'some latents are dead, so AuxK is positive');
  }
});

test('topk: the sparse step equals the dense-code step (gradients, stats, firing), with and without AuxK', async () => {
  const N = 40;
  const dIn = 12;
  const dSae = 96;
  for (const [applyBDecToInput, tokensSeen] of [[true, undefined], [false, 10_000], [true, 10]] as const) {
    const cfg: SaeConfig = {
      architecture: 'topk', dIn, dSae, k: 6, auxK: 10, auxKCoefficient: 1 / 32, deadTokensThreshold: 1000,
      applyBDecToInput, decoderUnitNorm: false, normalizeActivations: 'none', seed: 3,
    };
    const rng = new Rng(21);
    const h = randomHost(rng, dIn, dSae);
    const x = cpu.fromArray(rng.normalArray(N * dIn), [N, dIn]);
    const tsf = cpu.fromArray(Float32Array.from({ length: dSae }, (_, i) => (i % 4 === 0 ? 5000 : 0)), [dSae]);
    const ctx = { tokensSinceFired: tsf, l1Coefficient: 0, tokensSeen };
    const p = toParams(h, cpu, dIn, dSae);
    const sparse = topkSparseStep(p, cfg, x, ctx);
    const dense = denseCodeStep(p, cfg, x, ctx, (pre) => topkActivations(pre, cfg.k!));
    for (const k of ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const) assertClose(sparse.grads[k]!.data, dense.grads[k]!.data, { atol: 1e-5, rtol: 1e-4 }, `d${k}`);
    assert.deepEqual(Array.from(sparse.firedCounts.data), Array.from(dense.firedCounts.data));
    const [s, d] = [await sparse.stats(), await dense.stats()];
    for (const k of ['loss', 'mse', 'l0', 'auxK'] as const) assertClose([s[k]!], [d[k]!], { atol: 1e-6, rtol: 1e-5 }, k);
    // Before deadTokensThreshold tokens no latent can be dead: the aux term is skipped (exactly 0).
    if (tokensSeen === 10) assert.equal(s.auxK, 0);
    else assert.ok(s.auxK! > 0, 'a quarter of the latents are dead');
  }
});
