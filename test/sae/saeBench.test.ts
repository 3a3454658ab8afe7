// `bench sae`'s library function on tiny sizes on CPU: one row per case, positive finite speeds.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { benchSae } from '../../src/sae/saeBench.js';

test('benchSae: a full training step per architecture on tiny sizes (CPU)', async () => {
  const seen: string[] = [];
  const rows = await benchSae(cpu, {
    cases: [{ arch: 'topk', dSae: 64 }, { arch: 'standard', dSae: 64 }, { arch: 'batchtopk', dSae: 64 }],
    dIn: 16, batch: 32, k: 4, minMs: 1,
    onRow: (r) => seen.push(r.case),
  });
  assert.deepEqual(rows.map((r) => r.case), ['sae.topk', 'sae.relu_l1', 'sae.batchtopk']);
  assert.deepEqual(seen, ['sae.topk', 'sae.relu_l1', 'sae.batchtopk']);
  for (const r of rows) {
    assert.ok(Number.isFinite(r.tokensPerS) && r.tokensPerS > 0, `${r.case}: tokens/s ${r.tokensPerS}`);
    assert.ok(Number.isFinite(r.msPerStep) && r.msPerStep > 0, `${r.case}: ms/step ${r.msPerStep}`);
    assert.ok(r.reps >= 1);
    assert.equal(r.dSae, 64);
    assert.equal(r.dIn, 16);
    assert.equal(r.batch, 32);
    assert.ok(Math.abs(r.tokensPerS - 32 / (r.msPerStep / 1000)) < 1e-6 * r.tokensPerS);
  }
  assert.equal(rows[0]!.k, 4);
  assert.equal(rows[1]!.k, null);
  assert.equal(rows[0]!.decoderUnitNorm, true);
  assert.equal(rows[1]!.decoderUnitNorm, false);
});

test('benchSae: rejects k above d_sae', async () => {
  await assert.rejects(benchSae(cpu, { cases: [{ arch: 'topk', dSae: 8 }], dIn: 4, batch: 4, k: 16, minMs: 1 }), /k must be in/);
});

test('benchSae --blas-bound: the bare encoder GEMM\'s time, GFLOP/s and the step\'s fraction of it', async () => {
  const [plain] = await benchSae(cpu, { cases: [{ arch: 'topk', dSae: 64 }], dIn: 16, batch: 32, k: 4, minMs: 1 });
  assert.equal(plain!.boundFraction, undefined);
  const [r] = await benchSae(cpu, { cases: [{ arch: 'topk', dSae: 64 }], dIn: 16, batch: 32, k: 4, minMs: 1, blasBound: true });
  assert.ok(r!.encoderGemmMs! > 0 && Number.isFinite(r!.encoderGemmMs!));
  assert.ok(Math.abs(r!.encoderGemmGflops! - (2 * 32 * 16 * 64) / r!.encoderGemmMs! / 1e6) < 1e-9 * r!.encoderGemmGflops!);
  assert.equal(r!.boundGemms, 1, 'sparse TopK: the encoder GEMM is its only dense product');
  assert.ok(Math.abs(r!.boundFraction! - r!.encoderGemmMs! / r!.msPerStep) < 1e-12);
  const [dense] = await benchSae(cpu, { cases: [{ arch: 'standard', dSae: 64 }], dIn: 16, batch: 32, k: 4, minMs: 1, blasBound: true });
  assert.equal(dense!.boundGemms, 5, 'dense codes: five GEMMs of the encoder\'s size');
  assert.ok(Math.abs(dense!.boundFraction! - (5 * dense!.encoderGemmMs!) / dense!.msPerStep) < 1e-12);
});
