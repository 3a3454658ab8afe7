// Parameter initialisation, per architecture (docs/training.md has the measurements that chose it).
// Every latent i gets one random unit direction u_i; W_dec[i] = decoderNorm·u_i and W_enc[:, i] =
// encoderScale·u_i, b_enc = 0, b_dec zeros / the sample mean / the sample's geometric median
// (Weiszfeld, as SAELens' compute_geometric_median). TopK/BatchTopK: unit decoder rows from the start
// and the encoder at TOPK_ENCODER_SCALE (0.45: measured best, a little below sparsify's ≈ 1/√3);
// ReLU+L1 (`standard`) and JumpReLU: Anthropic's April 2024 scheme as SAELens has it, decoder rows
// of norm 0.1 and W_enc = W_decᵀ. Deterministic for a seed.

import { Rng } from '../compute/random.js';
import type { Device } from '../compute/device.js';
import type { Tensor } from '../compute/tensor.js';
import { BatchTopKSae } from './batchTopkSae.js';
import { JumpReluSae } from './jumpReluSae.js';
import { StandardSae } from './standardSae.js';
import { TopKSae } from './topkSae.js';
import type { SaeConfig, SaeModel, SaeParams } from './types.js';

export interface InitSaeOptions {
  bDecInit?: 'zeros' | 'mean' | 'geometric_median';
  /** [N, dIn] activations for the mean / geometric median. */
  sample?: Tensor;
  /** Norm of every decoder row (default: initDefaults(cfg).decoderNorm). */
  decoderNorm?: number;
  /** Norm of every encoder column (default: initDefaults(cfg).encoderScale, or decoderNorm when only that is given: W_enc = W_decᵀ). */
  encoderScale?: number;
}

/** Encoder column norm of a fresh TopK/BatchTopK SAE (chosen by measurement among 0.1…1: docs/training.md). */
export const TOPK_ENCODER_SCALE = 0.45;
/** Decoder row norm of a fresh ReLU+L1 / JumpReLU SAE (SAELens' decoder_init_norm). */
export const STANDARD_DECODER_NORM = 0.1;

/** The default decoder row norm and encoder column norm of a fresh SAE of cfg's architecture. */
export function initDefaults(cfg: Pick<SaeConfig, 'architecture' | 'decoderUnitNorm'>): { decoderNorm: number; encoderScale: number } {
  if (cfg.architecture === 'topk' || cfg.architecture === 'batchtopk') return { decoderNorm: cfg.decoderUnitNorm ? 1 : STANDARD_DECODER_NORM, encoderScale: TOPK_ENCODER_SCALE };
  return { decoderNorm: STANDARD_DECODER_NORM, encoderScale: STANDARD_DECODER_NORM };
}

/** The architecture's model around existing parameters. */
export function createSae(cfg: SaeConfig, params: SaeParams): SaeModel {
  switch (cfg.architecture) {
    case 'standard':
      return new StandardSae(cfg, params);
    case 'topk':
      return new TopKSae(cfg, params);
    case 'batchtopk':
      return new BatchTopKSae(cfg, params);
    case 'jumprelu':
      return new JumpReluSae(cfg, params);
    default:
      throw new Error(`unknown SAE architecture ${JSON.stringify((cfg as { architecture: unknown }).architecture)}`);
  }
}

/** Random unit-direction decoder rows times `norm`: [dSae, dIn] as a host array. */
export function randomDecoder(dSae: number, dIn: number, seed: number, norm = 0.1): Float32Array {
  const rng = new Rng(seed);
  const w = new Float32Array(dSae * dIn);
  const row = new Float64Array(dIn);
  for (let i = 0; i < dSae; i++) {
    let s = 0;
    for (let j = 0; j < dIn; j++) {
      row[j] = rng.normal();
      s += row[j]! * row[j]!;
    }
    const f = norm / Math.sqrt(s || 1);
    for (let j = 0; j < dIn; j++) w[i * dIn + j] = row[j]! * f;
  }
  return w;
}

