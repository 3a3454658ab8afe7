// Causal multi-head self-attention with grouped-query heads (GPT-2, GPT-NeoX/Pythia, Llama),
// forward and backward, in the manner of llm.c / FlashAttention:
//   S = scale · Q Kᵀ (masked to s ≤ t),  P = softmax_rows(S),  O = P V,  lse = logsumexp_rows(S)
// Two options (Gemma-2, Mistral; CPU only for now, the WGSL kernels refuse them):
//   softcap c:  S = c · tanh(scale · q·k / c) before the mask; the backward multiplies dS by
//               dS/dS_raw = 1 − tanh² = 1 − (S/c)²
//   window w:   query t sees keys s with t − w < s ≤ t (HF's sliding window)
// The forward saves only lse (not P): the backward recomputes P = exp(S − lse) block by block.
// Backward, with D_t = Σ_j dO[t, j]·O[t, j] (= Σ_s P[t, s]·dP[t, s]):
//   dP = dO Vᵀ,  dS = P ⊙ (dP − D),  dQ = scale · dS K,  dK = scale · dSᵀ Q,  dV = Pᵀ dO
// Query head h reads kv head floor(h / (nHeads / nKvHeads)); dK and dV of a kv head sum over
// the query heads that share it. Layouts: q, out [B, T, nHeads, dHead]; k, v [B, T, nKvHeads,
// dHead] (the model's projections reshaped, no transpose); lse [B, nHeads, T].
// Right-padded batches need no mask beyond the causal one: a real token at t only sees s ≤ t,
// which are real too, so padding changes nothing for real tokens (the loss masks the pad rows).
// On WebGPU every reduction has a fixed order per thread (no float atomics): deterministic.
// On the CPU device the Tensor API runs the sgemm-based fast path (attentionFastCpu.ts); the
// float64 twins below are the specification and the tests' oracle.

import { assertDtype, assertSameDevice, assertShape, type Tensor } from '../tensor.js';
import { DeviceLimitError, type WebGpuDevice } from '../webgpu/gpuDevice.js';
import { ParamWriter } from '../webgpu/params.js';
import { causalAttentionBackwardFastCpu, causalAttentionFastCpu, firstKey } from './attentionFastCpu.js';
export { firstKey };
import type { Floats } from './elementwise.js';
import { bindingsWgsl, F32_LOWEST_WGSL, gpuOf, memoKernel, outputOn, pointwiseGrid, pointwiseWgsl } from './wgslGen.js';

/** Sizes of one attention call. */
export interface AttentionDims {
  B: number;
  T: number;
  nHeads: number;
  nKvHeads: number;
  dHead: number;
  /** Multiplies Q Kᵀ (1/sqrt(dHead) by default). */
  scale: number;
  /** Sliding window: query t sees keys s > t − window (absent or Infinity: all s ≤ t). */
  window?: number;
  /** Logit soft-capping c: scores c·tanh(s/c) (absent or null: none). */
  softcap?: number | null;
}

export interface AttentionOptions {
  nHeads: number;
  nKvHeads: number;
  /** Default 1/sqrt(dHead). */
  scale?: number;
  /** Sliding window (see AttentionDims); null or absent: full causal. */
  window?: number | null;
  /** Logit soft-capping (see AttentionDims); null or absent: none. */
  softcap?: number | null;
}


// ---- CPU twins: plain loops, sums in float64 -------------------------------------------------

