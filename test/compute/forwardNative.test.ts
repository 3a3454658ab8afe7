// The native forward kernels (native/attentionRows.c, layerNorm.c, and activations.c's gelu)
// against their TypeScript twins, and their determinism: the same bits run to run and for 1 or 2
// threads (rows, (b, h) pairs and pieces split over threads, never a sum).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blasAddon } from '../../src/compute/cpu/blas.js';
import { geluBackwardCpu, geluCpu } from '../../src/compute/ops/activations.js';
import { causalAttentionCpu, type AttentionDims } from '../../src/compute/ops/attention.js';
import { causalAttentionFastCpu } from '../../src/compute/ops/attentionFastCpu.js';
import { layerNormCpu } from '../../src/compute/ops/layerNorm.js';
import { Rng } from '../../src/compute/random.js';
import { assertClose } from '../helpers/assertClose.js';

const addon = blasAddon();
const skipAttention = addon?.attentionForward ? false : 'the native addon is not built (or predates attentionForward)';
const skipNorm = addon?.layerNormForward ? false : 'the native addon is not built (or predates layerNormForward)';

/** Run fn with OpenBLAS (and so the native kernels) on n threads, then restore the count. */
function withThreads<T>(n: number, fn: () => T): T {
  const before = addon!.info().threads || 1;
  addon!.setThreads(n);
  try {
    return fn();
  } finally {
    addon!.setThreads(before);
  }
}

function attentionCase(rng: Rng, B: number, T: number, H: number, Hkv: number, D: number, extra: Partial<AttentionDims> = {}) {
  const d: AttentionDims = { B, T, nHeads: H, nKvHeads: Hkv, dHead: D, scale: 1 / Math.sqrt(D), ...extra };
  const q = rng.normalArray(B * T * H * D);
  const k = rng.normalArray(B * T * Hkv * D);
  const v = rng.normalArray(B * T * Hkv * D);
  const run = () => {
    const out = new Float32Array(q.length).fill(NaN); // every element must be written
    const lse = new Float32Array(B * H * T).fill(NaN);
    addon!.attentionForward!(q, k, v, B, T, H, Hkv, D, d.scale, d.window ?? 0, d.softcap ?? 0, out, lse);
    return { out, lse };
  };
  return { d, q, k, v, run };
}

test('native attention matches the float64 twin (T up to 1030, GQA, window, soft-cap) and is what the fast CPU path runs', { skip: skipAttention }, () => {
  const rng = new Rng(71);
  for (const [B, T, H, Hkv, D, extra] of [
    [2, 1030, 3, 3, 64, {}], // several row blocks, the last one short
    [3, 129, 4, 2, 24, {}],
    [1, 200, 4, 1, 7, { window: 50 }],
    [2, 77, 2, 2, 16, { softcap: 5, window: 9 }],
    [1, 1, 1, 1, 3, {}],
  ] as const) {
    const c = attentionCase(rng, B, T, H, Hkv, D, extra);
    const got = c.run();
    const want = { out: new Float32Array(c.q.length), lse: new Float32Array(B * H * T) };
    causalAttentionCpu(c.q, c.k, c.v, c.d, want.out, want.lse);
    const what = `B=${B} T=${T} H=${H}/${Hkv} D=${D} ${JSON.stringify(extra)}`;
    assertClose(got.out, want.out, { atol: 2e-6, rtol: 1e-5 }, `out ${what}`);
    assertClose(got.lse, want.lse, { atol: 2e-6, rtol: 1e-5 }, `lse ${what}`);
    const viaPath = { out: new Float32Array(c.q.length), lse: new Float32Array(B * H * T) };
    causalAttentionFastCpu(c.q, c.k, c.v, c.d, viaPath.out, viaPath.lse);
    assert.deepEqual(viaPath, got, `the default fast path runs the native kernel, ${what}`);
  }
});

