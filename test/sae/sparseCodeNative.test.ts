// The native per-pick kernels of the TopK step (native/sparseCode.c: decode, row dots, bucket row
// sums), native AdamW (native/adamw.c) and the decoder-norm kernels (native/decoderNorm.c) against their TypeScript twins on random inputs of odd
// sizes: within float tolerance (AdamW and decoder norms: bit for bit), and bit-identical whatever the thread count.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blasAddon } from '../../src/compute/cpu/blas.js';
import { adamwCpu } from '../../src/compute/ops/adamw.js';
import { Rng } from '../../src/compute/random.js';
import { normalizeRowsCpu, removeParallelGradCpu } from '../../src/sae/decoderNorm.js';
import { bucketRowSumsCpu, latentBucketsCpu, sparseDecodeCpu, sparseRowDotsCpu } from '../../src/sae/sparseCode.js';
import { assertClose } from '../helpers/assertClose.js';

const native = blasAddon();
const skip = native?.sparseDecode && native.adamwUpdate ? false : 'the native addon (npm run build:native) has no SAE step kernels';

/** A random code: N rows of k distinct latents in [0, dSae), values ≥ 0 with some exact zeros. */
function code(rng: Rng, N: number, k: number, dSae: number) {
  const v = new Float32Array(N * k);
  const idx = new Int32Array(N * k);
  for (let t = 0; t < N; t++) {
    const seen = new Set<number>();
    for (let j = 0; j < k; j++) {
      let i;
      do i = rng.int(dSae); while (seen.has(i));
      seen.add(i);
      idx[t * k + j] = i;
      v[t * k + j] = rng.uniform() < 0.2 ? 0 : rng.uniform() * 2;
    }
  }
  return { v, idx };
}

/** fn's results under 1, 2 and 3 native threads, for a bitwise comparison. */
function acrossThreads(fn: () => Float32Array): Float32Array[] {
  const before = native!.info().threads;
  try {
    return [1, 2, 3].map((t) => {
      native!.setThreads(t);
      return fn();
    });
  } finally {
    native!.setThreads(before);
  }
}

function sameBits(runs: Float32Array[], what: string): void {
  for (const r of runs.slice(1)) assert.deepEqual(Buffer.from(r.buffer, r.byteOffset, r.byteLength), Buffer.from(runs[0]!.buffer, runs[0]!.byteOffset, runs[0]!.byteLength), what);
}

test('native sparseDecode and sparseRowDots match their twins (with and without bias)', { skip }, () => {
  const rng = new Rng(11);
  const [N, k, dSae, d] = [67, 9, 301, 45];
  const { v, idx } = code(rng, N, k, dSae);
  const W = rng.normalArray(dSae * d);
  const b = rng.normalArray(d);
  for (const bias of [b, null]) {
    const want = new Float32Array(N * d);
    sparseDecodeCpu(v, idx, N, k, W, d, bias, want);
    const runs = acrossThreads(() => {
      const y = new Float32Array(N * d).fill(7); // stale contents must be overwritten
      native!.sparseDecode!(v, idx, N, k, W, d, bias, y);
      return y;
    });
    assertClose(runs[0]!, want, { atol: 1e-5, rtol: 1e-5 }, 'decode');
    sameBits(runs, 'decode across threads');
  }
  const g = rng.normalArray(N * d);
  const want = new Float32Array(N * k);
  sparseRowDotsCpu(g, idx, N, k, W, d, want);
  const runs = acrossThreads(() => {
    const out = new Float32Array(N * k);
    native!.sparseRowDots!(g, idx, N, k, W, d, out);
    return out;
  });
  assertClose(runs[0]!, want, { atol: 1e-5, rtol: 1e-6 }, 'row dots');
  sameBits(runs, 'row dots across threads');
});

