// The fused TopK encoder (native/topkEncode.c: top-k inside the GEMM's column blocks) against its
// plain twin (pre-activations, then topkRows): the same picks in the same order, values equal up to
// the GEMM's rounding, AuxK's dead-latent picks included; and bit-identical run to run and across
// thread counts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blasAddon } from '../../src/compute/cpu/blas.js';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import type { Tensor } from '../../src/compute/tensor.js';
import type { DeadLatents } from '../../src/sae/auxK.js';
import { fusedTopkAvailable, topkEncodeFused, topkEncodePlain, type TopkPicks } from '../../src/sae/topkEncode.js';
import type { SaeParams } from '../../src/sae/types.js';
import { assertClose } from '../helpers/assertClose.js';

const native = blasAddon();
const skip = fusedTopkAvailable(cpu.zeros([1, 1])) ? false : 'the native addon (npm run build:native) has no topkEncode';

/** Params with dSae latents; `twins` copies column 2j into 2j+1 for j < twins, so their pre-activations tie exactly. */
function params(rng: Rng, dIn: number, dSae: number, twins = 0, bias = 0): SaeParams {
  const W = rng.normalArray(dIn * dSae);
  for (let j = 0; j < twins; j++) for (let r = 0; r < dIn; r++) W[r * dSae + 2 * j + 1] = W[r * dSae + 2 * j]!;
  const b = rng.normalArray(dSae, 0.1).map((v) => v + bias);
  for (let j = 0; j < twins; j++) b[2 * j + 1] = b[2 * j]!;
  return { W_enc: cpu.fromArray(W, [dIn, dSae]), b_enc: cpu.fromArray(b, [dSae]), W_dec: cpu.zeros([dSae, dIn]), b_dec: cpu.zeros([dIn]) };
}

function arrays(p: TopkPicks): { v: Float32Array; i: Int32Array; av?: Float32Array; ai?: Int32Array } {
  const out = { v: p.code.values.data as Float32Array, i: p.code.indices.data as Int32Array, ...(p.aux ? { av: p.aux.values.data as Float32Array, ai: p.aux.indices.data as Int32Array } : {}) };
  return out;
}

function samePicks(fused: TopkPicks, plain: TopkPicks, what: string): void {
  const f = arrays(fused);
  const q = arrays(plain);
  assert.deepEqual(fused.code.values.shape, plain.code.values.shape, `${what}: shape`);
  assert.deepEqual([...f.i], [...q.i], `${what}: indices`);
  assertClose(f.v, q.v, { atol: 1e-5, rtol: 1e-5 }, `${what}: values`);
  if (plain.aux) {
    assert.ok(fused.aux, `${what}: aux picks missing`);
    assert.deepEqual([...f.ai!], [...q.ai!], `${what}: aux indices`);
    assertClose(f.av!, q.av!, { atol: 1e-5, rtol: 1e-5 }, `${what}: aux values`);
  }
}

function dispose(p: TopkPicks): void {
  for (const t of [p.code.values, p.code.indices, p.aux?.values, p.aux?.indices] as (Tensor | undefined)[]) t?.dispose();
}

test('fused topkEncode: the plain twin\'s picks across several column blocks, ties by lower latent', { skip }, () => {
  const rng = new Rng(5);
  // 37 rows → 4,096-column blocks, so 5,003 latents take two blocks (the second one odd-sized).
  const [N, dIn, dSae, k] = [37, 19, 5003, 7];
  const p = params(rng, dIn, dSae, 40);
  const xin = cpu.fromArray(rng.normalArray(N * dIn), [N, dIn]);
  const fused = topkEncodeFused(p, xin, k);
  const plain = topkEncodePlain(p, xin, k);
  samePicks(fused, plain, 'k 7');
  // Ties: when both of a tied pair are picked, the lower latent comes first.
  const i = arrays(fused).i;
  let tiedPairs = 0;
  for (let e = 0; e + 1 < i.length; e++) if (i[e]! % 2 === 0 && i[e]! < 80 && i[e + 1] === i[e]! + 1) tiedPairs++;
  assert.ok(tiedPairs > 0, 'the fixture should make some tied pairs win');
  dispose(fused);
  dispose(plain);
});

