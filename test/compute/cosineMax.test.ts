import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { cosineMaxBoth, cosineMaxBothCpu, cosineMaxBothFastCpu, type CosineMaxArrays, type CosineMaxOptions } from '../../src/compute/ops/cosineMax.js';
import { Rng } from '../../src/compute/random.js';
import type { Device } from '../../src/compute/device.js';
import { assertClose } from '../helpers/assertClose.js';
import { gpuOrSkip } from '../helpers/gpu.js';

const { gpu, skip } = await gpuOrSkip();
const TOL = { atol: 1e-5, rtol: 0 };

/** Every cosine between rows of A and B (for telling which maxima are unique by a margin). */
function allCos(A: Float32Array, n: number, B: Float32Array, m: number, d: number): Float64Array {
  const c = new Float64Array(n * m);
  const norm = (x: Float32Array, i: number) => Math.hypot(...x.subarray(i * d, (i + 1) * d));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let dot = 0;
      for (let k = 0; k < d; k++) dot += A[i * d + k]! * B[j * d + k]!;
      const den = norm(A, i) * norm(B, j);
      c[i * m + j] = den === 0 ? 0 : dot / den;
    }
  }
  return c;
}

/** Values within TOL; args equal wherever the runner-up trails the max by more than 1e-4. */
function assertMatches(got: CosineMaxArrays, want: CosineMaxArrays, C: Float64Array, n: number, m: number, what: string, minChecked = (n + m) / 2): void {
  assertClose(got.rowMax, want.rowMax, TOL, `${what} rowMax`);
  assertClose(got.colMax, want.colMax, TOL, `${what} colMax`);
  let checked = 0;
  for (let i = 0; i < n; i++) {
    let second = -Infinity;
    for (let j = 0; j < m; j++) if (j !== want.rowArg[i]) second = Math.max(second, C[i * m + j]!);
    if (want.rowMax[i]! - second > 1e-4) {
      assert.equal(got.rowArg[i], want.rowArg[i], `${what} rowArg[${i}]`);
      checked++;
    }
  }
  for (let j = 0; j < m; j++) {
    let second = -Infinity;
    for (let i = 0; i < n; i++) if (i !== want.colArg[j]) second = Math.max(second, C[i * m + j]!);
    if (want.colMax[j]! - second > 1e-4) {
      assert.equal(got.colArg[j], want.colArg[j], `${what} colArg[${j}]`);
      checked++;
    }
  }
  assert.ok(checked >= minChecked, `${what}: only ${checked} of ${n + m} args had a unique max`);
}

/** Run the device op and read its four outputs back. */
async function viaDevice(dev: Device, A: Float32Array, n: number, B: Float32Array, m: number, d: number, opts?: CosineMaxOptions): Promise<CosineMaxArrays> {
  const ta = dev.fromArray(A, [n, d]);
  const tb = dev.fromArray(B, [m, d]);
  const r = cosineMaxBoth(ta, tb, opts);
  const out = {
    rowMax: (await r.rowMax.read()) as Float32Array,
    rowArg: (await r.rowArg.read()) as Int32Array,
    colMax: (await r.colMax.read()) as Float32Array,
    colArg: (await r.colArg.read()) as Int32Array,
  };
  for (const t of [ta, tb, r.rowMax, r.rowArg, r.colMax, r.colArg]) t.dispose();
  return out;
}

test('cosineMax twin: hand case and zero rows', () => {
  const r = cosineMaxBothCpu(new Float32Array([1, 1]), 2, new Float32Array([1, -1]), 2, 1);
  assert.deepEqual([...r.rowMax], [1, 1]);
  assert.deepEqual([...r.rowArg], [0, 0]);
  assert.deepEqual([...r.colMax], [1, -1]);
  assert.deepEqual([...r.colArg], [0, 0]);
  // A zero row has cosine 0 with everything: its max is 0 at index 0, and it wins a column whose cosines are all negative.
  const z = cosineMaxBothCpu(new Float32Array([0, 0, 1, 0]), 2, new Float32Array([-1, 0, 0, 2]), 2, 2);
  assert.deepEqual([...z.rowMax], [0, 0]);
  assert.deepEqual([...z.rowArg], [0, 1]);
  assert.deepEqual([...z.colMax], [0, 0]);
  assert.deepEqual([...z.colArg], [0, 0]);
});

test('cosineMax: a permuted copy gives cosine 1 with the permutation as argmax (CPU op)', () => {
  const rng = new Rng(5);
  const n = 70;
  const d = 33;
  const A = rng.normalArray(n * d);
  const perm = Array.from({ length: n }, (_, i) => i).sort(() => rng.uniform() - 0.5);
  const B = new Float32Array(n * d);
  perm.forEach((src, j) => B.set(A.subarray(src * d, (src + 1) * d).map((v) => v * 3), j * d)); // B[j] = 3·A[perm[j]]
  const r = cosineMaxBothFastCpu(A, n, B, n, d, 16, 20);
  assertClose(r.rowMax, new Float32Array(n).fill(1), TOL, 'rowMax');
  assertClose(r.colMax, new Float32Array(n).fill(1), TOL, 'colMax');
  for (let j = 0; j < n; j++) {
    assert.equal(r.colArg[j], perm[j]);
    assert.equal(r.rowArg[perm[j]!], j);
  }
});