/** Forward on flat arrays: out [B, T, nHeads, dHead], lse [B, nHeads, T] from q, k, v. */
export function causalAttentionCpu(q: Floats, k: Floats, v: Floats, dims: AttentionDims, out: Floats, lse: Floats): void {
  const { B, T, nHeads: H, nKvHeads: Hkv, dHead: D, scale } = dims;
  const cap = dims.softcap ?? null;
  const group = H / Hkv;
  const p = new Float64Array(T); // scores, then exp(score − max), of one query row
  const acc = new Float64Array(D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / group);
      for (let t = 0; t < T; t++) {
        const qo = ((b * T + t) * H + h) * D;
        const s0 = firstKey(t, dims.window);
        let m = -Infinity;
        for (let s = s0; s <= t; s++) {
          const ko = ((b * T + s) * Hkv + kvh) * D;
          let dot = 0;
          for (let j = 0; j < D; j++) dot += q[qo + j]! * k[ko + j]!;
          p[s] = cap === null ? dot * scale : cap * Math.tanh((dot * scale) / cap);
          m = Math.max(m, p[s]!);
        }
        let sum = 0;
        for (let s = s0; s <= t; s++) sum += p[s] = Math.exp(p[s]! - m);
        acc.fill(0);
        for (let s = s0; s <= t; s++) {
          const vo = ((b * T + s) * Hkv + kvh) * D;
          const ps = p[s]!;
          for (let j = 0; j < D; j++) acc[j] += ps * v[vo + j]!;
        }
        for (let j = 0; j < D; j++) out[qo + j] = acc[j]! / sum;
        lse[(b * H + h) * T + t] = m + Math.log(sum);
      }
    }
  }
}

/** Backward on flat arrays: writes dq (like q), dk and dv (like k) from the forward's out and lse. */
export function causalAttentionBackwardCpu(
  q: Floats,
  k: Floats,
  v: Floats,
  out: Floats,
  lse: Floats,
  dOut: Floats,
  dims: AttentionDims,
  dq: Floats,
  dk: Floats,
  dv: Floats,
): void {
  const { B, T, nHeads: H, nKvHeads: Hkv, dHead: D, scale } = dims;
  const cap = dims.softcap ?? null;
  const group = H / Hkv;
  // dk, dv gather from every query row of every head in the group: float64 until the end.
  const dk64 = new Float64Array(dk.length);
  const dv64 = new Float64Array(dv.length);
  const dqRow = new Float64Array(D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / group);
      for (let t = 0; t < T; t++) {
        const qo = ((b * T + t) * H + h) * D;
        const l = lse[(b * H + h) * T + t]!;
        let Dt = 0;
        for (let j = 0; j < D; j++) Dt += dOut[qo + j]! * out[qo + j]!;
        dqRow.fill(0);
        for (let s = firstKey(t, dims.window); s <= t; s++) {
          const ko = ((b * T + s) * Hkv + kvh) * D;
          let qk = 0;
          let dp = 0;
          for (let j = 0; j < D; j++) {
            qk += q[qo + j]! * k[ko + j]!;
            dp += dOut[qo + j]! * v[ko + j]!;
          }
          const th = cap === null ? 0 : Math.tanh((qk * scale) / cap);
          const p = Math.exp((cap === null ? qk * scale : cap * th) - l);
          const ds = p * (dp - Dt) * scale * (cap === null ? 1 : 1 - th * th);
          for (let j = 0; j < D; j++) {
            dqRow[j] += ds * k[ko + j]!;
            dk64[ko + j] += ds * q[qo + j]!;
            dv64[ko + j] += p * dOut[qo + j]!;
          }
        }
        for (let j = 0; j < D; j++) dq[qo + j] = dqRow[j]!;
      }
    }
  }
  dk.set(dk64);
  dv.set(dv64);
}

// ---- WGSL ------------------------------------------------------------------------------------

// Flash-attention style with one thread per row (FlashAttention-1's per-row loop): the thread's
// head rows live in private arrays of DV = ceil(dHead/4) vec4s, walked by loops of DVL trips
// (see `loopBound`), and the other side's rows stream through workgroup memory in tiles of BC
// rows (every thread reads the same tile entry: a broadcast). A dHead that is not a multiple of 4
// is zero-padded in registers and tiles, which leaves every dot product unchanged. Threads share
// nothing but the tiles, so every sum runs in one thread in key (or query) order: deterministic,
// with no float atomics, and the same for any tile size.
//   forward  — workgroup (query block, head, batch); per key an online softmax (rescale the
//              accumulator only when the running max grows), out = acc / l, lse = m + log l.
//   backward — D = rowsum(dO ⊙ O); dq per (query block, head, batch) over keys s ≤ t; dk, dv per
//              (key block, kv head, batch) over the group's query heads, then queries t ≥ s.

/** Rows (queries or keys) per workgroup: one per thread. */
const ATTN_WG = 64;

