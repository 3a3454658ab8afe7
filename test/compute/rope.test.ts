import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { rope, ropeBackward, ropeCpu, ropeInvFreq, ropeTable, type RopeOptions } from '../../src/compute/ops/rope.js';
import { Rng } from '../../src/compute/random.js';
import { assertClose } from '../helpers/assertClose.js';
import { dot, f64, numericGrad } from '../helpers/finiteDiff.js';
import { gpuOrSkip } from '../helpers/gpu.js';

const { gpu, skip } = await gpuOrSkip();

/**
 * An independent reference: the rotation written out per element in float64 from the angle
 * `angle(pos, i)`, pairing i with i + rotaryDim/2 (HF's rotate_half).
 */
function reference(x: ArrayLike<number>, shape: readonly number[], rotaryDim: number, offset: number, angle: (pos: number, i: number) => number): Float64Array {
  const [B, T, H, D] = shape as [number, number, number, number];
  const y = Float64Array.from(x);
  const half = rotaryDim / 2;
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let h = 0; h < H; h++) {
        const o = ((b * T + t) * H + h) * D;
        for (let i = 0; i < half; i++) {
          const a = angle(offset + t, i);
          y[o + i] = x[o + i]! * Math.cos(a) - x[o + i + half]! * Math.sin(a);
          y[o + i + half] = x[o + i + half]! * Math.cos(a) + x[o + i]! * Math.sin(a);
        }
      }
  return y;
}

/** HF's angle: inv_freq and pos·inv_freq rounded to float32 as torch computes them. */
const hfAngle = (rotaryDim: number, theta: number) => (pos: number, i: number) =>
  Math.fround(pos * Math.fround(1 / Math.fround(Math.pow(theta, Math.fround((2 * i) / rotaryDim)))));
/** The exact angle, float64 throughout. */
const exactAngle = (rotaryDim: number, theta: number) => (pos: number, i: number) => pos * Math.pow(theta, (-2 * i) / rotaryDim);

test('rope CPU: hand-computed, and dims past rotaryDim pass through', () => {
  // rotaryDim 2, theta anything: inv_freq[0] = 1, so position p turns (x0, x1) by p radians.
  const x = cpu.fromArray(new Float32Array([1, 0, 7, 0, 2, -3]), [1, 2, 1, 3]);
  const y = rope(x, { rotaryDim: 2, theta: 10000 });
  assertClose(y.data, [1, 0, 7, -2 * Math.sin(1), 2 * Math.cos(1), -3], { atol: 1e-7, rtol: 1e-7 }, 'y');
  // positionOffset 5: token 0 is at position 5.
  const y5 = rope(cpu.fromArray(new Float32Array([1, 0, 9]), [1, 1, 1, 3]), { rotaryDim: 2, theta: 10000, positionOffset: 5 });
  assertClose(y5.data, [Math.cos(5), Math.sin(5), 9], { atol: 1e-7, rtol: 1e-7 }, 'offset');
  // inv_freq as HF: 1 / theta^(2i/d), d = 4 → (1, 1/100) at theta 10,000.
  assert.deepEqual([...ropeInvFreq(4, 10000)], [1, Math.fround(0.01)]);
  assert.throws(() => rope(cpu.zeros([1, 2, 1, 4]), { rotaryDim: 3, theta: 1e4 }), /even/);
  assert.throws(() => rope(cpu.zeros([1, 2, 1, 4]), { rotaryDim: 6, theta: 1e4 }), /≤ dHead/);
});

test('rope CPU matches an independent float64 formula at positions up to 2048 (HF float32 angles)', () => {
  const rng = new Rng(1);
  const cases: [number[], Required<RopeOptions>][] = [
    [[2, 9, 3, 16], { rotaryDim: 16, theta: 10000, positionOffset: 2040 }], // positions 2040..2048
    [[1, 7, 2, 64], { rotaryDim: 16, theta: 10000, positionOffset: 100 }], // Pythia: rotary_pct 0.25
    [[1, 5, 2, 24], { rotaryDim: 6, theta: 500000, positionOffset: 1 }],
  ];
  for (const [shape, opts] of cases) {
    const n = shape.reduce((a, b) => a * b, 1);
    const x = rng.normalArray(n);
    const y = rope(cpu.fromArray(x, shape), opts).data;
    const off = opts.positionOffset;
    // HF's float32 angles, cos/sin and the rotation in float64: ~1 ulp of f32 apart.
    assertClose(y, reference(x, shape, opts.rotaryDim, off, hfAngle(opts.rotaryDim, opts.theta)), { atol: 1e-6, rtol: 1e-6 }, `HF angles ${shape}`);
    // Exact angles: rounding inv_freq and pos·inv_freq to f32 moves the angle by up to 2·pos·2⁻²⁴
    // (1.2e-4 rad at pos 2048), and y by that times |x1| + |x2| (< 10 here).
    const maxPos = off + shape[1]! - 1;
    const atol = 2 * maxPos * 2 ** -24 * 10 + 1e-6;
    assertClose(y, reference(x, shape, opts.rotaryDim, off, exactAngle(opts.rotaryDim, opts.theta)), { atol, rtol: 1e-6 }, `exact angles ${shape}`);
  }
});

