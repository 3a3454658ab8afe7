// The transformer against HF: the golden fixtures (logits or rewards, every hook, CE loss) on the
// CPU and on WebGPU, the real llama2.c stories260K (greedy ids, top logits), the bf16 sharded
// gpt2-corpus-tiny (loads, sensible loss and continuation), and bad inputs.

import assert from 'node:assert/strict';
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { encode, decode } from 'gpt-3-encoder';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import type { Device } from '../../src/compute/device.js';
import { add } from '../../src/compute/ops/elementwise.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { parseHfConfig } from '../../src/model/config.js';
import { ModelError } from '../../src/model/errors.js';
import { meanNextTokenCE, Transformer } from '../../src/model/transformer.js';
import { gpuOrSkip } from '../helpers/gpu.js';
import { ASSETS, needsAsset, tempDir } from '../io/assets.js';

const { gpu, skip: gpuSkip } = await gpuOrSkip();
const FIXTURES = ['gpt2-tiny-random', 'pythia-tiny-random', 'llama-tiny-random', 'gpt2-rm-tiny-random'];
const devices: [string, Device | null, false | string][] = [
  ['cpu', cpu, false],
  ['webgpu', gpu, gpuSkip],
];

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = d; // NaN propagates
  }
  return m;
}

interface Golden {
  keys: Record<string, number[]>;
  tensors: Map<string, Float32Array>;
  ids: Int32Array;
}

async function readGolden(dir: string): Promise<Golden> {
  const meta = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as { keys: Record<string, number[]> };
  const f = await SafetensorsFile.open(join(dir, 'golden.safetensors'));
  const tensors = new Map<string, Float32Array>();
  let ids = new Int32Array();
  for (const k of Object.keys(meta.keys)) {
    if (k === 'input_ids') ids = Int32Array.from((await f.readTyped(k)) as Int32Array);
    else tensors.set(k, await f.readF32(k));
  }
  await f.close();
  return { keys: meta.keys, tensors, ids };
}

const TOL = 1e-4;

for (const [kind, dev, devSkip] of devices) {
  for (const name of FIXTURES) {
    const rel = `fixtures/${name}`;
    const skip = needsAsset(rel) || devSkip;
    test(`${name} on ${kind}: outputs, every hook and the CE loss match HF within ${TOL}`, { skip }, async (t) => {
      const dir = join(ASSETS, rel);
      const golden = await readGolden(dir);
      const model = await Transformer.load(dir, dev!);
      const [B, T] = golden.keys['input_ids'] as [number, number];
      const hookKeys = Object.keys(golden.keys).filter((k) => k.startsWith('blocks.') || k.startsWith('ln_final.'));
      const r = model.forward(golden.ids, [B, T], { keep: hookKeys });
      const errors: string[] = [];
      let worst = 0;
      const check = (key: string, got: ArrayLike<number>) => {
        const e = maxAbsDiff(got, golden.tensors.get(key)!);
        worst = Math.max(worst, e);
        errors.push(`${key} ${e.toExponential(2)}`);
        assert.ok(e <= TOL, `${name} ${kind} ${key}: max abs error ${e} > ${TOL}`);
      };
      const out = r.logits ?? r.rewards!;
      assert.deepEqual(out.shape, golden.keys[r.logits ? 'logits' : 'rewards']);
      check(r.logits ? 'logits' : 'rewards', (await out.read()) as Float32Array);
      for (const k of hookKeys) {
        const a = r.activations.get(k)!;
        assert.deepEqual(a.shape, golden.keys[k], k);
        check(k, (await a.read()) as Float32Array);
      }
      if (r.logits && golden.tensors.has('ce_loss')) {
        const loss = await meanNextTokenCE(r.logits, golden.ids, [B, T]);
        check('ce_loss', [loss]);
      }
      t.diagnostic(`${name} ${kind}: max abs error ${worst.toExponential(2)} (${errors.join(', ')})`);
      model.dispose();
    });
  }
}

// ---- hooks: read, replace, add, stop --------------------------------------------------------------

