// HF checkpoints → the canonical layout of weights.ts, one mapping per family. Every tensor's stored
// shape is checked against the config before it is converted, and a mismatch names the HF tensor
// and both shapes. How the families store things:
// - GPT-2: Conv1D weights are [in, out] already; `attn.c_attn` fuses Q|K|V along `out`.
// - GPT-NeoX: nn.Linear [out, in]; `attention.query_key_value` is interleaved per head along `out`,
//   i.e. out index = (head·3 + {0 q, 1 k, 2 v})·dHead + e.
// - Llama, Qwen2, Mistral, Gemma, Gemma-2: nn.Linear [out, in] for q/k/v/o_proj and gate/up/down_proj;
//   Gemma's RMSNorm weights w are stored as 1 + w (HF multiplies by 1 + w in f32); Gemma-2's
//   post_attention_layernorm is the norm on the attention output (ln1_post), its
//   pre_feedforward_layernorm the MLP's input norm (ln2), post_feedforward_layernorm ln2_post.
// - GPT-J: nn.Linear q/k/v/out_proj without biases, fc_in/fc_out with, one ln_1 per block, lm_head
//   with a bias; its rotary pairs (2i, 2i+1) are moved to rotate-half places (i, i + rotaryDim/2) in
//   W_Q and W_K, which leaves every attention score unchanged.
// Base-model checkpoints may lack the `transformer.` / `gpt_neox.` / `model.` prefix: both are read.

import type { Dtype } from '../io/dtypes.js';
import type { HfWeights } from '../io/hfFolder.js';
import type { ModelConfig } from './config.js';
import { ModelError } from './errors.js';
import { convertStored, type StoredData, type StoredTensor, type WeightDtype } from './weightDtype.js';
import { checkWeightShapes, columns, transpose, type HostWeights, type LayerWeights, type ModelWeights, type NormWeights } from './weights.js';

/** Everything but the blocks: embeddings, final norm, heads. */
export type TopWeights<T> = Omit<ModelWeights<T>, 'layers'>;

/** Reads one family's canonical weights a block at a time (so a forward can stream them from disk). */
export interface FamilyLoader {
  /** Block i's weights: matrices in the loader's dtype, norms and biases f32. */
  layer(i: number): LayerWeights<StoredTensor>;
  /** Embeddings (in the loader's dtype), final norm and heads. */
  top(): TopWeights<StoredTensor>;
}

/** What the loaders read, synchronously: which tensors exist, their headers, their bytes. */
export interface TensorReader {
  has(name: string): boolean;
  info(name: string): { readonly dtype: Dtype; readonly shape: readonly number[]; readonly numel: number };
  readRaw(name: string): Uint8Array;
}

/** Read an HF checkpoint's weights for `cfg` into the canonical host layout, all f32. */
export async function loadHfWeights(weights: HfWeights, cfg: ModelConfig, source: string = weights.dir): Promise<HostWeights> {
  const parts = prefetchingLoader(weights, cfg, source, 'float32');
  const top = await parts.top();
  const layers: LayerWeights<StoredTensor>[] = [];
  for (let i = 0; i < cfg.nLayers; i++) layers.push(await parts.layer(i));
  const w = { ...top, layers };
  checkWeightShapes(cfg, w, source);
  return w as HostWeights;
}

/** Headers only: `readRaw` is never reached in a names-only pass. */
function headerReader(weights: HfWeights, seen: Set<string> | null): TensorReader {
  return {
    has: (n) => weights.has(n),
    info: (n) => {
      seen?.add(n);
      return weights.info(n);
    },
    readRaw: (n) => {
      throw new Error(`headerReader: ${n} read in a names-only pass`);
    },
  };
}

/**
 * Check, from the headers alone, that every tensor `cfg` needs is present and shaped right (the
 * same ModelError the loading would throw), reading nothing.
 */
export function checkHfTensors(weights: HfWeights, cfg: ModelConfig, source: string): void {
  const loader = familyLoader(headerReader(weights, null), cfg, source, 'float32', true);
  for (let i = 0; i < cfg.nLayers; i++) loader.layer(i);
  loader.top();
}

