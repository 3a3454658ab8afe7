import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { matmul, matmulCpu, matmulFlops, matmulGeometry, matmulWebGpu, planGemm, withSplits, type MatmulGeometry } from '../../src/compute/ops/matmul.js';
import { TILE_LARGE, TILE_SMALL, type GemmTile } from '../../src/compute/ops/matmulWgsl.js';
import { Rng } from '../../src/compute/random.js';
import { assertClose } from '../helpers/assertClose.js';
import { gpuOrSkip } from '../helpers/gpu.js';

const { gpu, skip } = await gpuOrSkip();

// fp32 sums of K products of N(0,1) numbers: |error| grows like eps·K at worst, the values like √K.
// Any indexing mistake is off by O(1).
const tolFor = (K: number) => ({ atol: 1e-4 * Math.sqrt(Math.max(K, 1)), rtol: 1e-4 });

/** Stored shapes of a and b for op(a) [batch.., M, K] and op(b) [K, N] (bBatched: [batch.., K, N]). */
function shapes(batch: number[], M: number, K: number, N: number, tA: boolean, tB: boolean, bBatched: boolean): [number[], number[]] {
  return [
    [...batch, ...(tA ? [K, M] : [M, K])],
    [...(bBatched ? batch : []), ...(tB ? [N, K] : [K, N])],
  ];
}

function twin(a: Float32Array, b: Float32Array, g: MatmulGeometry, alpha = 1, c0?: Float32Array): Float32Array {
  const c = c0 ? c0.slice() : new Float32Array(g.batch * g.M * g.N);
  matmulCpu(a, b, c, g, alpha, c0 !== undefined);
  return c;
}

/** Stored transpose of a row-major [r, c] matrix. */
function transpose(x: number[], r: number, c: number): number[] {
  const y: number[] = [];
  for (let j = 0; j < c; j++) for (let i = 0; i < r; i++) y.push(x[i * c + j]!);
  return y;
}

// ---- the twin against hand-computed products -------------------------------------------------

const A23 = [1, 2, 3, 4, 5, 6]; // [2, 3]
const B32 = [7, 8, 9, 10, 11, 12]; // [3, 2]
const AB = [58, 64, 139, 154]; // [2, 2]

test('matmul twin: hand-computed, all four transpose combinations', () => {
  for (const tA of [false, true]) {
    for (const tB of [false, true]) {
      const a = new Float32Array(tA ? transpose(A23, 2, 3) : A23);
      const b = new Float32Array(tB ? transpose(B32, 3, 2) : B32);
      const g = matmulGeometry(tA ? [3, 2] : [2, 3], tB ? [2, 3] : [3, 2], tA, tB);
      assert.deepEqual([g.M, g.N, g.K, g.batch], [2, 2, 3, 1]);
      assert.deepEqual([...twin(a, b, g)], AB, `transA=${tA} transB=${tB}`);
    }
  }
});

test('matmul twin: hand-computed batch, shared b, alpha and accumulate', () => {
  // Batch 2: the second pair is (2·A)·(−B).
  const a = new Float32Array([...A23, ...A23.map((x) => 2 * x)]);
  const b = new Float32Array([...B32, ...B32.map((x) => -x)]);
  const g = matmulGeometry([2, 2, 3], [2, 3, 2]);
  assert.deepEqual(g.outShape, [2, 2, 2]);
  assert.deepEqual([...twin(a, b, g)], [...AB, ...AB.map((x) => -2 * x)]);
  // b 2-D: shared by both batches.
  const gs = matmulGeometry([2, 2, 3], [3, 2]);
  assert.equal(gs.bStride, 0);
  assert.deepEqual([...twin(a, new Float32Array(B32), gs)], [...AB, ...AB.map((x) => 2 * x)]);
  // C += alpha·A·B.
  const g1 = matmulGeometry([2, 3], [3, 2]);
  assert.deepEqual([...twin(new Float32Array(A23), new Float32Array(B32), g1, 0.5, new Float32Array([1, 2, 3, 4]))], [30, 34, 72.5, 81]);
  // K = 0: an empty sum.
  assert.deepEqual([...twin(new Float32Array(0), new Float32Array(0), matmulGeometry([2, 0], [0, 3]))], [0, 0, 0, 0, 0, 0]);
});

test('matmul shape errors name both shapes', () => {
  const x = cpu.zeros([2, 3]);
  assert.throws(() => matmul(x, cpu.zeros([4, 5])), /matmul: cannot multiply a \[2,3\] by b \[4,5\]: inner dimensions differ \(K 3 vs 4\)/);
  assert.throws(() => matmul(x, cpu.zeros([3, 5]), { transA: true }), /\(transA\).*K 2 vs 3/);
  assert.throws(() => matmul(cpu.zeros([2, 2, 3]), cpu.zeros([3, 3, 4])), /batch dimensions \[2\] and \[3\] differ/);
  assert.throws(() => matmul(x, cpu.zeros([2, 3, 4])), /batch dimensions \[\] and \[2\] differ/);
  assert.throws(() => matmul(cpu.zeros([3]), cpu.zeros([3, 4])), /fewer than 2 dimensions/);
  assert.throws(() => matmul(x, cpu.zeros([3, 4]), { out: cpu.zeros([2, 5]) }), /matmul out: expected shape \[2,4\]/);
  assert.throws(() => matmul(x, cpu.zeros([3, 4]), { accumulate: true }), /accumulate needs an `out`/);
  const sq = cpu.zeros([3, 3]);
  assert.throws(() => matmul(sq, cpu.zeros([3, 3]), { out: sq }), /must not share storage/);
});