test('fused topkEncode: all pre-activations negative (ReLU → 0, the picks still ranked) and k = dSae', { skip }, () => {
  const rng = new Rng(6);
  const [N, dIn, dSae] = [9, 5, 33];
  const p = params(rng, dIn, dSae, 3, -100);
  const xin = cpu.fromArray(rng.normalArray(N * dIn), [N, dIn]);
  for (const k of [4, dSae]) {
    const fused = topkEncodeFused(p, xin, k);
    const plain = topkEncodePlain(p, xin, k);
    samePicks(fused, plain, `k ${k}`);
    assert.ok(arrays(fused).v.every((v) => v === 0), 'every value ReLU\'d to 0');
    dispose(fused);
    dispose(plain);
  }
});

test('fused topkEncode: AuxK picks among dead latents, including fewer dead latents than kAux', { skip }, () => {
  const rng = new Rng(7);
  const [N, dIn, dSae, k] = [21, 13, 4500, 5];
  const p = params(rng, dIn, dSae, 10);
  const xin = cpu.fromArray(rng.normalArray(N * dIn), [N, dIn]);
  const tsf = new Float32Array(dSae);
  for (let i = 0; i < dSae; i++) tsf[i] = rng.uniform() < 0.3 ? 2e6 : rng.uniform() * 1e6;
  for (const [cut, kAux] of [[1e6, 64], [1.99e6, 2000], [3e6, 16]] as const) {
    // cut 3e6: nothing is dead, so every aux pick is an alive latent at −1e30 (ReLU → 0), lowest latents first.
    const dead: DeadLatents = { tokensSinceFired: cpu.fromArray(tsf, [dSae]), cut, kAux };
    const fused = topkEncodeFused(p, xin, k, dead);
    const plain = topkEncodePlain(p, xin, k, dead);
    samePicks(fused, plain, `cut ${cut}, kAux ${kAux}`);
    if (cut === 3e6) assert.deepEqual([...arrays(fused).ai!.slice(0, kAux)], Array.from({ length: kAux }, (_, i) => i));
    dispose(fused);
    dispose(plain);
    dead.tokensSinceFired.dispose();
  }
});

test('fused topkEncode: bit-identical run to run at 1, 2 and 3 threads (picks as the twin at each)', { skip }, () => {
  // OpenBLAS's sgemm itself rounds differently at different thread counts (its partition of the
  // product changes), so bit-identity holds per thread count: the selection adds no variation.
  const rng = new Rng(8);
  const [N, dIn, dSae, k] = [300, 24, 1500, 16];
  const p = params(rng, dIn, dSae);
  const xin = cpu.fromArray(rng.normalArray(N * dIn), [N, dIn]);
  const dead: DeadLatents = { tokensSinceFired: cpu.fromArray(Float32Array.from({ length: dSae }, (_, i) => (i % 3 === 0 ? 5 : 0)), [dSae]), cut: 5, kAux: 40 };
  const before = native!.info().threads;
  const bytes = (a: Float32Array | Int32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  try {
    for (const t of [1, 2, 3]) {
      native!.setThreads(t);
      const [a, b] = [topkEncodeFused(p, xin, k, dead), topkEncodeFused(p, xin, k, dead)];
      const [x, y] = [arrays(a), arrays(b)];
      for (const key of ['v', 'i', 'av', 'ai'] as const) assert.deepEqual(bytes(x[key]!), bytes(y[key]!), `${t} threads: ${key} run to run`);
      const plain = topkEncodePlain(p, xin, k, dead);
      samePicks(a, plain, `${t} threads`);
      for (const r of [a, b, plain]) dispose(r);
    }
  } finally {
    native!.setThreads(before);
  }
});

test('fused topkEncode: a [B, T, dIn] input (as analyses pass it) gives the plain twin\'s [B, T, k] picks', { skip }, () => {
  const rng = new Rng(8);
  const [B, T, dIn, dSae, k] = [2, 16, 12, 96, 5];
  const p = params(rng, dIn, dSae);
  const xin = cpu.fromArray(rng.normalArray(B * T * dIn), [B, T, dIn]);
  const fused = topkEncodeFused(p, xin, k);
  const plain = topkEncodePlain(p, xin, k);
  assert.deepEqual(fused.code.indices.shape, [B, T, k]);
  samePicks(fused, plain, '[B, T, dIn]');
  dispose(fused);
  dispose(plain);
});
