import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import {
  attentionKernelConfig,
  causalAttention,
  causalAttentionBackward,
  causalAttentionBackwardCpu,
  causalAttentionCpu,
  type AttentionDims,
} from '../../src/compute/ops/attention.js';
import { causalAttentionBackwardFastCpu, causalAttentionFastCpu } from '../../src/compute/ops/attentionFastCpu.js';
import { Rng } from '../../src/compute/random.js';
import { assertClose } from '../helpers/assertClose.js';
import { dot, f64 } from '../helpers/finiteDiff.js';
import { assertAttentionBackwardFd, forward64 } from '../helpers/attentionTwin.js';
import { gpuOrSkip } from '../helpers/gpu.js';

const { gpu, skip } = await gpuOrSkip();

/** The twin's forward on float64 arrays. */
test('attention CPU twin: T = 1 gives out = v of the mapped kv head, lse = the one score', () => {
  // nHeads 4 over nKvHeads 2: heads 0, 1 read kv head 0; heads 2, 3 read kv head 1.
  const d: AttentionDims = { B: 2, T: 1, nHeads: 4, nKvHeads: 2, dHead: 3, scale: 0.5 };
  const rng = new Rng(1);
  const q = f64(rng.normalArray(2 * 4 * 3));
  const k = f64(rng.normalArray(2 * 2 * 3));
  const v = f64(rng.normalArray(2 * 2 * 3));
  const { out, lse } = forward64(q, k, v, d);
  for (let b = 0; b < 2; b++) {
    for (let h = 0; h < 4; h++) {
      const kv = Math.floor(h / 2);
      const o = (b * 4 + h) * 3;
      const ko = (b * 2 + kv) * 3;
      assert.deepEqual([...out.subarray(o, o + 3)], [...v.subarray(ko, ko + 3)], `out b${b} h${h}`);
      assertClose([lse[b * 4 + h]!], [0.5 * dot(q.subarray(o, o + 3), k.subarray(ko, ko + 3))], { atol: 0, rtol: 1e-15 }, `lse b${b} h${h}`);
    }
  }
});

test('attention CPU twin: T = 2 by hand', () => {
  // One head, dHead 2, scale 1. t = 0 sees only key 0: out = v0, lse = q0·k0 = 0.
  // t = 1: scores (q1·k0, q1·k1) = (0, ln 3) → P = (1/4, 3/4), out = v0/4 + 3·v1/4 = (1, 6), lse = ln 4.
  const d: AttentionDims = { B: 1, T: 2, nHeads: 1, nKvHeads: 1, dHead: 2, scale: 1 };
  const q = Float64Array.from([5, -2, Math.log(3), 0]);
  const k = Float64Array.from([0, 0, 1, 0]);
  const v = Float64Array.from([4, 0, 0, 8]);
  const { out, lse } = forward64(q, k, v, d);
  assertClose(out, [4, 0, 1, 6], { atol: 1e-15, rtol: 1e-15 }, 'out');
  assertClose(lse, [0, Math.log(4)], { atol: 1e-15, rtol: 1e-15 }, 'lse');
  // Backward with dOut = (0, 0; 1, 0) at t = 1: D = out1·dOut1 = 1; dP = (v0, v1)·(1, 0) = (4, 0);
  // dS = P ⊙ (dP − D) = (1/4·3, 3/4·(−1)) = (3/4, −3/4); dq1 = dS·K = 3/4·k0 − 3/4·k1 = (−3/4, 0);
  // dk0 = dS0·q1 = 3/4·(ln 3, 0), dk1 = −3/4·(ln 3, 0); dv0 = P0·dOut1 = (1/4, 0), dv1 = (3/4, 0).
  const dq = new Float64Array(4);
  const dk = new Float64Array(4);
  const dv = new Float64Array(4);
  causalAttentionBackwardCpu(q, k, v, out, lse, Float64Array.from([0, 0, 1, 0]), d, dq, dk, dv);
  const l3 = Math.log(3);
  assertClose(dq, [0, 0, -0.75, 0], { atol: 1e-15, rtol: 1e-14 }, 'dq');
  assertClose(dk, [0.75 * l3, 0, -0.75 * l3, 0], { atol: 1e-15, rtol: 1e-14 }, 'dk');
  assertClose(dv, [0.25, 0, 0.75, 0], { atol: 1e-15, rtol: 1e-14 }, 'dv');
});

