import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { blasAddon } from '../../src/compute/cpu/blas.js';
import type { Device } from '../../src/compute/device.js';
import {
  add,
  addCpu,
  addInPlace,
  addScaled,
  addScaledCpu,
  addScaledInPlace,
  mul,
  mulCpu,
  mulInPlace,
  scale,
  scaleCpu,
  scaleInPlace,
  sub,
  subCpu,
  subInPlace,
} from '../../src/compute/ops/elementwise.js';
import { Rng } from '../../src/compute/random.js';
import { reluBackwardCpu, reluCpu } from '../../src/compute/ops/activations.js';
import { sumColumnsCpu } from '../../src/compute/ops/reductions.js';
import { assertClose } from '../helpers/assertClose.js';
import { gpuOrSkip } from '../helpers/gpu.js';

const { gpu, skip } = await gpuOrSkip();
const f32 = (xs: number[]) => new Float32Array(xs);

test('elementwise CPU twins: hand-computed, with broadcasting', () => {
  const a = f32([1, 2, 3, 4, 5, 6]);
  const out = new Float32Array(6);
  addCpu(a, f32([10, 20, 30, 40, 50, 60]), out);
  assert.deepEqual([...out], [11, 22, 33, 44, 55, 66]);
  addCpu(a, f32([10, 20, 30]), out); // a bias [3] onto [2, 3]
  assert.deepEqual([...out], [11, 22, 33, 14, 25, 36]);
  subCpu(a, f32([1]), out); // one element
  assert.deepEqual([...out], [0, 1, 2, 3, 4, 5]);
  mulCpu(a, f32([2, -1]), out); // [2] onto [3, 2]
  assert.deepEqual([...out], [2, -2, 6, -4, 10, -6]);
  scaleCpu(a, 0.5, out);
  assert.deepEqual([...out], [0.5, 1, 1.5, 2, 2.5, 3]);
  addScaledCpu(a, f32([1, 1, 1, 1, 1, 2]), -2, out);
  assert.deepEqual([...out], [-1, 0, 1, 2, 3, 2]);
  addCpu(a, a, a); // out may alias the inputs
  assert.deepEqual([...a], [2, 4, 6, 8, 10, 12]);
});

test('elementwise dispatch on CPU tensors: shapes, broadcasting, in place, errors', () => {
  const a = cpu.fromArray(f32([1, 2, 3, 4, 5, 6]), [2, 3]);
  const bias = cpu.fromArray(f32([1, 0, -1]), [3]);
  const y = add(a, bias);
  assert.deepEqual(y.shape, [2, 3]);
  assert.deepEqual([...y.data], [2, 2, 2, 5, 5, 5]);
  assert.deepEqual([...sub(a, cpu.fromArray(f32([1, 0, -1]), [1, 3])).data], [0, 2, 4, 3, 5, 7]); // leading 1s ignored
  assert.deepEqual([...mul(a, cpu.fromArray(f32([3]), [])).data], [3, 6, 9, 12, 15, 18]); // a scalar
  assert.deepEqual([...scale(a, 2).data], [2, 4, 6, 8, 10, 12]);
  // s is rounded to f32 so that CPU and GPU agree.
  assert.equal(scale(cpu.fromArray(f32([1])), 0.1).data[0], Math.fround(0.1));
  assert.deepEqual([...addScaled(a, a, -1).data], [0, 0, 0, 0, 0, 0]);
  addInPlace(a, bias);
  subInPlace(a, cpu.fromArray(f32([1])));
  mulInPlace(a, cpu.fromArray(f32([2, 2, 2]), [1, 3]));
  assert.deepEqual([...a.data], [2, 2, 2, 8, 8, 8]);
  addScaledInPlace(a, a, 0.5); // b aliasing a
  scaleInPlace(a, -1);
  assert.deepEqual([...a.data], [-3, -3, -3, -12, -12, -12]);
  assert.throws(() => add(a, cpu.fromArray(f32([1, 2]))), /does not broadcast/);
  assert.throws(() => add(a, cpu.fromArray(f32([1, 2, 3, 4, 5, 6]), [3, 2])), /does not broadcast/);
  assert.throws(() => add(cpu.fromArray(f32([1, 2, 3])), cpu.fromArray(f32([1, 2, 3, 4, 5, 6]), [2, 3])), /does not broadcast/); // b larger than a
  assert.throws(() => add(cpu.fromArray(new Int32Array(3)), cpu.fromArray(f32([1]))), /expected f32/);
});

