// Feature-to-feature connections (connectFeatures.ts) on gpt2-tiny-random with block 1 made the
// identity (its attention and MLP outputs zeroed): the later SAE's feature i reads 2·(early feature
// π(i)), an exact linear function of it, so the edge π(i) → i ranks first with attribution equal to
// 2·Σ f₁ at the tokens where i fires, other early features' edges are 0, and exact ablation agrees
// with the linear edge. Hooks in the wrong order and a later SAE off the residual stream are refused.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import { createSae } from '../../src/sae/initSae.js';
import type { SaeConfig } from '../../src/sae/types.js';
import { Transformer } from '../../src/model/transformer.js';
import { connectFeatures, type ConnectSae } from '../../src/analysis/connectFeatures.js';
import { ASSETS, needsAsset } from '../io/assets.js';

const FIX = 'fixtures/gpt2-tiny-random';

/** `n` orthonormal rows of length d (Gram–Schmidt), f32. */
function orthonormalRows(n: number, d: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float64Array(n * d);
  for (let r = 0; r < n; r++) {
    const v = Float64Array.from({ length: d }, () => rng.normal());
    for (let pass = 0; pass < 2; pass++) {
      for (let p = 0; p < r; p++) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += v[i]! * out[p * d + i]!;
        for (let i = 0; i < d; i++) v[i]! -= dot * out[p * d + i]!;
      }
    }
    const nn = Math.hypot(...v);
    for (let i = 0; i < d; i++) out[r * d + i] = v[i]! / nn;
  }
  return Float32Array.from(out);
}

function sae(label: string, hook: string, wDec: Float32Array, wEnc: Float32Array, dSae: number, d: number): ConnectSae {
  const cfg: SaeConfig = { architecture: 'standard', dIn: d, dSae, l1Coefficient: 1, applyBDecToInput: true, decoderUnitNorm: false, normalizeActivations: 'none', seed: 0 };
  const bDec = new Float32Array(d);
  const params = { W_enc: cpu.fromArray(wEnc, [d, dSae]), b_enc: cpu.fromArray(new Float32Array(dSae), [dSae]), W_dec: cpu.fromArray(wDec, [dSae, d]), b_dec: cpu.fromArray(bDec, [d]) };
  return { label, hook, cfg, model: createSae(cfg, params), wDec, wEnc, bDec };
}

test('connect: later feature i = 2·(early feature π(i)) through an identity block → edge π(i) → i ranks first; ablation agrees', { skip: needsAsset(FIX) }, async () => {
  const model = await Transformer.load(join(ASSETS, FIX), cpu);
  const { dModel: d, vocabSize: V } = model.config;
  const L1 = model.weights.layers[1]!;
  for (const t of [L1.W_O, L1.b_O!, L1.W_out, L1.b_out!]) (t.data as Float32Array).fill(0);
  const m1 = 24;
  const m2 = 6;
  // Early: f₁ = ReLU(x·dᵢ) with orthonormal decoder rows dᵢ (W_enc = W_decᵀ).
  const D = orthonormalRows(m1, d, 1);
  const E1 = new Float32Array(d * m1);
  for (let i = 0; i < m1; i++) for (let q = 0; q < d; q++) E1[q * m1 + i] = D[i * d + q]!;
  // Late: feature i reads 2·d_{π(i)}, so f₂ᵢ = ReLU(2 x·d_{π(i)}) = 2 f₁π(i) (block 1 is the identity).
  const pi = [5, 0, 17, 3, 11, 22];
  const E2 = new Float32Array(d * m2);
  for (let i = 0; i < m2; i++) for (let q = 0; q < d; q++) E2[q * m2 + i] = 2 * D[pi[i]! * d + q]!;
  const D2 = orthonormalRows(m2, d, 2);
  const early = sae('early', 'blocks.1.hook_resid_pre', D, E1, m1, d);
  const late = sae('late', 'blocks.2.hook_resid_pre', D2, E2, m2, d);
  const rng = new Rng(3);
  const T = 16;
  const windows = Array.from({ length: 6 }, () => ({ ids: Int32Array.from({ length: T }, () => rng.int(V)), exclude: new Uint8Array(T) }));
  const r = await connectFeatures({ model, early, late, windows, features: [0, 1, 2, 3, 4, 5], batchSize: 3, checkEdges: 4 });
  assert.equal(r.features.length, m2);
  for (const f of r.features) {
    const i = f.feature;
    assert.ok(f.fires > 0, `late feature ${i} fires`);
    const top = f.edges[0]!;
    assert.equal(top.source, pi[i], `late feature ${i}: strongest edge from ${top.source}, expected ${pi[i]}`);
    // d f₂ᵢ / dx = 2 d_{π(i)} where it fires: the edge is 2·Σ f₁π(i) = f₂ᵢ's total activation.
    assert.ok(Math.abs(top.attribution - f.activation) < 1e-3 * f.activation, `edge ${top.attribution} vs activation ${f.activation}`);
    for (const e of f.edges.slice(1)) assert.ok(Math.abs(e.attribution) < 1e-4 * f.activation, `other edge ${e.source}: ${e.attribution}`);
  }
  assert.equal(r.checks.length, 4);
  for (const c of r.checks) {
    assert.equal(c.source, pi[c.target]);
    assert.ok(Math.abs(c.exact - c.linear) < 1e-3 * Math.abs(c.linear), `ablation ${c.exact} vs linear ${c.linear}`);
  }
  // Wrong order, and a later SAE off the residual stream.
  await assert.rejects(connectFeatures({ model, early: late, late: early, windows }), /wrong order/);
  await assert.rejects(connectFeatures({ model, early, late: { ...late, hook: 'blocks.2.hook_mlp_out' }, windows }), /residual stream/);
  model.dispose();
});
