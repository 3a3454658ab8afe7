// The gradient spectrum (docs/gradients.md): the symmetric eigensolver on matrices with known
// eigenvalues (repeated, zero and negative ones included); the streamed Gram against the dense
// GᵀG; the figures of a known spectrum; the per-token CE gradient against HF's golden; and a model
// whose output depends only on a planted k-dimensional subspace of a hook: exactly k non-zero
// singular values, the subspace recovered, and directions inside/outside it scored 1/0.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { Transformer } from '../../src/model/transformer.js';
import { scoreDirections } from '../../src/analysis/gradientAlignment.js';
import { GramAccumulator, gradientSpectrum, rankAt } from '../../src/analysis/gradientGram.js';
import { batchGradients, type GradientObjective } from '../../src/analysis/hookGradients.js';
import { symmetricEigen } from '../../src/analysis/symmetricEigen.js';
import { assertClose } from '../helpers/assertClose.js';
import { ASSETS, needsAsset } from '../io/assets.js';

/** A random d×k matrix with orthonormal columns (Gram–Schmidt in f64), row-major. */
function orthonormal(d: number, k: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const q = new Float64Array(d * k);
  for (let c = 0; c < k; c++) {
    const v = Float64Array.from({ length: d }, () => rng.normal());
    for (let pass = 0; pass < 2; pass++) {
      for (let p = 0; p < c; p++) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += v[i]! * q[i * k + p]!;
        for (let i = 0; i < d; i++) v[i]! -= dot * q[i * k + p]!;
      }
    }
    const n = Math.hypot(...v);
    for (let i = 0; i < d; i++) q[i * k + c] = v[i]! / n;
  }
  return q;
}

test('symmetricEigen: known spectra with repeated, zero and negative eigenvalues; orthonormal eigenvectors', () => {
  const d = 9;
  const lam = [5, 5, 5, 2, 0, 0, 0, -1, 1e-9];
  const Q = orthonormal(d, d, 3);
  const A = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) for (let k = 0; k < d; k++) A[i * d + j] += Q[i * d + k]! * lam[k]! * Q[j * d + k]!;
  const e = symmetricEigen(A, d);
  assertClose(Array.from(e.values), [...lam].sort((a, b) => b - a), { atol: 1e-12, rtol: 0 }, 'eigenvalues');
  for (let a = 0; a < d; a++) {
    for (let b = 0; b < d; b++) {
      let dot = 0;
      for (let i = 0; i < d; i++) dot += e.vectors[i * d + a]! * e.vectors[i * d + b]!;
      assert.ok(Math.abs(dot - (a === b ? 1 : 0)) < 1e-12, `UᵀU[${a},${b}] = ${dot}`);
    }
    for (let i = 0; i < d; i++) {
      let av = 0;
      for (let j = 0; j < d; j++) av += A[i * d + j]! * e.vectors[j * d + a]!;
      assert.ok(Math.abs(av - e.values[a]! * e.vectors[i * d + a]!) < 1e-12, `A u_${a} = λ u_${a} at ${i}`);
    }
  }
  // The diagonal and the zero matrix: no iteration needed, exact.
  assert.deepEqual(Array.from(symmetricEigen([0, 0, 0, 0], 2).values), [0, 0]);
  assert.deepEqual(Array.from(symmetricEigen([1, 0, 0, 3], 2).values), [3, 1]);
  assert.throws(() => symmetricEigen([1, 2, 3], 2), /do not make a 2×2 matrix/);
});

test('GramAccumulator equals the dense GᵀG (kept rows, scale, several batches)', () => {
  const d = 11;
  const rng = new Rng(7);
  const acc = new GramAccumulator(d);
  const all: Float32Array[] = [];
  for (const n of [5, 13, 1]) {
    const g = rng.normalArray(n * d);
    const keep = Uint8Array.from({ length: n }, (_, t) => (t % 3 === 1 ? 0 : 1));
    acc.add(g, keep, 2);
    for (let t = 0; t < n; t++) if (keep[t]) all.push(g.subarray(t * d, (t + 1) * d).map((v) => v * 2));
  }
  assert.equal(acc.count, all.length);
  const dense = new Float64Array(d * d);
  for (const r of all) for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) dense[i * d + j] += r[i]! * r[j]!;
  assertClose(acc.matrix(), dense, { atol: 1e-9, rtol: 1e-12 }, 'Gram');
});

test('gradientSpectrum: σ, cumulative energy, effective ranks and the fraction below 1e-3 of a known spectrum', () => {
  // Rows along the axes with squared norms 100, 10, 1, 1e-8, 0: λ = those over N = 5 rows.
  const d = 5;
  const acc = new GramAccumulator(d);
  const g = new Float32Array(d * d);
  [100, 10, 1, 1e-8, 0].forEach((s, i) => (g[i * d + (4 - i)] = Math.sqrt(s)));
  acc.add(g);
  const { spectrum: s } = gradientSpectrum(acc);
  assertClose(s.singularValues, [100, 10, 1, 1e-8, 0].map((v) => Math.sqrt(v / 5)), { atol: 1e-12, rtol: 1e-6 }, 'σ');
  assertClose(s.cumulativeEnergy, [100 / 111, 110 / 111, 1, 1, 1], { atol: 1e-7, rtol: 0 }, 'cumulative energy (f32 rows)');
  assert.deepEqual(s.effectiveRank, { '0.9': 1, '0.99': 2, '0.999': 3 }, '100/111 ≥ 0.9, 110/111 ≥ 0.99, 0.999 needs the third');
  assert.equal(s.fractionBelow1e3, 2 / 5, 'σ_4/σ_1 = 1e-5 and σ_5 = 0 are below 1e-3');
  assert.equal(rankAt([0.5, 0.9, 1], 0.9), 2);
});

