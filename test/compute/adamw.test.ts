import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { adamwCpu, adamwUpdate, type AdamWOptions } from '../../src/compute/ops/adamw.js';
import { Rng } from '../../src/compute/random.js';
import { assertClose } from '../helpers/assertClose.js';
import { gpuOrSkip } from '../helpers/gpu.js';

const { gpu, skip } = await gpuOrSkip();

const HP = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

test('adamw CPU twin: two steps written out from torch.optim.AdamW', () => {
  // decay = 1 − lr·wd = 0.999; step t: stepSize = lr / (1 − 0.9^t), bc2 = 1 − 0.999^t.
  // Element 0, p = 1, g = 0.5 then −0.25:
  //   t=1: p = 0.999; m = 0.05; v = 0.00025; stepSize = 1; sqrt(v/bc2) = sqrt(0.25) = 0.5
  //        p = 0.999 − 0.05 / (0.5 + 1e-8) = 0.899000002
  //   t=2: p = 0.899000002·0.999 = 0.898101001998; m = 0.045 − 0.025 = 0.02;
  //        v = 0.00024975 + 0.0000625 = 0.00031225; stepSize = 0.1/0.19; sqrt(v/0.001999) = 0.3952253807…
  //        p = 0.898101001998 − (0.1/0.19)·0.02/0.3952253807… = 0.8714672987
  // Element 1, p = −2, g = 0.1 then 0.3:
  //   t=1: p = −1.998; m = 0.01; v = 1e-5; sqrt(v/0.001) = 0.1; p = −1.998 − 0.1/(0.1 + 1e-8) = −2.09799999
  //   t=2: p = −2.09590199001; m = 0.009 + 0.03 = 0.039; v = 9.99e-6 + 9e-5 = 9.999e-5;
  //        sqrt(v/0.001999) = 0.2236515370…; p = −2.09590199001 − (0.1/0.19)·0.039/0.2236515370… = −2.1876800978
  // Element 2, g = 0 both steps: only the decay acts: 0.5·0.999² = 0.4990005.
  const param = new Float32Array([1, -2, 0.5]);
  const m = new Float32Array(3);
  const v = new Float32Array(3);
  adamwCpu(param, new Float32Array([0.5, 0.1, 0]), m, v, { ...HP, step: 1 });
  assertClose(param, [0.899000002, -2.09799999, 0.4995], { atol: 0, rtol: 2e-7 }, 'step 1 param');
  assertClose(m, [0.05, 0.01, 0], { atol: 0, rtol: 2e-7 }, 'step 1 m');
  assertClose(v, [0.00025, 1e-5, 0], { atol: 0, rtol: 2e-7 }, 'step 1 v');
  adamwCpu(param, new Float32Array([-0.25, 0.3, 0]), m, v, { ...HP, step: 2 });
  assertClose(param, [0.8714672987, -2.1876800978, 0.4990005], { atol: 0, rtol: 2e-7 }, 'step 2 param');
  assertClose(m, [0.02, 0.039, 0], { atol: 0, rtol: 2e-7 }, 'step 2 m');
  assertClose(v, [0.00031225, 9.999e-5, 0], { atol: 0, rtol: 2e-7 }, 'step 2 v');
});

test('adamw Tensor API: in place on CPU; rejects step 0 and shape mismatch', () => {
  const p = cpu.fromArray(new Float32Array([1]));
  const g = cpu.fromArray(new Float32Array([0.5]));
  const m = cpu.zeros([1]);
  const v = cpu.zeros([1]);
  adamwUpdate(p, g, m, v, { ...HP, step: 1 });
  assertClose(p.data, [0.899000002], { atol: 0, rtol: 2e-7 });
  assert.throws(() => adamwUpdate(p, g, m, v, { ...HP, step: 0 }), /step must be an integer ≥ 1/);
  assert.throws(() => adamwUpdate(p, cpu.zeros([2]), m, v, { ...HP, step: 1 }), /expected shape \[1\]/);
});

test('adamw WGSL matches CPU twin over 3 steps, odd sizes (rtol 2e-6)', { skip }, async () => {
  const rng = new Rng(15);
  for (const n of [1, 7, 257, 70001]) {
    const p0 = rng.normalArray(n);
    const [pc, mc, vc] = [cpu.fromArray(p0), cpu.zeros([n]), cpu.zeros([n])];
    const [pg, mg, vg] = [gpu!.fromArray(p0), gpu!.zeros([n]), gpu!.zeros([n])];
    for (let step = 1; step <= 3; step++) {
      const g = rng.normalArray(n, 0.1);
      const o: AdamWOptions = { lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, step };
      adamwUpdate(pc, cpu.fromArray(g), mc, vc, o);
      adamwUpdate(pg, gpu!.fromArray(g), mg, vg, o);
    }
    const tol = { atol: 1e-7, rtol: 2e-6 };
    assertClose(await pg.read(), pc.data, tol, `param n=${n}`);
    assertClose(await mg.read(), mc.data, tol, `m n=${n}`);
    assertClose(await vg.read(), vc.data, { atol: 1e-10, rtol: 2e-6 }, `v n=${n}`);
  }
});
