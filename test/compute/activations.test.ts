import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import {
  activate,
  activateBackward,
  gelu,
  geluBackward,
  geluBackwardCpu,
  geluCpu,
  relu,
  reluBackward,
  reluBackwardCpu,
  reluCpu,
  silu,
  siluBackward,
  siluBackwardCpu,
  siluCpu,
} from '../../src/compute/ops/activations.js';
import { blasAddon } from '../../src/compute/cpu/blas.js';
import { Rng } from '../../src/compute/random.js';
import { assertClose } from '../helpers/assertClose.js';
import { gpuOrSkip } from '../helpers/gpu.js';

const { gpu, skip } = await gpuOrSkip();

test('relu CPU twin: hand-computed', () => {
  const x = new Float32Array([-2, -0, 0, 0.5, 3]);
  const y = new Float32Array(5);
  reluCpu(x, y);
  assert.deepEqual([...y], [0, 0, 0, 0.5, 3]);
  const dx = new Float32Array(5);
  reluBackwardCpu(x, new Float32Array([1, 2, 3, 4, 5]), dx);
  assert.deepEqual([...dx], [0, 0, 0, 4, 5]);
});

test('relu WGSL matches CPU twin (exact), odd sizes', { skip }, async () => {
  const rng = new Rng(1);
  for (const n of [1, 255, 257, 70001]) {
    const x = rng.normalArray(n);
    const dy = rng.normalArray(n);
    const xc = cpu.fromArray(x);
    const xg = gpu!.fromArray(x);
    assertClose(await relu(xg).read(), relu(xc).data, { atol: 0, rtol: 0 }, `relu n=${n}`);
    assertClose(await reluBackward(xg, gpu!.fromArray(dy)).read(), reluBackward(xc, cpu.fromArray(dy)).data, { atol: 0, rtol: 0 }, `relu' n=${n}`);
  }
});

test('grid1d folds more than 65,535 workgroups into 2-D', { skip }, async () => {
  const n = 65536 * 256 + 77; // 65,537 workgroups of 256
  const x = new Float32Array(n).fill(-1);
  x[n - 1] = 5;
  x[12345678] = 2;
  const y = (await relu(gpu!.fromArray(x)).read()) as Float32Array;
  assert.equal(y[n - 1], 5);
  assert.equal(y[12345678], 2);
  assert.equal(y[0], 0);
});

// ---- gelu_new and silu ------------------------------------------------------------------------

/** Apply a twin to float64 inputs (the twins are written for either width). */
function run64(f: (x: Float64Array, y: Float64Array) => void, xs: number[]): number[] {
  const y = new Float64Array(xs.length);
  f(Float64Array.from(xs), y);
  return [...y];
}

test('gelu_new and silu CPU twins: hand-computed values and derivatives', () => {
  // Reference values: the defining formulas evaluated in float64 by Python's math module.
  const xs = [1, -1, 2, -3, 0.5, 0];
  assertClose(run64(geluCpu, xs), [0.8411919906082768, -0.15880800939172324, 1.954597694087775, -0.0036373920817729943, 0.34571400982514394, 0], { atol: 0, rtol: 1e-14 }, 'gelu');
  assertClose(run64(siluCpu, xs), [0.7310585786300049, -0.2689414213699951, 1.7615941559557646, -0.14227761953270035, 0.3112296656009273, 0], { atol: 0, rtol: 1e-14 }, 'silu');
  const ones = new Float64Array(xs.length).fill(1);
  const dg = new Float64Array(xs.length);
  geluBackwardCpu(Float64Array.from(xs), ones, dg);
  assertClose(dg, [1.0829640838457826, -0.08296408384578255, 1.0860992566236183, -0.011584166630969516, 0.8673699035346424, 0.5], { atol: 0, rtol: 1e-14 }, "gelu'");
  const ds = new Float64Array(xs.length);
  siluBackwardCpu(Float64Array.from(xs), ones, ds);
  assertClose(ds, [0.9276705118714869, 0.07232948812851325, 1.0907842487848955, -0.08810410601516962, 0.7399611873026519, 0.5], { atol: 0, rtol: 1e-14 }, "silu'");
  // Large |x|: the identity or zero, with no NaN.
  assert.deepEqual(run64(geluCpu, [50, -50]).map((v) => v + 0), [50, 0]);
  assertClose(run64(siluCpu, [50, -50]), [50, -9.64374923981959e-21], { atol: 0, rtol: 1e-12 }, 'silu ±50');
});

