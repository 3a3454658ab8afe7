// WGSL text for the fp32 GEMM: one generator, one shader per variant (tile shape, transposes, vec4
// access), so every branch that depends on the variant is resolved in the text, not at run time.
//
// The kernel (C[M,N] = alpha · op(A)[M,K] · op(B)[K,N] + beta · C, per batch and per K-split):
// - a workgroup computes a BM×BN tile; each of its (BM/TM)·(BN/TN) threads holds TM×TN outputs in
//   registers (vec4 accumulators along N);
// - K advances BK at a time through two workgroup-memory buffers (double buffering: one barrier per
//   step). The next step's global loads are issued before the current step's arithmetic, so their
//   latency hides behind it; they go to workgroup memory after it;
// - workgroup memory holds both operands K-major (`As[k][m]`, `Bs[k][n]`) as vec4 along M/N, so the
//   inner loop reads each fragment with one 128-bit load: A fragments are warp broadcasts, B fragments
//   are 16 consecutive vec4s (conflict-free). A thread's TM rows are TM/4 groups of 4 spaced BM/(TM/4)
//   apart (likewise columns), which keeps those reads contiguous across threads;
// - an operand stored contiguous along K (A without transA, B with transB) is transposed on its way
//   into workgroup memory: consecutive threads take consecutive rows, so the scalar component stores
//   hit 32 distinct banks;
// - vec4 global loads/stores where the contiguous dimension is a multiple of 4, else a scalar,
//   bounds-checked path with the same tiling; partial edge tiles are zero-filled, never branched around;
// - the inner BK loop is unrolled in the text with literal offsets, so accumulators and fragments stay
//   in registers whatever the driver's unroller does;
// - workgroups are rasterized in groups of GROUP tile-rows (as in Triton's grouped ordering), so the
//   workgroups resident together share A panels and a narrow band of B: better L2 reuse when the
//   operands do not fit in L2 (e.g. the 400 MB A of a 4096×24576 · 24576×768 product);
// - batch and K-split are workgroup z: z = split·batch + b; output slab z starts at z·M·N, so with one
//   split it is C itself and with several it is a partial buffer that `splitKReduceWgsl` sums in a
//   fixed order (deterministic, no atomics).

import { flatIndexWgsl } from '../webgpu/params.js';

/** Tile shape: BM×BN outputs per workgroup, BK deep, TM×TN outputs per thread (multiples of 4). */
export interface GemmTile {
  BM: number;
  BN: number;
  BK: number;
  TM: number;
  TN: number;
}

/** 128×128 tile, 256 threads of 8×8: 64 FMAs per 4 vec4 reads of workgroup memory. For big M and N. */
export const TILE_LARGE: GemmTile = { BM: 128, BN: 128, BK: 16, TM: 8, TN: 8 };
/** 64×64 tile, 256 threads of 4×4: four times the workgroups, for small or thin products. */
export const TILE_SMALL: GemmTile = { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 };

/** Tile-rows per rasterization group. */
const GROUP = 8;

export interface GemmVariant {
  tile: GemmTile;
  /** A stored [K, M] (else [M, K]). */
  transA: boolean;
  /** B stored [N, K] (else [K, N]). */
  transB: boolean;
  /** vec4 loads of A: its contiguous dimension is a multiple of 4. */
  vecA: boolean;
  vecB: boolean;
  /** vec4 stores of C: N is a multiple of 4. */
  vecC: boolean;
}

/** Threads per workgroup of a tile shape. */
export function tileThreads(t: GemmTile): number {
  return (t.BM / t.TM) * (t.BN / t.TN);
}

/** The gemm kernel's uniform struct, in `gemmParams` order. */
const PARAMS_STRUCT = `struct P {
  M: u32, N: u32, K: u32,
  kChunk: u32,   // K per split (a multiple of BK)
  batch: u32,
  aStride: u32,  // elements between batches of A
  bStride: u32,  // 0 when B is shared by every batch
  tilesM: u32, tilesN: u32,
  alpha: f32, beta: f32,
}`;

/** One operand as the loader sees it: a D×BK slab (D = BM for A, BN for B) per K step. */
interface Operand {
  name: 'A' | 'B';
  D: number;
  /** Extent along D ('p.M' or 'p.N'), tile origin along D, batch offset. */
  dim: string;
  d0: string;
  off: string;
  /** Stored contiguous along K (A not transposed, B transposed). */
  alongK: boolean;
  vec: boolean;
}

