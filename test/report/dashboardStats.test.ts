// DashboardStats against brute force: every firing of a random sparse activation stream is listed,
// and the top-k, contexts, histograms, density and reservoir are recomputed from that list.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import { readDashboardCheckpoint, writeDashboardCheckpoint } from '../../src/report/dashboardCheckpoint.js';
import { decoderNeighbours, logitEffects } from '../../src/report/dashboardLogits.js';
import { gpuOrSkip } from '../helpers/gpu.js';
import { DashboardStats, HIST_BINS, histBin, histBinLow, quantileGroups, type FeatureExample } from '../../src/report/dashboardStats.js';

/** A stream of `windows` windows of T tokens: activations [n, D] with ~density nonzeros, ids, exclusions (position 0 = BOS). */
function stream(seed: number, windows: number, T: number, D: number, density = 0.2) {
  const rng = new Rng(seed);
  const n = windows * T;
  const f = new Float32Array(n * D);
  const ids = new Int32Array(n);
  const exclude = new Uint8Array(n);
  for (let p = 0; p < n; p++) {
    ids[p] = p % T === 0 ? 0 : 1 + (rng.nextU32() % 50);
    exclude[p] = p % T === 0 ? 1 : 0;
    // Coarse values (multiples of 1/4) so that ties happen.
    for (let i = 0; i < D; i++) if (rng.nextU32() / 2 ** 32 < density) f[p * D + i] = (1 + (rng.nextU32() % 16)) / 4;
  }
  return { f, ids, exclude, n };
}

test('top-k, contexts, histogram and density match brute force (ties keep the earliest token)', () => {
  const [T, D, K, W] = [6, 5, 4, 2];
  const { f, ids, exclude, n } = stream(1, 12, T, D);
  const s = new DashboardStats({ dSae: D, topK: K, window: W, reservoir: 1000, seed: 3 });
  // Two batches, as a pass would send them.
  const half = 6 * T;
  s.add(f.subarray(0, half * D), ids.subarray(0, half), exclude.subarray(0, half), T, 0);
  s.add(f.subarray(half * D), ids.subarray(half), exclude.subarray(half), T, half);
  let kept = 0;
  for (let p = 0; p < n; p++) if (!exclude[p]) kept++;
  assert.equal(s.tokens, kept);
  for (let i = 0; i < D; i++) {
    const firings: { act: number; token: number }[] = [];
    for (let p = 0; p < n; p++) if (!exclude[p] && f[p * D + i]! > 0) firings.push({ act: f[p * D + i]!, token: p });
    const sum = s.summary(i);
    assert.equal(sum.fires, firings.length);
    assert.equal(sum.density, firings.length / kept);
    assert.equal(sum.maxAct, Math.max(...firings.map((x) => x.act)));
    assert.ok(Math.abs(sum.meanAct - firings.reduce((a, x) => a + x.act, 0) / firings.length) < 1e-12);
    const want = [...firings].sort((a, b) => b.act - a.act || a.token - b.token).slice(0, K);
    assert.deepEqual(sum.top.map((e) => [e.act, e.token]), want.map((x) => [x.act, x.token]), `feature ${i}`);
    for (const e of sum.top) {
      const w0 = e.token - (e.token % T);
      for (let c = 0; c < 2 * W + 1; c++) {
        const q = e.token - W + c;
        const inside = q >= w0 && q < w0 + T;
        assert.equal(e.ids[c], inside ? ids[q] : -1);
        assert.equal(e.acts[c], inside ? f[q * D + i] : 0);
      }
    }
    const hist = new Array(HIST_BINS).fill(0);
    for (const x of firings) hist[histBin(x.act)]++;
    assert.deepEqual(Array.from(sum.hist), hist);
    // A reservoir larger than the firings holds all of them.
    assert.deepEqual(sum.samples.map((e) => e.token).sort((a, b) => a - b), firings.map((x) => x.token));
  }
});

test('histogram bins are log10 steps of 0.1 from 1e-3, clamped at both ends', () => {
  assert.equal(histBin(1e-3), 0);
  assert.equal(histBin(1e-9), 0);
  assert.equal(histBin(1), 30);
  assert.equal(histBin(1.2), 30); // log10 1.2 = 0.079 < 0.1
  assert.equal(histBin(1.3), 31);
  assert.equal(histBin(1e6), HIST_BINS - 1);
  assert.ok(Math.abs(histBinLow(30) - 1) < 1e-12);
});

