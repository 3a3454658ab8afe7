// GPT-J, Qwen2, Gemma, Gemma-2 and Mistral: tiny random models written as HF folders (config.json +
// model.safetensors) and loaded through the normal path, against the float64 reference of
// familyReference.ts (logits or rewards and every hook within 1e-4); hook and parameter gradients
// against finite differences of the forward; what WebGPU refuses; and bad configs as one-line
// ModelErrors, exit 2 from the CLI.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { add } from '../../src/compute/ops/elementwise.js';
import { Rng } from '../../src/compute/random.js';
import type { Tensor } from '../../src/compute/tensor.js';
import { writeSafetensors } from '../../src/io/safetensorsWrite.js';
import { backward, NEXT_TOKEN_CE, type Objective } from '../../src/model/backward.js';
import { parseHfConfig } from '../../src/model/config.js';
import { meanNextTokenCE, Transformer } from '../../src/model/transformer.js';
import { listWeights } from '../../src/model/weights.js';
import { saelab, userLines } from '../helpers/cli.js';
import { gpuOrSkip } from '../helpers/gpu.js';
import { tempDir } from '../io/assets.js';
import { FAMILIES, hfConfig, hfWeights, PAD, referenceForward, VOCAB, type Family, type Head, type HfTensors } from './familyReference.js';

const { gpu, skip: gpuSkip } = await gpuOrSkip();
const TOL = 1e-4;
const [B, T] = [2, 7];

/** Write an HF folder; returns its path and a cleanup. */
async function writeFolder(config: Record<string, unknown>, tensors: HfTensors): Promise<{ dir: string; cleanup: () => void }> {
  const t = tempDir();
  writeFileSync(join(t.dir, 'config.json'), JSON.stringify(config));
  await writeSafetensors(join(t.dir, 'model.safetensors'), new Map([...tensors].map(([n, v]) => [n, { dtype: 'F32' as const, shape: v.shape, data: v.data }])));
  return t;
}

/** Token ids [B, T] in [1, VOCAB); for a classifier, row 1 right-padded by two pad tokens. */
function inputIds(seed: number, padded: boolean): Int32Array {
  const rng = new Rng(seed);
  const ids = Int32Array.from({ length: B * T }, () => 1 + rng.int(VOCAB - 1));
  if (padded) ids[2 * T - 1] = ids[2 * T - 2] = PAD;
  return ids;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = d;
  }
  return m;
}

test('the family configs map to the switches of the one block', () => {
  const gptj = parseHfConfig(hfConfig('gptj', 'lm'));
  assert.equal(gptj.family, 'gptj');
  assert.deepEqual([gptj.parallelResidual, gptj.sharedNorm, gptj.ropeInterleaved, gptj.rotaryDim, gptj.unembedBias, gptj.norm], [true, true, true, 4, true, 'layer']);
  const qwen2 = parseHfConfig(hfConfig('qwen2', 'cls'));
  assert.deepEqual([qwen2.head, qwen2.attnBias, qwen2.attnOutBias, qwen2.attnWindows], ['sequence-classification', true, false, [null, 3, 3]]);
  const gemma = parseHfConfig(hfConfig('gemma', 'lm'));
  assert.deepEqual([gemma.gatedMlp, gemma.activation, gemma.normPlusOne, gemma.tiedEmbeddings, gemma.dHead, gemma.nKvHeads], [true, 'gelu_new', true, true, 8, 1]);
  assert.equal(gemma.embedScale, Math.fround(Math.sqrt(24)));
  const gemma2 = parseHfConfig(hfConfig('gemma2', 'lm'));
  assert.deepEqual([gemma2.postNorms, gemma2.attnSoftcap, gemma2.finalSoftcap, gemma2.attnWindows], [true, 1, 2, [3, null, 3]]);
  assert.equal(gemma2.attnScale, 12 ** -0.5);
  assert.equal(parseHfConfig(hfConfig('gemma2', 'cls')).finalSoftcap, null, 'a classifier reads hidden states: no final soft-capping');
  const mistral = parseHfConfig(hfConfig('mistral', 'lm'));
  assert.deepEqual([mistral.attnWindows, mistral.dHead, mistral.attnBias], [[3, 3], 8, false]);
  assert.deepEqual(parseHfConfig({ ...hfConfig('mistral', 'lm'), sliding_window: null }).attnWindows, [null, null]);
  assert.deepEqual(parseHfConfig({ ...hfConfig('qwen2', 'lm'), use_sliding_window: false }).attnWindows, [null, null, null]);
  assert.deepEqual(parseHfConfig({ ...hfConfig('gemma2', 'lm'), layer_types: ['full_attention', 'sliding_attention', 'full_attention'] }).attnWindows, [null, 3, null]);
});