test('gelu_new and silu backward twins match central finite differences (float64)', () => {
  const rng = new Rng(7);
  const xs = [...Array.from({ length: 41 }, (_, i) => -10 + i * 0.5), ...rng.normalArray(50, 3)];
  const h = 1e-5;
  for (const [name, f, df] of [
    ['gelu', geluCpu, geluBackwardCpu],
    ['silu', siluCpu, siluBackwardCpu],
  ] as const) {
    const plus = run64(f, xs.map((v) => v + h));
    const minus = run64(f, xs.map((v) => v - h));
    const fd = plus.map((p, i) => (p - minus[i]!) / (2 * h));
    const dx = new Float64Array(xs.length);
    df(Float64Array.from(xs), new Float64Array(xs.length).fill(1), dx);
    // Central differences are O(h²) ≈ 1e-10 off, plus ~1e-11 rounding.
    assertClose(dx, fd, { atol: 1e-8, rtol: 1e-8 }, `${name}' vs finite differences`);
  }
});

test('gelu_new and silu dispatch on CPU tensors, with activate()', () => {
  const x = cpu.fromArray(new Float32Array([-1, 0, 1]));
  // gelu on CPU tensors runs the native float kernel where the addon is built: a few ulp of exp.
  assertClose(gelu(x).data, [-0.15880800939172324, 0, 0.8411919906082768], { atol: 0, rtol: 1e-6 }, 'gelu');
  assertClose(activate('silu', x).data, [-0.2689414213699951, 0, 0.7310585786300049], { atol: 0, rtol: 1e-7 }, 'silu');
  const dy = cpu.fromArray(new Float32Array([2, 2, 2]));
  assertClose(activateBackward('gelu', x, dy).data, [-0.1659281676915651, 1, 2.165928167691565], { atol: 0, rtol: 1e-6 }, "gelu'");
  assertClose(siluBackward(x, dy).data, [0.1446589762570265, 1, 1.8553410237429738], { atol: 0, rtol: 1e-7 }, "silu'");
  assert.throws(() => geluBackward(x, cpu.fromArray(new Float32Array(2))), /shape/);
});

// Kernels compute σ with exp and gelu_new as x·σ(2u) (no tanh), so they differ from the float64
// twins by a few ulp of exp: tolerance |Δ| ≤ 1e-6 + 2e-6·|expected|.
const ACT_TOL = { atol: 1e-6, rtol: 2e-6 };

test('gelu_new and silu WGSL match CPU twins on random inputs, odd sizes', { skip }, async () => {
  const rng = new Rng(3);
  for (const n of [1, 7, 255, 257, 70001]) {
    const x = rng.normalArray(n, 3);
    const dy = rng.normalArray(n);
    const [xc, dyc, xg, dyg] = [cpu.fromArray(x), cpu.fromArray(dy), gpu!.fromArray(x), gpu!.fromArray(dy)];
    assertClose(await gelu(xg).read(), gelu(xc).data, ACT_TOL, `gelu n=${n}`);
    assertClose(await silu(xg).read(), silu(xc).data, ACT_TOL, `silu n=${n}`);
    assertClose(await geluBackward(xg, dyg).read(), geluBackward(xc, dyc).data, ACT_TOL, `gelu' n=${n}`);
    assertClose(await siluBackward(xg, dyg).read(), siluBackward(xc, dyc).data, ACT_TOL, `silu' n=${n}`);
  }
});

