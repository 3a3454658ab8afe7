// linear (compute/ops/linear.ts): on the CPU the bias is written into the output and sgemm adds the
// product onto it; the twin is matmulCpu then addCpu.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { addCpu } from '../../src/compute/ops/elementwise.js';
import { linear } from '../../src/compute/ops/linear.js';
import { matmulCpu, matmulGeometry } from '../../src/compute/ops/matmul.js';
import { Rng } from '../../src/compute/random.js';
import { assertClose } from '../helpers/assertClose.js';

test('linear with a bias matches matmul then add (2-D and 3-D x, odd sizes), bit-identical run to run', () => {
  const rng = new Rng(81);
  for (const xShape of [[5, 7], [2, 33, 19], [1, 1], [3, 1100, 64]]) {
    const inDim = xShape[xShape.length - 1]!;
    const outDim = 1 + rng.int(80);
    const x = cpu.fromArray(rng.normalArray(xShape.reduce((a, b) => a * b, 1)), xShape);
    const W = cpu.fromArray(rng.normalArray(inDim * outDim), [inDim, outDim]);
    const b = cpu.fromArray(rng.normalArray(outDim, 3), [outDim]);
    const y = linear(x, W, b);
    assert.deepEqual(y.shape, [...xShape.slice(0, -1), outDim]);
    const want = new Float32Array(y.numel);
    matmulCpu(x.data as Float32Array, W.data as Float32Array, want, matmulGeometry(x.shape, W.shape));
    addCpu(want, b.data as Float32Array, want);
    assertClose(y.data as Float32Array, want, { atol: 1e-5, rtol: 1e-5 }, `x [${xShape}] · W [${inDim}, ${outDim}] + b`);
    assert.deepEqual(linear(x, W, b).data, y.data, 'run to run');
    const noBias = linear(x, W, null);
    const want0 = new Float32Array(y.numel);
    matmulCpu(x.data as Float32Array, W.data as Float32Array, want0, matmulGeometry(x.shape, W.shape));
    assertClose(noBias.data as Float32Array, want0, { atol: 1e-5, rtol: 1e-5 }, 'no bias');
  }
});

test('linear names the shapes when the bias does not fit', () => {
  const x = cpu.fromArray(new Float32Array(6), [2, 3]);
  const W = cpu.fromArray(new Float32Array(12), [3, 4]);
  assert.throws(() => linear(x, W, cpu.fromArray(new Float32Array(3), [3])), /does not broadcast/);
});