/**
 * A family loader over asynchronous reads (any HfWeights: a local folder, or bytes from elsewhere):
 * each part's tensor names come from a names-only pass, their bytes are read, then converted.
 */
export function prefetchingLoader(weights: HfWeights, cfg: ModelConfig, source: string, dtype: WeightDtype): { top(): Promise<TopWeights<StoredTensor>>; layer(i: number): Promise<LayerWeights<StoredTensor>> } {
  const read = async (part: 'top' | number): Promise<FamilyLoader> => {
    const names = new Set<string>();
    const probe = familyLoader(headerReader(weights, names), cfg, source, dtype, true);
    if (part === 'top') probe.top();
    else probe.layer(part);
    const bytes = new Map<string, Uint8Array>();
    for (const n of names) bytes.set(n, await weights.readRaw(n));
    return familyLoader({ has: (n) => weights.has(n), info: (n) => weights.info(n), readRaw: (n) => bytes.get(n)! }, cfg, source, dtype);
  };
  return {
    top: async () => (await read('top')).top(),
    layer: async (i) => (await read(i)).layer(i),
  };
}

/** The loader of `cfg`'s family. With `namesOnly`, every tensor is checked (presence, shape, dtype) but none is read: all come back empty. */
export function familyLoader(reader: TensorReader, cfg: ModelConfig, source: string, dtype: WeightDtype, namesOnly = false): FamilyLoader {
  const src = new Source(reader, source, dtype, namesOnly);
  switch (cfg.family) {
    case 'gpt2': return gpt2Loader(src, cfg);
    case 'gpt_neox': return neoxLoader(src, cfg);
    case 'gptj': return gptjLoader(src, cfg);
    default: return llamaLoader(src, cfg);
  }
}

/** Reads HF tensors by name, checking each shape; matrices in `dtype`, vectors in f32. */
class Source {
  constructor(
    readonly reader: TensorReader,
    readonly source: string,
    readonly dtype: WeightDtype,
    readonly namesOnly: boolean,
  ) {}

  /** The prefix (of `candidates`) under which `probe` exists. */
  prefix(candidates: string[], probe: string): string {
    const p = candidates.find((c) => this.reader.has(c + probe));
    if (p === undefined) throw new ModelError(`${this.source}: missing tensor "${candidates[0]}${probe}" (not a ${candidates[0]!.replace(/\.$/, '')} checkpoint?)`);
    return p;
  }

  private check(name: string, shape: number[]): void {
    if (!this.reader.has(name)) throw new ModelError(`${this.source}: missing tensor "${name}" (expected shape [${shape}])`);
    const info = this.reader.info(name);
    const got = info.shape;
    if (got.length !== shape.length || got.some((s, i) => s !== shape[i])) {
      throw new ModelError(`${this.source}: tensor "${name}" has shape [${got}], expected [${shape}] from the config`);
    }
    if (!['F32', 'F16', 'BF16', 'F64'].includes(info.dtype)) throw new ModelError(`${this.source}: tensor "${name}" is ${info.dtype}; weights must be F32, F16 or BF16`);
  }

  private readAs(name: string, shape: number[], dtype: WeightDtype): StoredData {
    this.check(name, shape);
    if (this.namesOnly) return dtype === 'float32' ? new Float32Array(0) : new Uint16Array(0);
    const info = this.reader.info(name);
    return convertStored(this.reader.readRaw(name), info.dtype, dtype, info.numel);
  }

  /** A vector (norm weight, bias) as f32, which must have shape `shape`. */
  read(name: string, shape: number[]): Float32Array {
    return this.readAs(name, shape, 'float32') as Float32Array;
  }

  /** A matrix in the loader's dtype (empty in a shape-only check). */
  mat(name: string, shape: number[]): StoredData {
    return this.readAs(name, shape, this.dtype);
  }

  /** Matrix data as a StoredTensor of shape `shape`. */
  stored(data: StoredData, shape: number[]): StoredTensor {
    return { data, shape, dtype: data instanceof Float32Array ? 'float32' : this.dtype };
  }

  /** A vector, kept in shape. */
  tensor(name: string, shape: number[]): StoredTensor {
    return { data: this.read(name, shape), shape, dtype: 'float32' };
  }

