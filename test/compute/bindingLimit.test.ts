// Ops on tensors larger than one storage binding: a WebGPU device whose maxStorageBufferBindingSize
// is lowered to 64 KiB runs matmul, softmax, cross-entropy, KL, row reductions, elementwise ops,
// the embedding gather and a whole model forward in pieces, equal to their CPU twins; a single row
// over the limit is still a DeviceLimitError. (Before chunking, each failed with "binding N is …
// bytes, over this GPU's maxStorageBufferBindingSize".)

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import type { Device } from '../../src/compute/device.js';
import { crossEntropy, crossEntropyBackward } from '../../src/compute/ops/crossEntropy.js';
import { add, addInPlace, scale } from '../../src/compute/ops/elementwise.js';
import { embeddingGather } from '../../src/compute/ops/embedding.js';
import { klDivergence, klDivergenceBackward, klTarget, klToTarget } from '../../src/compute/ops/klDivergence.js';
import { matmul } from '../../src/compute/ops/matmul.js';
import { argmaxRows, logsumexpRows } from '../../src/compute/ops/reductions.js';
import { softmaxBackward, softmaxRows } from '../../src/compute/ops/softmax.js';
import { gelu } from '../../src/compute/ops/activations.js';
import { itemsPerPiece } from '../../src/compute/webgpu/chunkedDispatch.js';
import { DeviceLimitError, type WebGpuDevice } from '../../src/compute/webgpu/gpuDevice.js';
import { openWebGpu } from '../../src/compute/webgpu/openGpu.js';
import type { Tensor } from '../../src/compute/tensor.js';
import { Transformer } from '../../src/model/transformer.js';
import { ASSETS, needsAsset } from '../io/assets.js';

const LIMIT = 64 * 1024;
const opened = await openWebGpu({ maxStorageBufferBindingSize: LIMIT });
const gpu = opened.ok ? opened.device : null;
const skip = opened.ok ? false : `no WebGPU adapter: ${opened.reason}`;

function rand(n: number, seed: number, spread = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * spread;
  }
  return out;
}

/** Run `f` on the CPU and on the capped GPU with the same inputs; return both outputs' values. */
async function both(inputs: [Float32Array | Int32Array, number[]][], f: (dev: Device, xs: Tensor[]) => Tensor): Promise<[Float32Array, Float32Array]> {
  const c = f(cpu, inputs.map(([d, s]) => cpu.fromArray(d, s)));
  const g = f(gpu!, inputs.map(([d, s]) => gpu!.fromArray(d, s)));
  return [(await c.read()) as Float32Array, (await g.read()) as Float32Array];
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= tol * (1 + Math.abs(a[i]!)))) assert.fail(`${what}[${i}]: cpu ${a[i]} gpu ${b[i]}`);
  }
}

test('the capped device reports the lowered limit', { skip }, () => {
  assert.equal(gpu!.limits.maxStorageBufferBindingSize, LIMIT);
  assert.ok(gpu!.limits.maxBufferSize > LIMIT);
});

test('itemsPerPiece: aligned starts, widest row within the limit', () => {
  assert.equal(itemsPerPiece([1000, 1], 64 * 1024, 256), 0); // 16 rows fit, but the 1-wide binding's starts need steps of 64
  assert.equal(itemsPerPiece([16, 1], 64 * 1024, 256), 1024);
  assert.equal(itemsPerPiece([64], 256 * 100, 256), 100);
  assert.equal(itemsPerPiece([1], 1000, 256, 77), 0); // the period 77 and 64 give steps of 4928 items
});

test('matmul with M×N output, B, or A over the binding limit equals the CPU', { skip }, async () => {
  // out [300, 100] = 120 KB: pieces of rows.
  const [c1, g1] = await both([[rand(300 * 40, 1), [300, 40]], [rand(40 * 100, 2), [40, 100]]], (_d, [a, b]) => matmul(a!, b!));
  close(c1, g1, 1e-4, 'rows');
  // transB with B [500, 40] = 80 KB (a tied unembedding): pieces of output columns through a temporary.
  const [c2, g2] = await both([[rand(70 * 40, 3), [70, 40]], [rand(500 * 40, 4), [500, 40]]], (_d, [a, b]) => matmul(a!, b!, { transB: true }));
  close(c2, g2, 1e-4, 'transB columns');
  // transA with A [600, 20] and B [600, 30] = 72 KB (a weight gradient): pieces of K, accumulated.
  const [c3, g3] = await both([[rand(600 * 20, 5), [600, 20]], [rand(600 * 30, 6), [600, 30]]], (_d, [a, b]) => matmul(a!, b!, { transA: true }));
  close(c3, g3, 1e-4, 'transA K pieces');
  // accumulate into an existing out over pieces of rows.
  const [c4, g4] = await both([[rand(300 * 40, 7), [300, 40]], [rand(40 * 100, 8), [40, 100]], [rand(300 * 100, 9), [300, 100]]], (_d, [a, b, o]) =>
    matmul(a!, b!, { out: o!, accumulate: true, alpha: 0.5 }),
  );
  close(c4, g4, 1e-4, 'accumulate');
});