test('attention CPU twin: grouped kv heads equal kv heads repeated per query head; dk, dv sum the group', () => {
  const [B, T, H, Hkv, D] = [2, 6, 6, 2, 4];
  const g = H / Hkv;
  const rng = new Rng(3);
  const q = f64(rng.normalArray(B * T * H * D));
  const k = f64(rng.normalArray(B * T * Hkv * D));
  const v = f64(rng.normalArray(B * T * Hkv * D));
  const dOut = f64(rng.normalArray(B * T * H * D));
  // kRep[b, t, h] = k[b, t, floor(h / g)]
  const rep = (x: Float64Array) => {
    const y = new Float64Array(B * T * H * D);
    for (let r = 0; r < B * T; r++) for (let h = 0; h < H; h++) y.set(x.subarray((r * Hkv + Math.floor(h / g)) * D, (r * Hkv + Math.floor(h / g) + 1) * D), (r * H + h) * D);
    return y;
  };
  const dGqa: AttentionDims = { B, T, nHeads: H, nKvHeads: Hkv, dHead: D, scale: 0.4 };
  const dMha: AttentionDims = { ...dGqa, nKvHeads: H };
  const a = forward64(q, k, v, dGqa);
  const m = forward64(q, rep(k), rep(v), dMha);
  assertClose(a.out, m.out, { atol: 1e-14, rtol: 1e-13 }, 'out');
  assertClose(a.lse, m.lse, { atol: 1e-14, rtol: 1e-13 }, 'lse');
  const [dq, dk, dv] = [new Float64Array(q.length), new Float64Array(k.length), new Float64Array(v.length)];
  causalAttentionBackwardCpu(q, k, v, a.out, a.lse, dOut, dGqa, dq, dk, dv);
  const [dqM, dkM, dvM] = [new Float64Array(q.length), new Float64Array(q.length), new Float64Array(q.length)];
  causalAttentionBackwardCpu(q, rep(k), rep(v), m.out, m.lse, dOut, dMha, dqM, dkM, dvM);
  // Sum the repeated heads' gradients back onto their kv head.
  const unrep = (x: Float64Array) => {
    const y = new Float64Array(B * T * Hkv * D);
    for (let r = 0; r < B * T; r++) for (let h = 0; h < H; h++) for (let j = 0; j < D; j++) y[(r * Hkv + Math.floor(h / g)) * D + j] += x[(r * H + h) * D + j]!;
    return y;
  };
  assertClose(dq, dqM, { atol: 1e-14, rtol: 1e-12 }, 'dq');
  assertClose(dk, unrep(dkM), { atol: 1e-14, rtol: 1e-12 }, 'dk');
  assertClose(dv, unrep(dvM), { atol: 1e-14, rtol: 1e-12 }, 'dv');
});

test('attention backward twin matches central finite differences (float64)', () => {
  const d: AttentionDims = { B: 2, T: 5, nHeads: 4, nKvHeads: 2, dHead: 3, scale: 1 / Math.sqrt(3) };
  assertAttentionBackwardFd(d, 4);
});