test('cosineMax fast CPU path (small blocks) and the CPU op match the twin', async () => {
  const rng = new Rng(6);
  for (const [n, m, d] of [[1, 1, 1], [37, 65, 3], [300, 513, 96], [37, 1, 129], [1, 65, 129]] as const) {
    const A = rng.normalArray(n * d);
    const B = rng.normalArray(m * d);
    if (n > 1) A.fill(0, 0, d); // a zero row
    const want = cosineMaxBothCpu(A, n, B, m, d);
    const C = allCos(A, n, B, m, d);
    assertMatches(cosineMaxBothFastCpu(A, n, B, m, d, 32, 100), want, C, n, m, `fast ${n}x${m} d=${d}`);
    assertMatches(await viaDevice(cpu, A, n, B, m, d), want, C, n, m, `cpu op ${n}x${m} d=${d}`);
  }
});

test('cosineMax validates shapes', () => {
  assert.throws(() => cosineMaxBoth(cpu.zeros([2, 3]), cpu.zeros([2, 4])), /expected A \[n, d\]/);
  const r = cosineMaxBoth(cpu.zeros([0, 3]), cpu.zeros([2, 3]));
  assert.deepEqual([...r.colMax.data], [-Infinity, -Infinity]);
  assert.deepEqual([...r.colArg.data], [-1, -1]);
});

test('cosineMax WGSL matches the twin on odd sizes', { skip }, async () => {
  const rng = new Rng(8);
  for (const n of [1, 37, 300]) {
    for (const m of [1, 65, 513]) {
      for (const d of [1, 3, 96, 129]) {
        if (n * m * d > 3_000_000) continue; // keep the O(n·m·d) twin quick
        const A = rng.normalArray(n * d);
        const B = rng.normalArray(m * d);
        if (m > 1) B.fill(0, d, 2 * d); // a zero row
        const want = cosineMaxBothCpu(A, n, B, m, d);
        // With d = 1 every cosine is ±1: all ties, so no arg is checked there (the tie test covers ties).
        assertMatches(await viaDevice(gpu!, A, n, B, m, d), want, allCos(A, n, B, m, d), n, m, `wgsl ${n}x${m} d=${d}`, d === 1 ? 0 : (n + m) / 2);
      }
    }
  }
});

test('cosineMax WGSL: several row chunks and column splits give the same answer', { skip }, async () => {
  const rng = new Rng(9);
  const [n, m, d] = [300, 513, 20];
  const A = rng.normalArray(n * d);
  const B = rng.normalArray(m * d);
  const want = cosineMaxBothCpu(A, n, B, m, d);
  const C = allCos(A, n, B, m, d);
  // 2 row tiles a chunk (3 chunks), one split per row tile (9 column tiles each).
  assertMatches(await viaDevice(gpu!, A, n, B, m, d, { partialBudgetBytes: 2 * 8 * m, targetWorkgroups: 1 }), want, C, n, m, 'chunked');
  assertMatches(await viaDevice(gpu!, A, n, B, m, d, { targetWorkgroups: 12 }), want, C, n, m, 'split');
});

test('cosineMax WGSL: permuted copy and exact ties go to the lowest index', { skip }, async () => {
  const rng = new Rng(10);
  const [n, d] = [130, 17];
  const A = rng.normalArray(n * d);
  const perm = Array.from({ length: n }, (_, i) => i).sort(() => rng.uniform() - 0.5);
  const B = new Float32Array(n * d);
  perm.forEach((src, j) => B.set(A.subarray(src * d, (src + 1) * d), j * d));
  const r = await viaDevice(gpu!, A, n, B, n, d, { targetWorkgroups: 2 });
  assertClose(r.rowMax, new Float32Array(n).fill(1), TOL, 'rowMax');
  for (let j = 0; j < n; j++) {
    assert.equal(r.colArg[j], perm[j]);
    assert.equal(r.rowArg[perm[j]!], j);
  }
  // Identical rows give bit-identical cosines: ties resolve to the lowest index in both directions.
  const same = new Float32Array(100 * 4).fill(0.5);
  const t = await viaDevice(gpu!, same, 100, same, 100, 4, { partialBudgetBytes: 8 * 100, targetWorkgroups: 1 });
  assert.deepEqual([...t.rowArg], new Array(100).fill(0));
  assert.deepEqual([...t.colArg], new Array(100).fill(0));
});

test('cosineMax WGSL: more than 65,535 rows (2-D workgroup grid of the norm kernel)', { skip }, async () => {
  const rng = new Rng(11);
  const [n, m, d] = [70_000, 3, 2];
  const A = rng.normalArray(n * d);
  const B = rng.normalArray(m * d);
  const want = cosineMaxBothCpu(A, n, B, m, d);
  const got = await viaDevice(gpu!, A, n, B, m, d);
  assertClose(got.rowMax, want.rowMax, TOL, 'rowMax');
  assertClose(got.colMax, want.colMax, TOL, 'colMax');
  let differ = 0;
  for (let i = 0; i < n; i++) if (got.rowArg[i] !== want.rowArg[i]) differ++;
  assert.ok(differ < 5, `${differ} row args differ (only near-ties may)`);
});