test('hooks: add zero and replace-with-itself leave logits unchanged; stopAt returns activations only', { skip: needsAsset('fixtures/gpt2-tiny-random') }, async () => {
  const model = await Transformer.load(join(ASSETS, 'fixtures/gpt2-tiny-random'), cpu);
  const ids = Int32Array.from({ length: 10 }, (_, i) => (i * 37) % 1000);
  const base = model.forward(ids, [2, 5]).logits!.data as Float32Array;
  const seen: string[] = [];
  const hooked = model.forward(ids, [2, 5], {
    hooks: {
      'blocks.1.hook_resid_pre': (x) => add(x, cpu.zeros([x.shape[2]!])),
      'blocks.2.hook_mlp_out': (x, n) => {
        seen.push(n);
      },
    },
  });
  assert.deepEqual([...(hooked.logits!.data as Float32Array)], [...base]);
  assert.deepEqual(seen, ['blocks.2.hook_mlp_out']);
  const stopped = model.forward(ids, [2, 5], { stopAt: 'blocks.1.hook_attn_out', keep: ['blocks.0.hook_resid_post', 'blocks.1.hook_attn_out'] });
  assert.equal(stopped.logits, undefined);
  assert.deepEqual([...stopped.activations.keys()].sort(), ['blocks.0.hook_resid_post', 'blocks.1.hook_attn_out']);
  assert.throws(() => model.forward(ids, [2, 5], { stopAt: 'blocks.0.hook_mlp_out', keep: ['blocks.2.hook_resid_pre'] }), /would never be computed/);
  // Adding a delta at a hook changes everything downstream and nothing upstream.
  // (Not a constant: LayerNorm would remove it.)
  const delta = cpu.fromArray(Float32Array.from({ length: 64 }, (_, j) => (j === 7 ? 0.5 : 0)));
  const pushed = model.forward(ids, [2, 5], { hooks: { 'blocks.2.hook_resid_pre': (x) => add(x, delta) }, keep: ['blocks.1.hook_resid_post', 'blocks.2.hook_resid_pre'] });
  const plain = model.forward(ids, [2, 5], { keep: ['blocks.1.hook_resid_post', 'blocks.2.hook_resid_pre'] });
  assert.deepEqual([...pushed.activations.get('blocks.1.hook_resid_post')!.data], [...plain.activations.get('blocks.1.hook_resid_post')!.data]);
  const a = pushed.activations.get('blocks.2.hook_resid_pre')!.data;
  const b = plain.activations.get('blocks.2.hook_resid_pre')!.data;
  assert.ok(Math.abs(a[7]! - b[7]! - 0.5) < 1e-6);
  assert.ok(maxAbsDiff(pushed.logits!.data, base) > 1e-3);
});

test('a reward model reads each row at its last non-pad token (right padding changes nothing)', { skip: needsAsset('fixtures/gpt2-rm-tiny-random') }, async () => {
  const model = await Transformer.load(join(ASSETS, 'fixtures/gpt2-rm-tiny-random'), cpu);
  const pad = model.config.padTokenId!;
  assert.equal(pad, 999);
  const a = [5, 17, 400, 23];
  const b = [8, 9, 10, 11, 12, 13];
  const alone = [model.forward(Int32Array.from(a), [1, 4]).rewards!.data[0]!, model.forward(Int32Array.from(b), [1, 6]).rewards!.data[0]!];
  const batch = model.forward(Int32Array.from([...a, pad, pad, ...b]), [2, 6]).rewards!;
  assert.deepEqual(batch.shape, [2, 1]);
  assert.ok(Math.abs(batch.data[0]! - alone[0]) < 1e-5 && Math.abs(batch.data[1]! - alone[1]) < 1e-5, `${[...batch.data]} vs ${alone}`);
});

// ---- llama2.c stories260K ---------------------------------------------------------------------------

const STORIES = 'models/stories260k';
for (const [kind, dev, devSkip] of devices) {
  test(`stories260K on ${kind}: greedy 30 ids from BOS and the top-5 logits after BOS match llama2.c`, { skip: needsAsset(STORIES) || devSkip }, async () => {
    const golden = JSON.parse(readFileSync(join(ASSETS, STORIES, 'golden.json'), 'utf8')) as {
      greedy_ids_from_bos_30: number[];
      logits_after_bos_top5: [number, number, string][];
    };
    const model = await Transformer.load(join(ASSETS, STORIES, 'stories260K.bin'), dev!);
    assert.equal(model.config.nLayers, 5);
    assert.equal(model.config.nKvHeads, 4);
    const { logits } = model.forward(Int32Array.of(1), [1, 1]);
    const l = (await logits!.read()) as Float32Array;
    const top = [...l.keys()].sort((a, b) => l[b]! - l[a]!).slice(0, 5);
    assert.deepEqual(top, golden.logits_after_bos_top5.map((g) => g[0]));
    for (const [id, value] of golden.logits_after_bos_top5) assert.ok(Math.abs(l[id]! - value) <= 1e-3, `logit ${id}: ${l[id]} vs ${value}`);
    const ids = await model.greedy(Int32Array.of(1), 30);
    assert.deepEqual([...ids], golden.greedy_ids_from_bos_30);
    model.dispose();
  });
}

// ---- gpt2-corpus-tiny: bf16, two shards ---------------------------------------------------------

