import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import {
  argmaxRows,
  argmaxRowsCpu,
  logsumexpRows,
  logsumexpRowsCpu,
  maxRows,
  maxRowsCpu,
  meanRows,
  meanRowsCpu,
  sumColumns,
  sumColumnsCpu,
  sumRows,
  sumRowsCpu,
} from '../../src/compute/ops/reductions.js';
import { Rng } from '../../src/compute/random.js';
import { assertClose } from '../helpers/assertClose.js';
import { gpuOrSkip } from '../helpers/gpu.js';

const { gpu, skip } = await gpuOrSkip();
const f32 = (xs: number[]) => new Float32Array(xs);

/** Run a row twin on a fresh output array. */
function rowTwin(f: (x: Float32Array, rows: number, cols: number, out: Float32Array) => void, x: number[], rows: number, cols: number): number[] {
  const out = new Float32Array(rows);
  f(f32(x), rows, cols, out);
  return [...out];
}

test('row reduction CPU twins: hand-computed', () => {
  const x = [1, 2, 3, 4, -1, -2, -3, -4, 0.5, 0.25, 8, 0.25]; // [3, 4]
  assert.deepEqual(rowTwin(sumRowsCpu, x, 3, 4), [10, -10, 9]);
  assert.deepEqual(rowTwin(meanRowsCpu, x, 3, 4), [2.5, -2.5, 2.25]);
  assert.deepEqual(rowTwin(maxRowsCpu, x, 3, 4), [4, -1, 8]);
  const idx = new Int32Array(3);
  argmaxRowsCpu(f32(x), 3, 4, idx);
  assert.deepEqual([...idx], [3, 0, 2]);
  // log(e¹ + e² + e³ + e⁴), and for the other rows the same by hand (float64 via Python).
  assertClose(rowTwin(logsumexpRowsCpu, x, 3, 4), [4.440189698561196, -0.5598103014388047, 8.001413569890454], { atol: 0, rtol: 1e-7 }, 'lse');
  // Stability: e^1000 overflows, the max-subtracted form does not.
  assertClose(rowTwin(logsumexpRowsCpu, [1000, 1000, -1000, 0], 2, 2), [1000 + Math.LN2, 0], { atol: 0, rtol: 1e-7 }, 'lse stable');
});

test('max/argmax: ties go to the lowest index, NaN wins; logsumexp with ±∞ and NaN', () => {
  const idx = new Int32Array(4);
  const x = [1, 5, 5, 2, /**/ 7, NaN, 9, NaN, /**/ NaN, 1, 2, 3, /**/ -0, 0, -0, -1];
  argmaxRowsCpu(f32(x), 4, 4, idx);
  assert.deepEqual([...idx], [1, 1, 0, 0]);
  const m = rowTwin(maxRowsCpu, x, 4, 4);
  assert.equal(m[0], 5);
  assert.ok(Number.isNaN(m[1]) && Number.isNaN(m[2]));
  assert.ok(Object.is(m[3], -0)); // max is x at the argmax, so the first of tied zeros
  const lse = rowTwin(logsumexpRowsCpu, [-Infinity, -Infinity, -Infinity, 0, Infinity, 1, NaN, 1], 4, 2);
  assert.deepEqual(lse.slice(0, 3), [-Infinity, 0, Infinity]); // fully masked row → −∞
  assert.ok(Number.isNaN(lse[3]));
});

test('sumColumns CPU twin: hand-computed', () => {
  const out = new Float32Array(3);
  sumColumnsCpu(f32([1, 2, 3, 10, 20, 30]), 2, 3, out);
  assert.deepEqual([...out], [11, 22, 33]);
  sumColumnsCpu(new Float32Array(0), 0, 3, out);
  assert.deepEqual([...out], [0, 0, 0]);
});

test('reduction dispatch on CPU tensors: shapes and dtypes', () => {
  const x = cpu.fromArray(f32([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), [2, 2, 3]);
  const s = sumRows(x);
  assert.deepEqual(s.shape, [2, 2]);
  assert.deepEqual([...s.data], [6, 15, 24, 33]);
  assert.deepEqual([...meanRows(x).data], [2, 5, 8, 11]);
  assert.deepEqual([...maxRows(x).data], [3, 6, 9, 12]);
  const a = argmaxRows(x);
  assert.equal(a.dtype, 'i32');
  assert.deepEqual([...a.data], [2, 2, 2, 2]);
  assertClose(logsumexpRows(x).data, [3.40760596444438, 6.40760596444438, 9.40760596444438, 12.40760596444438], { atol: 0, rtol: 1e-7 }, 'lse');
  const c = sumColumns(x);
  assert.deepEqual(c.shape, [3]);
  assert.deepEqual([...c.data], [22, 26, 30]);
  assert.deepEqual(sumRows(cpu.fromArray(f32([1, 2]))).shape, []); // 1-D → scalar shape
  assert.throws(() => maxRows(cpu.zeros([3, 0])), /length 0/);
  assert.deepEqual([...sumRows(cpu.zeros([3, 0])).data], [0, 0, 0]);
});

/** Per-row Σ|x|: what an f32 sum's error scales with (the result itself may cancel to ~0). */
function absSums(x: Float32Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r] += Math.abs(x[r * cols + c]!);
  return out;
}

