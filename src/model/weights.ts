// The canonical weight layout every family loads into, so that one forward and one backward serve
// GPT-2, GPT-NeoX and Llama. Matrices are stored [in, out] (activations multiply on the left:
// y = x · W), attention projections are per-kind and heads are contiguous along `out`
// (W_Q [d, nHeads·dHead] is head 0's dHead columns, then head 1's, …), biases are [out].
// `unembed` null means tied: logits = x · embedᵀ (a matmul with transB).
// Family details the loaders settle so that the forward needs no case of its own: GPT-J's
// interleaved rotary pairs are stored with W_Q/W_K's rotary columns in rotate-half order (the
// scores q·k are unchanged), and Gemma's (1 + w) RMSNorm weights are stored as 1 + w.
//
// Loaders build a `HostWeights` (Float32Arrays), `checkWeightShapes` holds it against the config,
// and `uploadWeights` puts it on a device.

import type { CpuDevice } from '../compute/cpu/cpuDevice.js';
import type { Device } from '../compute/device.js';
import type { Tensor } from '../compute/tensor.js';
import type { ModelConfig } from './config.js';
import { ModelError } from './errors.js';

/** A LayerNorm (w and b) or an RMSNorm (w only, b null). */
export interface NormWeights<T = Tensor> {
  w: T;
  b: T | null;
}

/** One block's weights. */
export interface LayerWeights<T = Tensor> {
  ln1: NormWeights<T>;
  /** [dModel, nHeads·dHead] */
  W_Q: T;
  /** [dModel, nKvHeads·dHead] */
  W_K: T;
  /** [dModel, nKvHeads·dHead] */
  W_V: T;
  b_Q: T | null;
  b_K: T | null;
  b_V: T | null;
  /** [nHeads·dHead, dModel] */
  W_O: T;
  b_O: T | null;
  /** Null when the MLP reads ln1's output (GPT-J's shared norm). */
  ln2: NormWeights<T> | null;
  /** Gemma-2: the norms on the attention and MLP outputs (post_attention_layernorm, post_feedforward_layernorm); else null. */
  ln1_post: NormWeights<T> | null;
  ln2_post: NormWeights<T> | null;
  /** [dModel, dMlp]: GPT-2 c_fc, NeoX dense_h_to_4h, Llama up_proj. */
  W_in: T;
  /** [dModel, dMlp]: gate_proj (the activated side of SwiGLU / GeGLU); null for plain MLPs. */
  W_gate: T | null;
  b_in: T | null;
  /** [dMlp, dModel] */
  W_out: T;
  b_out: T | null;
}

export interface ModelWeights<T = Tensor> {
  /** [vocabSize, dModel] */
  embed: T;
  /** [nCtx, dModel] learned positions (GPT-2); null with RoPE. */
  posEmbed: T | null;
  layers: LayerWeights<T>[];
  lnFinal: NormWeights<T>;
  /** [dModel, vocabSize]; null when tied to `embed` (or for a classifier). */
  unembed: T | null;
  /** [vocabSize] bias of the unembedding (GPT-J); else null. */
  unembed_b: T | null;
  /** [dModel, numLabels] sequence-classification head; null for an LM. */
  score: T | null;
}

/** A tensor still on the host. */
export interface HostTensor {
  data: Float32Array;
  shape: number[];
}

export type HostWeights = ModelWeights<HostTensor>;

