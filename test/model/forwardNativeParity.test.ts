// The whole CPU forward with the native kernels (attention, layer norm, gelu, bias-in-sgemm) against
// the same forward on the plain TypeScript path (SAELAB_NO_BLAS=1), on a GPT-2-shaped random model
// sized so that every native split runs (several row blocks, (b, h) pairs, rows and gelu pieces
// over threads); and the same bits run to run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blasAddon, reloadBlas } from '../../src/compute/cpu/blas.js';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import { validateConfig } from '../../src/model/config.js';
import { GPT2_SMALL, randomHostWeights } from '../../src/model/forwardBench.js';
import { Transformer } from '../../src/model/transformer.js';
import { uploadWeights } from '../../src/model/weights.js';
import { assertClose } from '../helpers/assertClose.js';

const skip = blasAddon()?.attentionForward && blasAddon()?.layerNormForward ? false : 'the native addon is not built (or predates the forward kernels)';

test('CPU forward: native kernels match the plain TypeScript path and repeat bit for bit', { skip }, () => {
  const cfg = validateConfig({ ...GPT2_SMALL, nLayers: 2, dModel: 64, nHeads: 4, nKvHeads: 4, dHead: 16, dMlp: 256, vocabSize: 97, nCtx: 256, attnWindows: [null, null] }, 'small GPT-2');
  const [B, T] = [3, 150]; // 450 rows: layer-norm rows and 115k gelu elements split over threads; 12 (b, h) pairs; 3 row blocks
  const rng = new Rng(5);
  const ids = Int32Array.from({ length: B * T }, () => rng.int(cfg.vocabSize));
  const host = randomHostWeights(cfg, 3);
  // Non-zero biases, so the bias-in-sgemm path is checked too.
  for (const l of host.layers) for (const b of [l.b_Q, l.b_K, l.b_V, l.b_O, l.b_in, l.b_out]) if (b) b.data.set(rng.normalArray(b.data.length, 0.1));
  const run = () => {
    const model = Transformer.fromWeights(cfg, uploadWeights(host, cpu), cpu, 'small GPT-2');
    const res = model.forward(ids, [B, T], { keep: ['blocks.1.hook_resid_post'] });
    const out = { logits: Float32Array.from(res.logits!.data as Float32Array), resid: Float32Array.from(res.activations.get('blocks.1.hook_resid_post')!.data as Float32Array) };
    model.dispose();
    return out;
  };
  const native = run();
  assert.deepEqual(run(), native, 'run to run');
  const saved = process.env['SAELAB_NO_BLAS'];
  process.env['SAELAB_NO_BLAS'] = '1';
  let plain;
  try {
    assert.equal(reloadBlas().available, false);
    plain = run();
  } finally {
    if (saved === undefined) delete process.env['SAELAB_NO_BLAS'];
    else process.env['SAELAB_NO_BLAS'] = saved;
    reloadBlas();
  }
  assertClose(native.resid, plain.resid, { atol: 2e-5, rtol: 1e-4 }, 'blocks.1.hook_resid_post');
  assertClose(native.logits, plain.logits, { atol: 2e-5, rtol: 1e-4 }, 'logits');
});
