// Matrix product C[..., M, N] = alpha · op(A)[..., M, K] · op(B)[..., K, N] (+ C with `accumulate`),
// where op(X) is X or Xᵀ. Three implementations with one parity test suite:
// - `matmulCpu`: the triple loop, the specification and the test oracle;
// - the CPU device path: `sgemm` (OpenBLAS when built), one call per batch or one for all;
// - the WebGPU path: the tiled kernel of `matmulWgsl.ts`, split over K when M·N is too small to fill
//   the GPU, then a deterministic reduction.

import { cpu } from '../cpu/cpuDevice.js';
import { sgemm } from '../cpu/sgemm.js';
import { assertDtype, assertSameDevice, assertShape, numelOf, type Tensor } from '../tensor.js';
import { itemsPerPiece } from '../webgpu/chunkedDispatch.js';
import { DeviceLimitError, type BufferRange, type WebGpuDevice } from '../webgpu/gpuDevice.js';
import { grid1d, ParamWriter } from '../webgpu/params.js';
import { pointwiseGrid, pointwiseWgsl } from './wgslGen.js';
import { gemmWgsl, splitKReduceWgsl, SPLITK_REDUCE_WG, TILE_LARGE, TILE_SMALL, type GemmTile, type GemmVariant } from './matmulWgsl.js';

export interface MatmulOptions {
  /** a is stored [..., K, M]. */
  transA?: boolean;
  /** b is stored [..., N, K]. */
  transB?: boolean;
  /** Write the result here (shape [..., M, N]); must not share storage with a or b. */
  out?: Tensor;
  /** out += alpha·op(a)·op(b) (needs `out`), e.g. gradient accumulation. */
  accumulate?: boolean;
  /** Scale of the product (default 1). */
  alpha?: number;
}

/** The shapes of a product, resolved and checked. */
export interface MatmulGeometry {
  /** Product of the leading (batch) dimensions of a; 1 for 2-D a. */
  batch: number;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  /** Elements between consecutive batch matrices of b: K·N, or 0 when b is 2-D (shared). */
  bStride: number;
  /** [...batch dims of a, M, N]. */
  outShape: number[];
}

/** 2·M·N·K·batch: floating-point operations of a product (multiply and add counted apart). */
export function matmulFlops(M: number, N: number, K: number, batch = 1): number {
  return 2 * M * N * K * batch;
}

/** Resolve and check the shapes of op(a)·op(b); throws one message naming both shapes. */
export function matmulGeometry(aShape: readonly number[], bShape: readonly number[], transA = false, transB = false): MatmulGeometry {
  const fail = (why: string): never => {
    throw new Error(
      `matmul: cannot multiply a [${aShape}]${transA ? ' (transA)' : ''} by b [${bShape}]${transB ? ' (transB)' : ''}: ${why}; ` +
        `expected a [..., ${transA ? 'K, M' : 'M, K'}] and b [${transB ? 'N, K' : 'K, N'}] or [..., ${transB ? 'N, K' : 'K, N'}] with a's leading dimensions`,
    );
  };
  if (aShape.length < 2) fail('a has fewer than 2 dimensions');
  if (bShape.length < 2) fail('b has fewer than 2 dimensions');
  const [a0, a1] = aShape.slice(-2) as [number, number];
  const [b0, b1] = bShape.slice(-2) as [number, number];
  const [M, K] = transA ? [a1, a0] : [a0, a1];
  const [Kb, N] = transB ? [b1, b0] : [b0, b1];
  if (K !== Kb) fail(`inner dimensions differ (K ${K} vs ${Kb})`);
  const aBatch = aShape.slice(0, -2);
  const bBatch = bShape.slice(0, -2);
  const shared = bBatch.length === 0;
  if (!shared && (bBatch.length !== aBatch.length || bBatch.some((d, i) => d !== aBatch[i]))) {
    fail(`batch dimensions [${aBatch}] and [${bBatch}] differ (b must have a's leading dimensions, or none)`);
  }
  return { batch: numelOf(aBatch), M, N, K, transA, transB, bStride: shared ? 0 : K * N, outShape: [...aBatch, M, N] };
}