test('attention Tensor API: shapes, head counts, default scale', () => {
  const q = cpu.zeros([1, 3, 4, 8]);
  const kv = cpu.zeros([1, 3, 2, 8]);
  assert.throws(() => causalAttention(q, kv, kv, { nHeads: 4, nKvHeads: 3 }), /not a multiple/);
  assert.throws(() => causalAttention(q, kv, kv, { nHeads: 4, nKvHeads: 4 }), /k: expected shape/);
  assert.throws(() => causalAttention(q, kv, kv, { nHeads: 2, nKvHeads: 2 }), /q must be/);
  const { out, lse } = causalAttention(q, kv, kv, { nHeads: 4, nKvHeads: 2 });
  assert.deepEqual(out.shape, [1, 3, 4, 8]);
  assert.deepEqual(lse.shape, [1, 4, 3]);
  // All-zero scores: uniform attention, lse[t] = log(t + 1).
  assertClose(lse.data.subarray(0, 3), [0, Math.log(2), Math.log(3)], { atol: 1e-7, rtol: 1e-7 }, 'lse');
  // Default scale 1/sqrt(dHead) on a one-key case: lse = q·k / sqrt(8).
  const q1 = cpu.fromArray(Float32Array.from({ length: 8 }, (_, i) => i), [1, 1, 1, 8]);
  const k1 = cpu.fromArray(new Float32Array(8).fill(1), [1, 1, 1, 8]);
  assertClose(causalAttention(q1, k1, k1, { nHeads: 1, nKvHeads: 1 }).lse.data, [28 / Math.sqrt(8)], { atol: 0, rtol: 1e-6 }, 'default scale');
  const g = causalAttentionBackward(q, kv, kv, out, lse, cpu.zeros([1, 3, 4, 8]), { nHeads: 4, nKvHeads: 2 });
  assert.deepEqual([g.dq.shape, g.dk.shape, g.dv.shape], [[1, 3, 4, 8], [1, 3, 2, 8], [1, 3, 2, 8]]);
  assert.throws(() => causalAttentionBackward(q, kv, kv, out, cpu.zeros([1, 3, 4]), out, { nHeads: 4, nKvHeads: 2 }), /lse: expected shape/);
});

// Fast CPU path (sgemm on strided head views, f32) vs the float64 twin on the same f32 inputs.
// Its sums are f32 sums (BLAS dot products over ≤ dHead or ≤ T terms; dk, dv accumulate with
// beta = 1 over row blocks and the group's heads), so the bound is the WGSL one:
//   out, lse: |Δ| ≤ 2e-6 + 1e-5·|x|;   dq, dk, dv: |Δ| ≤ 2e-6·sqrt(T·group) + 1e-5·|x|.
type FastCase = readonly [B: number, T: number, nHeads: number, nKvHeads: number, dHead: number, sigma?: number, rowBlock?: number];

interface AttnRun {
  out: Float32Array;
  lse: Float32Array;
  dq: Float32Array;
  dk: Float32Array;
  dv: Float32Array;
}

function compareFastWithTwin(rng: Rng, c: FastCase): { fast: AttnRun; inputs: Float32Array[] } {
  const [B, T, H, Hkv, D, sigma = 1, rowBlock] = c;
  const what = `B=${B} T=${T} H=${H}/${Hkv} D=${D} σ=${sigma} rowBlock=${rowBlock ?? 'default'}`;
  const d: AttentionDims = { B, T, nHeads: H, nKvHeads: Hkv, dHead: D, scale: 1 / Math.sqrt(D) };
  const q = rng.normalArray(B * T * H * D, sigma);
  const k = rng.normalArray(B * T * Hkv * D, sigma);
  const v = rng.normalArray(B * T * Hkv * D);
  const g = rng.normalArray(B * T * H * D);
  const twin = { out: new Float32Array(q.length), lse: new Float32Array(B * H * T) };
  causalAttentionCpu(q, k, v, d, twin.out, twin.lse);
  const fast: AttnRun = {
    out: new Float32Array(q.length).fill(NaN), // every element must be written
    lse: new Float32Array(B * H * T).fill(NaN),
    dq: new Float32Array(q.length).fill(NaN),
    dk: new Float32Array(k.length).fill(NaN), // overwritten, not accumulated into
    dv: new Float32Array(k.length).fill(NaN),
  };
  causalAttentionFastCpu(q, k, v, d, fast.out, fast.lse, rowBlock);
  assertClose(fast.out, twin.out, { atol: 2e-6, rtol: 1e-5 }, `out ${what}`);
  assertClose(fast.lse, twin.lse, { atol: 2e-6, rtol: 1e-5 }, `lse ${what}`);
  // Both backwards run on the twin's out and lse, so that the backward is checked on its own.
  const [dq, dk, dv] = [new Float32Array(q.length), new Float32Array(k.length), new Float32Array(k.length)];
  causalAttentionBackwardCpu(q, k, v, twin.out, twin.lse, g, d, dq, dk, dv);
  causalAttentionBackwardFastCpu(q, k, v, twin.out, twin.lse, g, d, fast.dq, fast.dk, fast.dv, rowBlock);
  const tol = { atol: 2e-6 * Math.sqrt((T * H) / Hkv), rtol: 1e-5 };
  assertClose(fast.dq, dq, tol, `dq ${what}`);
  assertClose(fast.dk, dk, tol, `dk ${what}`);
  assertClose(fast.dv, dv, tol, `dv ${what}`);
  return { fast, inputs: [q, k, v, g] };
}

