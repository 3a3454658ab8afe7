// The TopK encoder's picks: pre = xin·W_enc + b_enc [N, dSae], then per token ReLU(TopK_k(pre)), and
// during training with AuxK also the kAux best picks among dead latents (auxK.ts). Two paths, one
// result:
//   plain (the twin, and the WebGPU path): the [N, dSae] pre-activations, then topkRows on them;
//   fused (CPU with the native addon, native/topkEncode.c): the GEMM runs over W_enc's column blocks
//     and each block's columns go straight into per-token heaps, so the [N, dSae] matrix (1.6 GB at
//     d_sae 98,304, batch 4,096) never exists and the top-k costs a vectorised compare per value.
// Same picks in the same order (topk.ts's order); values equal up to float rounding of the GEMM.

import { blasAddon } from '../compute/cpu/blas.js';
import { relu } from '../compute/ops/activations.js';
import { gpuOf, outputOn } from '../compute/ops/wgslGen.js';
import { topkRows } from '../compute/ops/topk.js';
import type { Tensor } from '../compute/tensor.js';
import { deadRestricted, type DeadLatents } from './auxK.js';
import { preActivations } from './saeCommon.js';
import type { SparseCode } from './sparseCode.js';
import type { SaeParams } from './types.js';

/** The picks ReLU(TopK_k(pre)) of pre [N, dSae]. */
export function topkCode(pre: Tensor, k: number): SparseCode {
  const dSae = pre.shape[pre.shape.length - 1]!;
  const tk = topkRows(pre, Math.min(k, dSae));
  const values = relu(tk.values);
  tk.values.dispose();
  return { values, indices: tk.indices, dSae };
}

/** The encoder's picks: `code` [N, k], and `aux` [N, kAux] when dead latents were asked for. */
export interface TopkPicks {
  code: SparseCode;
  aux?: SparseCode;
}

/** The plain twin: materialise pre [N, dSae], then top-k it (and its dead-restricted copy). */
export function topkEncodePlain(p: SaeParams, xin: Tensor, k: number, dead?: DeadLatents): TopkPicks {
  const pre = preActivations(p, xin);
  const code = topkCode(pre, k);
  let aux: SparseCode | undefined;
  if (dead) {
    const preDead = deadRestricted(pre, dead);
    aux = topkCode(preDead, dead.kAux);
    preDead.dispose();
  }
  pre.dispose();
  return { code, aux };
}

/** Whether `topkEncode` takes the fused native path for inputs like xin. */
export function fusedTopkAvailable(xin: Tensor): boolean {
  return !gpuOf(xin) && xin.dtype === 'f32' && typeof blasAddon()?.topkEncode === 'function';
}

/** The fused path (native/topkEncode.c); the caller checked fusedTopkAvailable. */
export function topkEncodeFused(p: SaeParams, xin: Tensor, k: number, dead?: DeadLatents): TopkPicks {
  // Any leading shape ([N, dIn] in training, [B, T, dIn] in analyses): rows of dIn, picks shaped like the plain path's.
  const dIn = xin.shape[xin.shape.length - 1]!;
  const N = xin.numel / dIn;
  const lead = xin.shape.slice(0, -1);
  const dSae = p.W_enc.shape[1]!;
  if (p.W_enc.shape[0] !== dIn || p.b_enc.numel !== dSae) throw new Error(`topkEncode: xin [${xin.shape}], W_enc [${p.W_enc.shape}], b_enc [${p.b_enc.shape}] do not match`);
  if (dead && dead.tokensSinceFired.numel !== dSae) throw new Error(`topkEncode: tokensSinceFired has ${dead.tokensSinceFired.numel} entries for ${dSae} latents`);
  const kk = Math.min(k, dSae);
  const code: SparseCode = { values: outputOn(xin, [...lead, kk]), indices: outputOn(xin, [...lead, kk], 'i32'), dSae };
  const kAux = dead ? Math.min(dead.kAux, dSae) : 0;
  const aux: SparseCode | undefined = dead ? { values: outputOn(xin, [...lead, kAux]), indices: outputOn(xin, [...lead, kAux], 'i32'), dSae } : undefined;
  blasAddon()!.topkEncode!(
    xin.data as Float32Array, N, dIn, p.W_enc.data as Float32Array, dSae, p.b_enc.data as Float32Array, kk,
    code.values.data as Float32Array, code.indices.data as Int32Array,
    dead ? (dead.tokensSinceFired.data as Float32Array) : null, Math.fround(dead?.cut ?? 0), kAux,
    aux ? (aux.values.data as Float32Array) : null, aux ? (aux.indices.data as Int32Array) : null,
  );
  return { code, aux };
}

/** The TopK encoder's picks for xin [..., dIn] (and AuxK's among `dead`): fused on the CPU when the addon has it, else plain. */
export function topkEncode(p: SaeParams, xin: Tensor, k: number, dead?: DeadLatents): TopkPicks {
  return fusedTopkAvailable(xin) ? topkEncodeFused(p, xin, k, dead) : topkEncodePlain(p, xin, k, dead);
}