test('native bucketRowSums matches its twin: plain and transposed, written and accumulated', { skip }, () => {
  const rng = new Rng(12);
  const [N, k, dSae, d] = [53, 6, 117, 37];
  const { v, idx } = code(rng, N, k, dSae);
  const offsets = new Int32Array(dSae + 1);
  const order = new Int32Array(N * k);
  latentBucketsCpu(idx, dSae, offsets, order);
  const rows = rng.normalArray(N * d);
  const start = rng.normalArray(dSae * d);
  for (const transposed of [false, true]) {
    for (const accumulate of [false, true]) {
      const want = start.slice();
      bucketRowSumsCpu(offsets, order, k, dSae, v, rows, d, want, transposed, accumulate);
      const runs = acrossThreads(() => {
        const out = start.slice();
        native!.bucketRowSums!(offsets, order, k, dSae, v, rows, d, out, transposed, accumulate);
        return out;
      });
      assertClose(runs[0]!, want, { atol: 1e-5, rtol: 1e-5 }, `transposed ${transposed}, accumulate ${accumulate}`);
      sameBits(runs, `transposed ${transposed}, accumulate ${accumulate}: across threads`);
    }
  }
});

test('native bucketRowSums refuses picks outside its arrays with one line', { skip }, () => {
  const offsets = Int32Array.from([0, 1, 2]);
  assert.throws(() => native!.bucketRowSums!(offsets, Int32Array.from([0, 9]), 1, 2, new Float32Array(2), new Float32Array(4), 2, new Float32Array(4), false, false), /outside coef or rows/);
  assert.throws(() => native!.sparseDecode!(new Float32Array(1), Int32Array.from([5]), 1, 1, new Float32Array(4), 2, null, new Float32Array(2)), /outside W/);
});

test('native AdamW equals adamwCpu bit for bit over several steps, whatever the thread count', { skip }, () => {
  const rng = new Rng(13);
  const n = 70_001; // above the single-thread cutoff, and odd
  const o = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
  const p0 = rng.normalArray(n);
  const grads = [1, 2, 3].map(() => rng.normalArray(n, 0.1));
  const twin = { p: p0.slice(), m: new Float32Array(n), v: new Float32Array(n) };
  grads.forEach((g, s) => adamwCpu(twin.p, g, twin.m, twin.v, { ...o, step: s + 1 }));
  const runs = acrossThreads(() => {
    const st = { p: p0.slice(), m: new Float32Array(n), v: new Float32Array(n) };
    grads.forEach((g, s) => {
      const step = s + 1;
      native!.adamwUpdate!(st.p, g, st.m, st.v, o.beta1, o.beta2, o.eps, 1 - o.lr * o.weightDecay, o.lr / (1 - o.beta1 ** step), Math.sqrt(1 - o.beta2 ** step));
    });
    assert.deepEqual(Buffer.from(st.m.buffer), Buffer.from(twin.m.buffer), 'm');
    assert.deepEqual(Buffer.from(st.v.buffer), Buffer.from(twin.v.buffer), 'v');
    return st.p;
  });
  for (const r of runs) assert.deepEqual(Buffer.from(r.buffer), Buffer.from(twin.p.buffer), 'param');
});

test('native removeParallelGrad and normalizeRows equal their twins bit for bit, whatever the thread count', { skip }, () => {
  const rng = new Rng(14);
  const [rows, cols] = [203, 77];
  const w = rng.normalArray(rows * cols);
  w.fill(0, 5 * cols, 6 * cols); // a zero row stays zero
  const g0 = rng.normalArray(rows * cols);
  const wantW = w.slice();
  normalizeRowsCpu(wantW, rows, cols);
  const wantG = g0.slice();
  removeParallelGradCpu(wantG, wantW, rows, cols);
  const ws = acrossThreads(() => {
    const x = w.slice();
    native!.normalizeRows!(x, rows, cols);
    return x;
  });
  for (const x of ws) assert.deepEqual(Buffer.from(x.buffer), Buffer.from(wantW.buffer), 'normalizeRows');
  const gs = acrossThreads(() => {
    const x = g0.slice();
    native!.removeParallelGrad!(x, wantW, rows, cols);
    return x;
  });
  for (const x of gs) assert.deepEqual(Buffer.from(x.buffer), Buffer.from(wantG.buffer), 'removeParallelGrad');
});