test('attention fast CPU path matches the float64 twin: T 1..300, GQA groups 1, 2, 4, dHead 8, 24, 64', () => {
  const rng = new Rng(11);
  const Ds = [8, 24, 64];
  let i = 0;
  for (const T of [1, 5, 37, 130, 300]) {
    for (const group of [1, 2, 4]) {
      const B = 1 + rng.int(3);
      const Hkv = group === 4 ? 1 : 2;
      compareFastWithTwin(rng, [B, T, Hkv * group, Hkv, Ds[i++ % 3]!]);
    }
  }
});

test('attention fast CPU path: row blocks of any size, wide scores, odd dHead', () => {
  const rng = new Rng(12);
  for (const c of [
    [2, 37, 4, 2, 16, 1, 1], // one query row per block
    [1, 130, 4, 1, 24, 1, 7], // blocks not dividing T
    [3, 70, 2, 1, 7, 1, 16], // dHead not a multiple of 4
    [1, 37, 4, 2, 16, 4], // σ = 4: scores spread ~16 wide
    [2, 300, 2, 2, 64, 1, 1000], // one block holding all of T
  ] as const satisfies readonly FastCase[]) compareFastWithTwin(rng, c);
});

test('attention fast CPU path: deterministic, and what the Tensor API runs on the CPU device', () => {
  const rng = new Rng(13);
  const [B, T, H, Hkv, D] = [2, 100, 4, 1, 16];
  const { fast, inputs } = compareFastWithTwin(rng, [B, T, H, Hkv, D]);
  const [q, k, v, g] = inputs as [Float32Array, Float32Array, Float32Array, Float32Array];
  const opts = { nHeads: H, nKvHeads: Hkv };
  const [qt, kt, vt] = [cpu.fromArray(q, [B, T, H, D]), cpu.fromArray(k, [B, T, Hkv, D]), cpu.fromArray(v, [B, T, Hkv, D])];
  const f = causalAttention(qt, kt, vt, opts);
  assert.deepEqual(f.out.data, fast.out);
  assert.deepEqual(f.lse.data, fast.lse);
  // The fast run above took the twin's out and lse; run the backward twice on the fast ones.
  const a = causalAttentionBackward(qt, kt, vt, f.out, f.lse, cpu.fromArray(g, [B, T, H, D]), opts);
  const b = causalAttentionBackward(qt, kt, vt, f.out, f.lse, cpu.fromArray(g, [B, T, H, D]), opts);
  assert.deepEqual(a.dq.data, b.dq.data);
  assert.deepEqual(a.dk.data, b.dk.data);
  assert.deepEqual(a.dv.data, b.dv.data);
});

