// The fixed-target KL (klTarget + klToTarget, end-to-end training's hot loop) against the two-sided
// klDivergence ops, by finite differences, and its three implementations against each other: the
// TypeScript twin, the native addon's kernel (native/klRows.c) and the WGSL kernel.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blasAddon } from '../../src/compute/cpu/blas.js';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { klDivergence, klDivergenceBackward, klTarget, klTargetCpu, klToTarget, klToTargetCpu } from '../../src/compute/ops/klDivergence.js';
import { Rng } from '../../src/compute/random.js';
import { assertClose } from '../helpers/assertClose.js';
import { dot, f64, numericGrad } from '../helpers/finiteDiff.js';
import { gpuOrSkip } from '../helpers/gpu.js';
import { assertRowsClose } from '../helpers/rowsClose.js';

const { gpu, skip } = await gpuOrSkip();
const native = blasAddon();
const noNative = native?.klToTargetRows ? false : 'the native addon (npm run build:native) is not built';

/** The TypeScript twin on host arrays: { probs, plogp, dq, klw }. */
function twin(P: ArrayLike<number>, Q: ArrayLike<number>, w: ArrayLike<number>, V: number, make: (n: number) => Float32Array | Float64Array = (n) => new Float32Array(n)) {
  const N = w.length;
  const probs = make(N * V);
  const plogp = make(N);
  klTargetCpu(Float32Array.from(P), V, probs, plogp);
  const dq = make(N * V);
  const klw = make(N);
  klToTargetCpu(probs, plogp, Float32Array.from(Q), Float32Array.from(w), V, dq, klw);
  return { probs, plogp, dq, klw };
}

test('klToTarget twin: w·KL and w·(q − p) of the two-sided ops; w = 0 rows give 0', () => {
  const rng = new Rng(31);
  const [N, V] = [5, 37];
  const P = rng.normalArray(N * V, 2);
  const Q = P.map((v) => v + 0.3 * rng.normal());
  const w = Float32Array.from([0.5, 0, 2, 1, 0.25]);
  const t = twin(P, Q, w, V, (n) => new Float64Array(n));
  const kl = klDivergence(cpu.fromArray(P, [N, V]), cpu.fromArray(Q, [N, V])).data;
  assertClose(t.klw, [...kl].map((k, n) => k * w[n]!), { atol: 1e-7, rtol: 1e-5 }, 'klw');
  const dq = klDivergenceBackward(cpu.fromArray(P, [N, V]), cpu.fromArray(Q, [N, V]), cpu.fromArray(w), { withP: false }).dLogitsQ.data;
  assertClose(t.dq, dq, { atol: 1e-7, rtol: 1e-5 }, 'dq');
  assert.equal(t.klw[1], 0);
  assert.ok(t.dq.subarray(V, 2 * V).every((v) => Object.is(v, 0)), 'row with w = 0');
});

test('klToTarget twin: central finite differences (float64) of Σ w·KL in the logits of Q', () => {
  const rng = new Rng(32);
  const [N, V] = [3, 7];
  const P = f64(rng.normalArray(N * V, 2));
  const Q = f64(rng.normalArray(N * V, 2));
  const w = f64(rng.normalArray(N));
  const probs = new Float64Array(N * V);
  const plogp = new Float64Array(N);
  klTargetCpu(P, V, probs, plogp);
  const loss = () => {
    const klw = new Float64Array(N);
    klToTargetCpu(probs, plogp, Q, w, V, new Float64Array(N * V), klw);
    return dot(klw, new Float64Array(N).fill(1));
  };
  const dq = new Float64Array(N * V);
  klToTargetCpu(probs, plogp, Q, w, V, dq, new Float64Array(N));
  assertClose(dq, numericGrad(loss, Q), { atol: 1e-8, rtol: 1e-6 });
});

test('klToTarget: exactly 0 when Q = P (twin, Tensor API on the CPU, native)', () => {
  const rng = new Rng(33);
  const [N, V] = [3, 50257];
  const a = rng.normalArray(N * V, 3);
  const w = new Float32Array([1, 0.5, 3]);
  assert.deepEqual([...twin(a, a, w, V).klw], [0, 0, 0]);
  const P = cpu.fromArray(a, [N, V]);
  const t = klTarget(P);
  assert.deepEqual([...klToTarget(t, P, cpu.fromArray(w)).klw.data], [0, 0, 0]);
});