const ATTN_PARAMS = 'T: u32, H: u32, Hkv: u32, group: u32, scale: f32, dv: u32';

/**
 * WGSL: the trip count DVL of the loops over a head row's vec4s. A constant (= DV) lets the
 * compiler unroll them and keep the rows in registers, as GPUs need; a uniform (p.dv, the same
 * value) keeps them loops over private memory, which a CPU adapter compiles quickly: llvmpipe
 * unrolls the constant form too, and its LLVM then takes 2–80 s per kernel at dHead 64–128
 * (the uniform form: under 1.5 s), for code that runs only ~2× faster there.
 */
function loopBound(unroll: boolean): string {
  return unroll ? 'const DVL: u32 = DV; // trips of the loops over a row' : '// the loops over a row run to p.dv (= DV)';
}

/** The kernel text with its row loops bounded by DVL (constant) or p.dv (uniform). */
function withLoopBound(code: string, unroll: boolean): string {
  return unroll ? code : code.replace(/c < DVL;/g, 'c < p.dv;');
}

/** Which form of the row loops the kernels use: 'auto' unrolls on hardware GPUs, not on CPU (software) adapters. Tests and benches may force one. */
export const attentionKernelConfig: { unroll: 'auto' | boolean } = { unroll: 'auto' };

function unrolls(dev: WebGpuDevice): boolean {
  const u = attentionKernelConfig.unroll;
  return u === 'auto' ? !/llvmpipe|lavapipe|swiftshader|software/i.test(dev.adapterName) : u;
}

/** WGSL constants and helpers shared by the kernels: `ld_<arr>(o, c)` reads vec4 c of the head row at o (zeros past dHead). */
function attnPrelude(d: number, bc: number, unroll: boolean, loads: readonly string[]): string {
  const dv = Math.ceil(d / 4);
  const ld = (arr: string) => {
    // Reads past dHead would belong to the next row: clamp the index and zero the lane.
    const comps = [0, 1, 2, 3].map((i) => (d % 4 === 0 ? `${arr}[o + j + ${i}u]` : `select(0.0, ${arr}[o + min(j + ${i}u, D - 1u)], j + ${i}u < D)`));
    return `fn ld_${arr}(o: u32, c: u32) -> vec4f { let j = 4u * c; return vec4f(${comps.join(', ')}); }`;
  };
  return `const D: u32 = ${d}u;    // dHead
const DV: u32 = ${dv}u;   // vec4s per head row
const BC: u32 = ${bc}u;   // rows per workgroup-memory tile
const WG: u32 = ${ATTN_WG}u;   // rows per workgroup, one per thread
${loopBound(unroll)}
${loads.map(ld).join('\n')}`;
}

/** WGSL statements: store vec4 `val` as number c of the head row at element o of `arr`, dropping lanes past dHead. */
function store4(arr: string, o: string, c: string, d: number, val: string): string {
  if (d % 4 === 0) return `${arr}[${o} + 4u * ${c}] = ${val}.x; ${arr}[${o} + 4u * ${c} + 1u] = ${val}.y; ${arr}[${o} + 4u * ${c} + 2u] = ${val}.z; ${arr}[${o} + 4u * ${c} + 3u] = ${val}.w;`;
  return `for (var i = 0u; i < 4u; i++) { if (4u * ${c} + i < D) { ${arr}[${o} + 4u * ${c} + i] = ${val}[i]; } }`;
}

/**
 * WGSL: fill the vec4 tile `dst` [BC·DV] with rows r0 .. r0+BC−1 of `src` (row r at element
 * base + r·stride; zeros for r ≥ T), all threads cooperating.
 */
function loadTile(dst: string, src: string, base: string, stride: string, r0: string): string {
  return `for (var i = lid; i < BC * DV; i += WG) {
      let r = ${r0} + i / DV;
      var val = vec4f(0.0);
      if (r < p.T) { val = ld_${src}(${base} + r * ${stride}, i % DV); }
      ${dst}[i] = val;
    }`;
}

