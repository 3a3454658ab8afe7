import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { topkRows, topkRowsCpu, topkRowsFastCpu } from '../../src/compute/ops/topk.js';
import { Rng } from '../../src/compute/random.js';
import { gpuOrSkip } from '../helpers/gpu.js';

const { gpu, skip } = await gpuOrSkip();

/** The twin's answer for x [rows, cols]. */
function twin(x: Float32Array, rows: number, cols: number, k: number): { values: Float32Array; indices: Int32Array } {
  const values = new Float32Array(rows * k);
  const indices = new Int32Array(rows * k);
  topkRowsCpu(x, rows, cols, k, values, indices);
  return { values, indices };
}

/** Exact equality of values (bitwise, so -0 vs +0 and NaN count) and indices. */
function assertSame(got: { values: ArrayLike<number>; indices: ArrayLike<number> }, want: { values: Float32Array; indices: Int32Array }, what: string): void {
  assert.deepEqual(Array.from(got.indices), Array.from(want.indices), `${what}: indices`);
  const gb = new Uint32Array(Float32Array.from(got.values).buffer);
  const wb = new Uint32Array(want.values.buffer);
  for (let i = 0; i < wb.length; i++) {
    const bothNaN = Number.isNaN(got.values[i]) && Number.isNaN(want.values[i]);
    if (!bothNaN && gb[i] !== wb[i]) assert.fail(`${what}: value ${i}: got ${got.values[i]}, expected ${want.values[i]}`);
  }
}

test('topk twin: hand cases (ties, negatives, k = cols, k = 1)', () => {
  const x = new Float32Array([3, -1, 3, 7, -5, 7]);
  assert.deepEqual(twin(x, 1, 6, 3), { values: new Float32Array([7, 7, 3]), indices: new Int32Array([3, 5, 0]) });
  assert.deepEqual(twin(x, 1, 6, 6), { values: new Float32Array([7, 7, 3, 3, -1, -5]), indices: new Int32Array([3, 5, 0, 2, 1, 4]) });
  assert.deepEqual(twin(x, 2, 3, 1), { values: new Float32Array([3, 7]), indices: new Int32Array([0, 0]) });
  const neg = new Float32Array([-3, -2, -9, -2]);
  assert.deepEqual(twin(neg, 1, 4, 2), { values: new Float32Array([-2, -2]), indices: new Int32Array([1, 3]) });
});

test('topk twin: NaN ranks below -Infinity, ±0 tie by index', () => {
  const x = new Float32Array([NaN, -Infinity, -0, 0, NaN, Infinity]);
  const r = twin(x, 1, 6, 6);
  assert.deepEqual([...r.indices], [5, 2, 3, 1, 0, 4]);
  assert.ok(Object.is(r.values[1], -0) && Object.is(r.values[2], 0) && Number.isNaN(r.values[4]));
});

test('topk fast CPU path matches the twin (random, ties, NaN)', () => {
  const rng = new Rng(7);
  for (const [rows, cols, k] of [[3, 1, 1], [5, 7, 5], [4, 1000, 32], [2, 1000, 1000], [3, 777, 64]] as const) {
    for (const kind of ['distinct', 'ties', 'nan']) {
      const x = kind === 'ties' ? Float32Array.from({ length: rows * cols }, () => rng.int(5) - 2) : rng.normalArray(rows * cols);
      if (kind === 'nan') for (let i = 0; i < x.length; i += 3) x[i] = NaN;
      const v = new Float32Array(rows * k);
      const ix = new Int32Array(rows * k);
      topkRowsFastCpu(x, rows, cols, k, v, ix);
      assertSame({ values: v, indices: ix }, twin(x, rows, cols, k), `fast ${kind} ${rows}x${cols} k=${k}`);
    }
  }
  const r = topkRows(cpu.fromArray(new Float32Array([1, 2, 3, 4, 5, 6]), [3, 2]), 1);
  assert.deepEqual(r.values.shape, [3, 1]);
  assert.deepEqual([...r.indices.data], [1, 1, 1]);
});

test('topk validates k', () => {
  const x = cpu.zeros([2, 3]);
  assert.throws(() => topkRows(x, 4), /k must be/);
  assert.throws(() => topkRows(x, 1.5), /k must be/);
  assert.throws(() => topkRows(cpu.zeros([2, 3], 'i32'), 1), /expected f32/);
});

/** Run the WGSL kernel and compare it exactly with the twin. */
async function checkGpu(x: Float32Array, rows: number, cols: number, k: number, what: string): Promise<void> {
  const r = topkRows(gpu!.fromArray(x, [rows, cols]), k);
  assert.deepEqual(r.values.shape, [rows, k]);
  const got = { values: await r.values.read(), indices: await r.indices.read() };
  r.values.dispose();
  r.indices.dispose();
  assertSame(got, twin(x, rows, cols, k), what);
}

test('topk WGSL matches the twin exactly: distinct random values, odd sizes', { skip }, async () => {
  const rng = new Rng(1);
  for (const cols of [1, 7, 1000, 24577]) {
    for (const k of [1, 5, 32, 64]) {
      if (k > cols) continue;
      for (const rows of cols > 1000 ? [1, 3] : [1, 3, 37]) {
        await checkGpu(rng.normalArray(rows * cols), rows, cols, k, `rows ${rows} cols ${cols} k ${k}`);
      }
    }
  }
});

test('topk WGSL: deliberate ties follow the lower-index rule (radix path incl. index digits)', { skip }, async () => {
  const rng = new Rng(2);
  for (const [rows, cols, k] of [[3, 24577, 64], [2, 5000, 300], [37, 1000, 5], [4, 300, 300]] as const) {
    const x = Float32Array.from({ length: rows * cols }, () => rng.int(7) - 3); // thousands of equal values
    await checkGpu(x, rows, cols, k, `ties ${rows}x${cols} k=${k}`);
  }
  await checkGpu(new Float32Array(2 * 4099).fill(1.5), 2, 4099, 33, 'all equal');
});

test('topk WGSL: NaN, ±Infinity, ±0 and adversarial (sorted) rows', { skip }, async () => {
  const rng = new Rng(3);
  const cols = 3001;
  const x = rng.normalArray(3 * cols);
  for (let i = 0; i < cols; i += 2) x[i] = NaN; // row 0: half NaN
  x[5] = Infinity;
  x[7] = -Infinity;
  for (let i = cols; i < 2 * cols; i++) x[i] = i % 3 === 0 ? -0 : i % 3 === 1 ? 0 : -Infinity; // row 1: signed zeros
  for (let i = 2 * cols; i < 3 * cols; i++) x[i] = i; // row 2: ascending
  await checkGpu(x, 3, cols, 64, 'specials');
  await checkGpu(x, 3, cols, 2000, 'specials, k = 2000 (more than the non-NaN values in row 0)');
  await checkGpu(new Float32Array([NaN, NaN, NaN]), 1, 3, 3, 'all NaN');
});

test('topk WGSL: large k (global candidate scratch) and k = cols', { skip }, async () => {
  const rng = new Rng(4);
  await checkGpu(rng.normalArray(2 * 3000), 2, 3000, 2000, 'k 2000');
  await checkGpu(rng.normalArray(3 * 1500), 3, 1500, 1500, 'k = cols 1500');
  await checkGpu(rng.normalArray(3 * 1000), 3, 1000, 1000, 'k = cols 1000');
  await checkGpu(Float32Array.from({ length: 2 * 2500 }, () => rng.int(3)), 2, 2500, 1100, 'ties, k 1100');
});