test('softmax, logsumexp, argmax, CE and KL on rows over the binding limit equal the CPU', { skip }, async () => {
  const R = 150;
  const V = 201; // 150 × 201 × 4 = 120 KB, odd width (64-row aligned pieces of 51 KB)
  const x = rand(R * V, 11, 4);
  const y2 = rand(R * V, 12, 4);
  const targets = Int32Array.from({ length: R }, (_, i) => (i % 17 === 0 ? -1 : (i * 37) % V));
  const [cs, gs] = await both([[x, [R, V]]], (_d, [t]) => softmaxRows(t!));
  close(cs, gs, 1e-5, 'softmax');
  const [csb, gsb] = await both([[x, [R, V]], [y2, [R, V]]], (_d, [t, dy]) => softmaxBackward(softmaxRows(t!), dy!));
  close(csb, gsb, 1e-4, 'softmaxBackward');
  const [cl, gl] = await both([[x, [R, V]]], (_d, [t]) => logsumexpRows(t!));
  close(cl, gl, 1e-5, 'logsumexp');
  const ca = (await argmaxRows(cpu.fromArray(x, [R, V])).read()) as Int32Array;
  const ga = (await argmaxRows(gpu!.fromArray(x, [R, V])).read()) as Int32Array;
  assert.deepEqual([...ga], [...ca]);
  const [cc, gc] = await both([[x, [R, V]], [targets, [R]]], (_d, [l, t]) => crossEntropy(l!, t!, -1));
  close(cc, gc, 1e-5, 'crossEntropy');
  const [ccb, gcb] = await both([[x, [R, V]], [targets, [R]]], (_d, [l, t]) => crossEntropyBackward(l!, t!, 1 / R, -1));
  close(ccb, gcb, 1e-5, 'crossEntropyBackward');
  const [ck, gk] = await both([[x, [R, V]], [y2, [R, V]]], (_d, [p, q]) => klDivergence(p!, q!));
  close(ck, gk, 1e-4, 'kl');
  const [ckb, gkb] = await both([[x, [R, V]], [y2, [R, V]]], (_d, [p, q]) => klDivergenceBackward(p!, q!, 0.25).dLogitsP!);
  close(ckb, gkb, 1e-4, 'klBackward dP');
  const w = Float32Array.from({ length: R }, (_, i) => (i % 5 === 0 ? 0 : 0.5));
  const [ct, gt] = await both([[x, [R, V]], [y2, [R, V]], [w, [R]]], (_d, [p, q, wt]) => klToTarget(klTarget(p!), q!, wt!).dLogitsQ);
  close(ct, gt, 1e-4, 'klToTarget dQ');
  const [ctk, gtk] = await both([[x, [R, V]], [y2, [R, V]], [w, [R]]], (_d, [p, q, wt]) => klToTarget(klTarget(p!), q!, wt!).klw);
  close(ctk, gtk, 1e-4, 'klToTarget klw');
});

test('elementwise ops, broadcasts and activations over the binding limit equal the CPU', { skip }, async () => {
  const n = 300 * 77; // 92 KB
  const [c1, g1] = await both([[rand(n, 21), [300, 77]], [rand(77, 22), [77]]], (_d, [a, b]) => add(a!, b!));
  close(c1, g1, 0, 'broadcast add');
  const [c2, g2] = await both([[rand(n, 23), [300, 77]], [rand(n, 24), [300, 77]]], (_d, [a, b]) => {
    addInPlace(a!, b!);
    return scale(a!, 3);
  });
  close(c2, g2, 0, 'addInPlace + scale');
  const [c3, g3] = await both([[rand(n, 25, 3), [n]]], (_d, [a]) => gelu(a!));
  close(c3, g3, 1e-5, 'gelu');
});

test('embedding gather from a table over the binding limit equals the CPU', { skip }, async () => {
  const ids = Int32Array.from({ length: 50 }, (_, i) => (i * 131) % 1000);
  const [c, g] = await both([[rand(1000 * 64, 31), [1000, 64]], [ids, [50]]], (_d, [t, i]) => embeddingGather(t!, i!));
  close(c, g, 0, 'gather');
});

test('a single row over the binding limit is still a clear DeviceLimitError', { skip }, async () => {
  const x = gpu!.fromArray(rand(2 * 20000, 41), [2, 20000]); // 80 KB a row
  assert.throws(() => softmaxRows(x), (e: unknown) => e instanceof DeviceLimitError && /one row of 80000 bytes does not fit this GPU's maxStorageBufferBindingSize 65536/.test((e as Error).message));
});

const FIXTURE = join(ASSETS, 'fixtures/gpt2-tiny-random');
test('a GPT-2 forward to logits (vocab 1000) plus CE and KL on a GPU capped below the logits equals the CPU', { skip: skip || needsAsset('fixtures/gpt2-tiny-random') }, async () => {
  // 512 KiB: 64-row pieces of the logits (256 KB) fit, the whole (1 MB) does not.
  const big = await openWebGpu({ maxStorageBufferBindingSize: 512 * 1024 });
  assert.ok(big.ok);
  const B = 4;
  const T = 64; // logits 256 × 1000 × 4 = 1 MB
  const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 7919) % 1000);
  const targets = Int32Array.from({ length: B * T }, (_, i) => ((i + 1) * 7919) % 1000);
  const run = async (dev: Device) => {
    const model = await Transformer.load(FIXTURE, dev);
    const logits = model.forward(ids, [B, T]).logits!;
    const shifted = scale(logits, 0.9);
    const ce = crossEntropy(logits, dev.fromArray(targets, [B, T]), -1);
    const kl = klDivergence(logits, shifted);
    return { logits: (await logits.read()) as Float32Array, ce: (await ce.read()) as Float32Array, kl: (await kl.read()) as Float32Array };
  };
  const c = await run(cpu);
  const g = await run(big.device as WebGpuDevice);
  close(c.logits, g.logits, 1e-3, 'logits');
  close(c.ce, g.ce, 1e-3, 'ce');
  close(c.kl, g.kl, 1e-3, 'kl');
});