/** Every op once on a device, from the same random inputs; returns the outputs read back. */
async function runAll(dev: Device, rows: number, cols: number, seed: number): Promise<Record<string, ArrayLike<number>>> {
  const rng = new Rng(seed);
  const a = rng.normalArray(rows * cols);
  const same = rng.normalArray(rows * cols);
  const bias = rng.normalArray(cols);
  const one = rng.normalArray(1);
  const A = () => dev.fromArray(a, [rows, cols]);
  const out: Record<string, ArrayLike<number>> = {};
  out.addSame = await add(A(), dev.fromArray(same, [rows, cols])).read();
  out.addBias = await add(A(), dev.fromArray(bias, [cols])).read();
  out.subOne = await sub(A(), dev.fromArray(one, [1])).read();
  out.mulBias = await mul(A(), dev.fromArray(bias, [1, cols])).read();
  out.scale = await scale(A(), -0.37).read();
  out.axpy = await addScaled(A(), dev.fromArray(same, [rows, cols]), 0.01).read();
  const t = A();
  addInPlace(t, dev.fromArray(bias, [cols]));
  subInPlace(t, dev.fromArray(same, [rows, cols]));
  mulInPlace(t, dev.fromArray(one, []));
  scaleInPlace(t, 3);
  addScaledInPlace(t, dev.fromArray(same, [rows, cols]), -0.001);
  addInPlace(t, t.reshape([1, rows, cols])); // aliased operands (a view of a): the GPU path copies b first
  out.inPlace = await t.read();
  return out;
}

test('elementwise WGSL matches CPU twins on random inputs, odd sizes', { skip }, async () => {
  for (const [rows, cols] of [
    [1, 1],
    [3, 7],
    [1, 255],
    [2, 257],
    [70, 1000],
    [1, 70001],
  ] as const) {
    const want = await runAll(cpu, rows, cols, rows * 100_000 + cols);
    const got = await runAll(gpu!, rows, cols, rows * 100_000 + cols);
    for (const k of Object.keys(want)) {
      // +, −, ⊙ and scaling by an f32 are correctly rounded on both sides: exact. Where an op
      // chain adds products (axpy, the in-place chain) the GPU may round a product before adding
      // (or fuse it) while the twin adds in float64: 1 ulp of the operands' size.
      const exact = !['axpy', 'inPlace'].includes(k);
      assertClose(got[k]!, want[k]!, exact ? { atol: 0, rtol: 0 } : { atol: 1e-6, rtol: 1e-6 }, `${k} [${rows}, ${cols}]`);
    }
  }
});

test('elementwise WGSL over more than 65,535 workgroups (2-D grid)', { skip }, async () => {
  const n = 65536 * 256 + 3;
  const a = new Float32Array(n).fill(1);
  const t = gpu!.fromArray(a);
  addScaledInPlace(t, gpu!.fromArray(f32([2])), 0.5);
  const y = (await t.read()) as Float32Array;
  assert.equal(y[0], 2);
  assert.equal(y[n - 1], 2);
  assert.equal(y[16_000_000], 2);
});

test('add: the native twin (native/elementwise.c, from 64k elements) equals addCpu bit for bit, in place too', { skip: blasAddon()?.addArrays ? false : 'the native addon is not built' }, () => {
  const rng = new Rng(12);
  const n = (1 << 17) + 5; // two threads' pieces and a ragged end
  const a = rng.normalArray(n, 3);
  const b = rng.normalArray(n, 1e-3);
  const want = new Float32Array(n);
  addCpu(a, b, want);
  const got = add(cpu.wrap(a, [n]), cpu.wrap(b, [n])).data as Float32Array;
  assert.deepEqual(got, want);
  const inPlace = a.slice();
  blasAddon()!.addArrays!(inPlace, b, inPlace);
  assert.deepEqual(inPlace, want);
  assert.throws(() => blasAddon()!.addArrays!(a, b.subarray(1), want), /one length/);
});

test('native relu, relu backward, column sums and positive counts (native/elementwise.c) equal their twins bit for bit', { skip: blasAddon()?.reluForward && blasAddon()?.sumColumns ? false : 'the native addon is not built' }, () => {
  const a = blasAddon()!;
  const rng = new Rng(13);
  const rows = 301;
  const cols = 517; // neither divides the 256-column blocks or the threads' pieces
  const x = rng.normalArray(rows * cols, 2);
  x.set([NaN, -0, 0, Infinity, -Infinity, 1e-45, -1e-45], 0);
  const dy = rng.normalArray(rows * cols, 1);
  dy[5] = NaN; // x[5] = 1e-45 > 0: the gradient passes, NaN included
  const [y, yt, dx, dxt] = [0, 0, 0, 0].map(() => new Float32Array(rows * cols));
  a.reluForward!(x, y!);
  reluCpu(x, yt!);
  a.reluBackward!(x, dy, dx!);
  reluBackwardCpu(x, dy, dxt!);
  assert.deepEqual(y, yt);
  assert.deepEqual(dx, dxt);
  const s = new Float32Array(cols);
  const st = new Float32Array(cols);
  const finite = x.map((v) => (Number.isFinite(v) ? v : 0));
  a.sumColumns!(finite, rows, cols, s);
  sumColumnsCpu(finite, rows, cols, st);
  assert.deepEqual(s, st);
  const c = new Float32Array(cols);
  a.countPositiveColumns!(x, rows, cols, c);
  const ct = new Float32Array(cols);
  for (let r = 0; r < rows; r++) for (let k = 0; k < cols; k++) ct[k] += x[r * cols + k]! > 0 ? 1 : 0;
  assert.deepEqual(c, ct);
  assert.throws(() => a.sumColumns!(x, rows + 1, cols, s), /shorter/);
});
