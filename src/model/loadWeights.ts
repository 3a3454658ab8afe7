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

import type { HfWeights } from '../io/hfFolder.js';
import type { ModelConfig } from './config.js';
import { ModelError } from './errors.js';
import { checkWeightShapes, columns, transpose, type HostTensor, type HostWeights, type LayerWeights, type NormWeights } from './weights.js';

/** Read an HF checkpoint's weights for `cfg` into the canonical host layout. */
export async function loadHfWeights(weights: HfWeights, cfg: ModelConfig, source: string = weights.dir): Promise<HostWeights> {
  const src = new Source(weights, source);
  const host = cfg.family === 'gpt2' ? await loadGpt2(src, cfg) : cfg.family === 'gpt_neox' ? await loadNeox(src, cfg) : cfg.family === 'gptj' ? await loadGptj(src, cfg) : await loadLlama(src, cfg);
  checkWeightShapes(cfg, host, source);
  return host;
}

/** Reads HF tensors by name, checking each shape. */
class Source {
  constructor(
    readonly weights: HfWeights,
    readonly source: string,
  ) {}

  /** The prefix (of `candidates`) under which `probe` exists. */
  prefix(candidates: string[], probe: string): string {
    const p = candidates.find((c) => this.weights.has(c + probe));
    if (p === undefined) throw new ModelError(`${this.source}: missing tensor "${candidates[0]}${probe}" (not a ${candidates[0]!.replace(/\.$/, '')} checkpoint?)`);
    return p;
  }

  /** The tensor `name` as f32, which must have shape `shape`. */
  async read(name: string, shape: number[]): Promise<Float32Array> {
    if (!this.weights.has(name)) throw new ModelError(`${this.source}: missing tensor "${name}" (expected shape [${shape}])`);
    const got = this.weights.info(name).shape;
    if (got.length !== shape.length || got.some((s, i) => s !== shape[i])) {
      throw new ModelError(`${this.source}: tensor "${name}" has shape [${got}], expected [${shape}] from the config`);
    }
    return this.weights.readF32(name);
  }

  /** As read, kept in shape. */
  async tensor(name: string, shape: number[]): Promise<HostTensor> {
    return { data: await this.read(name, shape), shape };
  }

  /** An nn.Linear weight stored [out, in], returned as [in, out]. */
  async linearT(name: string, out: number, inp: number): Promise<HostTensor> {
    return { data: transpose(await this.read(name, [out, inp]), out, inp), shape: [inp, out] };
  }

  async norm(prefix: string, d: number, withBias: boolean): Promise<NormWeights<HostTensor>> {
    return { w: await this.tensor(`${prefix}.weight`, [d]), b: withBias ? await this.tensor(`${prefix}.bias`, [d]) : null };
  }

  /** An RMSNorm; with plusOne (Gemma) its weight w is stored as f32(1 + w). */
  async rmsNorm(prefix: string, d: number, plusOne: boolean): Promise<NormWeights<HostTensor>> {
    const n = await this.norm(prefix, d, false);
    if (plusOne) for (let i = 0; i < d; i++) n.w.data[i] = 1 + n.w.data[i]!;
    return n;
  }

  async bias(name: string, n: number, present: boolean): Promise<HostTensor | null> {
    return present ? this.tensor(name, [n]) : null;
  }
}

/** The head of an LM (untied) or classifier, read from its top-level name. */
async function heads(src: Source, cfg: ModelConfig, lmHeadName: string): Promise<Pick<HostWeights, 'unembed' | 'unembed_b' | 'score'>> {
  const { dModel: d, vocabSize: V } = cfg;
  const unembed = cfg.head === 'lm' && !cfg.tiedEmbeddings ? await src.linearT(lmHeadName, V, d) : null;
  const unembed_b = cfg.head === 'lm' && cfg.unembedBias ? await src.tensor(lmHeadName.replace(/\.weight$/, '.bias'), [V]) : null;
  const score = cfg.head === 'sequence-classification' ? await src.linearT('score.weight', cfg.numLabels, d) : null;
  return { unembed, unembed_b, score };
}

/**
 * Rows [out = heads·dHead, cols] of a Q or K projection with interleaved rotary pairs (2i, 2i+1) of
 * the first rotaryDim dims of each head, reordered so the pairs sit at (i, i + rotaryDim/2).
 */
