// 16-bit weights and streaming: tiny random models written as HF folders in F32, BF16 or F16.
// - A 16-bit file kept in 16 bits gives exactly the numbers of the same file widened to float32 at
//   load (widening is exact), on the CPU and on WebGPU, forward and backward.
// - An f32 file stored in 16 bits on request stays within the tolerances docs/models.md states.
// - Streaming blocks from disk gives results identical bit for bit to the resident model.
// - A model that cannot fit is refused before loading, with the numbers (exit 2 from the CLI).

import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import { readSafetensorsBuffer } from '../../src/io/safetensors.js';
import { writeSafetensors } from '../../src/io/safetensorsWrite.js';
import { backward, NEXT_TOKEN_CE } from '../../src/model/backward.js';
import { lastTokenLogits } from '../../src/model/generate.js';
import type { LoadOptions } from '../../src/model/loadStore.js';
import { weightBytes } from '../../src/model/memoryPlan.js';
import { Transformer } from '../../src/model/transformer.js';
import { parseWeightDtype } from '../../src/model/weightDtype.js';
import { saelab, userLines } from '../helpers/cli.js';
import { gpuOrSkip } from '../helpers/gpu.js';
import { ASSETS, tempDir } from '../io/assets.js';
import { hfConfig, hfWeights, VOCAB, type Family, type HfTensors } from './familyReference.js';

const { gpu, skip: gpuSkip } = await gpuOrSkip();
const [B, T] = [2, 7];
// docs/models.md, "16-bit weights": an f32 model stored in 16 bits vs its f32 run, max |Δ| over
// logits and every hook, relative to the largest |value| of that tensor.
const TOL_REL = { bfloat16: 8 * 2 ** -8, float16: 8 * 2 ** -11 } as const; // 8 machine epsilons of the format

type FileDtype = 'F32' | 'BF16' | 'F16';

/** Write an HF folder with every tensor in `dtype`; returns its path and a cleanup. */
async function writeFolder(config: Record<string, unknown>, tensors: HfTensors, dtype: FileDtype): Promise<{ dir: string; cleanup: () => void }> {
  const t = tempDir();
  writeFileSync(join(t.dir, 'config.json'), JSON.stringify(config));
  await writeSafetensors(join(t.dir, 'model.safetensors'), new Map([...tensors].map(([n, v]) => [n, { dtype, shape: v.shape, data: v.data }])));
  return t;
}

function ids(seed: number, vocab = VOCAB): Int32Array {
  const rng = new Rng(seed);
  return Int32Array.from({ length: B * T }, () => 1 + rng.int(vocab - 1));
}

/** Logits and every hook of a forward, as host arrays. */
async function run(model: Transformer, x: Int32Array): Promise<Map<string, Float32Array>> {
  const names = model.hookNames();
  const r = model.forward(x, [B, T], { keep: names });
  const out = new Map<string, Float32Array>();
  for (const n of names) out.set(n, (await r.activations.get(n)!.read()) as Float32Array);
  out.set('logits', (await r.logits!.read()) as Float32Array);
  for (const t of [...r.activations.values(), r.logits!]) t.dispose();
  return out;
}

function assertIdentical(a: Map<string, Float32Array>, b: Map<string, Float32Array>, what: string): void {
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [k, v] of a) {
    const w = b.get(k)!;
    const ua = new Uint32Array(v.buffer, v.byteOffset, v.length);
    const ub = new Uint32Array(w.buffer, w.byteOffset, w.length);
    const i = ua.findIndex((x, j) => x !== ub[j]);
    assert.equal(i, -1, `${what}: ${k} differs at ${i}: ${v[i]} vs ${w[i]}`);
  }
}

/** Worst over tensors of max|a − b| / max|b|. */
function worstRelative(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let worst = 0;
  for (const [k, v] of a) {
    const w = b.get(k)!;
    let d = 0;
    let m = 0;
    for (let i = 0; i < v.length; i++) {
      d = Math.max(d, Math.abs(v[i]! - w[i]!));
      m = Math.max(m, Math.abs(w[i]!));
    }
    worst = Math.max(worst, d / m);
  }
  return worst;
}

async function load(dir: string, dtype: LoadOptions['dtype'], extra: LoadOptions = {}, device = cpu as Parameters<typeof Transformer.load>[1]): Promise<Transformer> {
  return Transformer.load(dir, device, { dtype, ...extra });
}