for (const fam of FAMILIES) {
  for (const head of ['lm', 'cls'] as Head[]) {
    test(`${fam} ${head === 'lm' ? 'causal LM' : 'sequence classifier'} on cpu: ${head === 'lm' ? 'logits' : 'rewards'} and every hook match the float64 reference within ${TOL}`, async (t) => {
      const numLabels = head === 'cls' ? 2 : 1;
      const tensors = hfWeights(fam, head, 100 + FAMILIES.indexOf(fam), numLabels);
      const { dir, cleanup } = await writeFolder(hfConfig(fam, head, numLabels), tensors);
      try {
        const model = await Transformer.load(dir, cpu);
        const ids = inputIds(7, head === 'cls');
        const ref = referenceForward(fam, head, tensors, ids, B, T, numLabels);
        const names = model.hookNames();
        assert.deepEqual([...names].sort(), [...ref.hooks.keys()].sort(), 'the same hook names (no resid_mid for GPT-J)');
        const r = model.forward(ids, [B, T], { keep: names });
        let worst = 0;
        const check = (key: string, got: ArrayLike<number>, want: ArrayLike<number>) => {
          const e = maxAbsDiff(got, want);
          worst = Math.max(worst, e);
          assert.ok(e <= TOL, `${fam} ${head} ${key}: max abs error ${e}`);
        };
        for (const n of names) check(n, r.activations.get(n)!.data as Float32Array, ref.hooks.get(n)!);
        if (head === 'lm') check('logits', r.logits!.data as Float32Array, ref.logits!);
        else {
          assert.deepEqual(r.rewards!.shape, [B, numLabels]);
          check('rewards', r.rewards!.data as Float32Array, ref.rewards!);
        }
        t.diagnostic(`${fam} ${head}: max abs error ${worst.toExponential(2)}`);
        model.dispose();
      } finally {
        cleanup();
      }
    });
  }
}

/** Directional finite difference of f along D (central, step eps) vs ⟨G, D⟩. */
async function directional(f: (s: number) => Promise<number>, expected: number, what: string, eps: number, rel = 1e-2): Promise<void> {
  const num = ((await f(eps)) - (await f(-eps))) / (2 * eps);
  assert.ok(Math.abs(num - expected) <= rel * Math.abs(expected) + 1e-6, `${what}: backward ⟨G, D⟩ = ${expected}, finite difference ${num}`);
}

// The parameters each family adds or changes, checked by finite differences (besides the hook).
const PARAMS: Record<Family, string[]> = {
  gptj: ['blocks.0.ln1.w', 'blocks.0.ln1.b', 'blocks.0.attn.W_Q', 'blocks.0.attn.W_K', 'blocks.1.mlp.W_in', 'blocks.1.mlp.b_in', 'unembed', 'unembed_b', 'embed'],
  qwen2: ['blocks.1.attn.b_Q', 'blocks.1.attn.b_K', 'blocks.1.attn.b_V', 'blocks.1.attn.W_Q', 'blocks.2.mlp.W_gate', 'ln_final.w'],
  gemma: ['blocks.0.ln1.w', 'blocks.0.mlp.W_gate', 'blocks.1.mlp.W_in', 'blocks.1.attn.W_K', 'ln_final.w', 'embed'],
  gemma2: ['blocks.0.ln1_post.w', 'blocks.0.ln2_post.w', 'blocks.1.ln1_post.w', 'blocks.0.ln2.w', 'blocks.0.attn.W_Q', 'blocks.1.attn.W_K', 'blocks.2.mlp.W_gate', 'embed'],
  mistral: ['blocks.0.attn.W_Q', 'blocks.0.attn.W_V', 'blocks.1.mlp.W_gate', 'blocks.1.ln2.w'],
};