const attnForwardCode = memoKernel(
  (d: number, bc: number, unroll: boolean) =>
    withLoopBound(
      /* wgsl */ `
${bindingsWgsl([['q', 'read'], ['k', 'read'], ['v', 'read'], ['o', 'read_write'], ['lse', 'read_write']], ATTN_PARAMS)}
${attnPrelude(d, bc, unroll, ['q', 'k', 'v'])}
var<workgroup> Ks: array<vec4f, ${bc * Math.ceil(d / 4)}>;
var<workgroup> Vs: array<vec4f, ${bc * Math.ceil(d / 4)}>;

@compute @workgroup_size(${ATTN_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wid.y;
  let b = wid.z;
  let kvh = h / p.group;
  let q0 = wid.x * WG;
  let t = q0 + lid;
  let live = t < p.T;
  let qo = ((b * p.T + min(t, p.T - 1u)) * p.H + h) * D;
  // This thread's query row, pre-scaled, and its output accumulator.
  var qr = array<vec4f, DV>();
  var acc = array<vec4f, DV>();
  for (var c = 0u; c < DVL; c++) { qr[c] = ld_q(qo, c) * p.scale; }
  var m = ${F32_LOWEST_WGSL};
  var l = 0.0;
  let kvBase = (b * p.T * p.Hkv + kvh) * D;
  let kvStride = p.Hkv * D;
  let kEnd = min(p.T, q0 + WG); // keys that some row of this block sees
  for (var s0 = 0u; s0 < kEnd; s0 += BC) {
    workgroupBarrier(); // every thread is done with the previous tile
    ${loadTile('Ks', 'k', 'kvBase', 'kvStride', 's0')}
    ${loadTile('Vs', 'v', 'kvBase', 'kvStride', 's0')}
    workgroupBarrier();
    // This row's keys s0 + r ≤ t in the tile (none for rows past T).
    var n = 0u;
    if (live && t >= s0) { n = min(BC, t + 1u - s0); }
    for (var r = 0u; r < n; r++) {
      let kb = r * DV;
      var x = 0.0;
      for (var c = 0u; c < DVL; c++) { x += dot(qr[c], Ks[kb + c]); }
      if (x > m) {
        // A new running max: rescale what was summed so far by exp(old max − new max). The
        // clamp keeps the first key's m − x (from the lowest f32) finite; exp of it is 0 all the same.
        let corr = exp(max(m - x, -200.0));
        l *= corr;
        for (var c = 0u; c < DVL; c++) { acc[c] *= corr; }
        m = x;
      }
      let pr = exp(x - m);
      l += pr;
      for (var c = 0u; c < DVL; c++) { acc[c] += pr * Vs[kb + c]; }
    }
  }
  if (live) {
    let inv = 1.0 / l;
    for (var c = 0u; c < DVL; c++) { let val = acc[c] * inv; ${store4('o', 'qo', 'c', d, 'val')} }
    lse[(b * p.H + h) * p.T + t] = m + log(l);
  }
}`,
      unroll,
    ),
);

// D[b, h, t] = Σ_j dO ⊙ O over the row ((b·T + t)·H + h), one thread per row.
const attnRowDotCode = pointwiseWgsl(
  [['dO', 'read'], ['o', 'read'], ['Drow', 'read_write']],
  'n: u32, T: u32, H: u32, D: u32',
  `let base = i * p.D;
  var acc = 0.0;
  for (var j = 0u; j < p.D; j++) { acc += dO[base + j] * o[base + j]; }
  let h = i % p.H;
  let bt = i / p.H;
  Drow[((bt / p.T) * p.H + h) * p.T + bt % p.T] = acc;`,
);

