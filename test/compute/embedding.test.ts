import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { embeddingGather, embeddingGatherCpu, embeddingScatterAdd, embeddingScatterAddCpu } from '../../src/compute/ops/embedding.js';
import { Rng } from '../../src/compute/random.js';
import { assertClose } from '../helpers/assertClose.js';
import { dot } from '../helpers/finiteDiff.js';
import { gpuOrSkip } from '../helpers/gpu.js';

const { gpu, skip } = await gpuOrSkip();

test('embedding CPU twins: hand-computed, out-of-range ids throw', () => {
  const table = new Float32Array([1, 2, 3, 4, 5, 6]); // [3, 2]
  const out = new Float32Array(6);
  embeddingGatherCpu(table, new Int32Array([2, 0, 2]), 2, out);
  assert.deepEqual([...out], [5, 6, 1, 2, 5, 6]);
  const dT = new Float32Array(6).fill(9); // overwritten, not accumulated into
  embeddingScatterAddCpu(new Int32Array([2, 0, 2]), new Float32Array([1, 1, 2, 2, 3, 3]), 2, dT);
  assert.deepEqual([...dT], [2, 2, 0, 0, 4, 4]);
  assert.throws(() => embeddingGatherCpu(table, new Int32Array([0, 3]), 2, out), /id 3 at position 1 is outside \[0, 3\)/);
  assert.throws(() => embeddingScatterAddCpu(new Int32Array([-1]), new Float32Array(2), 2, dT), RangeError);
});

test('embedding backward is the adjoint of gather: <gather(T), dy> = <T, scatterAdd(dy)>', () => {
  // gather is linear in T, so this identity is the gradient check of d<gather(T), dy>/dT.
  const rng = new Rng(13);
  const [V, d, N] = [11, 5, 40];
  const table = rng.normalArray(V * d);
  const ids = Int32Array.from({ length: N }, () => rng.int(V));
  const dy = rng.normalArray(N * d);
  const out = embeddingGather(cpu.fromArray(table, [V, d]), cpu.fromArray(ids));
  assert.deepEqual(out.shape, [N, d]);
  const dT = embeddingScatterAdd(cpu.fromArray(ids), cpu.fromArray(dy, [N, d]), V);
  assert.deepEqual(dT.shape, [V, d]);
  assertClose([dot(table, dT.data)], [dot(out.data, dy)], { atol: 1e-5, rtol: 1e-5 });
});

test('embedding WGSL matches CPU twins exactly (same summation order), odd sizes', { skip }, async () => {
  const rng = new Rng(14);
  // [V, d, N]: N = 70,000 with d = 7 → 490,000 gather threads (2-D grid); V = 5 → heavy collisions.
  const cases: [number, number, number][] = [[1, 1, 1], [13, 7, 3], [5, 3, 1000], [257, 768, 65], [50257, 64, 70], [13, 7, 70000]];
  for (const [V, d, N] of cases) {
    const what = `V=${V} d=${d} N=${N}`;
    const table = rng.normalArray(V * d);
    const ids = Int32Array.from({ length: N }, () => rng.int(V));
    const dy = rng.normalArray(N * d);
    const c = embeddingGather(cpu.fromArray(table, [V, d]), cpu.fromArray(ids));
    const g = embeddingGather(gpu!.fromArray(table, [V, d]), gpu!.fromArray(ids));
    assert.deepEqual(await g.read(), c.data, `gather ${what}`);
    const cs = embeddingScatterAdd(cpu.fromArray(ids), cpu.fromArray(dy, [N, d]), V);
    const gs = embeddingScatterAdd(gpu!.fromArray(ids), gpu!.fromArray(dy, [N, d]), V);
    assert.deepEqual(await gs.read(), cs.data, `scatterAdd ${what}`);
  }
});

test('embedding WGSL: out-of-range ids gather zeros and are skipped by scatterAdd', { skip }, async () => {
  const table = gpu!.fromArray(new Float32Array([1, 2, 3, 4]), [2, 2]);
  const ids = gpu!.fromArray(new Int32Array([1, -1, 2, 0]));
  assert.deepEqual([...(await embeddingGather(table, ids).read())], [3, 4, 0, 0, 0, 0, 1, 2]);
  const dy = gpu!.fromArray(new Float32Array([1, 1, 5, 5, 7, 7, 2, 2]), [4, 2]);
  assert.deepEqual([...(await embeddingScatterAdd(ids, dy, 2).read())], [2, 2, 1, 1]);
});