for (const fam of FAMILIES) {
  for (const head of ['lm', 'cls'] as Head[]) {
    test(`${fam} ${head}: the gradient at blocks.0.hook_resid_pre and of the parameters match finite differences (cpu)`, async () => {
      const tensors = hfWeights(fam, head, 200 + FAMILIES.indexOf(fam));
      const { dir, cleanup } = await writeFolder(hfConfig(fam, head), tensors);
      try {
        const model = await Transformer.load(dir, cpu);
        const ids = inputIds(11, head === 'cls');
        const objective: Objective = head === 'lm' ? NEXT_TOKEN_CE : { kind: 'rewards', coefficients: [1, -1] };
        const valueOf = async (hooks?: Record<string, (x: Tensor) => Tensor>): Promise<number> => {
          const r = model.forward(ids, [B, T], { hooks });
          if (head === 'lm') return meanNextTokenCE(r.logits!, ids, [B, T]);
          return r.rewards!.data[0]! - r.rewards!.data[1]!;
        };
        const hook = 'blocks.0.hook_resid_pre';
        const r = model.forward(ids, [B, T], { grad: true });
        const { grad, params } = backward(model, r.cache!, objective, { to: hook, embeddings: true });
        assert.deepEqual([...params.keys()].sort(), listWeights(model.weights).map(([n]) => n).sort(), 'every parameter has a gradient');
        const rng = new Rng(3);
        // The hook: along a random unit direction u.
        const n = B * T * model.config.dModel;
        const u = rng.normalArray(n);
        const un = Math.hypot(...u);
        const G = grad.data as Float32Array;
        let expected = 0;
        for (let i = 0; i < n; i++) expected += (G[i]! * u[i]!) / un;
        await directional((s) => valueOf({ [hook]: (x) => add(x, cpu.fromArray(Float32Array.from(u, (v) => (s * v) / un), x.shape)) }), expected, `${fam} ${head} ${hook}`, 1e-2, 2e-2);
        // Parameters: along G/|G| + a random unit direction.
        const weights = new Map(listWeights(model.weights));
        for (const pn of PARAMS[fam]) {
          if (head === 'cls' && pn.startsWith('unembed')) continue;
          const wt = weights.get(pn)!.data as Float32Array;
          const g = params.get(pn)!.data as Float32Array;
          const gn = Math.hypot(...g);
          const noise = rng.normalArray(wt.length);
          const nn = Math.hypot(...noise);
          const Dir = Float64Array.from(g, (v, i) => (gn > 0 ? v / gn : 0) + noise[i]! / nn);
          let exp = 0;
          for (let i = 0; i < wt.length; i++) exp += g[i]! * Dir[i]!;
          const w0 = wt.slice();
          const eps = 2e-3 / Math.max(Math.abs(exp), 1e-3);
          await directional(async (s) => {
            for (let i = 0; i < wt.length; i++) wt[i] = w0[i]! + s * Dir[i]!;
            return valueOf();
          }, exp, `${fam} ${head} ${pn}`, eps);
          wt.set(w0);
        }
        r.cache!.dispose();
        model.dispose();
      } finally {
        cleanup();
      }
    });
  }
}

test('WebGPU: GPT-J, Gemma, and Mistral within its window match the reference; soft-capping and windows shorter than the input are refused with a line', { skip: gpuSkip }, async () => {
  for (const [fam, shape] of [['gptj', [B, T]], ['gemma', [B, T]], ['mistral', [1, 3]]] as [Family, [number, number]][]) {
    const tensors = hfWeights(fam, 'lm', 300);
    const { dir, cleanup } = await writeFolder(hfConfig(fam, 'lm'), tensors);
    try {
      const model = await Transformer.load(dir, gpu!);
      const ids = inputIds(5, false).subarray(0, shape[0] * shape[1]);
      const ref = referenceForward(fam, 'lm', tensors, ids, shape[0], shape[1]);
      const r = model.forward(ids, shape, { keep: ['blocks.1.hook_mlp_out'] });
      const e = Math.max(maxAbsDiff((await r.logits!.read()) as Float32Array, ref.logits!), maxAbsDiff((await r.activations.get('blocks.1.hook_mlp_out')!.read()) as Float32Array, ref.hooks.get('blocks.1.hook_mlp_out')!));
      assert.ok(e <= TOL, `${fam} on webgpu: max abs error ${e}`);
      model.dispose();
    } finally {
      cleanup();
    }
  }
  const g2 = await writeFolder(hfConfig('gemma2', 'lm'), hfWeights('gemma2', 'lm', 1));
  try {
    await assert.rejects(Transformer.load(g2.dir, gpu!), (e: Error) => e.name === 'ModelError' && /soft-capping runs on the CPU only/.test(e.message));
  } finally {
    g2.cleanup();
  }
  const mi = await writeFolder(hfConfig('mistral', 'lm'), hfWeights('mistral', 'lm', 1));
  try {
    const model = await Transformer.load(mi.dir, gpu!);
    assert.throws(() => model.forward(inputIds(1, false), [B, T]), (e: Error) => e.name === 'ModelError' && /sliding window of 3/.test(e.message));
    model.dispose();
  } finally {
    mi.cleanup();
  }
});

