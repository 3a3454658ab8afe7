import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { relu, reluBackward, reluBackwardCpu, reluCpu } from '../../src/compute/ops/activations.js';
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