for (const fam of ['mistral', 'gemma2', 'gptj', 'qwen2'] as Family[]) {
  for (const fileDtype of ['BF16', 'F16'] as const) {
    test(`${fam}, ${fileDtype} file: kept in 16 bits equals widened to float32 at load, bit for bit; streaming equals resident (cpu)`, async () => {
      const { dir, cleanup } = await writeFolder(hfConfig(fam, 'lm'), hfWeights(fam, 'lm', 300 + fileDtype.length), fileDtype);
      try {
        const x = ids(11);
        const f32 = await load(dir, 'float32');
        const half = await load(dir, 'auto');
        assert.equal(half.store.dtype, fileDtype === 'BF16' ? 'bfloat16' : 'float16');
        const bytes = half.store.residentBytes();
        assert.ok(bytes[half.store.dtype] > 0 && bytes[half.store.dtype] * 2 > bytes.float32, `matrices are held in 16 bits: ${JSON.stringify(bytes)}`);
        assert.equal(f32.store.residentBytes().float32, weightBytes(f32.config, 'float32').total, 'the memory plan counts what the store holds');
        assert.equal(bytes.float32 + bytes[half.store.dtype], weightBytes(half.config, half.store.dtype).total);
        const a = await run(f32, x);
        assertIdentical(await run(half, x), a, '16-bit vs float32');
        // Generation's last-position logits go through the same (tied or untied) unembedding.
        const row = x.slice(0, T);
        assertIdentical(new Map([['l', await lastTokenLogits(half, row)]]), new Map([['l', await lastTokenLogits(f32, row)]]), 'generation logits');
        const streamed = await load(dir, 'auto', { stream: true });
        assert.ok(streamed.store.streaming);
        assertIdentical(await run(streamed, x), a, 'streaming 16-bit vs resident');
        const streamed32 = await load(dir, 'float32', { stream: true });
        assertIdentical(await run(streamed32, x), a, 'streaming float32 vs resident');
        // Backward through the 16-bit blocks: the same gradients (hook and parameters).
        const grads = async (m: Transformer) => {
          const r = m.forward(x, [B, T], { grad: true });
          const g = backward(m, r.cache!, NEXT_TOKEN_CE, { to: 'blocks.0.hook_resid_pre' });
          const out = new Map<string, Float32Array>([['grad', (await g.grad.read()) as Float32Array]]);
          for (const [k, t] of g.params) out.set(k, (await t.read()) as Float32Array);
          return out;
        };
        assertIdentical(await grads(half), await grads(f32), 'backward 16-bit vs float32');
        for (const m of [f32, half, streamed, streamed32]) m.dispose();
      } finally {
        cleanup();
      }
    });
  }
}

for (const dtype of ['bfloat16', 'float16'] as const) {
  test(`an f32 model stored in ${dtype} on request stays within ${TOL_REL[dtype]} (relative) of its f32 run, logits and every hook (cpu)`, async (t) => {
    let worst = 0;
    for (const fam of ['mistral', 'gemma2', 'gptj'] as Family[]) {
      const { dir, cleanup } = await writeFolder(hfConfig(fam, 'lm'), hfWeights(fam, 'lm', 400), 'F32');
      try {
        const x = ids(12);
        const f32 = await load(dir, 'float32');
        const half = await load(dir, dtype);
        const e = worstRelative(await run(half, x), await run(f32, x));
        assert.ok(e > 0, 'rounding the weights changes something (the test would notice no conversion)');
        assert.ok(e <= TOL_REL[dtype], `${fam} ${dtype}: relative error ${e}`);
        worst = Math.max(worst, e);
        f32.dispose();
        half.dispose();
      } finally {
        cleanup();
      }
    }
    t.diagnostic(`${dtype}: worst relative error ${worst.toExponential(2)}`);
  });
}