// ---- bad input ------------------------------------------------------------------------------------

test('configs that would change the maths unimplemented are refused, never approximated', () => {
  const err = (raw: Record<string, unknown>) => {
    try {
      parseHfConfig(raw, 'm/config.json');
    } catch (e) {
      assert.equal((e as Error).name, 'ModelError');
      assert.doesNotMatch((e as Error).message, /\n/);
      return (e as Error).message;
    }
    return assert.fail(`accepted ${JSON.stringify(raw)}`);
  };
  assert.match(err({ ...hfConfig('mistral', 'lm'), rope_scaling: { type: 'yarn', factor: 4 } }), /rope_type "yarn" is not supported/);
  assert.match(err({ ...hfConfig('qwen2', 'lm'), rope_scaling: { rope_type: 'dynamic', factor: 2 } }), /rope_type "dynamic"/);
  assert.match(err({ ...hfConfig('gemma2', 'lm'), layer_types: ['sliding_attention', 'chunked_attention', 'full_attention'] }), /layer_types\[1\] "chunked_attention" is not supported/);
  assert.match(err({ ...hfConfig('gemma', 'lm'), use_bidirectional_attention: true }), /bidirectional/);
  assert.match(err({ ...hfConfig('gemma', 'lm'), hidden_activation: 'mish' }), /hidden_activation/);
  assert.match(err({ ...hfConfig('gptj', 'lm'), rotary_dim: 5 }), /rotary dims 5 must be even/);
  assert.match(err({ ...hfConfig('gptj', 'lm'), rotary_dim: null }), /without "rotary_dim".*4 heads/);
  assert.match(err({ ...hfConfig('mistral', 'lm'), sliding_window: 0 }), /sliding_window/);
  const arch = err({ architectures: ['Phi3ForCausalLM'], model_type: 'phi3' });
  for (const a of ['GPTJForCausalLM', 'Qwen2ForSequenceClassification', 'GemmaForCausalLM', 'Gemma2ForSequenceClassification', 'MistralForCausalLM']) assert.match(arch, new RegExp(a));
});

test('saelab forward on a folder with an unknown rope scaling, an unsupported architecture or a missing tensor: one line, exit 2', async () => {
  const cases: [Record<string, unknown>, (t: HfTensors) => void, RegExp][] = [
    [{ ...hfConfig('mistral', 'lm'), rope_scaling: { type: 'longrope', factor: 4 } }, () => {}, /rope_type "longrope" is not supported/],
    [{ ...hfConfig('qwen2', 'lm'), architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3' }, () => {}, /unsupported architecture "Qwen3ForCausalLM"; supported: .*Qwen2ForCausalLM/],
    [hfConfig('gemma2', 'lm'), (t) => t.delete('model.layers.1.post_feedforward_layernorm.weight'), /model\.layers\.1\.post_feedforward_layernorm\.weight/],
    [hfConfig('gptj', 'lm'), (t) => t.set('lm_head.bias', { shape: [VOCAB + 1], data: new Float32Array(VOCAB + 1) }), /"lm_head\.bias" has shape \[51\], expected \[50\]/],
  ];
  for (const [config, spoil, want] of cases) {
    const tensors = hfWeights('mistral', 'lm', 1);
    const fam = (config['model_type'] === 'qwen3' ? 'qwen2' : config['model_type']) as Family;
    const ts = fam === 'mistral' ? tensors : hfWeights(fam, 'lm', 1);
    spoil(ts);
    const { dir, cleanup } = await writeFolder(config, ts);
    try {
      const r = await saelab(['forward', '--model', dir, '--ids', '1,2,3', '--device', 'cpu', '--json']);
      assert.equal(r.code, 2, r.stderr);
      const lines = userLines(r.stderr).filter((l) => !l.startsWith('device:'));
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, want);
      assert.doesNotMatch(r.stderr, /\bat .*\.js:\d+/);
    } finally {
      cleanup();
    }
  }
});