const attnBackwardDqCode = memoKernel(
  (d: number, bc: number, unroll: boolean) =>
    withLoopBound(
      /* wgsl */ `
${bindingsWgsl([['q', 'read'], ['k', 'read'], ['v', 'read'], ['lse', 'read'], ['Drow', 'read'], ['dO', 'read'], ['dq', 'read_write']], ATTN_PARAMS)}
${attnPrelude(d, bc, unroll, ['q', 'k', 'v', 'dO'])}
var<workgroup> Ks: array<vec4f, ${bc * Math.ceil(d / 4)}>;
var<workgroup> Vs: array<vec4f, ${bc * Math.ceil(d / 4)}>;

@compute @workgroup_size(${ATTN_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wid.y;
  let b = wid.z;
  let kvh = h / p.group;
  let q0 = wid.x * WG;
  let t = q0 + lid;
  let live = t < p.T;
  let tc = min(t, p.T - 1u);
  let qo = ((b * p.T + tc) * p.H + h) * D;
  var qr = array<vec4f, DV>(); // scale · q
  var gr = array<vec4f, DV>(); // dO
  var acc = array<vec4f, DV>(); // Σ_s dS·k_s
  for (var c = 0u; c < DVL; c++) {
    qr[c] = ld_q(qo, c) * p.scale;
    gr[c] = ld_dO(qo, c);
  }
  let lr = (b * p.H + h) * p.T + tc;
  let l = lse[lr];
  let Dt = Drow[lr];
  let kvBase = (b * p.T * p.Hkv + kvh) * D;
  let kvStride = p.Hkv * D;
  let kEnd = min(p.T, q0 + WG);
  for (var s0 = 0u; s0 < kEnd; s0 += BC) {
    workgroupBarrier();
    ${loadTile('Ks', 'k', 'kvBase', 'kvStride', 's0')}
    ${loadTile('Vs', 'v', 'kvBase', 'kvStride', 's0')}
    workgroupBarrier();
    var n = 0u;
    if (live && t >= s0) { n = min(BC, t + 1u - s0); }
    for (var r = 0u; r < n; r++) {
      let kb = r * DV;
      var x = 0.0;
      var dp = 0.0;
      for (var c = 0u; c < DVL; c++) {
        x += dot(qr[c], Ks[kb + c]);
        dp += dot(gr[c], Vs[kb + c]);
      }
      let ds = exp(x - l) * (dp - Dt); // P ⊙ (dP − D)
      for (var c = 0u; c < DVL; c++) { acc[c] += ds * Ks[kb + c]; }
    }
  }
  if (live) {
    for (var c = 0u; c < DVL; c++) { let val = acc[c] * p.scale; ${store4('dq', 'qo', 'c', d, 'val')} }
  }
}`,
      unroll,
    ),
);

const attnBackwardDkvCode = memoKernel(
  (d: number, bc: number, unroll: boolean) =>
    withLoopBound(
      /* wgsl */ `
${bindingsWgsl([['q', 'read'], ['k', 'read'], ['v', 'read'], ['lse', 'read'], ['Drow', 'read'], ['dO', 'read'], ['dk', 'read_write'], ['dv', 'read_write']], ATTN_PARAMS)}
${attnPrelude(d, bc, unroll, ['q', 'k', 'v', 'dO'])}
var<workgroup> Qs: array<vec4f, ${bc * Math.ceil(d / 4)}>; // q
var<workgroup> Gs: array<vec4f, ${bc * Math.ceil(d / 4)}>; // dO
var<workgroup> Ls: array<f32, ${bc}>; // lse
var<workgroup> Ds: array<f32, ${bc}>; // D = rowsum(dO ⊙ O)

@compute @workgroup_size(${ATTN_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let kvh = wid.y;
  let b = wid.z;
  let s0 = wid.x * WG;
  let s = s0 + lid;
  let live = s < p.T;
  let ko = ((b * p.T + min(s, p.T - 1u)) * p.Hkv + kvh) * D;
  var kr = array<vec4f, DV>(); // scale · k
  var vr = array<vec4f, DV>();
  var dkAcc = array<vec4f, DV>(); // Σ dS·q
  var dvAcc = array<vec4f, DV>(); // Σ P·dO
  for (var c = 0u; c < DVL; c++) {
    kr[c] = ld_k(ko, c) * p.scale;
    vr[c] = ld_v(ko, c);
  }
  let qStride = p.H * D;
  // The kv head's query heads in order, and for each the queries t ≥ s0 in order.
  for (var g = 0u; g < p.group; g++) {
    let h = kvh * p.group + g;
    let qBase = (b * p.T * p.H + h) * D;
    let lBase = (b * p.H + h) * p.T;
    for (var t0 = s0; t0 < p.T; t0 += BC) {
      workgroupBarrier();
      ${loadTile('Qs', 'q', 'qBase', 'qStride', 't0')}
      ${loadTile('Gs', 'dO', 'qBase', 'qStride', 't0')}
      for (var i = lid; i < BC; i += WG) {
        let t = min(t0 + i, p.T - 1u);
        Ls[i] = lse[lBase + t];
        Ds[i] = Drow[lBase + t];
      }
      workgroupBarrier();
      // This key's queries t0 + r with s ≤ t < T.
      var r = 0u;
      var n = 0u;
      if (live) {
        r = select(0u, s - t0, s > t0);
        n = min(BC, p.T - t0);
      }
      for (; r < n; r++) {
        let qb = r * DV;
        var x = 0.0;
        var dp = 0.0;
        for (var c = 0u; c < DVL; c++) {
          x += dot(kr[c], Qs[qb + c]);
          dp += dot(vr[c], Gs[qb + c]);
        }
        let pr = exp(x - Ls[r]);
        let ds = pr * (dp - Ds[r]);
        for (var c = 0u; c < DVL; c++) {
          dvAcc[c] += pr * Gs[qb + c];
          dkAcc[c] += ds * Qs[qb + c];
        }
      }
    }
  }
  if (live) {
    for (var c = 0u; c < DVL; c++) {
      let dkv = dkAcc[c] * p.scale;
      let dvv = dvAcc[c];
      ${store4('dk', 'ko', 'c', d, 'dkv')}
      ${store4('dv', 'ko', 'c', d, 'dvv')}
    }
  }
}`,
      unroll,
    ),
);