test('klToTarget native kernel matches the TypeScript twin, odd sizes', { skip: noNative }, () => {
  const rng = new Rng(34);
  for (const [N, V] of [[1, 1], [3, 13], [2, 257], [5, 50257], [33, 9]] as const) {
    const what = `N=${N} V=${V}`;
    const P = rng.normalArray(N * V, 2);
    const Q = P.map((v, i) => (Math.floor(i / V) % 2 === 0 ? v + 0.1 * rng.normal() : 2 * rng.normal()));
    const w = Float32Array.from({ length: N }, (_, n) => (n % 4 === 3 ? 0 : 1 / N + n));
    const t = twin(P, Q, w, V);
    const probs = new Float32Array(N * V);
    const plogp = new Float32Array(N);
    native!.klTargetRows!(P, N, V, probs, plogp);
    assertClose(probs, t.probs, { atol: 1e-9, rtol: 2e-6 }, `probs ${what}`);
    assertClose(plogp, t.plogp, { atol: 1e-6, rtol: 1e-6 }, `plogp ${what}`);
    const dq = new Float32Array(N * V);
    const klw = new Float32Array(N);
    // From the twin's target, so that only klToTarget's own arithmetic differs.
    native!.klToTargetRows!(t.probs as Float32Array, t.plogp as Float32Array, Q, w, N, V, dq, klw);
    assertRowsClose(dq, t.dq, V, (n) => w[n]!, `dq ${what}`, 1e-6);
    assertClose(klw, t.klw, { atol: 2e-6 * Math.max(...w), rtol: 1e-4 }, `klw ${what}`);
    for (let n = 0; n < N; n++) if (w[n] === 0) assert.equal(klw[n], 0, `w = 0 row ${n}`);
  }
  // Rows are split across threads, never a row: the thread count does not change a bit.
  const [N, V] = [64, 1001];
  const P = rng.normalArray(N * V, 2);
  const run = () => {
    const probs = new Float32Array(N * V);
    const plogp = new Float32Array(N);
    native!.klTargetRows!(P, N, V, probs, plogp);
    return [probs, plogp];
  };
  const threads = native!.info().threads;
  const a = run();
  native!.setThreads(1);
  const b = run();
  native!.setThreads(Math.max(threads, 1));
  assert.deepEqual(a, b);
});

test('klToTarget native kernel: bad arguments throw RangeError, never read out of bounds', { skip: noNative }, () => {
  const f = new Float32Array(4);
  assert.throws(() => native!.klTargetRows!(f, 2, 3, f, f), RangeError);
  assert.throws(() => native!.klToTargetRows!(f, f, f, f, 1, 5, f, f), RangeError);
});

test('klToTarget WGSL matches the CPU, odd sizes, and is exactly 0 for Q = P', { skip }, async () => {
  const rng = new Rng(35);
  for (const [N, V] of [[1, 1], [3, 13], [2, 257], [4, 768], [2, 50257]] as const) {
    const what = `N=${N} V=${V}`;
    const P = rng.normalArray(N * V, 2);
    const Q = P.map((v, i) => (Math.floor(i / V) % 2 === 0 ? v + 0.1 * rng.normal() : 2 * rng.normal()));
    const w = Float32Array.from({ length: N }, (_, n) => (n === 1 ? 0 : 1 + n));
    const tc = klTarget(cpu.fromArray(P, [N, V]));
    const tg = klTarget(gpu!.fromArray(P, [N, V]));
    assertClose(await tg.probs.read(), tc.probs.data, { atol: 1e-9, rtol: 1e-5 }, `probs ${what}`);
    assertClose(await tg.plogp.read(), tc.plogp.data, { atol: 1e-5, rtol: 1e-5 }, `plogp ${what}`);
    const c = klToTarget(tc, cpu.fromArray(Q, [N, V]), cpu.fromArray(w));
    const g = klToTarget(tg, gpu!.fromArray(Q, [N, V]), gpu!.fromArray(w));
    assertRowsClose(await g.dLogitsQ.read(), c.dLogitsQ.data, V, (n) => w[n]!, `dq ${what}`, 1e-6);
    assertClose(await g.klw.read(), c.klw.data, { atol: 1e-5 * Math.max(...w), rtol: 1e-4 }, `klw ${what}`);
    const same = klToTarget(tg, gpu!.fromArray(P, [N, V]), gpu!.fromArray(w));
    assert.deepEqual([...(await same.klw.read())], new Array(N).fill(0), `Q = P ${what}`);
  }
});