/** Apply `f` to every tensor of a weight set (same structure, nulls kept). */
export function mapWeights<A, B>(w: ModelWeights<A>, f: (t: A, name: string) => B): ModelWeights<B> {
  const opt = (t: A | null, name: string): B | null => (t === null ? null : f(t, name));
  const norm = (n: NormWeights<A>, name: string): NormWeights<B> => ({ w: f(n.w, `${name}.w`), b: opt(n.b, `${name}.b`) });
  const optNorm = (n: NormWeights<A> | null, name: string): NormWeights<B> | null => (n === null ? null : norm(n, name));
  return {
    embed: f(w.embed, 'embed'),
    posEmbed: opt(w.posEmbed, 'pos_embed'),
    layers: w.layers.map((l, i) => {
      const p = `blocks.${i}`;
      return {
        ln1: norm(l.ln1, `${p}.ln1`),
        W_Q: f(l.W_Q, `${p}.attn.W_Q`),
        W_K: f(l.W_K, `${p}.attn.W_K`),
        W_V: f(l.W_V, `${p}.attn.W_V`),
        b_Q: opt(l.b_Q, `${p}.attn.b_Q`),
        b_K: opt(l.b_K, `${p}.attn.b_K`),
        b_V: opt(l.b_V, `${p}.attn.b_V`),
        W_O: f(l.W_O, `${p}.attn.W_O`),
        b_O: opt(l.b_O, `${p}.attn.b_O`),
        ln2: optNorm(l.ln2, `${p}.ln2`),
        ln1_post: optNorm(l.ln1_post, `${p}.ln1_post`),
        ln2_post: optNorm(l.ln2_post, `${p}.ln2_post`),
        W_in: f(l.W_in, `${p}.mlp.W_in`),
        W_gate: opt(l.W_gate, `${p}.mlp.W_gate`),
        b_in: opt(l.b_in, `${p}.mlp.b_in`),
        W_out: f(l.W_out, `${p}.mlp.W_out`),
        b_out: opt(l.b_out, `${p}.mlp.b_out`),
      };
    }),
    lnFinal: norm(w.lnFinal, 'ln_final'),
    unembed: opt(w.unembed, 'unembed'),
    unembed_b: opt(w.unembed_b, 'unembed_b'),
    score: opt(w.score, 'score'),
  };
}

/** Every tensor of a weight set with its canonical name (e.g. `blocks.0.attn.W_Q`). */
export function listWeights<T>(w: ModelWeights<T>): [name: string, t: T][] {
  const out: [string, T][] = [];
  mapWeights(w, (t, name) => out.push([name, t]));
  return out;
}

/** The shape each canonical tensor must have under `cfg` (null: must be absent). */
export function expectedShapes(cfg: ModelConfig): ModelWeights<number[] | null> {
  const { dModel: d, nHeads, nKvHeads, dHead, dMlp, vocabSize: V } = cfg;
  const isLayerNorm = cfg.norm === 'layer';
  const norm = (): NormWeights<number[] | null> => ({ w: [d], b: isLayerNorm ? [d] : null });
  const gated = cfg.gatedMlp;
  return {
    embed: [V, d],
    posEmbed: cfg.family === 'gpt2' ? [cfg.nCtx, d] : null,
    layers: Array.from({ length: cfg.nLayers }, () => ({
      ln1: norm(),
      W_Q: [d, nHeads * dHead],
      W_K: [d, nKvHeads * dHead],
      W_V: [d, nKvHeads * dHead],
      b_Q: cfg.attnBias ? [nHeads * dHead] : null,
      b_K: cfg.attnBias ? [nKvHeads * dHead] : null,
      b_V: cfg.attnBias ? [nKvHeads * dHead] : null,
      W_O: [nHeads * dHead, d],
      b_O: cfg.attnOutBias ? [d] : null,
      ln2: cfg.sharedNorm ? null : norm(),
      ln1_post: cfg.postNorms ? norm() : null,
      ln2_post: cfg.postNorms ? norm() : null,
      W_in: [d, dMlp],
      W_gate: gated ? [d, dMlp] : null,
      b_in: cfg.mlpBias ? [dMlp] : null,
      W_out: [dMlp, d],
      b_out: cfg.mlpBias ? [d] : null,
    })),
    lnFinal: norm(),
    unembed: cfg.head === 'lm' && !cfg.tiedEmbeddings ? [d, V] : null,
    unembed_b: cfg.head === 'lm' && cfg.unembedBias ? [V] : null,
    score: cfg.head === 'sequence-classification' ? [d, cfg.numLabels] : null,
  };
}

