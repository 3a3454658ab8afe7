// `saelab bench forward`: forward throughput of a GPT-2-small-shaped model as activation harvesting
// runs it — stopping at blocks.L.hook_resid_pre, so layers 0..L−1 run — the same case as
// ../shared/bench/torch_reference.py's `lm.forward` (random init, batch = max(1, batchTokens / ctx),
// tokens/s), so the numbers compare directly. Random weights built in memory: no file needed.
// (In model/, not compute/bench/: it needs the transformer, and compute imports nothing of ours.)

import type { Device } from '../compute/device.js';
import { Rng } from '../compute/random.js';
import type { ModelConfig } from './config.js';
import { plainSwitches, validateConfig } from './config.js';
import { Transformer } from './transformer.js';
import { expectedShapes, mapWeights, uploadWeights, type HostTensor, type HostWeights, type ModelWeights } from './weights.js';

/** GPT-2 small's shape (transformers' `GPT2Config()` defaults): 12 layers, d 768, 12 heads, vocab 50257, ctx 1024. */
export const GPT2_SMALL: ModelConfig = validateConfig(
  {
    family: 'gpt2', head: 'lm', numLabels: 0,
    nLayers: 12, dModel: 768, nHeads: 12, nKvHeads: 12, dHead: 64, dMlp: 3072, vocabSize: 50257, nCtx: 1024,
    normEps: 1e-5, activation: 'gelu_new', rotaryDim: 0, ropeTheta: 0, parallelResidual: false, tiedEmbeddings: true,
    attnBias: true, mlpBias: true, scaleAttnWeights: true, scaleAttnByInverseLayerIdx: false,
    padTokenId: null, bosTokenId: 50256, eosTokenId: 50256,
    ...plainSwitches('layer', false, true, 12),
  },
  'GPT-2 small shape',
);

/**
 * Random weights for `cfg` as HF's GPT-2 initialises them: matrices N(0, 0.02²), the residual
 * projections (W_O, W_out) N(0, (0.02/√(2·nLayers))²), biases 0, norm weights 1. The normals are
 * copied from one pool of 2²⁰ draws at seeded random offsets: drawing GPT-2 small's 124M one by one
 * takes ~15 s, and a benchmark's speed does not depend on the values.
 */
export function randomHostWeights(cfg: ModelConfig, seed: number): HostWeights {
  const rng = new Rng(seed);
  const pool = rng.normalArray(1 << 20);
  const normals = (n: number, std: number): Float32Array => {
    const out = new Float32Array(n);
    for (let at = 0; at < n; ) {
      const from = rng.int(pool.length);
      const len = Math.min(pool.length - from, n - at);
      out.set(pool.subarray(from, from + len), at);
      at += len;
    }
    for (let i = 0; i < n; i++) out[i]! *= std;
    return out;
  };
  const residStd = 0.02 / Math.sqrt(2 * cfg.nLayers);
  // Slots the config leaves empty are null in expectedShapes and stay null through mapWeights.
  return mapWeights(expectedShapes(cfg) as ModelWeights<number[]>, (shape, name): HostTensor => {
    const n = shape.reduce((a, b) => a * b, 1);
    const leaf = name.slice(name.lastIndexOf('.') + 1);
    let data: Float32Array;
    if (leaf === 'b' || leaf.startsWith('b_')) data = new Float32Array(n);
    else if (leaf === 'w') data = new Float32Array(n).fill(1);
    else data = normals(n, leaf === 'W_O' || leaf === 'W_out' ? residStd : 0.02);
    return { data, shape };
  });
}

export interface ForwardBenchRow {
  case: 'lm.forward';
  precision: 'fp32';
  model: 'gpt2-small-shape';
  vocabSize: number;
  stopAtLayer: number;
  ctx: number;
  batch: number;
  tokensPerS: number;
  msPerBatch: number;
  reps: number;
}

export interface ForwardBenchOptions {
  /** Context lengths to time (default 128 and 1024). */
  ctxs?: number[];
  /** Stop at blocks.L.hook_resid_pre (default 8: layers 0..7 run). */
  stopAtLayer?: number;
  /** Tokens per batch: batch = max(1, floor(batchTokens / ctx)) (default 16384, as torch_reference.py). */
  batchTokens?: number;
  /** Minimum timed milliseconds per case (reps grow until reached; at least 2 reps). */
  minMs?: number;
  /**
   * Vocabulary size (default GPT-2's 50257). The forward stops before the unembedding, so the
   * vocabulary only sizes the embedding table the input rows are gathered from: a smaller one times
   * the same work, and fits devices whose storage bindings cannot hold 50257×768 floats (lavapipe's
   * 128 MiB).
   */
  vocabSize?: number;
  /** Seed of the weights and token ids. */
  seed?: number;
  onRow?: (row: ForwardBenchRow) => void;
}

/** A GPT-2-small-shaped model with random weights on `device` (benchmarks: the shape, not the numbers, matters). */
export function randomGpt2SmallShape(device: Device, seed = 0, vocabSize?: number): Transformer {
  const cfg = vocabSize === undefined ? GPT2_SMALL : validateConfig({ ...GPT2_SMALL, vocabSize }, 'GPT-2 small shape');
  return Transformer.fromWeights(cfg, uploadWeights(randomHostWeights(cfg, seed), device), device, 'gpt2-small-shape (random init)');
}

/** Time the GPT-2-small-shaped forward to blocks.L.hook_resid_pre on `device`, one row per context length. */
export async function benchForward(device: Device, opts: ForwardBenchOptions = {}): Promise<ForwardBenchRow[]> {
  const model = randomGpt2SmallShape(device, opts.seed ?? 0, opts.vocabSize);
  const cfg = model.config;
  const stopAtLayer = opts.stopAtLayer ?? 8;
  const stopAt = `blocks.${stopAtLayer}.hook_resid_pre`;
  const rng = new Rng((opts.seed ?? 0) + 1);
  const rows: ForwardBenchRow[] = [];
  try {
    for (const ctx of opts.ctxs ?? [128, 1024]) {
      const batch = Math.max(1, Math.floor((opts.batchTokens ?? 16384) / ctx));
      const ids = Int32Array.from({ length: batch * ctx }, () => rng.int(cfg.vocabSize));
      // Keep the stop hook's value (harvesting reads it) and free it, so nothing leaks across reps.
      const once = () => model.forward(ids, [batch, ctx], { stopAt, keep: [stopAt] }).activations.get(stopAt)!.dispose();
      once(); // warm-up: pipelines compiled, buffer pool filled
      await device.sync();
      let reps = 0;
      const t0 = performance.now();
      let elapsed = 0;
      while (reps < 2 || elapsed < (opts.minMs ?? 2000)) {
        once();
        await device.sync();
        reps++;
        elapsed = performance.now() - t0;
      }
      const ms = elapsed / reps;
      const row: ForwardBenchRow = { case: 'lm.forward', precision: 'fp32', model: 'gpt2-small-shape', vocabSize: cfg.vocabSize, stopAtLayer, ctx, batch, tokensPerS: (batch * ctx) / (ms / 1000), msPerBatch: ms, reps };
      rows.push(row);
      opts.onRow?.(row);
    }
  } finally {
    model.dispose();
  }
  return rows;
}