export function interleavedToHalfRows(w: Float32Array, heads: number, dHead: number, rotaryDim: number, cols: number): Float32Array {
  const out = w.slice();
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

async function loadGptj(src: Source, cfg: ModelConfig): Promise<HostWeights> {
  const { dModel: d, dMlp, nLayers, nHeads, dHead, rotaryDim } = cfg;
  const hd = nHeads * dHead;
  const P = src.prefix(['transformer.', ''], 'wte.weight');
  const rotated = async (name: string): Promise<HostTensor> => {
    const rows = interleavedToHalfRows(await src.read(name, [hd, d]), nHeads, dHead, rotaryDim, d);
    return { data: transpose(rows, hd, d), shape: [d, hd] };
  };
  const layers: LayerWeights<HostTensor>[] = [];
  for (let i = 0; i < nLayers; i++) {
    const h = `${P}h.${i}.`;
    layers.push({
      ln1: await src.norm(`${h}ln_1`, d, true),
      W_Q: await rotated(`${h}attn.q_proj.weight`),
      W_K: await rotated(`${h}attn.k_proj.weight`),
      W_V: await src.linearT(`${h}attn.v_proj.weight`, hd, d),
      b_Q: null, b_K: null, b_V: null,
      W_O: await src.linearT(`${h}attn.out_proj.weight`, d, hd),
      b_O: null,
      ln2: null, ln1_post: null, ln2_post: null,
      W_in: await src.linearT(`${h}mlp.fc_in.weight`, dMlp, d),
      W_gate: null,
      b_in: await src.tensor(`${h}mlp.fc_in.bias`, [dMlp]),
      W_out: await src.linearT(`${h}mlp.fc_out.weight`, d, dMlp),
      b_out: await src.tensor(`${h}mlp.fc_out.bias`, [d]),
    });
  }
  return {
    embed: await src.tensor(`${P}wte.weight`, [cfg.vocabSize, d]),
    posEmbed: null,
    layers,
    lnFinal: await src.norm(`${P}ln_f`, d, true),
    ...(await heads(src, cfg, 'lm_head.weight')),
  };
}

async function loadGpt2(src: Source, cfg: ModelConfig): Promise<HostWeights> {
  const { dModel: d, dMlp, nLayers } = cfg;
  const hd = cfg.nHeads * cfg.dHead; // = d for GPT-2
  const P = src.prefix(['transformer.', ''], 'wte.weight');
  const layers: LayerWeights<HostTensor>[] = [];
  for (let i = 0; i < nLayers; i++) {
    const h = `${P}h.${i}.`;
    const qkv = await src.read(`${h}attn.c_attn.weight`, [d, 3 * hd]);
    const qkvB = await src.read(`${h}attn.c_attn.bias`, [3 * hd]);
    const part = (k: number): HostTensor => ({ data: columns(qkv, d, 3 * hd, k * hd, hd), shape: [d, hd] });
    const partB = (k: number): HostTensor => ({ data: qkvB.slice(k * hd, (k + 1) * hd), shape: [hd] });
    layers.push({
      ln1: await src.norm(`${h}ln_1`, d, true),
      W_Q: part(0), W_K: part(1), W_V: part(2),
      b_Q: partB(0), b_K: partB(1), b_V: partB(2),
      W_O: await src.tensor(`${h}attn.c_proj.weight`, [hd, d]),
      b_O: await src.tensor(`${h}attn.c_proj.bias`, [d]),
      ln2: await src.norm(`${h}ln_2`, d, true),
      ln1_post: null, ln2_post: null,
      W_in: await src.tensor(`${h}mlp.c_fc.weight`, [d, dMlp]),
      W_gate: null,
      b_in: await src.tensor(`${h}mlp.c_fc.bias`, [dMlp]),
      W_out: await src.tensor(`${h}mlp.c_proj.weight`, [dMlp, d]),
      b_out: await src.tensor(`${h}mlp.c_proj.bias`, [d]),
    });
  }
  return {
    embed: await src.tensor(`${P}wte.weight`, [cfg.vocabSize, d]),
    posEmbed: await src.tensor(`${P}wpe.weight`, [cfg.nCtx, d]),
    layers,
    lnFinal: await src.norm(`${P}ln_f`, d, true),
    ...(await heads(src, cfg, 'lm_head.weight')),
  };
}

async function loadNeox(src: Source, cfg: ModelConfig): Promise<HostWeights> {
  const { dModel: d, dMlp, nLayers, nHeads, dHead } = cfg;
  const hd = nHeads * dHead;
  const P = src.prefix(['gpt_neox.', ''], 'embed_in.weight');
  const layers: LayerWeights<HostTensor>[] = [];
  for (let i = 0; i < nLayers; i++) {
    const l = `${P}layers.${i}.`;
    // query_key_value [3·hd, d]: output row (h·3 + k)·dHead + e is head h's Q (k 0), K (1) or V (2) dim e.
    const qkv = await src.read(`${l}attention.query_key_value.weight`, [3 * hd, d]);
    const qkvB = cfg.attnBias ? await src.read(`${l}attention.query_key_value.bias`, [3 * hd]) : null;
    const part = (k: number): HostTensor => {
      const rows = new Float32Array(hd * d); // [out = hd, in = d]
      for (let h = 0; h < nHeads; h++) rows.set(qkv.subarray(((h * 3 + k) * dHead) * d, ((h * 3 + k + 1) * dHead) * d), h * dHead * d);
      return { data: transpose(rows, hd, d), shape: [d, hd] };
    };
    const partB = (k: number): HostTensor | null => {
      if (!qkvB) return null;
      const b = new Float32Array(hd);
      for (let h = 0; h < nHeads; h++) b.set(qkvB.subarray((h * 3 + k) * dHead, (h * 3 + k + 1) * dHead), h * dHead);
      return { data: b, shape: [hd] };
    };
    layers.push({
      ln1: await src.norm(`${l}input_layernorm`, d, true),
      W_Q: part(0), W_K: part(1), W_V: part(2),
      b_Q: partB(0), b_K: partB(1), b_V: partB(2),
      W_O: await src.linearT(`${l}attention.dense.weight`, d, hd),
      b_O: await src.bias(`${l}attention.dense.bias`, d, cfg.attnBias),
      ln2: await src.norm(`${l}post_attention_layernorm`, d, true),
      ln1_post: null, ln2_post: null,
      W_in: await src.linearT(`${l}mlp.dense_h_to_4h.weight`, dMlp, d),
      W_gate: null,
      b_in: await src.bias(`${l}mlp.dense_h_to_4h.bias`, dMlp, cfg.mlpBias),
      W_out: await src.linearT(`${l}mlp.dense_4h_to_h.weight`, d, dMlp),
      b_out: await src.bias(`${l}mlp.dense_4h_to_h.bias`, d, cfg.mlpBias),
    });
  }
  return {
    embed: await src.tensor(`${P}embed_in.weight`, [cfg.vocabSize, d]),
    posEmbed: null,
    layers,
    lnFinal: await src.norm(`${P}final_layer_norm`, d, true),
    ...(await heads(src, cfg, 'embed_out.weight')),
  };
}

async function loadLlama(src: Source, cfg: ModelConfig): Promise<HostWeights> {
  const { dModel: d, dMlp, nLayers, nHeads, nKvHeads, dHead } = cfg;
  const hq = nHeads * dHead;
  const hkv = nKvHeads * dHead;
  // SwiGLU with biases would need a gate bias, which the canonical layout has no slot for.
  if (cfg.mlpBias) throw new ModelError(`${src.source}: Llama with mlp_bias true is not supported`);
  const P = src.prefix(['model.', ''], 'embed_tokens.weight');
  const norm = (name: string) => src.rmsNorm(name, d, cfg.normPlusOne);
  const layers: LayerWeights<HostTensor>[] = [];
  for (let i = 0; i < nLayers; i++) {
    const l = `${P}layers.${i}.`;
    const a = `${l}self_attn.`;
    const m = `${l}mlp.`;
    layers.push({
      ln1: await norm(`${l}input_layernorm`),
      W_Q: await src.linearT(`${a}q_proj.weight`, hq, d),
      W_K: await src.linearT(`${a}k_proj.weight`, hkv, d),
      W_V: await src.linearT(`${a}v_proj.weight`, hkv, d),
      b_Q: await src.bias(`${a}q_proj.bias`, hq, cfg.attnBias),
      b_K: await src.bias(`${a}k_proj.bias`, hkv, cfg.attnBias),
      b_V: await src.bias(`${a}v_proj.bias`, hkv, cfg.attnBias),
      W_O: await src.linearT(`${a}o_proj.weight`, d, hq),
      b_O: await src.bias(`${a}o_proj.bias`, d, cfg.attnOutBias),
      // Gemma-2 names its attention-output norm post_attention_layernorm; the MLP's input norm is pre_feedforward.
      ln2: await norm(cfg.postNorms ? `${l}pre_feedforward_layernorm` : `${l}post_attention_layernorm`),
      ln1_post: cfg.postNorms ? await norm(`${l}post_attention_layernorm`) : null,
      ln2_post: cfg.postNorms ? await norm(`${l}post_feedforward_layernorm`) : null,
      W_in: await src.linearT(`${m}up_proj.weight`, dMlp, d),
      W_gate: await src.linearT(`${m}gate_proj.weight`, dMlp, d),
      b_in: await src.bias(`${m}up_proj.bias`, dMlp, cfg.mlpBias),
      W_out: await src.linearT(`${m}down_proj.weight`, d, dMlp),
      b_out: await src.bias(`${m}down_proj.bias`, d, cfg.mlpBias),
    });
  }
  return {
    embed: await src.tensor(`${P}embed_tokens.weight`, [cfg.vocabSize, d]),
    posEmbed: null,
    layers,
    lnFinal: await norm(`${P}norm`),
    ...(await heads(src, cfg, 'lm_head.weight')),
  };
}