test('ropeBackward inverts rope, is its adjoint and matches finite differences (float64 twin)', () => {
  const rng = new Rng(2);
  const [B, T, H, D, rd] = [2, 11, 3, 10, 8];
  const n = B * T * H * D;
  const table = ropeTable(rd, 10000, 3000);
  const x = f64(rng.normalArray(n));
  const dy = f64(rng.normalArray(n));
  const y = new Float64Array(n);
  const back = new Float64Array(n);
  const dx = new Float64Array(n);
  ropeCpu(x, y, T, H, D, rd, table, 2037, 1);
  ropeCpu(y, back, T, H, D, rd, table, 2037, -1);
  // cos² + sin² of the f32 table entries is 1 to ~1e-7.
  assertClose(back, x, { atol: 1e-6, rtol: 1e-6 }, 'ropeBackward(rope(x))');
  ropeCpu(dy, dx, T, H, D, rd, table, 2037, -1);
  assertClose([dot(y, dy)], [dot(x, dx)], { atol: 1e-12, rtol: 1e-12 }, '<rope x, dy> = <x, ropeBackward dy>');
  // And by central finite differences of L(x) = Σ dy ⊙ rope(x).
  const loss = () => {
    const yy = new Float64Array(n);
    ropeCpu(x, yy, T, H, D, rd, table, 2037, 1);
    return dot(yy, dy);
  };
  assertClose(dx, numericGrad(loss, x), { atol: 1e-8, rtol: 1e-6 }, 'ropeBackward vs finite differences');
  // The Tensor API on f32: the same inverse property.
  const opts: RopeOptions = { rotaryDim: rd, theta: 10000, positionOffset: 2037 };
  const x32 = cpu.fromArray(Float32Array.from(x), [B, T, H, D]);
  assertClose(ropeBackward(rope(x32, opts), opts).data, x32.data, { atol: 1e-6, rtol: 1e-6 }, 'f32 inverse');
});

test('rope WGSL matches the CPU twin (≤ 1 ulp-ish: 1e-6), positions past 2048, inverse on the GPU', { skip }, async () => {
  const rng = new Rng(3);
  const cases: [number[], RopeOptions][] = [
    [[1, 1, 1, 8], { rotaryDim: 8, theta: 10000 }],
    [[3, 37, 4, 64], { rotaryDim: 16, theta: 10000 }],
    [[2, 130, 2, 24], { rotaryDim: 6, theta: 10000, positionOffset: 7 }],
    [[1, 50, 3, 16], { rotaryDim: 16, theta: 500000, positionOffset: 2000 }], // positions to 2049: the table grows
    [[2, 5, 2, 12], { rotaryDim: 0, theta: 10000 }], // no rotation: a copy
  ];
  for (const [shape, opts] of cases) {
    const what = `[${shape}] rd=${opts.rotaryDim} off=${opts.positionOffset ?? 0}`;
    const n = shape.reduce((a, b) => a * b, 1);
    const x = rng.normalArray(n);
    const want = rope(cpu.fromArray(x, shape), opts).data;
    const xg = gpu!.fromArray(x, shape);
    const yg = rope(xg, opts);
    assertClose(await yg.read(), want, { atol: 1e-6, rtol: 1e-6 }, `rope ${what}`);
    const wantB = ropeBackward(cpu.fromArray(x, shape), opts).data;
    assertClose(await ropeBackward(xg, opts).read(), wantB, { atol: 1e-6, rtol: 1e-6 }, `ropeBackward ${what}`);
    assertClose(await ropeBackward(yg, opts).read(), x, { atol: 1e-6, rtol: 1e-6 }, `inverse ${what}`);
  }
});