test('matmulFlops and the split-K plan', () => {
  assert.equal(matmulFlops(4096, 768, 24576), 2 * 4096 * 768 * 24576);
  assert.equal(matmulFlops(2, 3, 4, 5), 240);
  // SAE decoder forward (long K, M·N small): split; encoder shape: enough tiles already.
  const long = planGemm(matmulGeometry([4096, 24576], [24576, 768]));
  assert.equal(long.tile, TILE_LARGE);
  assert.equal(long.splits, 4);
  assert.equal(long.kChunk, 6144);
  assert.equal(planGemm(matmulGeometry([4096, 768], [768, 24576])).splits, 1);
  assert.equal(planGemm(matmulGeometry([33, 65], [65, 17])).tile, TILE_SMALL);
  // The large tile needs 32 KB of workgroup memory (WebGPU's default limit is 16 KB).
  assert.equal(planGemm(matmulGeometry([512, 64], [64, 512]), { maxStorageBufferBindingSize: 2 ** 27, maxComputeWorkgroupStorageSize: 16384 }).tile, TILE_SMALL);
  // Chunks are whole BK steps; a split count that leaves an empty chunk shrinks.
  assert.deepEqual(withSplits(TILE_SMALL, 3, 40), { tile: TILE_SMALL, splits: 3, kChunk: 16 });
  assert.deepEqual(withSplits(TILE_SMALL, 4, 40), { tile: TILE_SMALL, splits: 3, kChunk: 16 });
});

// ---- sgemm (the CPU device path) against the twin --------------------------------------------

interface Case {
  batch: number[];
  M: number;
  K: number;
  N: number;
  tA?: boolean;
  tB?: boolean;
  /** b has a's batch dimensions (else it is 2-D, shared). */
  bBatched?: boolean;
  accumulate?: boolean;
  alpha?: number;
}

/** Run one case on `dev` (`run` does the device product) and compare with the twin. */
async function check(rng: Rng, c: Case, run: (a: Float32Array, b: Float32Array, aShape: number[], bShape: number[], c0: Float32Array | undefined) => Promise<ArrayLike<number>>): Promise<void> {
  const { batch, M, K, N, tA = false, tB = false, bBatched = true, accumulate = false, alpha = 1 } = c;
  const [aShape, bShape] = shapes(batch, M, K, N, tA, tB, bBatched);
  const g = matmulGeometry(aShape, bShape, tA, tB);
  const a = rng.normalArray(g.batch * M * K);
  const b = rng.normalArray((bBatched ? g.batch : 1) * K * N);
  const c0 = accumulate ? rng.normalArray(g.batch * M * N) : undefined;
  const got = await run(a, b, aShape, bShape, c0);
  assertClose(got, twin(a, b, g, alpha, c0), tolFor(K), `[${batch}] ${M}x${K}x${N} tA=${tA} tB=${tB} shared=${!bBatched} acc=${accumulate}`);
}

const ODD: Case[] = [
  { batch: [], M: 1, K: 1, N: 1 },
  { batch: [], M: 1, K: 7, N: 1 },
  { batch: [], M: 33, K: 65, N: 17 },
  { batch: [], M: 130, K: 257, N: 66 },
  { batch: [3], M: 9, K: 13, N: 5 },
  { batch: [3], M: 9, K: 13, N: 5, bBatched: false },
  { batch: [2, 2], M: 6, K: 5, N: 7, bBatched: false },
  { batch: [], M: 17, K: 0, N: 3 },
];

test('matmul CPU device path (sgemm) matches the twin: odd sizes, transposes, batch, accumulate', async () => {
  const rng = new Rng(2);
  const cases: Case[] = [];
  for (const base of ODD) for (const tA of [false, true]) for (const tB of [false, true]) cases.push({ ...base, tA, tB });
  cases.push({ batch: [3], M: 20, K: 31, N: 11, tA: true, bBatched: false, accumulate: true, alpha: -0.5 });
  cases.push({ batch: [], M: 40, K: 9, N: 12, tB: true, accumulate: true, alpha: 2 });
  for (const c of cases) {
    await check(rng, c, async (a, b, aShape, bShape, c0) => {
      const out = c0 ? cpu.fromArray(c0, [...c.batch, c.M, c.N]) : undefined;
      return matmul(cpu.fromArray(a, aShape), cpu.fromArray(b, bShape), { transA: c.tA, transB: c.tB, alpha: c.alpha, accumulate: c.accumulate, out }).data;
    });
  }
});