// ---- CPU twin --------------------------------------------------------------------------------

/**
 * The specification: C[z,i,j] = alpha · Σ_k op(A)[z,i,k] · op(B)[z,k,j] (+ C[z,i,j] with accumulate),
 * summed in float64. A, B, C are packed row-major as `g` describes.
 */
export function matmulCpu(A: Float32Array, B: Float32Array, C: Float32Array, g: MatmulGeometry, alpha = 1, accumulate = false): void {
  const { batch, M, N, K, transA, transB, bStride } = g;
  for (let z = 0; z < batch; z++) {
    const aOff = z * M * K;
    const bOff = z * bStride;
    const cOff = z * M * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const a = transA ? A[aOff + k * M + i]! : A[aOff + i * K + k]!; // A [K, M] or [M, K]
          const b = transB ? B[bOff + j * K + k]! : B[bOff + k * N + j]!; // B [N, K] or [K, N]
          s += a * b;
        }
        const c = cOff + i * N + j;
        C[c] = alpha * s + (accumulate ? C[c]! : 0);
      }
    }
  }
}

/** A 2-D b shared by every batch of a non-transposed a is one product with batch·M rows. */
function foldBatch(g: MatmulGeometry): MatmulGeometry {
  return g.bStride === 0 && !g.transA && g.batch > 1 ? { ...g, batch: 1, M: g.batch * g.M } : g;
}

/** The CPU device path: sgemm per batch matrix (or once, folded). */
export function matmulSgemm(A: Float32Array, B: Float32Array, C: Float32Array, geometry: MatmulGeometry, alpha = 1, accumulate = false): void {
  const g = foldBatch(geometry);
  const { M, N, K, transA, transB } = g;
  if (g.batch * M * N === 0) return;
  if (K === 0) {
    // An empty sum (BLAS rejects the zero leading dimensions this would pass it).
    if (!accumulate) C.fill(0, 0, g.batch * M * N);
    return;
  }
  for (let z = 0; z < g.batch; z++) {
    sgemm({
      transA, transB, M, N, K, alpha,
      A, aOffset: z * M * K, lda: transA ? M : K,
      B, bOffset: z * g.bStride, ldb: transB ? K : N,
      beta: accumulate ? 1 : 0,
      C, cOffset: z * M * N, ldc: N,
    });
  }
}

// ---- WebGPU ----------------------------------------------------------------------------------

/** How the GPU path runs one product. */
export interface GemmPlan {
  tile: GemmTile;
  /** K is cut into this many chunks of `kChunk` (a multiple of BK), summed by a reduction kernel. */
  splits: number;
  kChunk: number;
}

// Split K until there are about this many workgroups: 4 per SM of a 132-SM H100, so that the last
// wave's idle share is small. A 128×128-tile product of 4096×24576 · 24576×768 has only 192 tiles.
const SPLITK_TARGET_WORKGROUPS = 528;
// ...but never into chunks shorter than this: each split adds an M·N partial to write and read back.
const SPLITK_MIN_CHUNK = 1024;

/** The device limits a plan must respect (defaults: an H100's). */
export interface GemmLimits {
  maxStorageBufferBindingSize: number;
  maxComputeWorkgroupStorageSize: number;
}
const H100_LIMITS: GemmLimits = { maxStorageBufferBindingSize: 2 ** 32 - 4, maxComputeWorkgroupStorageSize: 49152 };

/** Workgroup memory of a tile: two buffers of BK×(BM+BN) floats. */
function tileSharedBytes(t: GemmTile): number {
  return 2 * t.BK * (t.BM + t.BN) * 4;
}

