// Pruning: the removal order and the exact L0 bound; a pruned SAE's L0 on the evaluation tokens
// is ≤ X and removing nothing changes nothing (gpt2-corpus-tiny with a seeded TopK SAE).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import { firingCounts } from '../../src/analysis/pruneRun.js';
import { maskedSae, pruneForL0, pruneOrder } from '../../src/analysis/pruneSae.js';
import type { PackedWindow } from '../../src/data/packTokens.js';
import { evalSaes, type EvalSaeSpec } from '../../src/eval/evalSae.js';
import { Transformer } from '../../src/model/transformer.js';
import { createSae, initSae } from '../../src/sae/initSae.js';
import { ASSETS, needsAsset } from '../io/assets.js';

test('pruneOrder and pruneForL0: most frequent first (ties by index), the fewest removals reaching L0 ≤ X', () => {
  const counts = [5, 9, 0, 9, 3, 1];
  assert.deepEqual(pruneOrder(counts), [1, 3, 0, 4, 5, 2]);
  // 10 tokens: L0 = 27/10 = 2.7.
  const none = pruneForL0(counts, 10, 2.7);
  assert.equal(none.removed, 0);
  assert.deepEqual(Array.from(none.mask), [1, 1, 1, 1, 1, 1]);
  const one = pruneForL0(counts, 10, 2.0);
  assert.equal(one.removed, 1);
  assert.deepEqual(Array.from(one.mask), [1, 0, 1, 1, 1, 1]);
  assert.equal(one.l0, 1.8);
  const three = pruneForL0(counts, 10, 0.4);
  assert.deepEqual(Array.from(three.mask), [0, 0, 1, 0, 1, 1]);
  assert.equal(three.l0, 0.4);
  assert.equal(pruneForL0(counts, 10, 0).l0, 0);
  assert.throws(() => pruneForL0(counts, 10, -1), (e: Error) => e.name === 'UsageError');
});

const MODEL = 'models/gpt2-corpus-tiny';

test('on gpt2-corpus-tiny: a pruned SAE has L0 ≤ X on the evaluation tokens; an all-ones mask changes nothing', { skip: needsAsset(MODEL) }, async () => {
  const model = await Transformer.load(join(ASSETS, MODEL), cpu);
  try {
    const rng = new Rng(2);
    const T = 20;
    const windows: PackedWindow[] = Array.from({ length: 4 }, () => {
      const exclude = new Uint8Array(T);
      exclude[0] = 1;
      return { ids: Int32Array.from({ length: T }, () => rng.int(model.config.vocabSize)), exclude };
    });
    const d = model.config.dModel;
    const cfg = { architecture: 'topk' as const, dIn: d, dSae: 3 * d, k: 12, applyBDecToInput: true, decoderUnitNorm: true, normalizeActivations: 'none' as const, seed: 4 };
    const sae = createSae(cfg, (await initSae(cfg, cpu)).params);
    const base: EvalSaeSpec = { label: 'base', cfg, model: sae, hook: 'blocks.2.hook_resid_pre' };
    const { counts, tokens } = await firingCounts(model, base, windows, 3);
    assert.equal(tokens, 4 * (T - 1));
    let total = 0;
    for (const c of counts) total += c;
    assert.ok(Math.abs(total / tokens - 12) < 1e-9, 'TopK k=12 fires 12 per token');
    const choice = pruneForL0(counts, tokens, 7.5);
    const ones = cpu.fromArray(new Float32Array(cfg.dSae).fill(1), [cfg.dSae]);
    const mask = cpu.fromArray(choice.mask, [cfg.dSae]);
    const r = await evalSaes({
      model, windows, batchSize: 3, checkErrorTerm: false,
      saes: [base, { ...base, label: 'all kept', model: maskedSae(sae, ones) }, { ...base, label: 'pruned', model: maskedSae(sae, mask) }],
    });
    const [a, b, p] = r.saes;
    assert.deepEqual(b!.metrics, a!.metrics, 'removing no latent changes nothing');
    assert.ok(p!.metrics.l0 <= 7.5, `pruned L0 ${p!.metrics.l0}`);
    assert.ok(Math.abs(p!.metrics.l0 - choice.l0) < 1e-9, 'the predicted L0 is the measured one');
    assert.ok(choice.removed > 0);
  } finally {
    model.dispose();
  }
});
