// Test vectors for every formula of docs/metrics.md: the worked examples of the doc computed by
// hand, and the accumulators against a direct plain-TS computation (two-pass, one batch) on random
// data split into random batches with random keep masks.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../src/compute/random.js';
import { FiringAccumulator, LmLossAccumulator, ReconstructionAccumulator, RewardAccumulator } from '../../src/eval/metricsSpec.js';

const close = (a: number, b: number, tol = 1e-12, what = '') => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

// The worked example of docs/metrics.md: d_in 2, d_sae 3, three tokens, the third excluded (BOS).
const X = [1, 2, 3, 4, 100, 100];
const XHAT = [1, 1, 3, 5, 0, 0];
const F = [1, 0, 0.5, 0, 0, 2, 9, 9, 9];
const KEEP = [1, 1, 0];

test('reconstruction metrics on the hand-computed example', () => {
  const acc = new ReconstructionAccumulator(2);
  acc.add(X, XHAT, F, 3, KEEP);
  const m = acc.result();
  assert.equal(m.tokens, 2);
  close(m.l0, 1.5, 0, 'l0'); // token 0: latents 0 and 2; token 1: latent 2
  close(m.mse, 1, 0, 'mse'); // (0 + 1) and (0 + 1) → 2 / 2 tokens
  close(m.mse_per_element, 0.5, 0, 'mse_per_element'); // 2 / (2 tokens · 2 dims)
  // x̄ = (2, 3); Σ‖x − x̄‖² = (1 + 1) + (1 + 1) = 4; FVU = 2 / 4.
  close(m.fvu, 0.5, 0, 'fvu');
  close(m.explained_variance, 0.5, 0, 'explained_variance');
  close(m.cosine, (3 / Math.sqrt(10) + 29 / (5 * Math.sqrt(34))) / 2, 1e-15, 'cosine');
  close(m.l2_ratio, (Math.sqrt(2) / Math.sqrt(5) + Math.sqrt(34) / 5) / 2, 1e-15, 'l2_ratio');
});

test('FVU uses the mean of x, not zero (the bug some libraries shipped)', () => {
  // x = (10, 10) + small noise: about zero, Σ‖x‖² is huge; about the mean it is small.
  const acc = new ReconstructionAccumulator(2);
  acc.add([10, 10, 11, 11], [10, 10, 10, 10], [1, 1], 1, [1, 1]);
  const m = acc.result();
  // Σ err² = 0 + 2 = 2; x̄ = (10.5, 10.5); Σ‖x − x̄‖² = 4 · 0.25 = 1 → FVU 2 (worse than predicting the mean).
  close(m.fvu, 2, 0, 'fvu');
  close(m.explained_variance, -1, 0, 'explained variance');
});

test('MSE is a mean over tokens, not scaled by batch size: batching does not change any metric', () => {
  const whole = new ReconstructionAccumulator(2);
  whole.add(X, XHAT, F, 3, KEEP);
  const split = new ReconstructionAccumulator(2);
  split.add(X.slice(0, 2), XHAT.slice(0, 2), F.slice(0, 3), 3, KEEP.slice(0, 1));
  split.add(X.slice(2), XHAT.slice(2), F.slice(3), 3, KEEP.slice(1));
  assert.deepEqual(split.result(), whole.result());
});

test('firing statistics on the hand-computed example', () => {
  const acc = new FiringAccumulator(3);
  acc.add(F, KEEP);
  const m = acc.result();
  // Over the 2 kept tokens: latent 0 fires once, latent 1 never, latent 2 twice.
  assert.deepEqual([...acc.frequencies()], [0.5, 0, 1]);
  assert.equal(m.alive_fraction, 2 / 3);
  assert.equal(m.dead_count, 1);
  assert.equal(m.dense_count, 2); // frequencies 0.5 and 1 are > 0.1
  assert.deepEqual(acc.log10AliveFrequencies(), [Math.log10(0.5), 0]);
  const strict = new FiringAccumulator(3, 0.6);
  strict.add(F, KEEP);
  assert.equal(strict.result().dense_count, 1);
});

test('CE, KL and the recovered fractions on the hand-computed example', () => {
  const acc = new LmLossAccumulator();
  // One window of T = 3: position 0 is BOS (excluded), position 2 has no next token (CE only).
  acc.add({
    T: 3, keep: [0, 1, 1],
    ceClean: [9, 2, 0], ceSae: [9, 3, 0], ceZero: [9, 6, 0], ceMean: [9, 4, 0],
    klSae: [5, 0.5, 0.25], klZero: [5, 2, 1], klMean: [5, 1, 0.5],
  });
  const m = acc.result();
  assert.equal(m.ce_tokens, 1);
  assert.equal(m.kl_tokens, 2);
  assert.equal(m.ce_clean, 2);
  assert.equal(m.ce_sae, 3);
  assert.equal(m.ce_zero_ablation, 6);
  assert.equal(m.ce_mean_ablation, 4);
  assert.equal(m.ce_loss_recovered, 0.75); // (6 − 3) / (6 − 2)
  assert.equal(m.ce_loss_recovered_mean_ablation, 0.5); // (4 − 3) / (4 − 2)
  assert.equal(m.ce_increase, 1);
  assert.equal(m.kl_sae, 0.375);
  assert.equal(m.kl_zero_ablation, 1.5);
  assert.equal(m.kl_mean_ablation, 0.75);
  assert.equal(m.kl_score, 0.75); // (1.5 − 0.375) / 1.5
  assert.deepEqual(acc.ceIncreaseByPosition().map((v) => (Number.isNaN(v) ? 'NaN' : v)), ['NaN', 1, 'NaN']);
});

