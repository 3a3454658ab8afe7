// How much memory a model needs, from its config alone (nothing loaded): weight bytes in a dtype
// (resident, or streamed a block at a time), activation bytes per token of a forward, and whether
// that fits the memory this process may use. The numbers feed `saelab inspect --memory` and the
// refusal a load gives before it reads a byte of weights.

import type { ModelConfig } from './config.js';
import { ModelError } from './errors.js';
import { weightDtypeBytes, type WeightDtype } from './weightDtype.js';
import { expectedShapes, listWeights } from './weights.js';

/** Weight bytes of a model under one storage dtype. */
export interface WeightBytes {
  dtype: WeightDtype;
  /** Every tensor (matrices in `dtype`, norms and biases f32; a tied unembedding once). */
  total: number;
  /** One block (the largest). */
  perLayer: number;
  /** Embeddings, final norm and heads. */
  top: number;
  /** What a streaming load keeps resident: the top weights, one block, and (16-bit) one block's f32 widening. */
  streaming: number;
  /** A resident 16-bit model's extra: one block widened to f32 while it runs (0 for float32). */
  scratch: number;
}

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
/** Whether a canonical tensor is a vector (norm weight or bias): those stay f32. */
const isVector = (name: string, shape: readonly number[]) => shape.length < 2 || name === 'pos_embed' || name === 'score';

/** Bytes of `cfg`'s weights with matrices stored in `dtype`. */
export function weightBytes(cfg: ModelConfig, dtype: WeightDtype): WeightBytes {
  const shapes = expectedShapes(cfg);
  const bytesOf = (name: string, s: readonly number[]) => numel(s) * (isVector(name, s) ? 4 : weightDtypeBytes(dtype));
  let total = 0;
  let top = 0;
  let perLayer = 0;
  let layerMatrixElems = 0;
  for (const [name, s] of listWeights(shapes)) {
    if (!s) continue;
    const b = bytesOf(name, s);
    total += b;
    if (name.startsWith('blocks.0.')) {
      perLayer += b;
      if (!isVector(name, s)) layerMatrixElems += numel(s);
    } else if (!name.startsWith('blocks.')) top += b;
  }
  const scratch = dtype === 'float32' ? 0 : layerMatrixElems * 4;
  return { dtype, total, perLayer, top, streaming: top + perLayer + scratch, scratch };
}

/**
 * Peak f32 activation bytes per token of a forward (an estimate, exact up to small temporaries):
 * the residual and its hook copies, q/k/v and the attention output, the MLP hidden (gate, up,
 * product), one row of attention scores per head for a context of `T` tokens, and the logits when
 * the forward runs to the end.
 */
export function activationBytesPerToken(cfg: ModelConfig, T: number, toLogits: boolean): number {
  const { dModel: d, nHeads, nKvHeads, dHead, dMlp } = cfg;
  const resid = 4 * d; // x, norm output, attention output, resid_mid / sum
  const attn = (2 * nHeads + 2 * nKvHeads) * dHead + nHeads * T; // q, z, k, v, scores
  const mlp = (cfg.gatedMlp ? 3 : 2) * dMlp;
  const logits = toLogits && cfg.head === 'lm' ? cfg.vocabSize : 0;
  return 4 * (resid + attn + mlp + logits);
}

/** The memory this process may use: free RAM (MemAvailable), capped by a cgroup limit, or SAELAB_MEMORY_LIMIT bytes. */
export function memoryAvailable(): { bytes: number; from: string } {
  const env = typeof process !== 'undefined' ? process.env?.['SAELAB_MEMORY_LIMIT'] : undefined;
  if (env !== undefined && env !== '') {
    const n = parseByteSize(env);
    if (n === null) throw new ModelError(`SAELAB_MEMORY_LIMIT="${env}" is not a size (e.g. 8G, 512M, 1000000)`);
    return { bytes: n, from: 'SAELAB_MEMORY_LIMIT' };
  }
  // node:os through getBuiltinModule (no import): in a browser there is no such number, and no limit.
  const os = typeof process !== 'undefined' ? process.getBuiltinModule?.('node:os') : undefined;
  if (!os) return { bytes: Number.POSITIVE_INFINITY, from: 'no memory figure here' };
  const free = os.freemem();
  const cg = typeof process.constrainedMemory === 'function' ? process.constrainedMemory() : 0;
  if (cg > 0 && cg < free) return { bytes: cg, from: 'the cgroup memory limit' };
  return { bytes: free, from: 'free RAM' };
}