  /** A matrix stored as is. */
  matrix(name: string, shape: number[]): StoredTensor {
    return this.stored(this.mat(name, shape), shape);
  }

  /** An nn.Linear weight stored [out, in], returned as [in, out]. */
  linearT(name: string, out: number, inp: number): StoredTensor {
    return this.stored(transpose(this.mat(name, [out, inp]), out, inp), [inp, out]);
  }

  norm(prefix: string, d: number, withBias: boolean): NormWeights<StoredTensor> {
    return { w: this.tensor(`${prefix}.weight`, [d]), b: withBias ? this.tensor(`${prefix}.bias`, [d]) : null };
  }

  /** An RMSNorm; with plusOne (Gemma) its weight w is stored as f32(1 + w). */
  rmsNorm(prefix: string, d: number, plusOne: boolean): NormWeights<StoredTensor> {
    const n = this.norm(prefix, d, false);
    if (plusOne) for (let i = 0; i < d; i++) n.w.data[i] = 1 + n.w.data[i]!;
    return n;
  }

  bias(name: string, n: number, present: boolean): StoredTensor | null {
    return present ? this.tensor(name, [n]) : null;
  }
}

/** The head of an LM (untied) or classifier, read from its top-level name. */
function heads(src: Source, cfg: ModelConfig, lmHeadName: string): Pick<TopWeights<StoredTensor>, 'unembed' | 'unembed_b' | 'score'> {
  const { dModel: d, vocabSize: V } = cfg;
  const unembed = cfg.head === 'lm' && !cfg.tiedEmbeddings ? src.linearT(lmHeadName, V, d) : null;
  const unembed_b = cfg.head === 'lm' && cfg.unembedBias ? src.tensor(lmHeadName.replace(/\.weight$/, '.bias'), [V]) : null;
  // The score head is tiny ([d, labels]): f32 always.
  const score = cfg.head === 'sequence-classification' ? { data: transpose(src.read('score.weight', [cfg.numLabels, d]), cfg.numLabels, d), shape: [d, cfg.numLabels], dtype: 'float32' as const } : null;
  return { unembed, unembed_b, score };
}

/**
 * Rows [out = heads·dHead, cols] of a Q or K projection with interleaved rotary pairs (2i, 2i+1) of
 * the first rotaryDim dims of each head, reordered so the pairs sit at (i, i + rotaryDim/2).
 */
export function interleavedToHalfRows<A extends StoredData>(w: A, heads: number, dHead: number, rotaryDim: number, cols: number): A {
  const out = w.slice() as A;
  if (w.length === 0) return out;
  const half = rotaryDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let c = 0; c < 2; c++) {
        const from = (h * dHead + 2 * i + c) * cols;
        out.set(w.subarray(from, from + cols), (h * dHead + c * half + i) * cols);
      }
    }
  }
  return out;
}

function gptjLoader(src: Source, cfg: ModelConfig): FamilyLoader {
  const { dModel: d, dMlp, nHeads, dHead, rotaryDim } = cfg;
  const hd = nHeads * dHead;
  const P = src.prefix(['transformer.', ''], 'wte.weight');
  const rotated = (name: string): StoredTensor => {
    const rows = interleavedToHalfRows(src.mat(name, [hd, d]), nHeads, dHead, rotaryDim, d);
    return src.stored(transpose(rows, hd, d), [d, hd]);
  };
  return {
    layer: (i) => {
      const h = `${P}h.${i}.`;
      return {
        ln1: src.norm(`${h}ln_1`, d, true),
        W_Q: rotated(`${h}attn.q_proj.weight`),
        W_K: rotated(`${h}attn.k_proj.weight`),
        W_V: src.linearT(`${h}attn.v_proj.weight`, hd, d),
        b_Q: null, b_K: null, b_V: null,
        W_O: src.linearT(`${h}attn.out_proj.weight`, d, hd),
        b_O: null,
        ln2: null, ln1_post: null, ln2_post: null,
        W_in: src.linearT(`${h}mlp.fc_in.weight`, dMlp, d),
        W_gate: null,
        b_in: src.tensor(`${h}mlp.fc_in.bias`, [dMlp]),
        W_out: src.linearT(`${h}mlp.fc_out.weight`, d, dMlp),
        b_out: src.tensor(`${h}mlp.fc_out.bias`, [d]),
      };
    },
    top: () => ({
      embed: src.matrix(`${P}wte.weight`, [cfg.vocabSize, d]),
      posEmbed: null,
      lnFinal: src.norm(`${P}ln_f`, d, true),
      ...heads(src, cfg, 'lm_head.weight'),
    }),
  };
}