/** Per-thread index setup for loading one operand (hoisted out of the K loop). */
function setupCode(o: Operand, BK: number, NT: number): string {
  const L = (o.D * BK) / (4 * NT);
  const x = o.name;
  const lines: string[] = [];
  for (let l = 0; l < L; l++) {
    if (o.alongK) {
      // Thread i takes row d = i % D and 4 consecutive k: consecutive threads, consecutive rows.
      lines.push(`let ${x}d${l} = (${l * NT}u + t) % ${o.D}u;`);
      lines.push(`let ${x}k${l} = ((${l * NT}u + t) / ${o.D}u) * 4u;`);
      lines.push(`let ${x}ok${l} = ${o.d0} + ${x}d${l} < ${o.dim};`);
      lines.push(`let ${x}base${l} = ${o.off} + (${o.d0} + ${x}d${l}) * p.K;`);
      // Workgroup-memory slot: vec4 index of (k, d) and the component d % 4.
      lines.push(`let ${x}s${l} = ${x}k${l} * ${o.D / 4}u + ${x}d${l} / 4u;`);
      lines.push(`let ${x}c${l} = ${x}d${l} % 4u;`);
    } else {
      // Thread i takes 4 consecutive d at one k: a warp reads 512 contiguous bytes.
      lines.push(`let ${x}d${l} = ((${l * NT}u + t) % ${o.D / 4}u) * 4u;`);
      lines.push(`let ${x}k${l} = (${l * NT}u + t) / ${o.D / 4}u;`);
      lines.push(`let ${x}g${l} = ${o.d0} + ${x}d${l};`);
      lines.push(`let ${x}s${l} = ${x}k${l} * ${o.D / 4}u + ${x}d${l} / 4u;`);
    }
    lines.push(`var ${x}r${l} = vec4f(0.0);`);
  }
  return lines.join('\n  ');
}

/** Global loads of one operand's slab at K offset `kBase` into the registers `Ar0..` (zeros outside). */
function loadCode(o: Operand, BK: number, NT: number, kBase: string): string {
  const L = (o.D * BK) / (4 * NT);
  const x = o.name;
  const lines: string[] = [];
  for (let l = 0; l < L; l++) {
    const r = `${x}r${l}`;
    lines.push(`${r} = vec4f(0.0);`);
    if (o.alongK) {
      lines.push(`{ let k = ${kBase} + ${x}k${l};`);
      if (o.vec) {
        // K % 4 == 0 and kEnd % 4 == 0: the vec4 is wholly in or wholly out.
        lines.push(`  if (${x}ok${l} && k < kEnd) { ${r} = ${x}[(${x}base${l} + k) / 4u]; } }`);
      } else {
        lines.push(`  if (${x}ok${l}) {`);
        for (let j = 0; j < 4; j++) lines.push(`    if (k + ${j}u < kEnd) { ${r}[${j}] = ${x}[${x}base${l} + k + ${j}u]; }`);
        lines.push(`  } }`);
      }
    } else {
      lines.push(`{ let k = ${kBase} + ${x}k${l};`);
      lines.push(`  if (k < kEnd) { let e = ${o.off} + k * ${o.dim} + ${x}g${l};`);
      if (o.vec) {
        lines.push(`    if (${x}g${l} < ${o.dim}) { ${r} = ${x}[e / 4u]; }`);
      } else {
        for (let j = 0; j < 4; j++) lines.push(`    if (${x}g${l} + ${j}u < ${o.dim}) { ${r}[${j}] = ${x}[e + ${j}u]; }`);
      }
      lines.push(`  } }`);
    }
  }
  return lines.join('\n    ');
}

/** Stores of the loaded registers into workgroup buffer `buf` (a vec4 offset expression). */
function storeCode(o: Operand, BK: number, NT: number, buf: string): string {
  const L = (o.D * BK) / (4 * NT);
  const x = o.name;
  const lines: string[] = [];
  for (let l = 0; l < L; l++) {
    if (o.alongK) {
      // The 4 k values go to 4 rows of the K-major buffer: component stores (the transpose).
      for (let j = 0; j < 4; j++) lines.push(`${x}s[${buf} + ${x}s${l} + ${j * (o.D / 4)}u][${x}c${l}] = ${x}r${l}[${j}];`);
    } else {
      lines.push(`${x}s[${buf} + ${x}s${l}] = ${x}r${l};`);
    }
  }
  return lines.join('\n    ');
}