/** Pick the tile (large when both M and N fill it and it fits) and the K split for a product. */
export function planGemm(g: MatmulGeometry, limits: GemmLimits = H100_LIMITS): GemmPlan {
  const large = g.M >= TILE_LARGE.BM && g.N >= TILE_LARGE.BN && tileSharedBytes(TILE_LARGE) <= limits.maxComputeWorkgroupStorageSize;
  const tile = large ? TILE_LARGE : TILE_SMALL;
  const tiles = Math.ceil(g.M / tile.BM) * Math.ceil(g.N / tile.BN) * g.batch;
  let splits = 1;
  while (
    tiles * splits < SPLITK_TARGET_WORKGROUPS &&
    g.K / (2 * splits) >= SPLITK_MIN_CHUNK &&
    2 * splits * g.batch * g.M * g.N * 4 <= limits.maxStorageBufferBindingSize
  ) {
    splits *= 2;
  }
  return withSplits(tile, splits, g.K);
}

/** A plan with `splits` chunks of K, rounded to whole BK steps (so possibly fewer splits). */
export function withSplits(tile: GemmTile, splits: number, K: number): GemmPlan {
  const kChunk = Math.max(tile.BK, Math.ceil(K / splits / tile.BK) * tile.BK);
  return { tile, splits: Math.max(1, Math.ceil(K / kChunk)), kChunk };
}

// Generated WGSL by variant key: building the text costs more than a dispatch, and handing the device
// the same string object keeps its pipeline-cache lookup cheap.
const wgslCache = new Map<string, string>();
function cached(key: string, make: () => string): string {
  let code = wgslCache.get(key);
  if (code === undefined) {
    code = make();
    wgslCache.set(key, code);
  }
  return code;
}

/** A binding of the GEMM: a whole tensor or a byte range of one (a piece of a chunked product). */
type GemmBinding = Tensor | BufferRange;

/**
 * Record C = alpha·op(A)·op(B) + beta·C on the GPU (beta 0 or 1). `plan` overrides the chosen tile/split
 * (tests use it to reach every variant on small shapes). A product whose operands or result exceed
 * the device's storage-binding size runs in pieces (see matmulPieces).
 */
export function matmulWebGpu(dev: WebGpuDevice, a: Tensor, b: Tensor, out: Tensor, geometry: MatmulGeometry, alpha: number, beta: number, plan?: GemmPlan): void {
  const g = foldBatch(geometry);
  if (g.batch * g.M * g.N === 0) return;
  const limit = dev.limits.maxStorageBufferBindingSize;
  if (a.byteLength <= limit && b.byteLength <= limit && out.byteLength <= limit) gemmDispatch(dev, a, b, out, g, alpha, beta, plan);
  else matmulPieces(dev, a, b, out, g, alpha, beta);
}