/** Mean of the rows of x [N, d], in float64. */
export function meanOfRows(x: Float32Array, N: number, d: number): Float64Array {
  const m = new Float64Array(d);
  for (let t = 0; t < N; t++) for (let j = 0; j < d; j++) m[j] += x[t * d + j]!;
  for (let j = 0; j < d; j++) m[j]! /= Math.max(N, 1);
  return m;
}

/** Geometric median of the rows of x [N, d] by Weiszfeld iterations (weights 1/max(‖x_t − m‖, eps)). */
export function geometricMedian(x: Float32Array, N: number, d: number, maxIter = 100, ftol = 1e-20, eps = 1e-8): Float64Array {
  let m = meanOfRows(x, N, d);
  const objective = (c: Float64Array) => {
    let s = 0;
    for (let t = 0; t < N; t++) {
      let q = 0;
      for (let j = 0; j < d; j++) q += (x[t * d + j]! - c[j]!) ** 2;
      s += Math.sqrt(q);
    }
    return s / N;
  };
  let obj = objective(m);
  for (let it = 0; it < maxIter; it++) {
    const next = new Float64Array(d);
    let wsum = 0;
    for (let t = 0; t < N; t++) {
      let q = 0;
      for (let j = 0; j < d; j++) q += (x[t * d + j]! - m[j]!) ** 2;
      const w = 1 / Math.max(Math.sqrt(q), eps);
      wsum += w;
      for (let j = 0; j < d; j++) next[j] += w * x[t * d + j]!;
    }
    for (let j = 0; j < d; j++) next[j]! /= wsum;
    const nobj = objective(next);
    m = next;
    if (Math.abs(obj - nobj) <= ftol * obj) break;
    obj = nobj;
  }
  return m;
}

/** Fresh parameters for cfg on `device` (BatchTopK also gets threshold [1] = −1, "unset"). */
export async function initSaeParams(cfg: SaeConfig, device: Device, opts: InitSaeOptions = {}): Promise<SaeParams> {
  const { dIn, dSae } = cfg;
  const def = initDefaults(cfg);
  const decoderNorm = opts.decoderNorm ?? def.decoderNorm;
  const encoderScale = opts.encoderScale ?? (opts.decoderNorm !== undefined ? opts.decoderNorm : def.encoderScale);
  const wDec = randomDecoder(dSae, dIn, cfg.seed, decoderNorm);
  const wEnc = new Float32Array(dIn * dSae);
  const ratio = encoderScale / decoderNorm;
  for (let i = 0; i < dSae; i++) for (let j = 0; j < dIn; j++) wEnc[j * dSae + i] = wDec[i * dIn + j]! * ratio;
  const bDec = new Float32Array(dIn);
  const how = opts.bDecInit ?? 'zeros';
  if (how !== 'zeros') {
    if (!opts.sample) throw new Error(`initSae: bDecInit '${how}' needs a sample [N, ${dIn}]`);
    if (opts.sample.shape.length !== 2 || opts.sample.shape[1] !== dIn) throw new Error(`initSae: sample must be [N, ${dIn}], got [${opts.sample.shape}]`);
    const xs = (await opts.sample.read()) as Float32Array;
    const N = opts.sample.shape[0]!;
    bDec.set(how === 'mean' ? meanOfRows(xs, N, dIn) : geometricMedian(xs, N, dIn));
  }
  const params: SaeParams = {
    W_enc: device.fromArray(wEnc, [dIn, dSae]),
    b_enc: device.zeros([dSae]),
    W_dec: device.fromArray(wDec, [dSae, dIn]),
    b_dec: device.fromArray(bDec, [dIn]),
  };
  if (cfg.architecture === 'batchtopk') params.threshold = device.fromArray(new Float32Array([-1]), [1]);
  return params;
}

/** A freshly initialised SAE model for cfg on `device`. */
export async function initSae(cfg: SaeConfig, device: Device, opts: InitSaeOptions = {}): Promise<SaeModel> {
  return createSae(cfg, await initSaeParams(cfg, device, opts));
}