// GPT-2 and Pythia (fused / interleaved QKV) and Llama from the HF fixtures, rewritten in BF16.
for (const name of ['gpt2-tiny-random', 'pythia-tiny-random', 'llama-tiny-random']) {
  const src = join(ASSETS, 'fixtures', name);
  test(`${name} rewritten in BF16: bfloat16 equals float32 bit for bit; streaming equals resident (cpu)`, { skip: existsSync(src) ? false : `${src} is absent` }, async () => {
    const t = tempDir();
    try {
      copyFileSync(join(src, 'config.json'), join(t.dir, 'config.json'));
      const st = readSafetensorsBuffer(readFileSync(join(src, 'model.safetensors')));
      await writeSafetensors(join(t.dir, 'model.safetensors'), new Map(st.names().map((n) => [n, { dtype: 'BF16' as const, shape: st.info(n).shape, data: st.readF32(n) }])));
      const x = ids(13, 1000);
      const f32 = await load(t.dir, 'float32');
      const a = await run(f32, x);
      assertIdentical(await run(await load(t.dir, 'bfloat16'), x), a, `${name} bf16`);
      assertIdentical(await run(await load(t.dir, 'bfloat16', { stream: true }), x), a, `${name} bf16 streamed`);
      // Only the blocks a forward to a hook needs: the rest are never read.
      const first = await load(t.dir, 'bfloat16', { layers: 1 });
      const r = first.forward(x, [B, T], { stopAt: 'blocks.0.hook_mlp_out', keep: ['blocks.0.hook_mlp_out'] });
      assertIdentical(new Map([['h', (await r.activations.get('blocks.0.hook_mlp_out')!.read()) as Float32Array]]), new Map([['h', a.get('blocks.0.hook_mlp_out')!]]), 'first block only');
      assert.throws(() => first.forward(x, [B, T]), /block 1 was not loaded \(the model was opened with its first 1 blocks only\)/);
      // A forward to blocks.1.hook_resid_pre needs block 0 only (its output is block 1's input).
      const upTo = await load(t.dir, 'bfloat16', { upToHooks: ['blocks.1.hook_resid_pre'] });
      assert.equal(upTo.store.nLayers, 1);
      const r1 = upTo.forward(x, [B, T], { stopAt: 'blocks.1.hook_resid_pre', keep: ['blocks.1.hook_resid_pre'] });
      assertIdentical(new Map([['h', (await r1.activations.get('blocks.1.hook_resid_pre')!.read()) as Float32Array]]), new Map([['h', a.get('blocks.1.hook_resid_pre')!]]), 'to the next block\'s input');
    } finally {
      t.cleanup();
    }
  });
}

test('a model that cannot fit is refused before loading, with the numbers; streaming is chosen when only it fits', async () => {
  const { dir, cleanup } = await writeFolder(hfConfig('mistral', 'lm'), hfWeights('mistral', 'lm', 500), 'BF16');
  try {
    const m = await load(dir, 'float32');
    const wb = weightBytes(m.config, 'bfloat16');
    m.dispose();
    const notes: string[] = [];
    const streamed = await load(dir, 'bfloat16', { memoryLimit: wb.streaming + 1, note: (l) => notes.push(l) });
    assert.ok(streamed.store.streaming, 'auto streams when resident does not fit');
    assert.equal(notes.length, 1);
    assert.match(notes[0]!, /needs .* for its weights in bfloat16 and the memory limit is .*: streaming its blocks from disk \(slower\)/);
    await assert.rejects(load(dir, 'bfloat16', { memoryLimit: wb.streaming + 1, stream: false }), /does not fit: needs .* for its weights in bfloat16; streaming would need .*: use --stream; the memory limit is/);
    await assert.rejects(load(dir, 'float32', { memoryLimit: 1000 }), /does not fit: .*even streamed a block at a time; the memory limit is 1\.0 kB \(--model-dtype bfloat16 halves the matrices\)/);
    assert.throws(() => parseWeightDtype('int8'), /unsupported dtype "int8": use one of auto, float32, bfloat16, float16/);
    // The CLI: one line, exit 2.
    const bad = await saelab(['forward', '--model', dir, '--ids', '1,2,3', '--model-dtype', 'int4', '--device', 'cpu']);
    assert.equal(bad.code, 2);
    assert.deepEqual(userLines(bad.stderr).length, 1, bad.stderr);
    assert.match(bad.stderr, /unsupported dtype "int4"/);
    const tooBig = await saelab(['forward', '--model', dir, '--ids', '1,2,3', '--model-dtype', 'float32', '--device', 'cpu'], { SAELAB_MEMORY_LIMIT: '1000' });
    assert.equal(tooBig.code, 2, tooBig.stderr);
    assert.match(tooBig.stderr, /does not fit: .*SAELAB_MEMORY_LIMIT is 1\.0 kB/);
  } finally {
    cleanup();
  }
});

test('WebGPU: a bf16 model on the GPU equals its float32 widening on the GPU bit for bit, and the CPU within 1e-4', { skip: gpuSkip }, async () => {
  for (const fam of ['mistral', 'qwen2', 'gptj'] as Family[]) {
    for (const fileDtype of ['BF16', 'F16'] as const) {
      const { dir, cleanup } = await writeFolder(hfConfig(fam, 'lm'), hfWeights(fam, 'lm', 600), fileDtype);
      try {
        // 3 tokens: within the sliding windows, which WebGPU runs only up to their length.
        const T3 = 3;
        const short = ids(14).slice(0, B * T3);
        const fwd = async (m: Transformer) => {
          const r = m.forward(short, [B, T3], { keep: m.hookNames() });
          const o = new Map<string, Float32Array>();
          for (const [k, v] of r.activations) o.set(k, (await v.read()) as Float32Array);
          o.set('logits', (await r.logits!.read()) as Float32Array);
          return o;
        };
        const g16 = await load(dir, 'auto', {}, gpu!);
        const g32 = await load(dir, 'float32', {}, gpu!);
        const c32 = await load(dir, 'float32');
        const a = await fwd(g16);
        assertIdentical(a, await fwd(g32), `${fam} ${fileDtype} gpu 16-bit vs gpu f32`);
        const c = await fwd(c32);
        for (const [k, v] of a) {
          const w = c.get(k)!;
          let d = 0;
          for (let i = 0; i < v.length; i++) d = Math.max(d, Math.abs(v[i]! - w[i]!));
          assert.ok(d <= 1e-4, `${fam} ${fileDtype} ${k}: gpu vs cpu ${d}`);
        }
        const streamed = await load(dir, 'auto', { stream: true }, gpu!);
        assertIdentical(await fwd(streamed), a, `${fam} ${fileDtype} gpu streamed`);
        for (const m of [g16, g32, c32, streamed]) m.dispose();
      } finally {
        cleanup();
      }
    }
  }
});