test('attention fast CPU path: empty sizes and dHead 0', () => {
  const d: AttentionDims = { B: 2, T: 3, nHeads: 2, nKvHeads: 1, dHead: 0, scale: 1 };
  const lse = new Float32Array(12);
  causalAttentionFastCpu(new Float32Array(0), new Float32Array(0), new Float32Array(0), d, new Float32Array(0), lse);
  const want = new Float32Array(12);
  causalAttentionCpu(new Float32Array(0), new Float32Array(0), new Float32Array(0), d, new Float32Array(0), want);
  assertClose(lse, want, { atol: 1e-7, rtol: 1e-7 }, 'lse, dHead 0');
  const e = new Float32Array(0);
  causalAttentionFastCpu(e, e, e, { ...d, B: 0, dHead: 4 }, e, e);
  causalAttentionFastCpu(e, e, e, { ...d, T: 0, dHead: 4 }, e, e);
  causalAttentionBackwardFastCpu(e, e, e, e, e, e, { ...d, T: 0, dHead: 4 }, e, e, e);
});

// WGSL vs the twin on random inputs (q, k, v ~ N(0, σ²)): every sum in the kernels is an f32 sum
// in one thread over ≤ T terms (the twin's in float64), and exp/log are a few ulp off, so
//   out, lse: |Δ| ≤ 2e-6 + 1e-5·|x|;   dq, dk, dv: |Δ| ≤ 2e-6·sqrt(T·group) + 1e-5·|x|
// (dk and dv add up to T·group terms of size ~1).
type Case = readonly [B: number, T: number, nHeads: number, nKvHeads: number, dHead: number, sigma?: number];
const CASES: readonly Case[] = [
  [1, 1, 4, 4, 8],
  [2, 5, 4, 2, 16],
  [3, 37, 4, 1, 24],
  [1, 130, 4, 2, 64],
  [2, 130, 4, 4, 24],
  [3, 5, 4, 1, 64],
  [1, 37, 4, 2, 8],
  [2, 70, 2, 1, 7], // dHead not a multiple of 4: zero-padded lanes
  [1, 65, 4, 2, 80],
  [1, 33, 2, 1, 128],
  [1, 37, 4, 2, 16, 4], // σ = 4: scores spread ~16 wide, so the running max moves often
];

async function compareWithTwin(rng: Rng, c: Case): Promise<void> {
  const [B, T, H, Hkv, D, sigma = 1] = c;
  const what = `B=${B} T=${T} H=${H}/${Hkv} D=${D} σ=${sigma}`;
  const opts = { nHeads: H, nKvHeads: Hkv };
  const qa = rng.normalArray(B * T * H * D, sigma);
  const ka = rng.normalArray(B * T * Hkv * D, sigma);
  const va = rng.normalArray(B * T * Hkv * D);
  const ga = rng.normalArray(B * T * H * D);
  const [qc, kc, vc] = [cpu.fromArray(qa, [B, T, H, D]), cpu.fromArray(ka, [B, T, Hkv, D]), cpu.fromArray(va, [B, T, Hkv, D])];
  // The twin itself (the CPU device's causalAttention runs the fast path).
  const d: AttentionDims = { B, T, nHeads: H, nKvHeads: Hkv, dHead: D, scale: 1 / Math.sqrt(D) };
  const want = { out: { data: new Float32Array(qa.length) }, lse: { data: new Float32Array(B * H * T) } };
  causalAttentionCpu(qa, ka, va, d, want.out.data, want.lse.data);
  const wantG = { dq: { data: new Float32Array(qa.length) }, dk: { data: new Float32Array(ka.length) }, dv: { data: new Float32Array(ka.length) } };
  causalAttentionBackwardCpu(qa, ka, va, want.out.data, want.lse.data, ga, d, wantG.dq.data, wantG.dk.data, wantG.dv.data);
  const [qg, kg, vg] = [gpu!.fromArray(qa, [B, T, H, D]), gpu!.fromArray(ka, [B, T, Hkv, D]), gpu!.fromArray(va, [B, T, Hkv, D])];
  const got = causalAttention(qg, kg, vg, opts);
  assertClose(await got.out.read(), want.out.data, { atol: 2e-6, rtol: 1e-5 }, `out ${what}`);
  assertClose(await got.lse.read(), want.lse.data, { atol: 2e-6, rtol: 1e-5 }, `lse ${what}`);
  // The backward runs on the twin's out and lse, so that it is checked on its own.
  const gotG = causalAttentionBackward(qg, kg, vg, gpu!.fromArray(want.out.data, [B, T, H, D]), gpu!.fromArray(want.lse.data, [B, H, T]), gpu!.fromArray(ga, [B, T, H, D]), opts);
  const tol = { atol: 2e-6 * Math.sqrt((T * H) / Hkv), rtol: 1e-5 };
  assertClose(await gotG.dq.read(), wantG.dq.data, tol, `dq ${what}`);
  assertClose(await gotG.dk.read(), wantG.dk.data, tol, `dk ${what}`);
  assertClose(await gotG.dv.read(), wantG.dv.data, tol, `dv ${what}`);
  for (const t of [qg, kg, vg, got.out, got.lse, gotG.dq, gotG.dk, gotG.dv]) t.dispose();
}