/** The unrolled BK-step multiply-accumulate from the current workgroup buffers. */
function computeCode(tile: GemmTile): string {
  const { BM, BN, BK, TM, TN } = tile;
  const TX = BN / TN;
  const TY = BM / TM;
  const xyzw = ['x', 'y', 'z', 'w'];
  const lines: string[] = [];
  for (let kk = 0; kk < BK; kk++) {
    const s: string[] = [];
    for (let g = 0; g < TM / 4; g++) s.push(`let a${g} = As[aBase + ${kk * (BM / 4) + g * TY}u];`);
    for (let h = 0; h < TN / 4; h++) s.push(`let b${h} = Bs[bBase + ${kk * (BN / 4) + h * TX}u];`);
    for (let g = 0; g < TM / 4; g++) {
      for (let i = 0; i < 4; i++) {
        for (let h = 0; h < TN / 4; h++) s.push(`c${g * 4 + i}_${h} += a${g}.${xyzw[i]} * b${h};`);
      }
    }
    lines.push(`{ ${s.join(' ')} }`);
  }
  return lines.join('\n    ');
}

/** C = alpha·acc + beta·C for this thread's outputs (beta == 0 never reads C: it may hold garbage). */
function epilogueCode(tile: GemmTile, vecC: boolean): string {
  const { BM, BN, TM, TN } = tile;
  const TX = BN / TN;
  const TY = BM / TM;
  const lines: string[] = [];
  for (let g = 0; g < TM / 4; g++) {
    for (let i = 0; i < 4; i++) {
      lines.push(`{ let row = m0 + ${g * TY * 4 + i}u + ty * 4u;`);
      lines.push(`  if (row < p.M) { let rowOff = cOff + row * p.N;`);
      for (let h = 0; h < TN / 4; h++) {
        const acc = `c${g * 4 + i}_${h}`;
        const col = `(n0 + ${h * TX * 4}u + tx * 4u)`;
        if (vecC) {
          lines.push(`    { let col = ${col}; if (col < p.N) { let o = (rowOff + col) / 4u;`);
          lines.push(`      var v = p.alpha * ${acc}; if (p.beta != 0.0) { v += p.beta * C[o]; } C[o] = v; } }`);
        } else {
          lines.push(`    { let col = ${col};`);
          for (let j = 0; j < 4; j++) {
            lines.push(`      if (col + ${j}u < p.N) { let o = rowOff + col + ${j}u;`);
            lines.push(`        var v = p.alpha * ${acc}[${j}]; if (p.beta != 0.0) { v += p.beta * C[o]; } C[o] = v; }`);
          }
          lines.push(`    }`);
        }
      }
      lines.push(`  } }`);
    }
  }
  return lines.join('\n  ');
}

