import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { layerNorm, layerNormBackward, layerNormBackwardCpu, layerNormCpu } from '../../src/compute/ops/layerNorm.js';
import { Rng } from '../../src/compute/random.js';
import { assertClose } from '../helpers/assertClose.js';
import { dot, f64, numericGrad } from '../helpers/finiteDiff.js';
import { gpuOrSkip } from '../helpers/gpu.js';

const { gpu, skip } = await gpuOrSkip();

test('layerNorm CPU twin: hand-computed', () => {
  // Row 0: mean 2.5, biased var (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25, eps 0 → rstd = 1/sqrt(1.25).
  // Row 1: constant → var 0, rstd = 1/sqrt(eps), y = beta.
  const x = new Float64Array([1, 2, 3, 4, 2, 2, 2, 2]);
  const gamma = new Float64Array([1, 2, 1, 0.5]);
  const beta = new Float64Array([0, 1, 0, -1]);
  const y = new Float64Array(8);
  const mean = new Float64Array(2);
  const rstd = new Float64Array(2);
  layerNormCpu(x.subarray(0, 4), gamma, beta, 0, y.subarray(0, 4), mean.subarray(0, 1), rstd.subarray(0, 1));
  layerNormCpu(x.subarray(4), gamma, beta, 1e-5, y.subarray(4), mean.subarray(1), rstd.subarray(1));
  const r = 0.894427190999916; // 1/sqrt(1.25)
  assertClose(mean, [2.5, 2], { atol: 0, rtol: 0 });
  assertClose(rstd, [r, 316.22776601683796], { atol: 0, rtol: 1e-15 });
  assertClose(y, [-1.5 * r, -0.5 * r * 2 + 1, 0.5 * r, 1.5 * r * 0.5 - 1, 0, 1, 0, -1], { atol: 1e-15, rtol: 1e-15 });
});

test('layerNorm backward CPU twin: central finite differences (float64)', () => {
  const rng = new Rng(2);
  const rows = 3;
  const d = 7;
  const x = f64(rng.normalArray(rows * d, 2)).map((v) => v + 0.5);
  const gamma = f64(rng.normalArray(d));
  const beta = f64(rng.normalArray(d));
  const dy = f64(rng.normalArray(rows * d));
  const eps = 1e-5;
  const loss = () => {
    const y = new Float64Array(rows * d);
    layerNormCpu(x, gamma, beta, eps, y, new Float64Array(rows), new Float64Array(rows));
    return dot(y, dy);
  };
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  layerNormCpu(x, gamma, beta, eps, new Float64Array(rows * d), mean, rstd);
  const dx = new Float64Array(rows * d);
  const dgamma = new Float64Array(d);
  const dbeta = new Float64Array(d);
  layerNormBackwardCpu(dy, x, gamma, mean, rstd, dx, dgamma, dbeta);
  const tol = { atol: 1e-7, rtol: 1e-6 };
  assertClose(dx, numericGrad(loss, x), tol, 'dx');
  assertClose(dgamma, numericGrad(loss, gamma), tol, 'dgamma');
  assertClose(dbeta, numericGrad(loss, beta), tol, 'dbeta');
});

test('layerNorm Tensor API checks shapes', () => {
  const x = cpu.zeros([2, 3]);
  assert.throws(() => layerNorm(x, cpu.zeros([4]), cpu.zeros([3])), /gamma: expected shape \[3\]/);
});

test('layerNorm WGSL matches CPU twin, odd sizes (rtol 1e-5)', { skip }, async () => {
  const rng = new Rng(3);
  const cases: [number, number][] = [[1, 1], [3, 7], [5, 64], [3, 257], [4, 768], [70000, 7]];
  for (const [rows, d] of cases) {
    const what = `rows=${rows} d=${d}`;
    const x = rng.normalArray(rows * d, 2).map((v) => v + 0.5);
    const gamma = rng.normalArray(d);
    const beta = rng.normalArray(d);
    const dy = rng.normalArray(rows * d);
    const c = layerNorm(cpu.fromArray(x, [rows, d]), cpu.fromArray(gamma), cpu.fromArray(beta));
    const [xg, gg, dyg] = [gpu!.fromArray(x, [rows, d]), gpu!.fromArray(gamma), gpu!.fromArray(dy, [rows, d])];
    const g = layerNorm(xg, gg, gpu!.fromArray(beta));
    // d = 1: var = 0 and y = beta exactly; larger d: f32 tree sums vs the twin's float64 sums.
    assertClose(await g.mean.read(), c.mean.data, { atol: 1e-6, rtol: 1e-5 }, `mean ${what}`);
    assertClose(await g.rstd.read(), c.rstd.data, { atol: 1e-6, rtol: 1e-5 }, `rstd ${what}`);
    assertClose(await g.y.read(), c.y.data, { atol: 1e-5, rtol: 1e-5 }, `y ${what}`);
    const cb = layerNormBackward(cpu.fromArray(dy, [rows, d]), cpu.fromArray(x, [rows, d]), cpu.fromArray(gamma), c.mean, c.rstd);
    const gb = layerNormBackward(dyg, xg, gg, g.mean, g.rstd);
    assertClose(await gb.dx.read(), cb.dx.data, { atol: 1e-5, rtol: 1e-5 }, `dx ${what}`);
    // Sums over rows: the absolute error grows like sqrt(rows).
    const atol = 1e-5 * Math.sqrt(rows);
    assertClose(await gb.dgamma.read(), cb.dgamma.data, { atol, rtol: 1e-5 }, `dgamma ${what}`);
    assertClose(await gb.dbeta.read(), cb.dbeta.data, { atol, rtol: 1e-5 }, `dbeta ${what}`);
  }
});

test('layerNorm backward on the GPU is deterministic run to run', { skip }, async () => {
  const rng = new Rng(4);
  const [rows, d] = [3000, 33];
  const x = gpu!.fromArray(rng.normalArray(rows * d), [rows, d]);
  const gamma = gpu!.fromArray(rng.normalArray(d));
  const dy = gpu!.fromArray(rng.normalArray(rows * d), [rows, d]);
  const f = layerNorm(x, gamma, gpu!.zeros([d]));
  const a = await layerNormBackward(dy, x, gamma, f.mean, f.rstd).dgamma.read();
  const b = await layerNormBackward(dy, x, gamma, f.mean, f.rstd).dgamma.read();
  assert.deepEqual(a, b);
});