/** One GEMM (and its split-K reduction) over bindings that fit. */
function gemmDispatch(dev: WebGpuDevice, a: GemmBinding, b: GemmBinding, out: GemmBinding, g: MatmulGeometry, alpha: number, beta: number, plan?: GemmPlan): void {
  const { batch, M, N, K, transA, transB } = g;
  if (batch * M * N === 0) return;
  const p = plan ?? planGemm(g, dev.limits);
  const v: GemmVariant = {
    tile: p.tile,
    transA,
    transB,
    // vec4 access needs the operand's contiguous dimension (and so every offset) to be a multiple of 4.
    // (K = 0 leaves A and B empty: their 4-byte bindings are too short for a vec4 array.)
    vecA: K > 0 && (transA ? M : K) % 4 === 0,
    vecB: K > 0 && (transB ? K : N) % 4 === 0,
    vecC: N % 4 === 0,
  };
  const key = `${JSON.stringify(v.tile)}${+transA}${+transB}${+v.vecA}${+v.vecB}${+v.vecC}`;
  const code = cached(key, () => gemmWgsl(v));
  const tilesM = Math.ceil(M / p.tile.BM);
  const tilesN = Math.ceil(N / p.tile.BN);
  const split = p.splits > 1;
  const target = split ? dev.empty([p.splits * batch * M * N]) : out;
  const params = new ParamWriter(11)
    .u32(M).u32(N).u32(K).u32(p.kChunk).u32(batch)
    .u32(M * K).u32(g.bStride)
    .u32(tilesM).u32(tilesN)
    .f32(split ? 1 : alpha).f32(split ? 0 : beta)
    .bytes();
  dev.dispatch({ label: `matmul ${key}`, code, buffers: [a, b, target], params, workgroups: [tilesN, tilesM, p.splits * batch] });
  if (!split) return;
  const n = batch * M * N;
  const vec = n % 4 === 0;
  const len = vec ? n / 4 : n;
  const rparams = new ParamWriter(4).u32(len).u32(p.splits).f32(alpha).f32(beta).bytes();
  const rcode = cached(`reduce${+vec}`, () => splitKReduceWgsl(vec));
  dev.dispatch({ label: 'matmul split-K reduce', code: rcode, buffers: [target as Tensor, out], params: rparams, workgroups: grid1d(len, SPLITK_REDUCE_WG) });
  // Safe to pool now: a later op that reuses the buffer is recorded after the reduction reads it.
  (target as Tensor).dispose();
}

/** Rows [r0, r0 + n) of a row-major tensor whose rows hold `width` floats. */
function rowRange(t: Tensor, r0: number, n: number, width: number): BufferRange {
  return { source: t, offset: r0 * width * 4, size: Math.max(n * width * 4, 4) };
}

// out[m, n0 + j] = tmp[m, j] + beta·out[m, n0 + j] over a [rows, nc] block: the columns of a piece.
const PLACE_COLUMNS_WGSL = pointwiseWgsl(
  [['tmp', 'read'], ['out', 'read_write']],
  'n: u32, nc: u32, N: u32, n0: u32, beta: f32',
  'let o = (i / p.nc) * p.N + p.n0 + i % p.nc;\n  var v = tmp[i]; if (p.beta != 0.0) { v += p.beta * out[o]; } out[o] = v;',
);

/**
 * A product too big for one binding, in pieces whose every binding fits (2-D only: batched products
 * are small). Rows of op(A) and C (A not transposed); columns through a temporary when B [N, K] is
 * too big (transB: its rows are contiguous); K when A [K, M] and B [K, N] both run along K.
 */