function gpt2Loader(src: Source, cfg: ModelConfig): FamilyLoader {
  const { dModel: d, dMlp } = cfg;
  const hd = cfg.nHeads * cfg.dHead; // = d for GPT-2
  const P = src.prefix(['transformer.', ''], 'wte.weight');
  return {
    layer: (i) => {
      const h = `${P}h.${i}.`;
      const qkv = src.mat(`${h}attn.c_attn.weight`, [d, 3 * hd]);
      const qkvB = src.read(`${h}attn.c_attn.bias`, [3 * hd]);
      const part = (k: number): StoredTensor => src.stored(columns(qkv, d, 3 * hd, k * hd, hd), [d, hd]);
      const partB = (k: number): StoredTensor => ({ data: qkvB.slice(k * hd, (k + 1) * hd), shape: [hd], dtype: 'float32' });
      return {
        ln1: src.norm(`${h}ln_1`, d, true),
        W_Q: part(0), W_K: part(1), W_V: part(2),
        b_Q: partB(0), b_K: partB(1), b_V: partB(2),
        W_O: src.matrix(`${h}attn.c_proj.weight`, [hd, d]),
        b_O: src.tensor(`${h}attn.c_proj.bias`, [d]),
        ln2: src.norm(`${h}ln_2`, d, true),
        ln1_post: null, ln2_post: null,
        W_in: src.matrix(`${h}mlp.c_fc.weight`, [d, dMlp]),
        W_gate: null,
        b_in: src.tensor(`${h}mlp.c_fc.bias`, [dMlp]),
        W_out: src.matrix(`${h}mlp.c_proj.weight`, [dMlp, d]),
        b_out: src.tensor(`${h}mlp.c_proj.bias`, [d]),
      };
    },
    top: () => ({
      embed: src.matrix(`${P}wte.weight`, [cfg.vocabSize, d]),
      // Learned positions are read by row (a gather): f32, they are small next to the vocabulary.
      posEmbed: src.tensor(`${P}wpe.weight`, [cfg.nCtx, d]),
      lnFinal: src.norm(`${P}ln_f`, d, true),
      ...heads(src, cfg, 'lm_head.weight'),
    }),
  };
}