test('the reservoir keeps R firings, each a real firing with its own context; seeds change the choice', () => {
  const [T, D, R] = [8, 3, 5];
  const { f, ids, exclude, n } = stream(2, 40, T, D, 0.5);
  const pick = (seed: number) => {
    const s = new DashboardStats({ dSae: D, topK: 2, window: 1, reservoir: R, seed });
    s.add(f, ids, exclude, T, 0);
    return s;
  };
  const a = pick(1);
  for (let i = 0; i < D; i++) {
    const sum = a.summary(i);
    assert.ok(sum.fires > R);
    assert.equal(sum.samples.length, R);
    assert.equal(new Set(sum.samples.map((e) => e.token)).size, R, 'distinct tokens');
    for (const e of sum.samples) {
      assert.ok(e.token < n && !exclude[e.token]);
      assert.equal(e.act, f[e.token * D + i]);
      assert.equal(e.acts[1], e.act);
      assert.equal(e.ids[1], ids[e.token]);
    }
  }
  const b = pick(2);
  assert.notDeepEqual([0, 1, 2].map((i) => a.summary(i).samples.map((e) => e.token)), [0, 1, 2].map((i) => b.summary(i).samples.map((e) => e.token)));
});

test('quantile groups: equal-rank groups, weakest first, evenly spaced picks', () => {
  const ex = (act: number): FeatureExample => ({ token: act, act, ids: new Int32Array(1), acts: new Float32Array(1) });
  const samples = Array.from({ length: 10 }, (_, i) => ex(i + 1)); // acts 1..10, weakest first
  const g = quantileGroups(samples, 2, 2);
  assert.deepEqual(g.map((x) => [x.from, x.to]), [[1, 5], [6, 10]]);
  // 5 per group, 2 picks at ranks floor(0.5·5/2)=1 and floor(1.5·5/2)=3 of each group.
  assert.deepEqual(g.map((x) => x.examples.map((e) => e.act)), [[2, 4], [7, 9]]);
  assert.deepEqual(quantileGroups(samples.slice(0, 2), 5, 3).map((x) => x.examples.length), [1, 1]);
  assert.deepEqual(quantileGroups([], 5, 3), []);
});

