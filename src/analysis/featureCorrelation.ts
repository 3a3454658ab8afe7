// Feature activations of SAEs on the same N evaluation tokens, for `compare --by activations` and
// `--alive-only`: harvest the hook's activations once (model forward over the packed corpus), then
// encode them with each SAE. The Pearson correlation of two features over the tokens is the cosine
// of their centred activation vectors, so each SAE's features become rows [dSae, N] of centred
// activations and the same matching machinery (matchDirections.ts) applies.

import type { Device } from '../compute/device.js';
import type { Tensor } from '../compute/tensor.js';
import { harvestActivations, planHooks } from '../data/harvest.js';
import { packSettings, packTokens, skipStreamTokens, type PackSettings } from '../data/packTokens.js';
import { readDocuments } from '../data/textSource.js';
import { openModel } from '../model/openModel.js';
import type { Tokenizer } from '../model/tokenizers/index.js';
import type { LoadedSae } from '../sae/saeFiles.js';

/** The corpus's windows after skipping `spec.skipTokens` stream tokens. */
function evalWindows(spec: { data: string; skipTokens?: number }, tok: Tokenizer, packing: PackSettings) {
  return skipStreamTokens(packTokens(readDocuments(spec.data), tok, packing), spec.skipTokens ?? 0, packing.contextSize - (packing.prependBos ? 1 : 0));
}

/** Where the evaluation tokens come from. */
export interface EvalTokensSpec {
  /** Model spec (folder, .bin, hub id already cached). */
  model: string;
  hook: string;
  /** Corpus file or folder. */
  data: string;
  /** Tokens (kept positions) to harvest. */
  tokens: number;
  /** Stream tokens to skip first (held-out text: what the SAEs trained on; default 0). */
  skipTokens?: number;
  contextSize: number;
  prependBos?: boolean;
  device: Device;
  /** Windows per model forward (default 8). */
  batchSize?: number;
}

/** The hook's activations on the first `tokens` kept positions of the corpus: x [N, dIn] on the host. */
export async function harvestEvalActivations(spec: EvalTokensSpec): Promise<{ x: Float32Array; n: number; dIn: number }> {
  const { model, tokenizer } = await openModel(spec.model, spec.device, { needTokenizer: true });
  try {
    planHooks(model, [spec.hook]);
    const dIn = model.config.dModel;
    const packing = packSettings({ contextSize: Math.min(spec.contextSize, model.config.nCtx), prependBos: spec.prependBos ?? true }, tokenizer!);
    const x = new Float32Array(spec.tokens * dIn);
    let n = 0;
    await harvestActivations(model, evalWindows(spec, tokenizer!, packing), {
      hooks: [spec.hook],
      batchSize: spec.batchSize ?? 8,
      maxRows: spec.tokens,
      onBatch: (_h, rows) => {
        const take = Math.min(rows.length / dIn, spec.tokens - n);
        x.set(rows.subarray(0, take * dIn), n * dIn);
        n += take;
      },
    });
    return { x: x.subarray(0, n * dIn), n, dIn };
  } finally {
    model.dispose();
  }
}

/** Several hooks' activations on the same first `tokens` kept positions, from one forward pass per batch: hook → x [N, dIn]. */
export async function harvestEvalActivationsAt(spec: Omit<EvalTokensSpec, 'hook'> & { hooks: readonly string[] }): Promise<{ x: Map<string, Float32Array>; n: number; dIn: number }> {
  const { model, tokenizer } = await openModel(spec.model, spec.device, { needTokenizer: true });
  try {
    const hooks = [...new Set(spec.hooks)];
    planHooks(model, hooks);
    const dIn = model.config.dModel;
    const packing = packSettings({ contextSize: Math.min(spec.contextSize, model.config.nCtx), prependBos: spec.prependBos ?? true }, tokenizer!);
    const x = new Map(hooks.map((h) => [h, new Float32Array(spec.tokens * dIn)]));
    const filled = new Map(hooks.map((h) => [h, 0]));
    await harvestActivations(model, evalWindows(spec, tokenizer!, packing), {
      hooks,
      batchSize: spec.batchSize ?? 8,
      maxRows: spec.tokens,
      onBatch: (h, rows) => {
        const at = filled.get(h)!;
        const take = Math.min(rows.length / dIn, spec.tokens - at);
        x.get(h)!.set(rows.subarray(0, take * dIn), at * dIn);
        filled.set(h, at + take);
      },
    });
    // Every hook gets the same rows of each batch, so the counts agree.
    const n = Math.min(...filled.values());
    for (const h of hooks) x.set(h, x.get(h)!.subarray(0, n * dIn));
    return { x, n, dIn };
  } finally {
    model.dispose();
  }
}