test('saelab inspect --memory: weight bytes per dtype as the store holds them, activations per token and batch, what fits here', async () => {
  const { dir, cleanup } = await writeFolder(hfConfig('qwen2', 'lm'), hfWeights('qwen2', 'lm', 700), 'BF16');
  try {
    const m = await load(dir, 'auto');
    const held = m.store.residentBytes();
    const r = await saelab(['inspect', dir, '--memory', '--model-dtype', 'auto', '--context-size', '16', '--batch-size', '2', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.dtype, 'bfloat16');
    assert.equal(j.weights.bfloat16.total, held.float32 + held.bfloat16, 'the plan counts what the loaded store holds');
    assert.equal(j.weights.float32.total, weightBytes(m.config, 'float32').total);
    assert.ok(j.weights.float32.total > 1.8 * j.weights.bfloat16.total);
    assert.equal(j.fileBytes.BF16 > 0, true);
    assert.equal(j.activations.perBatchToHook, j.activations.perTokenToHook * 32);
    assert.ok(j.activations.perTokenToLogits > j.activations.perTokenToHook, 'the logits add a vocabulary row per token');
    assert.equal(j.cpu.resident, true);
    const tight = await saelab(['inspect', dir, '--memory', '--model-dtype', 'bfloat16', '--json'], { SAELAB_MEMORY_LIMIT: String(j.weights.bfloat16.streaming + 10) });
    const t = JSON.parse(tight.stdout);
    assert.deepEqual([t.cpu.resident, t.cpu.streaming], [false, true]);
    assert.match(t.cpu.verdict, /streams a block at a time/);
    if (!gpuSkip) {
      const g = JSON.parse((await saelab(['inspect', dir, '--memory', '--device', 'webgpu', '--json'])).stdout);
      assert.ok(g.gpu.maxBufferSize > 0 && g.gpu.maxStorageBufferBindingSize > 0, JSON.stringify(g.gpu));
      assert.equal(g.gpu.largestTensor.name, 'embed');
      assert.equal(g.gpu.fits, true);
    }
    const notModel = await saelab(['inspect', join(dir, 'model.safetensors'), '--memory']);
    assert.equal(notModel.code, 2);
    assert.match(notModel.stderr, /--memory: .* is not an HF model folder/);
    m.dispose();
  } finally {
    cleanup();
  }
});

const CORPUS_MODEL = join(ASSETS, 'models/gpt2-corpus-tiny'); // BF16, two shards
test('saelab harvest of a BF16 model: --model-dtype auto, and auto --stream, store the same bytes as float32', { skip: existsSync(CORPUS_MODEL) ? false : `${CORPUS_MODEL} is absent`, timeout: 240_000 }, async () => {
  const t = tempDir();
  try {
    const corpus = join(t.dir, 'c.txt');
    writeFileSync(corpus, 'Once upon a time there was a small corpus about weights in sixteen bits. '.repeat(80));
    const shard = async (name: string, extra: string[]) => {
      const out = join(t.dir, name);
      const r = await saelab(['harvest', '--device', 'cpu', '--json', '--model', CORPUS_MODEL, '--hooks', 'blocks.2.hook_resid_post', '--data', corpus, '--tokens', '512', '--context-size', '64', '--out', out, ...extra]);
      assert.equal(r.code, 0, r.stderr);
      return readFileSync(join(out, 'shard-00000.bin'));
    };
    const f32 = await shard('f32', []);
    assert.ok(f32.byteLength >= 512 * 192 * 4);
    assert.ok(f32.equals(await shard('bf16', ['--model-dtype', 'auto'])), 'bfloat16 weights: the same activations');
    assert.ok(f32.equals(await shard('stream', ['--model-dtype', 'auto', '--stream'])), 'streamed: the same activations');
  } finally {
    t.cleanup();
  }
});