test('attention WGSL matches the CPU twin, odd sizes and GQA', { skip }, async () => {
  const rng = new Rng(5);
  for (const c of CASES) await compareWithTwin(rng, c);
});

test('attention WGSL, the other loop form (unrolled here on lavapipe, uniform-bounded on GPUs)', { skip }, async () => {
  // Small dHead only: llvmpipe takes seconds to compile the unrolled kernels at dHead 64.
  const auto = !/llvmpipe|lavapipe|swiftshader|software/i.test(gpu!.adapterName);
  attentionKernelConfig.unroll = !auto;
  try {
    const rng = new Rng(6);
    await compareWithTwin(rng, [2, 37, 4, 2, 8]);
  } finally {
    attentionKernelConfig.unroll = 'auto';
  }
});

test('attention on the GPU: T = 1 gives out = v; the backward is deterministic run to run', { skip }, async () => {
  const rng = new Rng(7);
  const [B, T, H, Hkv, D] = [3, 1, 4, 2, 16];
  const v = rng.normalArray(B * Hkv * D);
  const { out } = causalAttention(gpu!.fromArray(rng.normalArray(B * H * D), [B, T, H, D]), gpu!.fromArray(rng.normalArray(B * Hkv * D), [B, T, Hkv, D]), gpu!.fromArray(v, [B, T, Hkv, D]), { nHeads: H, nKvHeads: Hkv });
  const o = await out.read();
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) assertClose(o.subarray((b * H + h) * D, (b * H + h + 1) * D), v.subarray((b * Hkv + (h >> 1)) * D, (b * Hkv + (h >> 1) + 1) * D), { atol: 0, rtol: 1e-6 }, `b${b} h${h}`);

  const [B2, T2] = [2, 100];
  const opts = { nHeads: 4, nKvHeads: 1 };
  const q = gpu!.fromArray(rng.normalArray(B2 * T2 * 4 * D), [B2, T2, 4, D]);
  const kv = gpu!.fromArray(rng.normalArray(B2 * T2 * D), [B2, T2, 1, D]);
  const dOut = gpu!.fromArray(rng.normalArray(B2 * T2 * 4 * D), [B2, T2, 4, D]);
  const f = causalAttention(q, kv, kv, opts);
  const a = causalAttentionBackward(q, kv, kv, f.out, f.lse, dOut, opts);
  const b = causalAttentionBackward(q, kv, kv, f.out, f.lse, dOut, opts);
  assert.deepEqual(await a.dk.read(), await b.dk.read());
  assert.deepEqual(await a.dq.read(), await b.dq.read());
});
