// downstreamErrors on the tiny random GPT-2 fixture: an exactly invertible SAE moves no later layer
// (relative error 0, cosine 1); a zero SAE's own-hook error is exactly 1; a random TopK SAE's
// numbers equal an independent float64 computation (own encoder, own splice, whole batch at once);
// several SAEs in one call equal each alone; a downstream hook before the SAE's is refused.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import type { PackedWindow } from '../../src/data/packTokens.js';
import { downstreamErrors, laterResidualHooks } from '../../src/eval/downstreamError.js';
import { EvalError } from '../../src/eval/errors.js';
import type { EvalSaeSpec } from '../../src/eval/evalSae.js';
import { Transformer } from '../../src/model/transformer.js';
import { createSae, initSaeParams } from '../../src/sae/initSae.js';
import type { SaeConfig } from '../../src/sae/types.js';
import { ASSETS, needsAsset } from '../io/assets.js';

const skip = needsAsset('fixtures/gpt2-tiny-random');
const HOOK = 'blocks.1.hook_resid_pre';
const D = 64;
let lm: Transformer;

before(async () => {
  if (!skip) lm = await Transformer.load(join(ASSETS, 'fixtures/gpt2-tiny-random'), cpu);
});

/** `n` windows of T random ids, position 0 excluded (as BOS). */
function randomWindows(n: number, T: number, seed: number): PackedWindow[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const exclude = new Uint8Array(T);
    exclude[0] = 1;
    return { ids: Int32Array.from({ length: T }, () => rng.int(1000)), exclude };
  });
}

/** A standard SAE with W_enc = [I, −I], W_dec = [I; −I] (x̂ = x exactly), or with W_dec = 0 (x̂ = 0). */
function fixedSae(kind: 'identity' | 'zero'): EvalSaeSpec {
  const we = new Float32Array(D * 2 * D);
  const wd = new Float32Array(2 * D * D);
  for (let j = 0; j < D; j++) {
    we[j * 2 * D + j] = 1;
    we[j * 2 * D + D + j] = -1;
    if (kind === 'identity') {
      wd[j * D + j] = 1;
      wd[(D + j) * D + j] = -1;
    }
  }
  const cfg: SaeConfig = { architecture: 'standard', dIn: D, dSae: 2 * D, applyBDecToInput: false, decoderUnitNorm: false, normalizeActivations: 'none', seed: 0 };
  const params = { W_enc: cpu.fromArray(we, [D, 2 * D]), b_enc: cpu.zeros([2 * D]), W_dec: cpu.fromArray(wd, [2 * D, D]), b_dec: cpu.zeros([D]) };
  return { label: kind, cfg, model: createSae(cfg, params), hook: HOOK };
}

/** A random TopK SAE with non-zero biases and a normalisation factor, and its weights on the host. */
async function topkSae(seed: number, factor: number) {
  const dSae = 48;
  const cfg: SaeConfig = { architecture: 'topk', dIn: D, dSae, k: 5, applyBDecToInput: true, decoderUnitNorm: true, normalizeActivations: 'expected_average_only_in', seed };
  const params = await initSaeParams(cfg, cpu, { decoderNorm: 1 });
  const rng = new Rng(seed + 100);
  params.b_dec = cpu.fromArray(rng.normalArray(D, 0.1), [D]);
  params.b_enc = cpu.fromArray(rng.normalArray(dSae, 0.1), [dSae]);
  const host = { we: params.W_enc.data as Float32Array, be: params.b_enc.data as Float32Array, wd: params.W_dec.data as Float32Array, bd: params.b_dec.data as Float32Array };
  const spec: EvalSaeSpec = { label: `topk-${seed}`, cfg, model: createSae(cfg, params), hook: HOOK, normScalingFactor: factor };
  /** x̂ of one row in float64, model units. */
  const xHat = (x: Float32Array): Float64Array => {
    const pre = new Float64Array(dSae);
    for (let i = 0; i < dSae; i++) {
      let v = host.be[i]!;
      for (let j = 0; j < D; j++) v += (x[j]! * factor - host.bd[j]!) * host.we[j * dSae + i]!;
      pre[i] = v;
    }
    const top = Array.from(pre.keys()).sort((a, b) => pre[b]! - pre[a]! || a - b).slice(0, 5);
    const out = Float64Array.from(host.bd);
    for (const i of top) for (let j = 0; j < D; j++) out[j]! += Math.max(0, pre[i]!) * host.wd[i * D + j]!;
    return out.map((v) => v / factor);
  };
  return { spec, xHat };
}

const rel = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

test('laterResidualHooks: every resid_post after the hook, in order', { skip }, () => {
  assert.deepEqual(laterResidualHooks(HOOK, lm.config), ['blocks.1.hook_resid_post', 'blocks.2.hook_resid_post']);
  assert.deepEqual(laterResidualHooks('blocks.1.hook_resid_post', lm.config), ['blocks.2.hook_resid_post']);
  assert.deepEqual(laterResidualHooks('blocks.0.hook_mlp_out', lm.config), ['blocks.0.hook_resid_post', 'blocks.1.hook_resid_post', 'blocks.2.hook_resid_post']);
});

