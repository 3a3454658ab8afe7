// The sparse-code ops against plain dense recomputations (CPU twins), then each WGSL kernel against
// its twin: bucket layouts exactly, float sums to a tolerance, and GPU runs repeat bit for bit.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import type { Device } from '../../src/compute/device.js';
import { Rng } from '../../src/compute/random.js';
import { bucketRowSums, bucketSums, latentBuckets, sparseDecode, sparseRowDots, type SparseCode } from '../../src/sae/sparseCode.js';
import { assertClose } from '../helpers/assertClose.js';
import { gpuOrSkip } from '../helpers/gpu.js';

interface Case {
  N: number;
  k: number;
  dSae: number;
  d: number;
  v: Float32Array; // [N, k]
  idx: Int32Array; // [N, k]
  W: Float32Array; // [dSae, d]
  b: Float32Array; // [d]
  g: Float32Array; // [N, d]
  coef: Float32Array; // [N, k]
}

/** Random picks (distinct per row; latent 7 picked by every row, so one bucket is long), some values 0. */
function makeCase(seed: number, N = 37, k = 5, dSae = 300, d = 70): Case {
  const rng = new Rng(seed);
  const idx = new Int32Array(N * k);
  for (let t = 0; t < N; t++) {
    const seen = new Set<number>([7]);
    idx[t * k] = 7;
    for (let j = 1; j < k; j++) {
      let c: number;
      do c = rng.int(dSae);
      while (seen.has(c));
      seen.add(c);
      idx[t * k + j] = c;
    }
  }
  const v = Float32Array.from({ length: N * k }, () => (rng.uniform() < 0.2 ? 0 : rng.uniform() * 2));
  return { N, k, dSae, d, v, idx, W: rng.normalArray(dSae * d, 1), b: rng.normalArray(d, 1), g: rng.normalArray(N * d, 1), coef: rng.normalArray(N * k, 1) };
}

function dense(c: Case): Float64Array {
  const f = new Float64Array(c.N * c.dSae);
  for (let t = 0; t < c.N; t++) for (let j = 0; j < c.k; j++) f[t * c.dSae + c.idx[t * c.k + j]!] = c.v[t * c.k + j]!;
  return f;
}

function code(c: Case, dev: Device): SparseCode {
  return { values: dev.fromArray(c.v, [c.N, c.k]), indices: dev.fromArray(c.idx, [c.N, c.k]), dSae: c.dSae };
}

test('sparseDecode equals the dense product f·W + b', async () => {
  const c = makeCase(1);
  const f = dense(c);
  const want = new Float64Array(c.N * c.d);
  for (let t = 0; t < c.N; t++)
    for (let col = 0; col < c.d; col++) {
      let s = c.b[col]!;
      for (let i = 0; i < c.dSae; i++) s += f[t * c.dSae + i]! * c.W[i * c.d + col]!;
      want[t * c.d + col] = s;
    }
  const y = sparseDecode(code(c, cpu), cpu.fromArray(c.W, [c.dSae, c.d]), cpu.fromArray(c.b, [c.d]));
  assertClose(await y.read(), want, { atol: 1e-5, rtol: 1e-5 });
});

test('sparseRowDots equals the dense g·Wᵀ at the picks', async () => {
  const c = makeCase(2);
  const out = await sparseRowDots(cpu.fromArray(c.g, [c.N, c.d]), cpu.fromArray(c.W, [c.dSae, c.d]), cpu.fromArray(c.idx, [c.N, c.k])).read();
  for (const [t, j] of [[0, 0], [5, 3], [36, 4]] as const) {
    let s = 0;
    const i = c.idx[t * c.k + j]!;
    for (let col = 0; col < c.d; col++) s += c.g[t * c.d + col]! * c.W[i * c.d + col]!;
    assert.ok(Math.abs(out[t * c.k + j]! - s) < 1e-4, `(${t}, ${j}): ${out[t * c.k + j]} vs ${s}`);
  }
});

test('latentBuckets lists every pick once, grouped by latent, in token order', async () => {
  const c = makeCase(3);
  const b = latentBuckets(cpu.fromArray(c.idx, [c.N, c.k]), c.dSae);
  const off = (await b.offsets.read()) as Int32Array;
  const order = (await b.order.read()) as Int32Array;
  assert.equal(off[0], 0);
  assert.equal(off[c.dSae], c.N * c.k);
  assert.equal(off[8]! - off[7]!, c.N, 'latent 7 is picked by every row');
  assert.deepEqual([...order].sort((a, z) => a - z), Array.from({ length: c.N * c.k }, (_, i) => i));
  for (let i = 0; i < c.dSae; i++) {
    for (let s = off[i]!; s < off[i + 1]!; s++) {
      assert.equal(c.idx[order[s]!], i);
      if (s > off[i]!) assert.ok(order[s]! > order[s - 1]!);
    }
  }
});

