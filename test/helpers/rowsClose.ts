// Row-wise comparison for softmax gradients, whose absolute error scales with each row's upstream
// gradient: (p − onehot)·g or (q − p)·g cancel to a few ulp(1)·|g| where probabilities are near 1.

import assert from 'node:assert/strict';
import { assertClose } from './assertClose.js';

/** Assert rows of length V close with atol `atolPerUnit`·|g(n)| for row n, and rtol. */
export function assertRowsClose(actual: ArrayLike<number>, expected: ArrayLike<number>, V: number, g: (n: number) => number, what: string, atolPerUnit = 3e-7, rtol = 1e-5): void {
  const a = Float32Array.from(actual);
  const e = Float32Array.from(expected);
  assert.equal(a.length, e.length, `${what}: length`);
  for (let n = 0; n < a.length / V; n++) {
    assertClose(a.subarray(n * V, (n + 1) * V), e.subarray(n * V, (n + 1) * V), { atol: atolPerUnit * Math.abs(g(n)), rtol }, `${what} row ${n}`);
  }
}