test('an exact SAE moves no later layer; a zero SAE has own-hook error 1', { skip }, async () => {
  const windows = randomWindows(3, 10, 1);
  const [id, zero] = await downstreamErrors({ model: lm, saes: [fixedSae('identity'), fixedSae('zero')], windows, batchSize: 2 });
  assert.deepEqual(id!.rows.map((r) => r.hook), [HOOK, 'blocks.1.hook_resid_post', 'blocks.2.hook_resid_post']);
  assert.equal(id!.tokens, 3 * 9);
  for (const r of id!.rows) {
    assert.equal(r.relative_error, 0, r.hook);
    assert.equal(r.mse, 0, r.hook);
    rel(r.cosine, 1, 1e-6, r.hook);
  }
  assert.equal(zero!.rows[0]!.relative_error, 1);
  assert.ok(zero!.rows[1]!.relative_error > 0 && zero!.rows[2]!.relative_error > 0, 'zeroing the hook changes later layers');
});

test('a random TopK SAE matches an independent float64 computation', { skip }, async () => {
  const T = 12;
  const windows = randomWindows(4, T, 2);
  const { spec, xHat } = await topkSae(3, 1.7);
  const [r] = await downstreamErrors({ model: lm, saes: [spec], windows, batchSize: 3 });

  const B = windows.length;
  const ids = new Int32Array(B * T);
  windows.forEach((w, b) => ids.set(w.ids, b * T));
  const hooks = [HOOK, 'blocks.1.hook_resid_post', 'blocks.2.hook_resid_post'];
  const clean = lm.forward(ids, [B, T], { keep: hooks });
  const cleanHost = new Map<string, Float32Array>();
  for (const h of hooks) cleanHost.set(h, ((await clean.activations.get(h)!.read()) as Float32Array).slice());
  const x = cleanHost.get(HOOK)!;
  const spliced = x.slice();
  for (let p = 0; p < B * T; p++) if (p % T !== 0) spliced.set(xHat(x.subarray(p * D, (p + 1) * D)), p * D);
  const out = lm.forward(ids, [B, T], { hooks: { [HOOK]: () => cpu.fromArray(spliced, [B, T, D]) }, keep: hooks });
  for (const [i, h] of hooks.entries()) {
    const a = cleanHost.get(h)!;
    const s = (await out.activations.get(h)!.read()) as Float32Array;
    let err = 0;
    let energy = 0;
    for (let p = 0; p < B * T; p++) {
      if (p % T === 0) continue;
      for (let j = 0; j < D; j++) {
        err += (s[p * D + j]! - a[p * D + j]!) ** 2;
        energy += a[p * D + j]! ** 2;
      }
    }
    rel(r!.rows[i]!.relative_error, err / energy, 1e-4, `relative_error ${h}`);
    rel(r!.rows[i]!.mse, err / (B * (T - 1)), 1e-4, `mse ${h}`);
    assert.ok(r!.rows[i]!.relative_error > 1e-4, `a random SAE moves ${h}`);
  }
});

test('several SAEs in one call give what each gives alone (batching: rounding only); explicit hooks; bad order refused', { skip }, async () => {
  const windows = randomWindows(5, 8, 4);
  const a = (await topkSae(5, 1)).spec;
  const b = { ...(await topkSae(6, 2)).spec, hook: 'blocks.0.hook_resid_post' };
  const both = await downstreamErrors({ model: lm, saes: [a, b], windows, batchSize: 2 });
  const aAlone = await downstreamErrors({ model: lm, saes: [a], windows, batchSize: 5 });
  const bAlone = await downstreamErrors({ model: lm, saes: [b], windows, batchSize: 1 });
  for (const [x, y] of [[both[0]!, aAlone[0]!], [both[1]!, bAlone[0]!]] as const) {
    assert.equal(x.rows.length, y.rows.length);
    x.rows.forEach((r, i) => rel(r.relative_error, y.rows[i]!.relative_error, 1e-6, `${x.label} ${r.hook}`));
  }
  const only = await downstreamErrors({ model: lm, saes: [a], windows, hooks: ['blocks.2.hook_resid_post'] });
  assert.deepEqual(only[0]!.rows.map((r) => r.hook), [HOOK, 'blocks.2.hook_resid_post']);
  rel(only[0]!.rows[1]!.relative_error, aAlone[0]!.rows[2]!.relative_error, 1e-6, 'explicit hook');
  await assert.rejects(downstreamErrors({ model: lm, saes: [a], windows, hooks: ['blocks.0.hook_resid_post'] }), (e: unknown) => e instanceof EvalError && /does not come after/.test((e as Error).message));
});