/** One SAE's features on the evaluation tokens. */
export interface FeatureActivations {
  /** Tokens N. */
  n: number;
  dSae: number;
  /** [dSae] tokens on which each feature was > 0. */
  firedCount: Uint32Array;
  /** [dSae] variance of each feature's activations over the tokens. */
  variance: Float64Array;
  /** [dSae, N] centred activations (a feature's row; all zero for a constant feature), when asked for. */
  centred: Float32Array | null;
}

/**
 * Encode x [N, dIn] with `sae` (inputs scaled by its norm_scaling_factor, as in training) in chunks
 * of `chunk` tokens; count firings, and keep centred activations transposed when `keep`.
 */
export async function featureActivations(sae: LoadedSae, x: Float32Array, n: number, device: Device, keep: boolean, chunk = 512): Promise<FeatureActivations> {
  const { dIn, dSae } = sae.cfg;
  const factor = sae.cfg.normalizeActivations === 'expected_average_only_in' ? (sae.normScalingFactor ?? 1) : 1;
  const firedCount = new Uint32Array(dSae);
  const sum = new Float64Array(dSae);
  const sumSq = new Float64Array(dSae);
  const acts = keep ? new Float32Array(dSae * n) : null; // [dSae, N]
  for (let t0 = 0; t0 < n; t0 += chunk) {
    const rows = Math.min(chunk, n - t0);
    const xs = new Float32Array(rows * dIn);
    for (let i = 0; i < rows * dIn; i++) xs[i] = x[t0 * dIn + i]! * factor;
    const xt: Tensor = device.fromArray(xs, [rows, dIn]);
    const ft = sae.model.encode(xt);
    const f = (await ft.read()) as Float32Array; // [rows, dSae]
    xt.dispose();
    ft.dispose();
    for (let r = 0; r < rows; r++) {
      const base = r * dSae;
      for (let j = 0; j < dSae; j++) {
        const v = f[base + j]!;
        if (v > 0) firedCount[j]!++;
        sum[j] = sum[j]! + v;
        sumSq[j] = sumSq[j]! + v * v;
        if (acts) acts[j * n + t0 + r] = v;
      }
    }
  }
  const variance = new Float64Array(dSae);
  for (let j = 0; j < dSae; j++) {
    const mean = n > 0 ? sum[j]! / n : 0;
    variance[j] = n > 0 ? Math.max(0, sumSq[j]! / n - mean * mean) : 0;
    if (acts) {
      const row = acts.subarray(j * n, (j + 1) * n);
      // A constant feature has no correlation with anything: a zero row has cosine 0 everywhere.
      if (variance[j] === 0) row.fill(0);
      else for (let t = 0; t < n; t++) row[t] = row[t]! - mean;
    }
  }
  return { n, dSae, firedCount, variance, centred: acts };
}

/** Pearson correlation of two features given as equal-length series (the plain definition, for tests and spot checks). */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let t = 0; t < n; t++) {
    ma += a[t]!;
    mb += b[t]!;
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let t = 0; t < n; t++) {
    sab += (a[t]! - ma) * (b[t]! - mb);
    saa += (a[t]! - ma) ** 2;
    sbb += (b[t]! - mb) ** 2;
  }
  return saa === 0 || sbb === 0 ? 0 : sab / Math.sqrt(saa * sbb);
}