test('gelu_new and silu WGSL stay finite and right for large |x| (up to 50, and ±3e38)', { skip }, async () => {
  const xs: number[] = [];
  for (let v = -50; v <= 50; v += 0.25) xs.push(v);
  xs.push(1e30, -1e30, 3e38, -3e38, 1e-30, -1e-30);
  const x = Float32Array.from(xs);
  const dy = new Float32Array(x.length).fill(1);
  const [xc, dyc, xg, dyg] = [cpu.fromArray(x), cpu.fromArray(dy), gpu!.fromArray(x), gpu!.fromArray(dy)];
  for (const [name, got, want] of [
    ['gelu', await gelu(xg).read(), gelu(xc).data],
    ['silu', await silu(xg).read(), silu(xc).data],
    ["gelu'", await geluBackward(xg, dyg).read(), geluBackward(xc, dyc).data],
    ["silu'", await siluBackward(xg, dyg).read(), siluBackward(xc, dyc).data],
  ] as const) {
    assert.ok([...got].every(Number.isFinite), `${name}: a non-finite value`);
    assertClose(got, want, ACT_TOL, `${name} on large |x|`);
  }
});

test('gelu native kernel (native/activations.c) matches the TypeScript twin, extremes included', { skip: blasAddon()?.geluForward ? false : 'the native addon is not built' }, () => {
  const rng = new Rng(41);
  const x = Float32Array.from([...rng.normalArray(5000, 3), 0, -0, 1e-8, -1e-8, 9, -9, 15, -15, 25, -25, 3e38, -3e38, 1e-30]);
  const dy = rng.normalArray(x.length, 1);
  const a = blasAddon()!;
  const [y, yt, dx, dxt] = [0, 0, 0, 0].map(() => new Float32Array(x.length));
  a.geluForward!(x, y!);
  geluCpu(x, yt!);
  a.geluBackward!(x, dy, dx!);
  geluBackwardCpu(x, dy, dxt!);
  // gelu(x) ≈ x for large x and → 0 for very negative x: relative where it is large, absolute near 0.
  assertClose(y!, yt!, { atol: 1e-7, rtol: 2e-6 }, 'gelu');
  assertClose(dx!, dxt!, { atol: 1e-6, rtol: 2e-6 }, "gelu'");
  assert.ok(y!.every(Number.isFinite) && dx!.every(Number.isFinite), 'finite everywhere');
});

test('gelu native kernel: the 8-lane body and the scalar tail give the same bits for the same input', { skip: blasAddon()?.geluForward ? false : 'the native addon is not built' }, () => {
  // native/fastExp.h promises fast_exp8 ≡ fast_exp bit for bit; a length-15 array puts values 0–6 in
  // the lane body and the same values at 8–14 in the tail.
  const rng = new Rng(43);
  const values = [...rng.normalArray(693, 4), 0, -0, 1e-8, -1e-8, 20, -20, 21, -21, 3e38, -3e38, 1e-30, 0.5, -0.5, 87, -87];
  const a = blasAddon()!;
  let compared = 0;
  for (let i = 0; i < values.length; i += 7) {
    const part = values.slice(i, i + 7);
    while (part.length < 7) part.push(1);
    const x = Float32Array.from([...part, 2, ...part]);
    const dy = Float32Array.from([...part.map((_, j) => 1 + j / 8), 1, ...part.map((_, j) => 1 + j / 8)]);
    const y = new Float32Array(15);
    const dx = new Float32Array(15);
    a.geluForward!(x, y);
    a.geluBackward!(x, dy, dx);
    for (let j = 0; j < 7; j++) {
      assert.ok(Object.is(y[j], y[8 + j]), `gelu(${x[j]}): lane ${y[j]} vs tail ${y[8 + j]}`);
      assert.ok(Object.is(dx[j], dx[8 + j]), `gelu'(${x[j]}): lane ${dx[j]} vs tail ${dx[8 + j]}`);
      compared++;
    }
  }
  assert.ok(compared >= 700);
});
