// Attention's sliding window and logit soft-capping (Mistral, Qwen2, Gemma-2): the float64 twin's
// backward against finite differences, the fast CPU path against the twin, what the window masks,
// and the WebGPU refusal.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { causalAttention, causalAttentionBackward, causalAttentionBackwardCpu, type AttentionDims } from '../../src/compute/ops/attention.js';
import { causalAttentionBackwardFastCpu, causalAttentionFastCpu } from '../../src/compute/ops/attentionFastCpu.js';
import { Rng } from '../../src/compute/random.js';
import { assertClose } from '../helpers/assertClose.js';
import { f64 } from '../helpers/finiteDiff.js';
import { assertAttentionBackwardFd, forward64 } from '../helpers/attentionTwin.js';
import { gpuOrSkip } from '../helpers/gpu.js';

const { gpu, skip } = await gpuOrSkip();

const CASES: [string, Partial<AttentionDims>][] = [
  ['window 2', { window: 2 }],
  ['soft-cap 0.7', { softcap: 0.7 }],
  ['window 3 and soft-cap 1.5', { window: 3, softcap: 1.5 }],
];

for (const [what, extra] of CASES) {
  test(`attention twin with ${what}: the backward matches central finite differences (float64)`, () => {
    const d: AttentionDims = { B: 2, T: 6, nHeads: 4, nKvHeads: 2, dHead: 3, scale: 0.6, ...extra };
    const { q, k, v, out } = assertAttentionBackwardFd(d, 9);
    // The option changes the result (so the test would see it ignored).
    const plain = forward64(q, k, v, { ...d, window: undefined, softcap: null }).out;
    assert.ok(Math.max(...out.map((x, i) => Math.abs(x - plain[i]!))) > 1e-3, `${what} changes the output`);
  });

  test(`attention fast CPU path with ${what} matches the float64 twin (row blocks 1, 4, 64; T up to 70)`, () => {
    for (const [T, rowBlock] of [[7, 1], [23, 4], [70, 64], [70, 16]] as const) {
      const d: AttentionDims = { B: 2, T, nHeads: 4, nKvHeads: 2, dHead: 8, scale: 0.35, ...extra };
      const rng = new Rng(T + rowBlock);
      const q = rng.normalArray(2 * T * 4 * 8, 1.5);
      const k = rng.normalArray(2 * T * 2 * 8, 1.5);
      const v = rng.normalArray(2 * T * 2 * 8);
      const dOut = rng.normalArray(q.length);
      const ref = forward64(f64(q), f64(k), f64(v), d);
      const out = new Float32Array(q.length);
      const lse = new Float32Array(2 * 4 * T);
      causalAttentionFastCpu(q, k, v, d, out, lse, rowBlock);
      assertClose(out, ref.out, { atol: 1e-5, rtol: 1e-4 }, `out T ${T}`);
      assertClose(lse, ref.lse, { atol: 1e-5, rtol: 1e-5 }, `lse T ${T}`);
      const [dq64, dk64, dv64] = [new Float64Array(q.length), new Float64Array(k.length), new Float64Array(v.length)];
      causalAttentionBackwardCpu(f64(q), f64(k), f64(v), ref.out, ref.lse, f64(dOut), d, dq64, dk64, dv64);
      const [dq, dk, dv] = [new Float32Array(q.length), new Float32Array(k.length), new Float32Array(v.length)];
      causalAttentionBackwardFastCpu(q, k, v, out, lse, dOut, d, dq, dk, dv, rowBlock);
      assertClose(dq, dq64, { atol: 1e-4, rtol: 1e-3 }, `dq T ${T}`);
      assertClose(dk, dk64, { atol: 1e-4, rtol: 1e-3 }, `dk T ${T}`);
      assertClose(dv, dv64, { atol: 1e-4, rtol: 1e-3 }, `dv T ${T}`);
    }
  });
}

test('a window of w: query t ignores keys s ≤ t − w (changing them changes nothing), a window ≥ T is plain causal', () => {
  const [T, w] = [6, 2];
  const rng = new Rng(2);
  const q = cpu.fromArray(rng.normalArray(T * 2 * 4), [1, T, 2, 4]);
  const k0 = rng.normalArray(T * 4);
  const v0 = rng.normalArray(T * 4);
  const run = (k: Float32Array, v: Float32Array, window: number | null) => causalAttention(q, cpu.fromArray(k, [1, T, 1, 4]), cpu.fromArray(v, [1, T, 1, 4]), { nHeads: 2, nKvHeads: 1, window }).out.data as Float32Array;
  const base = run(k0, v0, w);
  // Replace key/value 0: only queries t < w see it.
  const k1 = k0.slice();
  const v1 = v0.slice();
  for (let j = 0; j < 4; j++) [k1[j], v1[j]] = [5, -7];
  const moved = run(k1, v1, w);
  for (let t = 0; t < T; t++) {
    const row = (a: Float32Array) => [...a.subarray(t * 8, (t + 1) * 8)];
    if (t < w) assert.notDeepEqual(row(moved), row(base), `t ${t} sees key 0`);
    else assert.deepEqual(row(moved), row(base), `t ${t} does not see key 0`);
  }
  assert.deepEqual(run(k0, v0, T), run(k0, v0, null));
  assert.throws(() => run(k0, v0, 0), /window 0 must be a positive integer/);
  const dOut = cpu.fromArray(rng.normalArray(T * 8), [1, T, 2, 4]);
  const kT = cpu.fromArray(k0, [1, T, 1, 4]);
  const { out, lse } = causalAttention(q, kT, kT, { nHeads: 2, nKvHeads: 1, softcap: 1 });
  assert.throws(() => causalAttentionBackward(q, kT, kT, out, lse, dOut, { nHeads: 2, nKvHeads: 1, softcap: -1 }), /softcap -1 must be a positive number/);
});

test('WebGPU refuses soft-capping and windows shorter than the input, and runs a window ≥ T', { skip }, async () => {
  const rng = new Rng(3);
  const q = gpu!.fromArray(rng.normalArray(5 * 8), [1, 5, 2, 4]);
  const k = gpu!.fromArray(rng.normalArray(5 * 4), [1, 5, 1, 4]);
  assert.throws(() => causalAttention(q, k, k, { nHeads: 2, nKvHeads: 1, softcap: 2 }), /CPU only/);
  assert.throws(() => causalAttention(q, k, k, { nHeads: 2, nKvHeads: 1, window: 4 }), /CPU only/);
  const a = (await causalAttention(q, k, k, { nHeads: 2, nKvHeads: 1, window: 5 }).out.read()) as Float32Array;
  const b = (await causalAttention(q, k, k, { nHeads: 2, nKvHeads: 1 }).out.read()) as Float32Array;
  assert.deepEqual(a, b);
});