test('gpt2-corpus-tiny (bf16, 2 shards) loads; its loss on plain English is low and its greedy continuation varied', { skip: needsAsset('models/gpt2-corpus-tiny') }, async (t) => {
  const model = await Transformer.load(join(ASSETS, 'models/gpt2-corpus-tiny'), cpu);
  assert.equal(model.config.nLayers, 6);
  assert.equal(model.config.vocabSize, 50257);
  const text = 'The President of the United States shall be Commander in Chief of the Army and Navy of the United States, and of the Militia of the several States.';
  const ids = Int32Array.from(encode(text));
  const loss = await model.nextTokenLoss(ids, [1, ids.length]);
  t.diagnostic(`loss ${loss.toFixed(3)} nats/token on ${ids.length} tokens`);
  assert.ok(loss < 5.5, `loss ${loss}: a trained model should be far below log(50257) = 10.8`);
  const prompt = Int32Array.from(encode('The Congress of the United States'));
  const out = await model.greedy(prompt, 20);
  const cont = [...out.subarray(prompt.length)];
  t.diagnostic(`greedy: ${JSON.stringify(decode(cont))}`);
  assert.equal(cont.length, 20);
  // A 12M-parameter model loops under greedy decoding (", and the United States, and …"); degenerate
  // is one token over and over, or garbage ids.
  const counts = new Map<number, number>();
  for (const c of cont) counts.set(c, (counts.get(c) ?? 0) + 1);
  assert.ok(counts.size >= 4 && Math.max(...counts.values()) <= cont.length / 2, `degenerate continuation ${cont}`);
  model.dispose();
});

// ---- bad inputs ---------------------------------------------------------------------------------

test('an unknown architecture is a ModelError listing the supported ones', () => {
  const e = (() => {
    try {
      parseHfConfig({ architectures: ['BertForMaskedLM'], model_type: 'bert' }, 'bert/config.json');
    } catch (err) {
      return err as Error;
    }
    return null;
  })();
  assert.ok(e instanceof ModelError);
  assert.equal(e.name, 'ModelError');
  assert.match(e.message, /BertForMaskedLM/);
  for (const a of ['GPT2LMHeadModel', 'GPTNeoXForCausalLM', 'LlamaForSequenceClassification']) assert.match(e.message, new RegExp(a));
  assert.throws(() => parseHfConfig({ architectures: ['LlamaForCausalLM'], rope_parameters: { rope_type: 'llama3', rope_theta: 5e5 } }), /rope_type "llama3" is not supported/);
});

test('a weight whose shape disagrees with the config names the tensor and both shapes', { skip: needsAsset('fixtures/gpt2-tiny-random') }, async () => {
  const src = join(ASSETS, 'fixtures/gpt2-tiny-random');
  const { dir, cleanup } = tempDir();
  try {
    const config = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, n_inner: 128 }));
    symlinkSync(join(src, 'model.safetensors'), join(dir, 'model.safetensors'));
    await assert.rejects(Transformer.load(dir, cpu), (e: Error) => {
      assert.equal(e.name, 'ModelError');
      assert.match(e.message, /"transformer\.h\.0\.mlp\.c_fc\.weight" has shape \[64,256\], expected \[64,128\]/);
      return true;
    });
  } finally {
    cleanup();
  }
});

test('token ids outside the vocabulary, inputs past the context and unknown hooks are ModelErrors that say why', { skip: needsAsset('fixtures/pythia-tiny-random') }, async () => {
  const model = await Transformer.load(join(ASSETS, 'fixtures/pythia-tiny-random'), cpu);
  assert.throws(() => model.forward(Int32Array.of(5, 1000, 7), [1, 3]), (e: Error) => e.name === 'ModelError' && /token id 1000 \(row 0, position 1\).*\[0, 1000\)/.test(e.message));
  assert.throws(() => model.forward(Int32Array.of(5, -1), [1, 2]), /token id -1/);
  assert.throws(() => model.forward(new Int32Array(65), [1, 65]), /65 tokens is longer than the model's context of 64/);
  assert.throws(() => model.forward(new Int32Array(6), [2, 4]), /does not fill shape/);
  assert.throws(() => model.forward(Int32Array.of(1, 2), [1, 2], { keep: ['blocks.0.hook_resid_pr'] }), /unknown hook "blocks\.0\.hook_resid_pr": did you mean "blocks\.0\.hook_resid_pre"\?/);
  assert.throws(() => model.forward(Int32Array.of(1, 2), [1, 2], { hooks: { 'blocks.7.hook_mlp_out': () => undefined } }), /3 blocks/);
  assert.throws(() => model.forward(Int32Array.of(1, 2), [1, 2], { keep: ['blocks.1.hook_resid_mid'] }), /parallel-residual/);
  assert.throws(() => model.forward(Int32Array.of(1, 2), [1, 2], { hooks: { 'blocks.0.hook_attn_out': () => cpu.zeros([1, 2, 3]) } }), /returned f32\[1,2,3\], expected f32\[1,2,64\]/);
  assert.ok(model.hookNames().includes('blocks.2.hook_resid_post'));
  assert.ok(!model.hookNames().some((n) => n.endsWith('hook_resid_mid')));
});
