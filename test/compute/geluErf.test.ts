import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { erf64, erfc64, geluErf, geluErfBackward, geluErfBackwardCpu, geluErfCpu } from '../../src/compute/ops/geluErf.js';
import { Rng } from '../../src/compute/random.js';
import { assertClose } from '../helpers/assertClose.js';
import { f64, numericGrad } from '../helpers/finiteDiff.js';
import { gpuOrSkip } from '../helpers/gpu.js';

const { gpu, skip } = await gpuOrSkip();

test('erf64 / erfc64: reference values (Python math.erf / math.erfc)', () => {
  const xs = [0.1, 0.5, 1, 2, 3, -0.5, -2.5];
  const erf = [0.1124629160182849, 0.5204998778130465, 0.8427007929497149, 0.9953222650189527, 0.9999779095030014, -0.5204998778130465, -0.9995930479825550];
  assertClose(xs.map(erf64), erf, { atol: 1e-16, rtol: 2e-15 }, 'erf');
  assertClose([3, 5, 10, 2].map(erfc64), [2.209049699858544e-5, 1.5374597944280349e-12, 2.088487583762545e-45, 0.004677734981047266], { atol: 0, rtol: 1e-13 }, 'erfc');
  assert.equal(erf64(0), 0);
  assert.ok(Number.isNaN(erf64(NaN)));
});

test('exact GELU CPU twin: x·Φ(x) and Φ(x) + x·φ(x) (reference: Python, Φ via math.erfc)', () => {
  const xs = f64([1, -1, 2, -3, 0.5, 0, 40, -40]);
  const y = new Float64Array(xs.length);
  geluErfCpu(xs, y);
  assertClose(y, [0.8413447460685429, -0.15865525393145707, 1.9544997361036416, -0.004049694094890287, 0.34573123063700656, 0, 40, -0], { atol: 1e-300, rtol: 1e-14 }, 'gelu');
  const dx = new Float64Array(xs.length);
  geluErfBackwardCpu(xs, new Float64Array(xs.length).fill(1), dx);
  assertClose(dx, [1.0833154705876864, -0.08331547058768629, 1.085231801078197, -0.011945647204183927, 0.8674951246561629, 0.5, 1, 0], { atol: 1e-300, rtol: 1e-13 }, "gelu'");
});

test('exact GELU CPU backward matches finite differences', () => {
  const rng = new Rng(3);
  const x = f64(rng.normalArray(20)).map((v) => v * 2);
  const dy = f64(rng.normalArray(20));
  const dx = new Float64Array(20);
  geluErfBackwardCpu(x, dy, dx);
  const num = numericGrad(() => {
    const y = new Float64Array(20);
    geluErfCpu(x, y);
    return y.reduce((s, v, i) => s + v * dy[i]!, 0);
  }, x);
  assertClose(dx, num, { atol: 1e-8, rtol: 1e-7 }, 'dx');
});

test('exact GELU WGSL matches the CPU twin within 2e-7, odd sizes and the tails', { skip }, async () => {
  const rng = new Rng(5);
  for (const n of [1, 255, 257, 10007]) {
    const x = rng.normalArray(n).map((v, i) => v * (i % 3 === 0 ? 4 : 1.5));
    const dy = rng.normalArray(n);
    const xc = cpu.fromArray(x);
    const xg = gpu!.fromArray(x);
    assertClose(await geluErf(xg).read(), geluErf(xc).data, { atol: 2e-7, rtol: 2e-7 }, `gelu n=${n}`);
    assertClose(await geluErfBackward(xg, gpu!.fromArray(dy)).read(), geluErfBackward(xc, cpu.fromArray(dy)).data, { atol: 2e-7, rtol: 2e-7 }, `gelu' n=${n}`);
  }
  // A dense sweep over every Chebyshev interval, both signs, and far tails.
  const sweep = Float32Array.from({ length: 4001 }, (_, i) => -10 + i * 0.005);
  sweep[0] = -1e30;
  sweep[1] = 1e30;
  assertClose(await geluErf(gpu!.fromArray(sweep)).read(), geluErf(cpu.fromArray(sweep)).data, { atol: 2e-7, rtol: 2e-7 }, 'gelu sweep');
  const ones = new Float32Array(sweep.length).fill(1);
  assertClose(await geluErfBackward(gpu!.fromArray(sweep), gpu!.fromArray(ones)).read(), geluErfBackward(cpu.fromArray(sweep), cpu.fromArray(ones)).data, { atol: 2e-7, rtol: 2e-7 }, "gelu' sweep");
});