function neoxLoader(src: Source, cfg: ModelConfig): FamilyLoader {
  const { dModel: d, dMlp, nHeads, dHead } = cfg;
  const hd = nHeads * dHead;
  const P = src.prefix(['gpt_neox.', ''], 'embed_in.weight');
  return {
    layer: (i) => {
      const l = `${P}layers.${i}.`;
      // query_key_value [3·hd, d]: output row (h·3 + k)·dHead + e is head h's Q (k 0), K (1) or V (2) dim e.
      const qkv = src.mat(`${l}attention.query_key_value.weight`, [3 * hd, d]);
      const qkvB = cfg.attnBias ? src.read(`${l}attention.query_key_value.bias`, [3 * hd]) : null;
      const part = (k: number): StoredTensor => {
        const rows = new (qkv.constructor as { new (n: number): StoredData })(qkv.length === 0 ? 0 : hd * d); // [out = hd, in = d]
        if (qkv.length > 0) for (let h = 0; h < nHeads; h++) rows.set(qkv.subarray(((h * 3 + k) * dHead) * d, ((h * 3 + k + 1) * dHead) * d), h * dHead * d);
        return src.stored(transpose(rows, hd, d), [d, hd]);
      };
      const partB = (k: number): StoredTensor | null => {
        if (!qkvB) return null;
        const b = new Float32Array(hd);
        for (let h = 0; h < nHeads; h++) b.set(qkvB.subarray((h * 3 + k) * dHead, (h * 3 + k + 1) * dHead), h * dHead);
        return { data: b, shape: [hd], dtype: 'float32' };
      };
      return {
        ln1: src.norm(`${l}input_layernorm`, d, true),
        W_Q: part(0), W_K: part(1), W_V: part(2),
        b_Q: partB(0), b_K: partB(1), b_V: partB(2),
        W_O: src.linearT(`${l}attention.dense.weight`, d, hd),
        b_O: src.bias(`${l}attention.dense.bias`, d, cfg.attnBias),
        ln2: src.norm(`${l}post_attention_layernorm`, d, true),
        ln1_post: null, ln2_post: null,
        W_in: src.linearT(`${l}mlp.dense_h_to_4h.weight`, dMlp, d),
        W_gate: null,
        b_in: src.bias(`${l}mlp.dense_h_to_4h.bias`, dMlp, cfg.mlpBias),
        W_out: src.linearT(`${l}mlp.dense_4h_to_h.weight`, d, dMlp),
        b_out: src.bias(`${l}mlp.dense_4h_to_h.bias`, d, cfg.mlpBias),
      };
    },
    top: () => ({
      embed: src.matrix(`${P}embed_in.weight`, [cfg.vocabSize, d]),
      posEmbed: null,
      lnFinal: src.norm(`${P}final_layer_norm`, d, true),
      ...heads(src, cfg, 'embed_out.weight'),
    }),
  };
}

function llamaLoader(src: Source, cfg: ModelConfig): FamilyLoader {
  const { dModel: d, dMlp, nHeads, nKvHeads, dHead } = cfg;
  const hq = nHeads * dHead;
  const hkv = nKvHeads * dHead;
  // SwiGLU with biases would need a gate bias, which the canonical layout has no slot for.
  if (cfg.mlpBias) throw new ModelError(`${src.source}: Llama with mlp_bias true is not supported`);
  const P = src.prefix(['model.', ''], 'embed_tokens.weight');
  const norm = (name: string) => src.rmsNorm(name, d, cfg.normPlusOne);
  return {
    layer: (i) => {
      const l = `${P}layers.${i}.`;
      const a = `${l}self_attn.`;
      const m = `${l}mlp.`;
      return {
        ln1: norm(`${l}input_layernorm`),
        W_Q: src.linearT(`${a}q_proj.weight`, hq, d),
        W_K: src.linearT(`${a}k_proj.weight`, hkv, d),
        W_V: src.linearT(`${a}v_proj.weight`, hkv, d),
        b_Q: src.bias(`${a}q_proj.bias`, hq, cfg.attnBias),
        b_K: src.bias(`${a}k_proj.bias`, hkv, cfg.attnBias),
        b_V: src.bias(`${a}v_proj.bias`, hkv, cfg.attnBias),
        W_O: src.linearT(`${a}o_proj.weight`, d, hq),
        b_O: src.bias(`${a}o_proj.bias`, d, cfg.attnOutBias),
        // Gemma-2 names its attention-output norm post_attention_layernorm; the MLP's input norm is pre_feedforward.
        ln2: norm(cfg.postNorms ? `${l}pre_feedforward_layernorm` : `${l}post_attention_layernorm`),
        ln1_post: cfg.postNorms ? norm(`${l}post_attention_layernorm`) : null,
        ln2_post: cfg.postNorms ? norm(`${l}post_feedforward_layernorm`) : null,
        W_in: src.linearT(`${m}up_proj.weight`, dMlp, d),
        W_gate: src.linearT(`${m}gate_proj.weight`, dMlp, d),
        b_in: src.bias(`${m}up_proj.bias`, dMlp, cfg.mlpBias),
        W_out: src.linearT(`${m}down_proj.weight`, d, dMlp),
        b_out: src.bias(`${m}down_proj.bias`, d, cfg.mlpBias),
      };
    },
    top: () => ({
      embed: src.matrix(`${P}embed_tokens.weight`, [cfg.vocabSize, d]),
      posEmbed: null,
      lnFinal: norm(`${P}norm`),
      ...heads(src, cfg, 'lm_head.weight'),
    }),
  };
}
