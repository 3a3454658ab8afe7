// softcap (Gemma-2's final logits): values, the backward from the output against finite
// differences, and the WGSL kernel against its CPU twin.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { softcap, softcapBackward, softcapBackwardCpu, softcapCpu } from '../../src/compute/ops/softcap.js';
import { Rng } from '../../src/compute/random.js';
import { assertClose } from '../helpers/assertClose.js';
import { dot, f64, numericGrad } from '../helpers/finiteDiff.js';
import { gpuOrSkip } from '../helpers/gpu.js';

const { gpu, skip } = await gpuOrSkip();

test('softcap: c·tanh(x/c) is ~x near 0, bounded by c, odd; its backward from y matches finite differences', () => {
  const y = softcap(cpu.fromArray(Float32Array.of(0, 1e-3, 100, -100, 30), [5]), 30).data as Float32Array;
  assert.equal(y[0], 0);
  assertClose([y[1]!], [1e-3], { atol: 1e-9, rtol: 1e-6 }, 'near 0');
  assert.ok(y[2]! < 30 && y[2]! > 29.9 && y[3] === -y[2]!);
  assertClose([y[4]!], [30 * Math.tanh(1)], { atol: 1e-5, rtol: 1e-6 }, 'x = c');
  const rng = new Rng(5);
  const x = f64(rng.normalArray(40, 3));
  const w = f64(rng.normalArray(40));
  const cap = 2.5;
  const fwd = () => {
    const out = new Float64Array(x.length);
    softcapCpu(x, out, cap);
    return out;
  };
  const dx = new Float64Array(x.length);
  softcapBackwardCpu(fwd(), w, dx, cap);
  assertClose(dx, numericGrad(() => dot(fwd(), w), x), { atol: 1e-8, rtol: 1e-6 }, 'dx');
  assert.throws(() => softcap(cpu.zeros([2]), 0), /cap 0 must be a positive number/);
});

test('softcap WGSL matches the CPU twin (odd sizes, large inputs stay finite)', { skip }, async () => {
  const rng = new Rng(6);
  for (const n of [1, 17, 1000, 70001]) {
    const x = rng.normalArray(n, 40);
    x[0] = 1e30;
    const dy = rng.normalArray(n);
    const cap = 30;
    const gx = gpu!.fromArray(x, [n]);
    const gy = softcap(gx, cap);
    const cy = softcap(cpu.fromArray(x, [n]), cap);
    assertClose((await gy.read()) as Float32Array, cy.data as Float32Array, { atol: 1e-5, rtol: 1e-5 }, `y n ${n}`);
    const gd = softcapBackward(gy, gpu!.fromArray(dy, [n]), cap);
    const cd = softcapBackward(cy, cpu.fromArray(dy, [n]), cap);
    assertClose((await gd.read()) as Float32Array, cd.data as Float32Array, { atol: 1e-5, rtol: 1e-4 }, `dx n ${n}`);
  }
});
