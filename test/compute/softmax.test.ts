import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { logsumexpRowsCpu } from '../../src/compute/ops/reductions.js';
import { softmaxBackward, softmaxBackwardCpu, softmaxRows, softmaxRowsCpu } from '../../src/compute/ops/softmax.js';
import { Rng } from '../../src/compute/random.js';
import { assertClose } from '../helpers/assertClose.js';
import { gpuOrSkip } from '../helpers/gpu.js';

const { gpu, skip } = await gpuOrSkip();

test('softmax CPU twins: hand-computed', () => {
  const y = new Float64Array(9);
  softmaxRowsCpu(Float64Array.from([1, 2, 3, 1000, 1000, -Infinity, -Infinity, 0, -Infinity]), 3, 3, y);
  // Row 0 by hand (float64 via Python); row 1 would overflow without the max subtraction; row 2 is masked.
  assertClose(y.subarray(0, 3), [0.09003057317038046, 0.24472847105479767, 0.6652409557748219], { atol: 0, rtol: 1e-14 }, 'softmax');
  assert.deepEqual([...y.subarray(3)], [0.5, 0.5, 0, 0, 1, 0]);
  const nan = new Float64Array(2);
  softmaxRowsCpu(Float64Array.from([-Infinity, -Infinity]), 1, 2, nan); // all masked: NaN, as PyTorch
  assert.ok(nan.every(Number.isNaN));
  const dx = new Float64Array(2);
  softmaxBackwardCpu(Float64Array.from([0.5, 0.5]), Float64Array.from([1, 0]), 1, 2, dx);
  assert.deepEqual([...dx], [0.25, -0.25]); // Σ y⊙dy = 0.5
});

test('softmax backward twin matches central finite differences (float64); ∇logsumexp = softmax', () => {
  const rng = new Rng(2);
  const [rows, cols] = [3, 5];
  const x = Float64Array.from(rng.normalArray(rows * cols, 2));
  const w = Float64Array.from(rng.normalArray(rows * cols));
  // L(x) = Σ w ⊙ softmax(x), so dL/dx = softmaxBackward(y, w).
  const loss = (xs: Float64Array) => {
    const y = new Float64Array(xs.length);
    softmaxRowsCpu(xs, rows, cols, y);
    return y.reduce((s, v, i) => s + v * w[i]!, 0);
  };
  const lseSum = (xs: Float64Array) => {
    const l = new Float64Array(rows);
    logsumexpRowsCpu(xs, rows, cols, l);
    return l.reduce((s, v) => s + v, 0);
  };
  const h = 1e-5;
  const fd = (f: (xs: Float64Array) => number) =>
    Array.from(x, (_, i) => {
      const p = x.slice();
      const m = x.slice();
      p[i] += h;
      m[i] -= h;
      return (f(p) - f(m)) / (2 * h);
    });
  const y = new Float64Array(x.length);
  softmaxRowsCpu(x, rows, cols, y);
  const dx = new Float64Array(x.length);
  softmaxBackwardCpu(y, w, rows, cols, dx);
  assertClose(dx, fd(loss), { atol: 1e-9, rtol: 1e-7 }, 'softmax backward vs finite differences');
  assertClose(y, fd(lseSum), { atol: 1e-9, rtol: 1e-7 }, '∇logsumexp vs softmax');
});

test('softmax dispatch on CPU tensors', () => {
  const x = cpu.fromArray(new Float32Array([1, 2, 3, 0, 0, 0]), [2, 3]);
  const y = softmaxRows(x);
  assert.deepEqual(y.shape, [2, 3]);
  assertClose(y.data, [0.09003057317038046, 0.24472847105479767, 0.6652409557748219, 1 / 3, 1 / 3, 1 / 3], { atol: 0, rtol: 1e-7 }, 'softmax');
  const dx = softmaxBackward(y, cpu.fromArray(new Float32Array([1, 1, 1, 3, 0, 0]), [2, 3]));
  assertClose(dx.data, [0, 0, 0, 2 / 3, -1 / 3, -1 / 3], { atol: 1e-7, rtol: 1e-6 }, 'softmax backward'); // constant dy → 0
  assert.throws(() => softmaxBackward(y, cpu.zeros([3, 2])), /shape/);
});

// Tolerances, WGSL vs float64 twin. Forward: |Δ| ≤ 1e-10 + 1e-5·|y| (exp is a few ulp off).
// Backward: dy − Σy⊙dy may cancel, and the f32 dot product errs in proportion to Σ y·|dy|, so the
// error scale is y·(|dy| + Σ y·|dy|): |Δ| ≤ 1e-6·y·(|dy| + Σ y·|dy|) + 1e-12.
const FWD_TOL = { atol: 1e-10, rtol: 1e-5 };
const SHAPES: readonly (readonly [number, number])[] = [
  [1, 1],
  [3, 7],
  [1, 255],
  [3, 257],
  [3, 1000],
  [3, 50257],
  [70000, 7], // the 2-D grid
];

test('softmax WGSL matches CPU twins on random inputs, odd sizes', { skip }, async () => {
  const rng = new Rng(9);
  for (const [rows, cols] of SHAPES) {
    const what = `[${rows}, ${cols}]`;
    const x = rng.normalArray(rows * cols, 3);
    if (cols > 2) x[1] = -1e30; // a masked logit, finite (WGSL may assume no ∞)
    const dy = rng.normalArray(rows * cols);
    const y = softmaxRows(cpu.fromArray(x, [rows, cols])).data as Float32Array;
    assertClose(await softmaxRows(gpu!.fromArray(x, [rows, cols])).read(), y, FWD_TOL, `softmax ${what}`);
    // The backward runs on the twin's y, so that it is checked on its own.
    const want = softmaxBackward(cpu.fromArray(y, [rows, cols]), cpu.fromArray(dy, [rows, cols])).data;
    const got = await softmaxBackward(gpu!.fromArray(y, [rows, cols]), gpu!.fromArray(dy, [rows, cols])).read();
    for (let r = 0; r < rows; r++) {
      let d = 0;
      for (let c = 0; c < cols; c++) d += y[r * cols + c]! * Math.abs(dy[r * cols + c]!);
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        const tol = 1e-6 * y[i]! * (Math.abs(dy[i]!) + d) + 1e-12;
        if (!(Math.abs(got[i]! - want[i]!) <= tol)) assert.fail(`softmaxBackward ${what}: index ${i}: got ${got[i]}, expected ${want[i]} (tol ${tol})`);
      }
    }
  }
});