/** Rows per workgroup-memory tile: the largest power of two ≤ 64 whose tiles fit (16 KiB, WebGPU's default, or less if the GPU has less). */
function tileRows(dev: WebGpuDevice, bytesPerRow: number): number {
  const budget = Math.min(16384, dev.limits.maxComputeWorkgroupStorageSize);
  let bc = 64;
  while (bc > 1 && bc * bytesPerRow > budget) bc /= 2;
  if (bc * bytesPerRow > budget) throw new DeviceLimitError(`attention: a dHead row of ${bytesPerRow} bytes does not fit this GPU's workgroup memory`);
  return bc;
}

function attnParams(d: AttentionDims): ArrayBuffer {
  return new ParamWriter().u32(d.T).u32(d.nHeads).u32(d.nKvHeads).u32(d.nHeads / d.nKvHeads).f32(d.scale).u32(Math.ceil(d.dHead / 4)).bytes();
}

function attentionForwardGpu(dev: WebGpuDevice, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, d: AttentionDims): void {
  const bc = tileRows(dev, 2 * 16 * Math.ceil(d.dHead / 4));
  dev.dispatch({
    label: 'attention_forward',
    code: attnForwardCode(d.dHead, bc, unrolls(dev)),
    buffers: [q, k, v, out, lse],
    params: attnParams(d),
    workgroups: [Math.ceil(d.T / ATTN_WG), d.nHeads, d.B],
  });
}

function attentionBackwardGpu(dev: WebGpuDevice, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, dOut: Tensor, dq: Tensor, dk: Tensor, dv: Tensor, d: AttentionDims): void {
  const rows = d.B * d.T * d.nHeads;
  const Drow = dev.empty([d.B, d.nHeads, d.T]);
  dev.dispatch({
    label: 'attention_backward_rowdot',
    code: attnRowDotCode,
    buffers: [dOut, out, Drow],
    params: new ParamWriter().u32(rows).u32(d.T).u32(d.nHeads).u32(d.dHead).bytes(),
    workgroups: pointwiseGrid(rows),
  });
  const bytesPerRow = 2 * 16 * Math.ceil(d.dHead / 4);
  const grid = (heads: number): [number, number, number] => [Math.ceil(d.T / ATTN_WG), heads, d.B];
  dev.dispatch({
    label: 'attention_backward_dq',
    code: attnBackwardDqCode(d.dHead, tileRows(dev, bytesPerRow), unrolls(dev)),
    buffers: [q, k, v, lse, Drow, dOut, dq],
    params: attnParams(d),
    workgroups: grid(d.nHeads),
  });
  dev.dispatch({
    label: 'attention_backward_dkv',
    code: attnBackwardDkvCode(d.dHead, tileRows(dev, bytesPerRow + 8), unrolls(dev)),
    buffers: [q, k, v, lse, Drow, dOut, dk, dv],
    params: attnParams(d),
    workgroups: grid(d.nKvHeads),
  });
  Drow.dispose(); // safe: the pool hands it out again only to work recorded after these dispatches
}