const FIX = 'fixtures/gpt2-tiny-random';

test('per-token CE gradients are N× the mean-loss gradient of HF (golden), the last position left out', { skip: needsAsset(FIX) }, async () => {
  const dir = join(ASSETS, FIX);
  const model = await Transformer.load(dir, cpu);
  const meta = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as { keys: Record<string, number[]> };
  const [B, T] = meta.keys['input_ids'] as [number, number];
  const f = await SafetensorsFile.open(join(dir, 'golden.safetensors'));
  const ids = Int32Array.from((await f.readTyped('input_ids')) as Int32Array);
  const golden = await f.readF32('grad.ce_loss.blocks.1.hook_resid_pre');
  await f.close();
  const r = await batchGradients(model, ['blocks.1.hook_resid_pre'], ids, B, T, new Uint8Array(B * T).fill(1), 'ce', new Rng(0));
  assertClose(r.grads.get('blocks.1.hook_resid_pre')!, golden.map((v) => v * B * (T - 1)), { atol: 1e-5, rtol: 1e-3 }, 'Σ_t CE_t gradient');
  assert.deepEqual(Array.from(r.keep), Array.from({ length: B * T }, (_, i) => (i % T === T - 1 ? 0 : 1)));
  model.dispose();
});

for (const objective of ['kl', 'ce'] as GradientObjective[]) {
  test(`planted subspace (${objective}): output depends on k dims of ln_final.hook_normalized → exactly k non-zero singular values, subspace recovered`, { skip: needsAsset(FIX) }, async () => {
    const model = await Transformer.load(join(ASSETS, FIX), cpu);
    const { dModel: d, vocabSize: V } = model.config;
    const k = 5;
    // Tied embedding: logits = h · embedᵀ. With embed = E·P (P the projector onto span(Q)), the
    // logits see only P·h, so every gradient at h lies in span(Q).
    const Q = orthonormal(d, k, 11);
    const E = (await model.weights.embed.read()) as Float32Array;
    const EP = new Float32Array(V * d);
    for (let v = 0; v < V; v++) {
      const c = new Float64Array(k);
      for (let i = 0; i < d; i++) for (let a = 0; a < k; a++) c[a] += E[v * d + i]! * Q[i * k + a]!;
      for (let i = 0; i < d; i++) {
        let s = 0;
        for (let a = 0; a < k; a++) s += c[a]! * Q[i * k + a]!;
        EP[v * d + i] = s * 4; // scaled up so the softmax is far from uniform
      }
    }
    model.weights.embed.dispose();
    (model.weights as { embed: typeof model.weights.embed }).embed = cpu.fromArray(EP, [V, d]);
    const hook = 'ln_final.hook_normalized';
    const rng = new Rng(5);
    const acc = new GramAccumulator(d);
    for (let batch = 0; batch < 3; batch++) {
      const B = 2;
      const T = 16;
      const ids = Int32Array.from({ length: B * T }, () => rng.int(V));
      const r = await batchGradients(model, [hook], ids, B, T, new Uint8Array(B * T).fill(1), objective, rng);
      acc.add(r.grads.get(hook)!, r.keep);
    }
    const { spectrum, eigen } = gradientSpectrum(acc);
    const rel = spectrum.singularValues.map((s) => s / spectrum.singularValues[0]!);
    assert.ok(rel[k - 1]! > 1e-2, `σ_${k}/σ_1 = ${rel[k - 1]} is clearly non-zero`);
    assert.ok(rel[k]! < 1e-5, `σ_${k + 1}/σ_1 = ${rel[k]} is zero to f32 rounding`);
    assert.equal(spectrum.effectiveRank['0.999'] <= k, true);
    assert.ok(spectrum.fractionBelow1e3 >= (d - k) / d - 1e-12);
    // The top-k eigenvectors span span(Q): ‖U_kᵀ Q‖²_F = k; Q's columns score energy 1, directions ⟂ Q 0.
    const qRows = new Float64Array(k * d);
    for (let a = 0; a < k; a++) for (let i = 0; i < d; i++) qRows[a * d + i] = Q[i * k + a]!;
    const inside = scoreDirections(eigen, k, qRows, k);
    for (const e of inside.energy) assert.ok(Math.abs(e - 1) < 1e-6, `a planted direction's energy ${e}`);
    const perp = orthonormal(d, k + 3, 11); // its first k columns are Q, the next 3 are ⟂ Q
    const outRows = new Float64Array(3 * d);
    for (let a = 0; a < 3; a++) for (let i = 0; i < d; i++) outRows[a * d + i] = perp[i * (k + 3) + k + a]!;
    const outside = scoreDirections(eigen, k, outRows, 3);
    for (const e of outside.energy) assert.ok(e < 1e-6, `a direction ⟂ the planted subspace has energy ${e}`);
    for (const s of outside.sensitivity) assert.ok(s < 1e-6, `… and sensitivity ${s}`);
    model.dispose();
  });
}