test('native attention: the same bits run to run and on 1 or 2 threads', { skip: skipAttention }, () => {
  const c = attentionCase(new Rng(72), 2, 300, 3, 1, 64);
  const one = withThreads(1, c.run);
  const two = withThreads(2, c.run);
  const again = withThreads(2, c.run);
  assert.deepEqual(two, again, 'run to run');
  assert.deepEqual(one, two, '1 vs 2 threads');
});

test('native layerNorm matches the TypeScript twin and is bit-identical run to run and on 1 or 2 threads', { skip: skipNorm }, () => {
  const rng = new Rng(73);
  for (const [rows, d] of [[1, 768], [300, 37], [1000, 768], [129, 5]] as const) {
    const x = rng.normalArray(rows * d, 3).map((v, i) => v + (i % d) * 0.01 + 2); // an offset mean
    const gamma = rng.normalArray(d);
    const beta = rng.normalArray(d);
    const eps = 1e-5;
    const want = { y: new Float32Array(rows * d), mean: new Float32Array(rows), rstd: new Float32Array(rows) };
    layerNormCpu(x, gamma, beta, eps, want.y, want.mean, want.rstd);
    const run = () => {
      const got = { y: new Float32Array(rows * d).fill(NaN), mean: new Float32Array(rows).fill(NaN), rstd: new Float32Array(rows).fill(NaN) };
      addon!.layerNormForward!(x, gamma, beta, rows, eps, got.y, got.mean, got.rstd);
      return got;
    };
    const one = withThreads(1, run);
    const two = withThreads(2, run);
    assert.deepEqual(one, two, `1 vs 2 threads, ${rows}x${d}`);
    assert.deepEqual(withThreads(2, run), two, `run to run, ${rows}x${d}`);
    assertClose(two.y, want.y, { atol: 2e-6, rtol: 2e-6 }, `y ${rows}x${d}`);
    assertClose(two.mean, want.mean, { atol: 1e-6, rtol: 1e-6 }, `mean ${rows}x${d}`);
    assertClose(two.rstd, want.rstd, { atol: 1e-6, rtol: 1e-6 }, `rstd ${rows}x${d}`);
  }
});

test('native kernels refuse arrays shorter than their shapes with a RangeError', { skip: skipAttention || skipNorm }, () => {
  const f = (n: number) => new Float32Array(n);
  assert.throws(() => addon!.attentionForward!(f(8), f(8), f(8), 1, 2, 1, 1, 4, 1, 0, 0, f(8), f(1)), RangeError);
  assert.throws(() => addon!.attentionForward!(f(8), f(8), f(8), 1, 2, 2, 3, 2, 1, 0, 0, f(8), f(4)), RangeError);
  assert.throws(() => addon!.layerNormForward!(f(7), f(4), f(4), 2, 1e-5, f(8), f(2), f(2)), RangeError);
  assert.throws(() => addon!.layerNormForward!(f(8), f(4), f(3), 2, 1e-5, f(8), f(2), f(2)), RangeError);
});

test('native gelu over a long array: pieces over threads give the same bits as one thread, and match the twin', { skip: addon?.geluForward && addon.geluBackward ? false : 'the native addon is not built' }, () => {
  const rng = new Rng(74);
  const n = 300_001; // several 64k pieces, not a multiple of anything
  const x = rng.normalArray(n, 3);
  const dy = rng.normalArray(n);
  const run = () => {
    const y = new Float32Array(n).fill(NaN);
    const dx = new Float32Array(n).fill(NaN);
    addon!.geluForward!(x, y);
    addon!.geluBackward!(x, dy, dx);
    return { y, dx };
  };
  const one = withThreads(1, run);
  const two = withThreads(2, run);
  assert.deepEqual(one, two, '1 vs 2 threads');
  const y = new Float32Array(n);
  const dx = new Float32Array(n);
  geluCpu(x, y);
  geluBackwardCpu(x, dy, dx);
  assertClose(two.y, y, { atol: 1e-7, rtol: 2e-6 }, 'gelu');
  assertClose(two.dx, dx, { atol: 1e-6, rtol: 2e-6 }, "gelu'");
});