/** |got − want| ≤ tol·scale, elementwise. */
function assertWithin(got: ArrayLike<number>, want: ArrayLike<number>, scale: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    assert.ok(err <= tol * scale[i]!, `${what}: index ${i}: got ${got[i]}, expected ${want[i]} (|Δ| ${err} > ${tol} · ${scale[i]})`);
  }
}

// Tolerances, WGSL vs float64 twin. Sums: |Δ| ≤ 1e-6·Σ|x| (about 8 ulp of Σ|x|; relative-to-result
// is meaningless where a sum cancels). max/argmax: exact. logsumexp: |Δ| ≤ 1e-6 + 1e-5·|expected|.
const SUM_TOL = 1e-6;
const LSE_TOL = { atol: 1e-6, rtol: 1e-5 };
const SHAPES: readonly (readonly [number, number])[] = [
  [1, 1],
  [3, 1],
  [3, 7],
  [1, 255],
  [3, 257],
  [3, 1000],
  [3, 50257],
  [70000, 7], // 70,000 workgroups: the 2-D grid
];

test('row reductions WGSL match CPU twins on random inputs, odd sizes', { skip }, async () => {
  const rng = new Rng(11);
  for (const [rows, cols] of SHAPES) {
    const what = `[${rows}, ${cols}]`;
    const x = rng.normalArray(rows * cols, 2);
    for (let i = 0; i < x.length; i++) x[i] += 0.5; // a nonzero mean, so that sums do not only cancel
    // Plant ties: each row's max copied to its middle and last element, so argmax must take the lowest.
    for (let r = 0; r < rows; r++) {
      const m = Math.max(...x.subarray(r * cols, (r + 1) * cols));
      x[r * cols + (cols >> 1)] = x[r * cols + cols - 1] = m;
    }
    const xc = cpu.fromArray(x, [rows, cols]);
    const xg = gpu!.fromArray(x, [rows, cols]);
    const abs = absSums(x, rows, cols);
    assertWithin(await sumRows(xg).read(), sumRows(xc).data, abs, SUM_TOL, `sumRows ${what}`);
    assertWithin(await meanRows(xg).read(), meanRows(xc).data, abs.map((s) => s / cols), SUM_TOL, `meanRows ${what}`);
    assert.deepEqual(await maxRows(xg).read(), maxRows(xc).data, `maxRows ${what}`);
    assert.deepEqual(await argmaxRows(xg).read(), argmaxRows(xc).data, `argmaxRows ${what}`);
    assertClose(await logsumexpRows(xg).read(), logsumexpRows(xc).data, LSE_TOL, `logsumexpRows ${what}`);
  }
});

test('max/argmax/logsumexp WGSL: ties, NaN, ±∞ and huge values follow the stated rules', { skip }, async () => {
  const cols = 300; // more than one element per thread
  const rows: number[][] = [];
  const row = (f: (c: number) => number) => rows.push(Array.from({ length: cols }, (_, c) => f(c)));
  row((c) => (c === 7 || c === 290 ? 3 : 1)); // tie across threads → 7
  row((c) => (c === 299 ? 3 : c === 44 || c === 45 ? NaN : 1)); // first NaN → 44
  row((c) => (c === 0 ? NaN : 2)); // NaN first → 0
  row(() => -Infinity); // fully masked: lse −∞, argmax 0
  row((c) => (c === 100 ? 0 : -Infinity)); // one live entry
  row((c) => (c < 3 ? 1e30 : -1e30)); // huge, finite
  const x = Float32Array.from(rows.flat());
  const xc = cpu.fromArray(x, [rows.length, cols]);
  const xg = gpu!.fromArray(x, [rows.length, cols]);
  assert.deepEqual([...(await argmaxRows(xg).read())], [7, 44, 0, 0, 100, 0]);
  assert.deepEqual(await argmaxRows(xg).read(), argmaxRows(xc).data);
  assert.deepEqual(await maxRows(xg).read(), maxRows(xc).data); // NaNs compare equal in deepEqual
  const lse = await logsumexpRows(xg).read();
  assert.deepEqual([lse[3], lse[4]], [-Infinity, 0]);
  assertClose([lse[0]!, lse[5]!], [logsumexpRows(xc).data[0]!, 1e30], LSE_TOL, 'lse');
});

test('sumColumns WGSL matches CPU twin: chunked levels, up to 1e6 rows', { skip }, async () => {
  const rng = new Rng(5);
  for (const [rows, cols] of [
    [0, 3],
    [1, 1],
    [3, 257],
    [64, 7],
    [65, 7],
    [4097, 255],
    [70000, 3],
    [1_000_000, 2],
  ] as const) {
    const x = rng.normalArray(rows * cols);
    for (let i = 0; i < x.length; i += 2) x[i] += 1; // column 0 has mean 1: a sum of ~rows
    const want = sumColumns(cpu.fromArray(x, [rows, cols])).data;
    const got = await sumColumns(gpu!.fromArray(x, [rows, cols])).read();
    // Column Σ|x| (the error scale), via the twin on |x|.
    const abs = new Float32Array(cols);
    sumColumnsCpu(x.map(Math.abs), rows, cols, abs);
    assertWithin(got, want, abs, SUM_TOL, `sumColumns [${rows}, ${cols}]`);
  }
});