// ---- dispatch --------------------------------------------------------------------------------

/** Check shapes and fill in the default scale. */
function attentionDims(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions, what: string): AttentionDims {
  assertSameDevice(q, k, v);
  for (const [t, n] of [[q, 'q'], [k, 'k'], [v, 'v']] as const) assertDtype(t, 'f32', `${what} ${n}`);
  const { nHeads, nKvHeads } = opts;
  if (q.shape.length !== 4 || q.shape[2] !== nHeads) throw new Error(`${what}: q must be [B, T, nHeads=${nHeads}, dHead], got [${q.shape}]`);
  if (!(nKvHeads > 0 && nHeads % nKvHeads === 0)) throw new Error(`${what}: nHeads ${nHeads} is not a multiple of nKvHeads ${nKvHeads}`);
  const [B, T, , dHead] = q.shape as [number, number, number, number];
  assertShape(k, [B, T, nKvHeads, dHead], `${what} k`);
  assertShape(v, [B, T, nKvHeads, dHead], `${what} v`);
  const window = opts.window ?? Infinity;
  if (!(window === Infinity || (Number.isInteger(window) && window > 0))) throw new Error(`${what}: window ${window} must be a positive integer`);
  const softcap = opts.softcap ?? null;
  if (softcap !== null && !(softcap > 0 && Number.isFinite(softcap))) throw new Error(`${what}: softcap ${softcap} must be a positive number`);
  if (gpuOf(q) && (softcap !== null || window < T)) {
    throw new Error(`${what}: attention logit soft-capping and sliding windows shorter than the input run on the CPU only for now (use --device cpu)`);
  }
  return { B, T, nHeads, nKvHeads, dHead, scale: opts.scale ?? 1 / Math.sqrt(dHead), window, softcap };
}

/** Causal (GQA) attention: out [B, T, nHeads, dHead] and lse [B, nHeads, T] for the backward. */
export function causalAttention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): { out: Tensor; lse: Tensor } {
  const dims = attentionDims(q, k, v, opts, 'causalAttention');
  const out = outputOn(q, q.shape);
  const lse = outputOn(q, [dims.B, dims.nHeads, dims.T]);
  const dev = gpuOf(q);
  if (!dev) causalAttentionFastCpu(f32(q), f32(k), f32(v), dims, f32(out), f32(lse));
  else attentionForwardGpu(dev, q, k, v, out, lse, dims);
  return { out, lse };
}

/** Gradients of causalAttention from its out and lse: dq like q; dk, dv like k (summed over each kv head's group). */
export function causalAttentionBackward(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  out: Tensor,
  lse: Tensor,
  dOut: Tensor,
  opts: AttentionOptions,
): { dq: Tensor; dk: Tensor; dv: Tensor } {
  const dims = attentionDims(q, k, v, opts, 'causalAttentionBackward');
  assertSameDevice(q, out, lse, dOut);
  assertShape(out, q.shape, 'causalAttentionBackward out');
  assertShape(dOut, q.shape, 'causalAttentionBackward dOut');
  assertShape(lse, [dims.B, dims.nHeads, dims.T], 'causalAttentionBackward lse');
  const dq = outputOn(q, q.shape);
  const dk = outputOn(q, k.shape);
  const dv = outputOn(q, k.shape);
  const dev = gpuOf(q);
  if (!dev) causalAttentionBackwardFastCpu(f32(q), f32(k), f32(v), f32(out), f32(lse), f32(dOut), dims, f32(dq), f32(dk), f32(dv));
  else attentionBackwardGpu(dev, q, k, v, out, lse, dOut, dq, dk, dv, dims);
  return { dq, dk, dv };
}

function f32(t: Tensor): Float32Array {
  return t.data as Float32Array;
}