function matmulPieces(dev: WebGpuDevice, a: Tensor, b: Tensor, out: Tensor, g: MatmulGeometry, alpha: number, beta: number): void {
  const limit = dev.limits.maxStorageBufferBindingSize;
  const align = dev.limits.minStorageBufferOffsetAlignment;
  const { M, N, K, transA, transB } = g;
  const cannot = (why: string): never => {
    throw new DeviceLimitError(`matmul [${M}×${K}]·[${K}×${N}]${transA ? ' (transA)' : ''}${transB ? ' (transB)' : ''}: over this GPU's maxStorageBufferBindingSize ${limit} and ${why}`);
  };
  if (g.batch !== 1) cannot('batched products are not cut into pieces');
  const bFits = b.byteLength <= limit;
  if (transA) {
    // Sum over pieces of K: rows [k0, k1) of A [K, M] and of B [K, N].
    if (transB || out.byteLength > limit) cannot('A is stored transposed (its rows are not the output rows)');
    const kc = itemsPerPiece([M, N], limit, align);
    if (kc < 1) cannot('one aligned step of K does not fit');
    for (let k0 = 0; k0 < K; k0 += kc) {
      const n = Math.min(kc, K - k0);
      gemmDispatch(dev, rowRange(a, k0, n, M), rowRange(b, k0, n, N), out, { ...g, K: n }, alpha, k0 === 0 ? beta : 1);
    }
    return;
  }
  if (bFits) {
    const mc = itemsPerPiece([K, N], limit, align);
    if (mc < 1) cannot('one aligned step of rows does not fit');
    for (let m0 = 0; m0 < M; m0 += mc) {
      const n = Math.min(mc, M - m0);
      gemmDispatch(dev, rowRange(a, m0, n, K), b, rowRange(out, m0, n, N), { ...g, M: n, outShape: [n, N] }, alpha, beta);
    }
    return;
  }
  if (!transB) cannot('B [K, N] would have to be cut along N, whose columns are not contiguous');
  // B [N, K] in pieces of rows (output columns), each product into a temporary then placed.
  const nc = itemsPerPiece([K], limit, align);
  // nc among the widths keeps the temporary [mc, nc] within the limit too.
  const mc = nc < 1 ? 0 : itemsPerPiece([K, N, Math.min(nc, N)], limit, align);
  if (nc < 1 || mc < 1) cannot('one aligned step of rows does not fit');
  for (let n0 = 0; n0 < N; n0 += nc) {
    const nn = Math.min(nc, N - n0);
    for (let m0 = 0; m0 < M; m0 += mc) {
      const mm = Math.min(mc, M - m0);
      const tmp = dev.empty([mm, nn]);
      gemmDispatch(dev, rowRange(a, m0, mm, K), rowRange(b, n0, nn, K), tmp, { ...g, M: mm, N: nn, outShape: [mm, nn] }, alpha, 0);
      const params = new ParamWriter(5).u32(mm * nn).u32(nn).u32(N).u32(n0).f32(beta).bytes();
      dev.dispatch({ label: 'matmul place columns', code: PLACE_COLUMNS_WGSL, buffers: [tmp, rowRange(out, m0, mm, N)], params, workgroups: pointwiseGrid(mm * nn) });
      tmp.dispose();
    }
  }
}

// ---- dispatch --------------------------------------------------------------------------------

/** alpha · op(a) · op(b): a [..., M, K], b [K, N] or [..., K, N] → [..., M, N] (into `out`, += with `accumulate`). */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const { out: given, accumulate = false, alpha = 1 } = opts;
  assertSameDevice(a, b, ...(given ? [given] : []));
  assertDtype(a, 'f32', 'matmul a');
  assertDtype(b, 'f32', 'matmul b');
  const g = matmulGeometry(a.shape, b.shape, opts.transA ?? false, opts.transB ?? false);
  if (accumulate && !given) throw new Error('matmul: accumulate needs an `out` tensor to add into');
  if (given) {
    assertDtype(given, 'f32', 'matmul out');
    assertShape(given, g.outShape, 'matmul out');
    if (sharesStorage(given, a) || sharesStorage(given, b)) throw new Error('matmul: out must not share storage with a or b');
  }
  if (a.device.kind === 'cpu') {
    const out = given ?? cpu.zeros(g.outShape);
    matmulSgemm(a.data as Float32Array, b.data as Float32Array, out.data as Float32Array, g, alpha, accumulate);
    return out;
  }
  const dev = a.device as WebGpuDevice;
  const out = given ?? dev.empty(g.outShape);
  matmulWebGpu(dev, a, b, out, g, alpha, accumulate ? 1 : 0);
  return out;
}

/** Whether two tensors' storage overlaps (the same GPU buffer, or overlapping bytes of one ArrayBuffer). */
function sharesStorage(x: Tensor, y: Tensor): boolean {
  if (x.storage.kind === 'webgpu' || y.storage.kind === 'webgpu') {
    return x.storage.kind === 'webgpu' && y.storage.kind === 'webgpu' && x.storage.buffer === y.storage.buffer;
  }
  const p = x.storage.data;
  const q = y.storage.data;
  if (p.buffer !== q.buffer) return false;
  return p.byteOffset < q.byteOffset + q.byteLength && q.byteOffset < p.byteOffset + p.byteLength;
}