/** WGSL for one GEMM variant. Bindings: 0 A, 1 B, 2 C (or the split-K partials), 3 params. */
export function gemmWgsl(v: GemmVariant): string {
  const { tile } = v;
  const { BM, BN, BK, TM, TN } = tile;
  const TX = BN / TN;
  const TY = BM / TM;
  const NT = TX * TY;
  if (TM % 4 || TN % 4 || BM % TM || BN % TN) throw new Error(`gemmWgsl: bad tile ${JSON.stringify(tile)}`);
  if ((BM * BK) % (4 * NT) || (BN * BK) % (4 * NT) || BK % 4) throw new Error(`gemmWgsl: tile ${JSON.stringify(tile)} does not split evenly over ${NT} threads`);
  const SA = (BK * BM) / 4;
  const SB = (BK * BN) / 4;
  const opA: Operand = { name: 'A', D: BM, dim: 'p.M', d0: 'm0', off: 'aOff', alongK: !v.transA, vec: v.vecA };
  const opB: Operand = { name: 'B', D: BN, dim: 'p.N', d0: 'n0', off: 'bOff', alongK: v.transB, vec: v.vecB };
  const acc: string[] = [];
  for (let r = 0; r < TM; r++) for (let h = 0; h < TN / 4; h++) acc.push(`var c${r}_${h} = vec4f(0.0);`);
  const arr = (vec: boolean) => (vec ? 'vec4f' : 'f32');
  return /* wgsl */ `// gemm ${BM}x${BN}x${BK} ${TM}x${TN}/thread transA=${v.transA} transB=${v.transB} vec=${+v.vecA}${+v.vecB}${+v.vecC}
${PARAMS_STRUCT}
@group(0) @binding(0) var<storage, read> A: array<${arr(v.vecA)}>;
@group(0) @binding(1) var<storage, read> B: array<${arr(v.vecB)}>;
@group(0) @binding(2) var<storage, read_write> C: array<${arr(v.vecC)}>;
@group(0) @binding(3) var<uniform> p: P;
// Two buffers each: [2][BK][BM/4] and [2][BK][BN/4] vec4s.
var<workgroup> As: array<vec4f, ${2 * SA}>;
var<workgroup> Bs: array<vec4f, ${2 * SB}>;

@compute @workgroup_size(${NT})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  // Grouped rasterization: launch order walks ${GROUP} tile-rows down, then one tile-column right.
  let pid = wid.y * p.tilesN + wid.x;
  let perGroup = ${GROUP}u * p.tilesN;
  let firstM = (pid / perGroup) * ${GROUP}u;
  let groupM = min(p.tilesM - firstM, ${GROUP}u);
  let m0 = (firstM + (pid % perGroup) % groupM) * ${BM}u;
  let n0 = ((pid % perGroup) / groupM) * ${BN}u;
  let bi = wid.z % p.batch;
  let split = wid.z / p.batch;
  let aOff = bi * p.aStride;
  let bOff = bi * p.bStride;
  let cOff = wid.z * p.M * p.N;
  let kBegin = min(split * p.kChunk, p.K);
  let kEnd = min(p.K, kBegin + p.kChunk);
  let nSteps = (kEnd - kBegin + ${BK - 1}u) / ${BK}u;
  let tx = t % ${TX}u;
  let ty = t / ${TX}u;
  ${setupCode(opA, BK, NT)}
  ${setupCode(opB, BK, NT)}
  ${acc.join('\n  ')}

  {
    ${loadCode(opA, BK, NT, 'kBegin')}
    ${loadCode(opB, BK, NT, 'kBegin')}
    ${storeCode(opA, BK, NT, '0u')}
    ${storeCode(opB, BK, NT, '0u')}
  }
  workgroupBarrier();
  for (var kt = 0u; kt < nSteps; kt++) {
    let cur = kt & 1u;
    // Next step's loads first (zeros past kEnd), so their latency overlaps the arithmetic.
    let kNext = kBegin + (kt + 1u) * ${BK}u;
    ${loadCode(opA, BK, NT, 'kNext')}
    ${loadCode(opB, BK, NT, 'kNext')}
    let aBase = cur * ${SA}u + ty;
    let bBase = cur * ${SB}u + tx;
    ${computeCode(tile)}
    // The other buffer was last read in the previous step, which the barrier below it has closed.
    let aNext = (cur ^ 1u) * ${SA}u;
    let bNext = (cur ^ 1u) * ${SB}u;
    ${storeCode(opA, BK, NT, 'aNext')}
    ${storeCode(opB, BK, NT, 'bNext')}
    workgroupBarrier();
  }

  ${epilogueCode(tile, v.vecC)}
}
`;
}

const REDUCE_WG = 256;

/** Workgroup size of the split-K reduction. */
export const SPLITK_REDUCE_WG = REDUCE_WG;

/**
 * Split-K reduction: C[i] = alpha · Σ_s part[s·n + i] + beta · C[i], summed in split order
 * (deterministic). With `vec`, n counts vec4s. Bindings: 0 part, 1 C, 2 params {n, splits, alpha, beta}.
 */
export function splitKReduceWgsl(vec: boolean): string {
  const T = vec ? 'vec4f' : 'f32';
  return /* wgsl */ `
struct P { n: u32, splits: u32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<storage, read> part: array<${T}>;
@group(0) @binding(1) var<storage, read_write> C: array<${T}>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(${REDUCE_WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${flatIndexWgsl(REDUCE_WG)};
  if (i >= p.n) { return; }
  var s = part[i];
  for (var sp = 1u; sp < p.splits; sp++) { s += part[sp * p.n + i]; }
  var v = p.alpha * s;
  if (p.beta != 0.0) { v += p.beta * C[i]; }
  C[i] = v;
}`;
}