/** Throw a ModelError unless every tensor is present, absent or shaped as `cfg` says. */
export function checkWeightShapes(cfg: ModelConfig, w: ModelWeights<{ shape: readonly number[] } | null>, source: string): void {
  const want = expectedShapes(cfg);
  const check = (got: { shape: readonly number[] } | null, exp: number[] | null, name: string): void => {
    if (exp === null && got !== null) throw new ModelError(`${source}: unexpected tensor ${name} [${got.shape}] for this config`);
    if (exp !== null && got === null) throw new ModelError(`${source}: missing tensor ${name} (expected shape [${exp}])`);
    if (exp !== null && got !== null && (got.shape.length !== exp.length || got.shape.some((s, i) => s !== exp[i]))) {
      throw new ModelError(`${source}: tensor ${name} has shape [${got.shape}], expected [${exp}]`);
    }
  };
  const gotList = new Map(listWeightsWithNulls(w));
  for (const [name, exp] of listWeightsWithNulls(want)) check(gotList.get(name) ?? null, exp, name);
  if (w.layers.length !== cfg.nLayers) throw new ModelError(`${source}: ${w.layers.length} layers of weights, config says ${cfg.nLayers}`);
}

/** Like listWeights, but keeping the null slots (by name) too. */
function listWeightsWithNulls<T>(w: ModelWeights<T | null>): [string, T | null][] {
  const out: [string, T | null][] = [];
  const push = (t: T | null, name: string) => out.push([name, t]);
  const norm = (n: NormWeights<T | null> | null, name: string) => {
    push(n?.w ?? null, `${name}.w`);
    push(n?.b ?? null, `${name}.b`);
  };
  push(w.embed, 'embed');
  push(w.posEmbed ?? null, 'pos_embed');
  w.layers.forEach((l, i) => {
    const p = `blocks.${i}`;
    norm(l.ln1, `${p}.ln1`);
    for (const k of ['W_Q', 'W_K', 'W_V', 'b_Q', 'b_K', 'b_V', 'W_O', 'b_O'] as const) push(l[k] ?? null, `${p}.attn.${k}`);
    norm(l.ln2, `${p}.ln2`);
    norm(l.ln1_post ?? null, `${p}.ln1_post`);
    norm(l.ln2_post ?? null, `${p}.ln2_post`);
    for (const k of ['W_in', 'W_gate', 'b_in', 'W_out', 'b_out'] as const) push(l[k] ?? null, `${p}.mlp.${k}`);
  });
  norm(w.lnFinal, 'ln_final');
  push(w.unembed ?? null, 'unembed');
  push(w.unembed_b ?? null, 'unembed_b');
  push(w.score ?? null, 'score');
  return out;
}

/** Put host weights on a device (the CPU device wraps the arrays without a copy). */
export function uploadWeights(w: HostWeights, device: Device): ModelWeights {
  return mapWeights(w, (t) => (device.kind === 'cpu' ? (device as CpuDevice).wrap(t.data, t.shape) : device.fromArray(t.data, t.shape)));
}

/** Give every tensor's storage back to its device. */
export function disposeWeights(w: ModelWeights): void {
  for (const [, t] of listWeights(w)) t.dispose();
}

/** Number of parameters (a tied unembedding counted once). */
export function countParameters(w: ModelWeights<{ shape: readonly number[] }>): number {
  let n = 0;
  for (const [, t] of listWeights(w)) n += t.shape.reduce((a, b) => a * b, 1);
  return n;
}

// ---- host-side array helpers for the loaders ---------------------------------------------------

/** [rows, cols] → [cols, rows], in the array's own element type (an empty array stays empty: a shape-only check). */
export function transpose<A extends Float32Array | Uint16Array>(a: A, rows: number, cols: number): A {
  const out = new (a.constructor as { new (n: number): A })(a.length);
  if (a.length === 0) return out;
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j]!;
  return out;
}

/** Columns [c0, c0 + n) of a [rows, cols] matrix, as [rows, n] (an empty array stays empty). */
export function columns<A extends Float32Array | Uint16Array>(a: A, rows: number, cols: number, c0: number, n: number): A {
  const out = new (a.constructor as { new (n: number): A })(a.length === 0 ? 0 : rows * n);
  if (a.length === 0) return out;
  for (let i = 0; i < rows; i++) out.set(a.subarray(i * cols + c0, i * cols + c0 + n), i * n);
  return out;
}
