import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { crossEntropy, crossEntropyBackward, crossEntropyBackwardCpu, crossEntropyCpu } from '../../src/compute/ops/crossEntropy.js';
import { Rng } from '../../src/compute/random.js';
import { assertClose } from '../helpers/assertClose.js';
import { dot, f64, numericGrad } from '../helpers/finiteDiff.js';
import { gpuOrSkip } from '../helpers/gpu.js';
import { assertRowsClose } from '../helpers/rowsClose.js';

const { gpu, skip } = await gpuOrSkip();

test('crossEntropy CPU twin: hand-computed, stable, ignoreIndex', () => {
  // softmax(log [1, 2, 3, 4]) = [0.1, 0.2, 0.3, 0.4]; target 3 → −ln 0.4. Row 1 is row 0 + 1000
  // (softmax is shift-invariant; unstabilised exp would overflow). Row 2 is ignored (target −1).
  const base = [1, 2, 3, 4].map(Math.log);
  const logits = new Float64Array([...base, ...base.map((v) => v + 1000), ...base]);
  const targets = new Int32Array([3, 0, -1]);
  const losses = new Float64Array(3);
  crossEntropyCpu(logits, targets, 4, -1, losses);
  assertClose(losses, [-Math.log(0.4), -Math.log(0.1), 0], { atol: 1e-12, rtol: 1e-12 });
  const dlogits = new Float64Array(12);
  crossEntropyBackwardCpu(logits, targets, 4, -1, new Float64Array([2, 1, 5]), dlogits);
  assertClose(dlogits, [0.2, 0.4, 0.6, -1.2, -0.9, 0.2, 0.3, 0.4, 0, 0, 0, 0], { atol: 1e-12, rtol: 1e-12 });
  assert.throws(() => crossEntropyCpu(logits, new Int32Array([4, 0, 0]), 4, -1, losses), /target 4 at row 0 is outside \[0, 4\)/);
  assert.throws(() => crossEntropyCpu(logits, new Int32Array([0, -2, 0]), 4, -1, losses), RangeError);
});

test('crossEntropy backward CPU twin: central finite differences (float64)', () => {
  const rng = new Rng(7);
  const [N, V] = [4, 5];
  const logits = f64(rng.normalArray(N * V, 3));
  const targets = new Int32Array([2, -100, 0, 4]);
  const dl = f64(rng.normalArray(N));
  const loss = () => {
    const l = new Float64Array(N);
    crossEntropyCpu(logits, targets, V, -100, l);
    return dot(l, dl);
  };
  const dlogits = new Float64Array(N * V);
  crossEntropyBackwardCpu(logits, targets, V, -100, dl, dlogits);
  assertClose(dlogits, numericGrad(loss, logits), { atol: 1e-8, rtol: 1e-6 }, 'dlogits');
  // A scalar dloss is the same as that value on every row.
  const scaled = new Float64Array(N * V);
  crossEntropyBackwardCpu(logits, targets, V, -100, 0.25, scaled);
  const filled = new Float64Array(N * V);
  crossEntropyBackwardCpu(logits, targets, V, -100, new Float64Array(N).fill(0.25), filled);
  assert.deepEqual(scaled, filled);
});

test('crossEntropy Tensor API checks dtypes and shapes', () => {
  const logits = cpu.zeros([2, 3]);
  assert.throws(() => crossEntropy(logits, cpu.zeros([2], 'u32')), /expected i32/);
  assert.throws(() => crossEntropy(logits, cpu.zeros([3], 'i32')), /expected shape \[2\]/);
});

test('crossEntropy WGSL matches CPU twin, odd sizes, >65,535 rows (rtol 1e-5)', { skip }, async () => {
  const rng = new Rng(8);
  const cases: [number, number][] = [[1, 1], [3, 13], [2, 257], [4, 768], [3, 50257], [70000, 13]];
  for (const [N, V] of cases) {
    const what = `N=${N} V=${V}`;
    const logits = rng.normalArray(N * V, 3);
    // Every 5th row ignored (ignoreIndex −7 here, to exercise the parameter).
    const targets = Int32Array.from({ length: N }, (_, n) => (n % 5 === 3 ? -7 : rng.int(V)));
    const dl = rng.normalArray(N);
    const [lc, tc] = [cpu.fromArray(logits, [N, V]), cpu.fromArray(targets)];
    const [lg, tg] = [gpu!.fromArray(logits, [N, V]), gpu!.fromArray(targets)];
    assertClose(await crossEntropy(lg, tg, -7).read(), crossEntropy(lc, tc, -7).data, { atol: 1e-5, rtol: 1e-5 }, `loss ${what}`);
    // Row n's error is a few ulp(1)·|dloss_n| (p − 1 cancels at the target where p ≈ 1).
    const dGpu = await crossEntropyBackward(lg, tg, gpu!.fromArray(dl), -7).read();
    assertRowsClose(dGpu, crossEntropyBackward(lc, tc, cpu.fromArray(dl), -7).data, V, (n) => dl[n]!, `dlogits ${what}`);
    if (N > 1000) continue; // the scalar variant differs only in where g comes from: spare lavapipe the big case
    const sGpu = await crossEntropyBackward(lg, tg, 1 / N, -7).read();
    assertRowsClose(sGpu, crossEntropyBackward(lc, tc, 1 / N, -7).data, V, () => 1 / N, `dlogits (scalar) ${what}`);
  }
});

test('crossEntropy WGSL: out-of-range targets give NaN, ignored rows exact 0', { skip }, async () => {
  const logits = gpu!.fromArray(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, 9]), [3, 3]);
  const targets = gpu!.fromArray(new Int32Array([3, -1, -2]));
  const losses = (await crossEntropy(logits, targets).read()) as Float32Array;
  assert.ok(Number.isNaN(losses[0]) && losses[1] === 0 && Number.isNaN(losses[2]), `${losses}`);
  const d = (await crossEntropyBackward(logits, targets, 1).read()) as Float32Array;
  assert.ok(d.slice(0, 3).every(Number.isNaN) && d.slice(6).every(Number.isNaN), `${d}`);
  assert.deepEqual([...d.slice(3, 6)], [0, 0, 0]);
});