// ---- WGSL against the twin -------------------------------------------------------------------

/** The GPU product of a case, with the plan forced when `plan` is given. */
function gpuRun(c: Case, plan?: { tile: GemmTile; splits: number }) {
  return async (a: Float32Array, b: Float32Array, aShape: number[], bShape: number[], c0: Float32Array | undefined) => {
    const dev = gpu!;
    const ta = dev.fromArray(a, aShape);
    const tb = dev.fromArray(b, bShape);
    const g = matmulGeometry(aShape, bShape, c.tA, c.tB);
    // Garbage in `out` checks that a plain product never reads it.
    const out = dev.fromArray(c0 ?? new Float32Array(g.batch * c.M * c.N).fill(NaN), g.outShape);
    if (plan) {
      matmulWebGpu(dev, ta, tb, out, g, c.alpha ?? 1, c.accumulate ? 1 : 0, withSplits(plan.tile, plan.splits, g.K));
    } else {
      matmul(ta, tb, { transA: c.tA, transB: c.tB, alpha: c.alpha, accumulate: c.accumulate, out });
    }
    const r = await out.read();
    for (const t of [ta, tb, out]) t.dispose();
    return r;
  };
}

test('matmul WGSL matches the twin: odd sizes (scalar path), all transposes, batch, shared b', { skip }, async () => {
  const rng = new Rng(3);
  for (const base of ODD) {
    for (const tA of [false, true]) for (const tB of [false, true]) await check(rng, { ...base, tA, tB }, gpuRun({ ...base, tA, tB }));
  }
});

test('matmul WGSL: large tile, vec4 paths, split-K, accumulate', { skip }, async () => {
  const rng = new Rng(4);
  const L = { tile: TILE_LARGE, splits: 1 };
  const cases: [Case, { tile: GemmTile; splits: number } | undefined][] = [
    // Large tile with partial edge tiles, scalar and vec4 (multiples of 4, not of the tile).
    [{ batch: [], M: 130, K: 67, N: 131 }, L],
    [{ batch: [], M: 132, K: 68, N: 136, tA: true, tB: true }, L],
    [{ batch: [], M: 132, K: 68, N: 136 }, L],
    [{ batch: [2], M: 140, K: 36, N: 132, tA: true, bBatched: false, accumulate: true, alpha: 0.25 }, L],
    // Small tile vec4, every transpose.
    [{ batch: [], M: 36, K: 44, N: 68 }, undefined],
    [{ batch: [], M: 36, K: 44, N: 68, tA: true }, undefined],
    [{ batch: [], M: 36, K: 44, N: 68, tB: true }, undefined],
    [{ batch: [], M: 36, K: 44, N: 68, tA: true, tB: true }, undefined],
    // Shared b folded into one product (batch·M rows), accumulate.
    [{ batch: [3], M: 12, K: 20, N: 8, bBatched: false, accumulate: true, alpha: -1 }, undefined],
    // More tile-rows than a rasterization group (8): a full group and a partial one.
    [{ batch: [], M: 9 * 64 + 5, K: 7, N: 3 * 64 + 1 }, undefined],
    [{ batch: [2], M: 9 * 128 + 4, K: 5, N: 2 * 128 + 4, tB: true }, L],
    // Split-K: uneven chunks, batch, scalar and vec4 reductions, accumulate through the reduction.
    [{ batch: [], M: 33, K: 257, N: 17 }, { tile: TILE_SMALL, splits: 3 }],
    [{ batch: [3], M: 20, K: 100, N: 12, tB: true, accumulate: true, alpha: 2 }, { tile: TILE_SMALL, splits: 4 }],
    [{ batch: [], M: 129, K: 130, N: 130, tA: true }, { tile: TILE_LARGE, splits: 2 }],
  ];
  for (const [c, plan] of cases) await check(rng, c, gpuRun(c, plan));
});

test('matmul WGSL: the default plan splits a long-K product', { skip }, async () => {
  // 2048 = 2 chunks of ≥1024 with 1 tile: planGemm splits it (and the result still matches).
  const rng = new Rng(5);
  const c: Case = { batch: [], M: 8, K: 2048, N: 4 };
  assert.equal(planGemm(matmulGeometry([8, 2048], [2048, 4])).splits, 2);
  await check(rng, c, gpuRun(c));
});

test('matmul WGSL: one tensor as both operands (x·xᵀ)', { skip }, async () => {
  const rng = new Rng(6);
  const x = rng.normalArray(37 * 24);
  const g = matmulGeometry([37, 24], [37, 24], false, true);
  const xg = gpu!.fromArray(x, [37, 24]);
  assertClose(await matmul(xg, xg, { transB: true }).read(), twin(x, x, g), tolFor(24), 'x·xᵀ');
});

