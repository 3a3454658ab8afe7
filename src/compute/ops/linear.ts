// A dense layer y = x·W + b: x [..., in], W [in, out], b [out] or null → y [..., out].
// On the CPU the bias is written into y first and sgemm adds the product onto it (beta = 1): the
// bias costs a row copy instead of a separate read-modify-write pass over y, and the sum is
// formed as HF's addmm forms it (bias + x·W). Elsewhere: matmul, then the bias added in place.
// The twin is matmulCpu then addCpu (the parity test in test/compute/linear.test.ts).

import { cpu } from '../cpu/cpuDevice.js';
import type { Tensor } from '../tensor.js';
import { addInPlace } from './elementwise.js';
import { matmul, matmulGeometry } from './matmul.js';

/** x·W (+ b): x [..., in], W [in, out], b [out] → [..., out]. */
export function linear(x: Tensor, W: Tensor, b: Tensor | null): Tensor {
  if (!b) return matmul(x, W);
  if (x.device.kind !== 'cpu' || W.device.kind !== 'cpu' || b.device.kind !== 'cpu' || b.dtype !== 'f32' || b.numel !== W.shape[W.shape.length - 1]) {
    const y = matmul(x, W);
    addInPlace(y, b); // (also where b does not fit: addInPlace names the shapes)
    return y;
  }
  const g = matmulGeometry(x.shape, W.shape);
  const y = cpu.uninitialized(g.outShape); // every row gets the bias below
  const yd = y.data as Float32Array;
  const bd = b.data as Float32Array;
  const n = bd.length;
  for (let o = 0; o < yd.length; o += n) yd.set(bd, o);
  return matmul(x, W, { out: y, accumulate: true });
}