/** "8G", "512M", "1.5GiB", "1000000" → bytes (binary units); null when it is not a size. */
export function parseByteSize(s: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(s);
  if (!m) return null;
  const mult = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const n = Math.round(Number(m[1]) * mult);
  return Number.isFinite(n) && n > 0 ? n : null;
}

/** Bytes in a short human form: 1.23 GB (decimal units, as `df -H` and model cards use). */
export function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

/** What `saelab inspect --memory` reports for a model under one storage dtype. */
export interface MemoryReport {
  model: string;
  /** Bytes of the weight files by stored dtype (e.g. { BF16: 2.47e9 }). */
  fileBytes: Record<string, number>;
  parameters: number;
  /** Weight bytes in each storage dtype. */
  weights: Record<WeightDtype, WeightBytes>;
  /** The dtype asked for (--model-dtype; auto resolved). */
  dtype: WeightDtype;
  activations: {
    contextSize: number;
    batchSize: number;
    /** f32 bytes per token for a forward to logits, and to a hook (no logits). */
    perTokenToLogits: number;
    perTokenToHook: number;
    /** The same times contextSize · batchSize. */
    perBatchToLogits: number;
    perBatchToHook: number;
  };
  /** This machine: what the CPU may use, and what fits in `dtype`. */
  cpu: { available: number; from: string; resident: boolean; streaming: boolean; verdict: string };
  /** With --device webgpu: the adapter's buffer limits and the largest tensor widened to f32. */
  gpu?: { adapter: string; maxBufferSize: number; maxStorageBufferBindingSize: number; largestTensor: { name: string; bytesF32: number }; fits: boolean };
}

/** The memory facts of `cfg` in `dtype` against `available` bytes (activations at contextSize × batchSize). */
export function memoryReport(
  model: string,
  cfg: ModelConfig,
  dtype: WeightDtype,
  fileBytes: Record<string, number>,
  available: { bytes: number; from: string },
  batch: { contextSize: number; batchSize: number },
): MemoryReport {
  const weights = { float32: weightBytes(cfg, 'float32'), bfloat16: weightBytes(cfg, 'bfloat16'), float16: weightBytes(cfg, 'float16') };
  const w = weights[dtype];
  const resident = w.total + w.scratch <= available.bytes;
  const streaming = w.streaming <= available.bytes;
  const verdict = resident
    ? `fits in ${dtype}: ${formatBytes(w.total + w.scratch)} of ${formatBytes(available.bytes)}`
    : streaming
      ? `does not fit resident in ${dtype} (${formatBytes(w.total + w.scratch)}); streams a block at a time in ${formatBytes(w.streaming)}`
      : `does not fit in ${dtype}, even streamed (${formatBytes(w.streaming)})`;
  const tokens = batch.contextSize * batch.batchSize;
  const toLogits = activationBytesPerToken(cfg, batch.contextSize, true);
  const toHook = activationBytesPerToken(cfg, batch.contextSize, false);
  let parameters = 0;
  for (const [, s] of listWeights(expectedShapes(cfg))) if (s) parameters += numel(s);
  return {
    model, fileBytes, parameters, weights, dtype,
    activations: { ...batch, perTokenToLogits: toLogits, perTokenToHook: toHook, perBatchToLogits: toLogits * tokens, perBatchToHook: toHook * tokens },
    cpu: { available: available.bytes, from: available.from, resident, streaming, verdict },
  };
}

/** The largest canonical tensor of `cfg` and its f32 bytes (what one GPU buffer must hold). */
export function largestTensor(cfg: ModelConfig): { name: string; bytesF32: number } {
  let best = { name: '', bytesF32: 0 };
  for (const [name, s] of listWeights(expectedShapes(cfg))) if (s && numel(s) * 4 > best.bytesF32) best = { name, bytesF32: numel(s) * 4 };
  return best;
}