test('bucketRowSums and bucketSums equal the dense fᵀ·rows and column sums, both layouts, with accumulation', async () => {
  const c = makeCase(4);
  // coef as a dense [N, dSae] matrix C: want[i, col] = Σ_t C[t, i]·g[t, col].
  const C = new Float64Array(c.N * c.dSae);
  for (let t = 0; t < c.N; t++) for (let j = 0; j < c.k; j++) C[t * c.dSae + c.idx[t * c.k + j]!] = c.coef[t * c.k + j]!;
  const want = new Float64Array(c.dSae * c.d);
  const wantSums = new Float64Array(c.dSae);
  for (let i = 0; i < c.dSae; i++) {
    for (let t = 0; t < c.N; t++) wantSums[i]! += C[t * c.dSae + i]!;
    for (let col = 0; col < c.d; col++) {
      let s = 0;
      for (let t = 0; t < c.N; t++) s += C[t * c.dSae + i]! * c.g[t * c.d + col]!;
      want[i * c.d + col] = s;
    }
  }
  const b = latentBuckets(cpu.fromArray(c.idx, [c.N, c.k]), c.dSae);
  const coef = cpu.fromArray(c.coef, [c.N, c.k]);
  const rows = cpu.fromArray(c.g, [c.N, c.d]);
  assertClose(await bucketRowSums(b, coef, rows).read(), want, { atol: 1e-4, rtol: 1e-4 });
  const tr = await bucketRowSums(b, coef, rows, { transposed: true }).read();
  const wantT = new Float64Array(c.d * c.dSae);
  for (let i = 0; i < c.dSae; i++) for (let col = 0; col < c.d; col++) wantT[col * c.dSae + i] = want[i * c.d + col]!;
  assertClose(tr, wantT, { atol: 1e-4, rtol: 1e-4 });
  const into = cpu.fromArray(Float32Array.from({ length: c.dSae * c.d }, (_, i) => i % 3), [c.dSae, c.d]);
  bucketRowSums(b, coef, rows, { into });
  assertClose(await into.read(), Float64Array.from(want, (w, i) => w + (i % 3)), { atol: 1e-4, rtol: 1e-4 });
  assertClose(await bucketSums(b, coef).read(), wantSums, { atol: 1e-5, rtol: 1e-5 });
});

const { gpu, skip } = await gpuOrSkip();

test('WGSL sparse-code kernels match their CPU twins and repeat bit for bit', { skip }, async () => {
  for (const [seed, shape] of [[5, [37, 5, 300, 70]], [6, [64, 33, 1000, 129]]] as const) {
    const c = makeCase(seed, ...shape);
    const run = async (dev: Device) => {
      const cd = code(c, dev);
      const W = dev.fromArray(c.W, [c.dSae, c.d]);
      const g = dev.fromArray(c.g, [c.N, c.d]);
      const coef = dev.fromArray(c.coef, [c.N, c.k]);
      const b = latentBuckets(cd.indices, c.dSae);
      const into = dev.fromArray(Float32Array.from({ length: c.d * c.dSae }, (_, i) => i % 5), [c.d, c.dSae]);
      bucketRowSums(b, coef, g, { transposed: true, into });
      return {
        decode: await sparseDecode(cd, W, dev.fromArray(c.b, [c.d])).read(),
        dots: await sparseRowDots(g, W, cd.indices).read(),
        offsets: await b.offsets.read(),
        order: await b.order.read(),
        rowSums: await bucketRowSums(b, coef, g).read(),
        rowSumsT: await into.read(),
        sums: await bucketSums(b, coef).read(),
      };
    };
    const want = await run(cpu);
    const got = await run(gpu!);
    assert.deepEqual(got.offsets, want.offsets);
    assert.deepEqual(got.order, want.order);
    for (const k of ['decode', 'dots', 'rowSums', 'rowSumsT', 'sums'] as const) assertClose(got[k], want[k], { atol: 1e-4, rtol: 1e-4 }, k);
    const again = await run(gpu!);
    for (const k of ['decode', 'dots', 'rowSums', 'rowSumsT', 'sums', 'order'] as const) assert.deepEqual(again[k], got[k], `${k} repeats`);
  }
});