test('a checkpoint mid-stream resumes to exactly the state of an unbroken pass', async () => {
  const [T, D] = [7, 6];
  const { f, ids, exclude, n } = stream(5, 30, T, D, 0.4);
  const opts = { dSae: D, topK: 3, window: 2, reservoir: 4, seed: 9 };
  const whole = new DashboardStats(opts);
  whole.add(f, ids, exclude, T, 0);
  const dir = mkdtempSync(join(tmpdir(), 'saelab-dash-'));
  try {
    const first = new DashboardStats(opts);
    const cut = 13 * T;
    first.add(f.subarray(0, cut * D), ids.subarray(0, cut), exclude.subarray(0, cut), T, 0);
    const path = join(dir, 'state');
    await writeDashboardCheckpoint(path, { windows: 13, options: opts, state: first.s });
    const ck = await readDashboardCheckpoint(path);
    assert.equal(ck.windows, 13);
    assert.deepEqual(ck.options, opts);
    const resumed = new DashboardStats(ck.options, ck.state);
    resumed.add(f.subarray(cut * D), ids.subarray(cut), exclude.subarray(cut), T, cut);
    for (const k of Object.keys(whole.s) as (keyof typeof whole.s)[]) assert.deepEqual(resumed.s[k], whole.s[k], k);
    assert.equal(resumed.tokens + 0, whole.tokens);
    assert.ok(n > cut);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a state of the wrong size is refused', () => {
  const s = new DashboardStats({ dSae: 4, topK: 2, window: 1, reservoir: 2, seed: 0 });
  assert.throws(() => new DashboardStats({ dSae: 5, topK: 2, window: 1, reservoir: 2, seed: 0 }, s.s), /state array fires has 4 elements, expected 5/);
});

test('logit effects and decoder neighbours match a brute-force product', async () => {
  const rng = new Rng(11);
  const [dSae, dIn, V, k] = [37, 6, 50, 4];
  const wDec = rng.normalArray(dSae * dIn);
  const wU = rng.normalArray(dIn * V);
  const embed = new Float32Array(V * dIn); // the tied form: embed [V, dIn] = W_Uᵀ
  for (let j = 0; j < dIn; j++) for (let v = 0; v < V; v++) embed[v * dIn + j] = wU[j * V + v]!;
  const untied = await logitEffects(cpu, wDec, dSae, dIn, cpu.fromArray(wU, [dIn, V]), false, k, 8);
  const tied = await logitEffects(cpu, wDec, dSae, dIn, cpu.fromArray(embed, [V, dIn]), true, k, 5);
  for (let i = 0; i < dSae; i++) {
    const row = Array.from({ length: V }, (_, v) => {
      let s = 0;
      for (let j = 0; j < dIn; j++) s += wDec[i * dIn + j]! * wU[j * V + v]!;
      return { v, s };
    });
    const top = [...row].sort((a, b) => b.s - a.s).slice(0, k);
    const bottom = [...row].sort((a, b) => a.s - b.s).slice(0, k);
    for (const r of [untied, tied]) {
      assert.deepEqual(Array.from(r.boosted.ids.subarray(i * k, (i + 1) * k)), top.map((x) => x.v));
      assert.deepEqual(Array.from(r.suppressed.ids.subarray(i * k, (i + 1) * k)), bottom.map((x) => x.v));
      for (let j = 0; j < k; j++) assert.ok(Math.abs(r.boosted.values[i * k + j]! - top[j]!.s) < 1e-4);
      for (let j = 0; j < k; j++) assert.ok(Math.abs(r.suppressed.values[i * k + j]! - bottom[j]!.s) < 1e-4);
    }
  }
  const nn = await decoderNeighbours(cpu, wDec, dSae, dIn, 3, 10);
  const norm = (i: number) => Math.hypot(...wDec.subarray(i * dIn, (i + 1) * dIn));
  for (let i = 0; i < dSae; i++) {
    const cos = [];
    for (let m = 0; m < dSae; m++) {
      if (m === i) continue;
      let s = 0;
      for (let j = 0; j < dIn; j++) s += wDec[i * dIn + j]! * wDec[m * dIn + j]!;
      cos.push({ m, c: s / (norm(i) * norm(m)) });
    }
    const want = cos.sort((a, b) => b.c - a.c).slice(0, 3);
    assert.deepEqual(Array.from(nn.ids.subarray(i * 3, i * 3 + 3)), want.map((x) => x.m), `feature ${i}`);
    for (let j = 0; j < 3; j++) assert.ok(Math.abs(nn.values[i * 3 + j]! - want[j]!.c) < 1e-5);
  }
});

const { gpu, skip: noGpu } = await gpuOrSkip();

test('logit effects and neighbours on WebGPU pick the CPU twin\'s tokens and features', { skip: noGpu }, async () => {
  const rng = new Rng(12);
  const [dSae, dIn, V, k] = [300, 16, 1000, 5];
  const wDec = rng.normalArray(dSae * dIn);
  const wU = rng.normalArray(dIn * V);
  const onCpu = await logitEffects(cpu, wDec, dSae, dIn, cpu.fromArray(wU, [dIn, V]), false, k, 64);
  const u = gpu!.fromArray(wU, [dIn, V]);
  const onGpu = await logitEffects(gpu!, wDec, dSae, dIn, u, false, k, 64);
  u.dispose();
  assert.deepEqual(onGpu.boosted.ids, onCpu.boosted.ids);
  assert.deepEqual(onGpu.suppressed.ids, onCpu.suppressed.ids);
  for (let j = 0; j < onCpu.boosted.values.length; j++) assert.ok(Math.abs(onGpu.boosted.values[j]! - onCpu.boosted.values[j]!) < 1e-4);
  const nCpu = await decoderNeighbours(cpu, wDec, dSae, dIn, 4, 128);
  const nGpu = await decoderNeighbours(gpu!, wDec, dSae, dIn, 4, 128);
  assert.deepEqual(nGpu.ids, nCpu.ids);
});