test('reward metrics on a hand-computed pair', () => {
  const acc = new RewardAccumulator();
  acc.addSequences([1, 0], [0.5, 0.5]);
  acc.addPair(1, 0, 0.5, 0.5);
  const m = acc.result();
  assert.deepEqual(m, {
    sequences: 2, reward_clean: 0.5, reward_sae: 0.5, reward_abs_delta: 0.5, pairs: 1,
    pair_diff_clean: 1, pair_diff_sae: 0, pair_diff_change: -1, pair_accuracy_clean: 1, pair_accuracy_sae: 0,
  });
});

test('accumulators match a direct computation on random batches with random masks', () => {
  const rng = new Rng(7);
  const d = 5;
  const m = 7;
  const sizes = [3, 11, 1, 8];
  const xs: number[] = [];
  const hs: number[] = [];
  const fs: number[] = [];
  const keep: number[] = [];
  const rec = new ReconstructionAccumulator(d);
  const fir = new FiringAccumulator(m);
  for (const n of sizes) {
    // Large offset: the naive Σx² − N·x̄² would lose digits here; Chan's update must not.
    const x = Float32Array.from({ length: n * d }, () => 1000 + rng.normal());
    const h = Float32Array.from(x, (v) => v + 0.3 * rng.normal());
    const f = Float32Array.from({ length: n * m }, () => (rng.uniform() < 0.3 ? rng.uniform() : 0));
    const k = Uint8Array.from({ length: n }, () => (rng.uniform() < 0.8 ? 1 : 0));
    rec.add(x, h, f, m, k);
    fir.add(f, k);
    xs.push(...x);
    hs.push(...h);
    fs.push(...f);
    keep.push(...k);
  }
  // Direct: the kept rows, two passes.
  const rows = keep.flatMap((k, t) => (k ? [t] : []));
  const N = rows.length;
  const mean = Array.from({ length: d }, (_, j) => rows.reduce((s, t) => s + xs[t * d + j]!, 0) / N);
  let err = 0;
  let vari = 0;
  let l0 = 0;
  let cos = 0;
  let ratio = 0;
  const counts = new Array(m).fill(0);
  for (const t of rows) {
    let dot = 0;
    let xx = 0;
    let hh = 0;
    for (let j = 0; j < d; j++) {
      const a = xs[t * d + j]!;
      const b = hs[t * d + j]!;
      err += (b - a) ** 2;
      vari += (a - mean[j]!) ** 2;
      dot += a * b;
      xx += a * a;
      hh += b * b;
    }
    cos += dot / Math.sqrt(xx * hh);
    ratio += Math.sqrt(hh / xx);
    for (let i = 0; i < m; i++) if (fs[t * m + i]! > 0) (l0++, counts[i]++);
  }
  const r = rec.result();
  assert.equal(r.tokens, N);
  close(r.l0, l0 / N, 1e-15, 'l0');
  close(r.mse, err / N, 1e-12, 'mse');
  close(r.mse_per_element, err / N / d, 1e-12, 'mse_per_element');
  close(r.fvu, err / vari, 1e-9, 'fvu');
  close(r.cosine, cos / N, 1e-12, 'cosine');
  close(r.l2_ratio, ratio / N, 1e-12, 'l2_ratio');
  const fr = fir.result();
  assert.equal(fr.dead_count, counts.filter((c) => c === 0).length);
  assert.equal(fr.dense_count, counts.filter((c) => c / N > 0.1).length);
  assert.deepEqual([...fir.frequencies()], counts.map((c) => c / N));

  // LM losses: random per-position values over 3 windows of T = 6.
  const T = 6;
  const n = 3 * T;
  const lm = new LmLossAccumulator();
  const arr = () => Float32Array.from({ length: n }, () => rng.uniform() * 5);
  const b = { T, keep: Uint8Array.from({ length: n }, (_, i) => (i % T === 0 ? 0 : rng.uniform() < 0.9 ? 1 : 0)), ceClean: arr(), ceSae: arr(), ceZero: arr(), ceMean: arr(), klSae: arr(), klZero: arr(), klMean: arr() };
  lm.add(b);
  let c = 0;
  let k = 0;
  const s = { clean: 0, sae: 0, zero: 0, klSae: 0, klZero: 0 };
  for (let i = 0; i < n; i++) {
    if (!b.keep[i]) continue;
    k++;
    s.klSae += b.klSae[i]!;
    s.klZero += b.klZero[i]!;
    if (i % T === T - 1) continue;
    c++;
    s.clean += b.ceClean[i]!;
    s.sae += b.ceSae[i]!;
    s.zero += b.ceZero[i]!;
  }
  const lr = lm.result();
  close(lr.ce_clean, s.clean / c, 1e-12, 'ce_clean');
  close(lr.ce_loss_recovered, (s.zero / c - s.sae / c) / (s.zero / c - s.clean / c), 1e-9, 'ce_loss_recovered');
  close(lr.kl_score, (s.klZero / k - s.klSae / k) / (s.klZero / k), 1e-9, 'kl_score');
});
