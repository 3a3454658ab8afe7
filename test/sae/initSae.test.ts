// The default initialisation's statistics against their documented values (docs/training.md,
// "Initialisation"): TopK/BatchTopK unit decoder rows and encoder columns of norm 0.45 along the
// same directions; ReLU+L1 (standard) decoder rows of norm 0.1 and W_enc = W_decᵀ.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { initDefaults, initSae, STANDARD_DECODER_NORM, TOPK_ENCODER_SCALE } from '../../src/sae/initSae.js';
import type { SaeArchitecture, SaeConfig } from '../../src/sae/types.js';
import { assertClose } from '../helpers/assertClose.js';

const cfgOf = (architecture: SaeArchitecture, decoderUnitNorm: boolean): SaeConfig => ({ architecture, dIn: 48, dSae: 96, k: 4, l1Coefficient: 1, applyBDecToInput: true, decoderUnitNorm, normalizeActivations: 'none', seed: 7 });

/** Per latent i: ‖W_dec[i]‖, ‖W_enc[:, i]‖ and the cosine between them. */
function latentStats(cfg: SaeConfig, wEnc: Float32Array, wDec: Float32Array): { dec: number[]; enc: number[]; cos: number[] } {
  const { dIn: d, dSae: n } = cfg;
  const dec: number[] = [];
  const enc: number[] = [];
  const cos: number[] = [];
  for (let i = 0; i < n; i++) {
    let a = 0;
    let b = 0;
    let ab = 0;
    for (let j = 0; j < d; j++) {
      const u = wDec[i * d + j]!;
      const v = wEnc[j * n + i]!;
      a += u * u;
      b += v * v;
      ab += u * v;
    }
    dec.push(Math.sqrt(a));
    enc.push(Math.sqrt(b));
    cos.push(ab / Math.sqrt(a * b));
  }
  return { dec, enc, cos };
}

test('documented values: TopK encoder scale 0.45, standard decoder norm 0.1', () => {
  assert.equal(TOPK_ENCODER_SCALE, 0.45);
  assert.equal(STANDARD_DECODER_NORM, 0.1);
  assert.deepEqual(initDefaults({ architecture: 'topk', decoderUnitNorm: true }), { decoderNorm: 1, encoderScale: TOPK_ENCODER_SCALE });
  assert.deepEqual(initDefaults({ architecture: 'standard', decoderUnitNorm: false }), { decoderNorm: 0.1, encoderScale: 0.1 });
});

for (const arch of ['topk', 'batchtopk'] as const) {
  test(`initSae ${arch}: unit decoder rows from the start, encoder columns of norm 0.45 along the same directions, b_enc 0`, async () => {
    const cfg = cfgOf(arch, true);
    const sae = await initSae(cfg, cpu);
    const s = latentStats(cfg, sae.params.W_enc.data as Float32Array, sae.params.W_dec.data as Float32Array);
    assertClose(s.dec, new Array(cfg.dSae).fill(1), { atol: 1e-6 }, 'decoder row norms');
    assertClose(s.enc, new Array(cfg.dSae).fill(0.45), { atol: 1e-6 }, 'encoder column norms');
    assertClose(s.cos, new Array(cfg.dSae).fill(1), { atol: 1e-6 }, 'encoder ∥ decoder');
    assert.ok((sae.params.b_enc.data as Float32Array).every((v) => v === 0));
    // Random directions: nearly orthogonal in 48 dimensions (|cos| of two ≈ 1/√48 ≈ 0.14).
    const W = sae.params.W_dec.data as Float32Array;
    let dot = 0;
    for (let j = 0; j < cfg.dIn; j++) dot += W[j]! * W[cfg.dIn + j]!;
    assert.ok(Math.abs(dot) < 0.6, `rows 0 and 1 have cosine ${dot}`);
    // An explicit encoder scale wins.
    const t = await initSae(cfg, cpu, { encoderScale: 0.3 });
    assertClose(latentStats(cfg, t.params.W_enc.data as Float32Array, t.params.W_dec.data as Float32Array).enc, new Array(cfg.dSae).fill(0.3), { atol: 1e-6 }, 'given scale');
  });
}

test('initSae standard: Anthropic/SAELens scheme, decoder rows of norm 0.1 and W_enc = W_decᵀ exactly', async () => {
  const cfg = cfgOf('standard', false);
  const sae = await initSae(cfg, cpu);
  const wEnc = sae.params.W_enc.data as Float32Array;
  const wDec = sae.params.W_dec.data as Float32Array;
  const s = latentStats(cfg, wEnc, wDec);
  assertClose(s.dec, new Array(cfg.dSae).fill(0.1), { atol: 1e-7 }, 'decoder row norms');
  for (let i = 0; i < cfg.dSae; i++) for (let j = 0; j < cfg.dIn; j++) assert.equal(wEnc[j * cfg.dSae + i], wDec[i * cfg.dIn + j]);
});
