// One config for every supported transformer: HF `config.json` (GPT-2, GPT-NeoX/Pythia, Llama, GPT-J,
// Qwen2, Gemma, Gemma-2, Mistral, each as a causal LM or a sequence classifier) normalised into
// `ModelConfig`, which the weight loaders, the forward and the backward read. Field names follow
// TransformerLens where it has one (nLayers, dModel, dHead, dMlp, nCtx); the values are HF's, with
// HF's defaults where a key is absent. A family is a set of switches (norm kind, gated MLP, shared
// or post norms, soft-capping, sliding windows, ...) over the one block of block.ts; a config key
// that would change the maths in a way saelab does not implement is refused, never approximated.

import { ModelError } from './errors.js';

export type ModelFamily = 'gpt2' | 'gpt_neox' | 'llama' | 'gptj' | 'qwen2' | 'gemma' | 'gemma2' | 'mistral';
export type ModelHead = 'lm' | 'sequence-classification';
/** MLP nonlinearity: `gelu_new` is GPT-2's tanh form, `gelu` the exact erf form (Pythia), `silu` Llama's gate. */
export type ModelActivation = 'gelu_new' | 'gelu' | 'silu' | 'relu';

export interface ModelConfig {
  family: ModelFamily;
  head: ModelHead;
  /** Outputs of a sequence-classification head (1 for a reward model); 0 for an LM. */
  numLabels: number;
  nLayers: number;
  dModel: number;
  nHeads: number;
  /** Key/value heads (fewer than nHeads under grouped-query attention). */
  nKvHeads: number;
  dHead: number;
  dMlp: number;
  vocabSize: number;
  /** Longest input the model accepts (position embeddings or max_position_embeddings). */
  nCtx: number;
  normEps: number;
  activation: ModelActivation;
  /** Leading dims of each head that RoPE rotates (rotate_half pairs i, i + rotaryDim/2); 0 = no RoPE. */
  rotaryDim: number;
  ropeTheta: number;
  /** x + attn(ln1(x)) + mlp(ln2(x)) (GPT-NeoX default): no hook_resid_mid. */
  parallelResidual: boolean;
  /** The unembedding is the token embedding (logits = x · embedᵀ). */
  tiedEmbeddings: boolean;
  attnBias: boolean;
  mlpBias: boolean;
  /** The attention logits scale for every layer: 1/sqrt(dHead), or 1 (GPT-2 scale_attn_weights false), divided by (layer + 1) when scaleAttnByInverseLayerIdx. */
  scaleAttnWeights: boolean;
  scaleAttnByInverseLayerIdx: boolean;
  padTokenId: number | null;
  bosTokenId: number | null;
  eosTokenId: number | null;
  /** LayerNorm (w, b) or RMSNorm (w only) everywhere in the model. */
  norm: 'layer' | 'rms';
  /** MLP = act(h·W_gate) ⊙ (h·W_in), then W_out (Llama SwiGLU, Gemma GeGLU); else act(h·W_in + b_in). */
  gatedMlp: boolean;
  /** The attention output projection has a bias b_O (GPT-2, NeoX; not Qwen2, whose Q/K/V have one). */
  attnOutBias: boolean;
  /** GPT-J: one LayerNorm (ln1) feeds both attention and MLP of a parallel block; there is no ln2. */
  sharedNorm: boolean;
  /** Gemma-2: RMSNorms on the attention and MLP outputs before each residual add (ln1_post, ln2_post). */
  postNorms: boolean;
  /** Multiplies the embedding rows (Gemma: √dModel rounded to f32, as HF's normalizer); else 1. */
  embedScale: number;
  /** The attention logits scale when set (Gemma-2: query_pre_attn_scalar^−½); null: attentionScale's rule. */
  attnScale: number | null;
  /** Attention logits s → c·tanh(s/c) before the causal mask (Gemma-2 attn_logit_softcapping); null: none. */
  attnSoftcap: number | null;
  /** LM logits z → c·tanh(z/c) (Gemma-2 final_logit_softcapping); null: none. Not applied to a classifier's score. */
  finalSoftcap: number | null;
  /** Per layer: a sliding window w (query t sees keys s with t − s < w, as HF), or null for full causal attention. */
  attnWindows: (number | null)[];
  /** The untied unembedding has a bias (GPT-J lm_head). */
  unembedBias: boolean;
  /** The checkpoint rotates interleaved pairs (2i, 2i+1) (GPT-J rotate_every_two): the loader permutes W_Q/W_K's rotary columns into rotate-half order. */
  ropeInterleaved: boolean;
  /** The checkpoint's RMSNorm multiplies by (1 + weight) (Gemma): the loader stores 1 + weight, rounded to f32 as HF computes it. */
  normPlusOne: boolean;
}

/** The switches of a plain GPT-2 / NeoX / Llama block, for configs built outside parseHfConfig. */
export function plainSwitches(norm: 'layer' | 'rms', gatedMlp: boolean, attnOutBias: boolean, nLayers: number): Pick<ModelConfig, 'norm' | 'gatedMlp' | 'attnOutBias' | 'sharedNorm' | 'postNorms' | 'embedScale' | 'attnScale' | 'attnSoftcap' | 'finalSoftcap' | 'attnWindows' | 'unembedBias' | 'ropeInterleaved' | 'normPlusOne'> {
  return {
    norm, gatedMlp, attnOutBias, sharedNorm: false, postNorms: false, embedScale: 1, attnScale: null, attnSoftcap: null, finalSoftcap: null,
    attnWindows: new Array<number | null>(nLayers).fill(null), unembedBias: false, ropeInterleaved: false, normPlusOne: false,
  };
}

/** The HF `architectures` entries this package loads, by family and head. */
export const SUPPORTED_ARCHITECTURES: Readonly<Record<string, readonly [ModelFamily, ModelHead]>> = {
  GPT2LMHeadModel: ['gpt2', 'lm'],
  GPT2ForSequenceClassification: ['gpt2', 'sequence-classification'],
  GPTNeoXForCausalLM: ['gpt_neox', 'lm'],
  GPTNeoXForSequenceClassification: ['gpt_neox', 'sequence-classification'],
  LlamaForCausalLM: ['llama', 'lm'],
  LlamaForSequenceClassification: ['llama', 'sequence-classification'],
  GPTJForCausalLM: ['gptj', 'lm'],
  GPTJForSequenceClassification: ['gptj', 'sequence-classification'],
  Qwen2ForCausalLM: ['qwen2', 'lm'],
  Qwen2ForSequenceClassification: ['qwen2', 'sequence-classification'],
  GemmaForCausalLM: ['gemma', 'lm'],
  GemmaForSequenceClassification: ['gemma', 'sequence-classification'],
  Gemma2ForCausalLM: ['gemma2', 'lm'],
  Gemma2ForSequenceClassification: ['gemma2', 'sequence-classification'],
  MistralForCausalLM: ['mistral', 'lm'],
  MistralForSequenceClassification: ['mistral', 'sequence-classification'],
};

const FAMILY_OF_MODEL_TYPE: Readonly<Record<string, ModelFamily>> = {
  gpt2: 'gpt2', gpt_neox: 'gpt_neox', llama: 'llama', gptj: 'gptj', qwen2: 'qwen2', gemma: 'gemma', gemma2: 'gemma2', mistral: 'mistral',
};

/** The attention scale of one layer. */
export function attentionScale(cfg: ModelConfig, layer: number): number {
  if (cfg.attnScale !== null) return cfg.attnScale;
  let s = cfg.scaleAttnWeights ? 1 / Math.sqrt(cfg.dHead) : 1;
  if (cfg.scaleAttnByInverseLayerIdx) s /= layer + 1;
  return s;
}

type Json = Record<string, unknown>;

/** Normalise an HF config.json. `source` names it in errors (a folder or file path). */
export function parseHfConfig(raw: Json, source = 'config.json'): ModelConfig {
  const [family, head] = familyAndHead(raw, source);
  const r = new Reader(raw, source);
  let cfg: ModelConfig;
  if (family === 'gpt2') {
    const dModel = r.int('n_embd', 768);
    const nHeads = r.int('n_head', 12);
    // reorder_and_upcast_attn only changes float order inside attention (we always use f32): ignored.
    cfg = {
      family, head,
      numLabels: 0,
      nLayers: r.int('n_layer', 12),
      dModel, nHeads, nKvHeads: nHeads,
      dHead: r.divide(dModel, nHeads, 'n_embd', 'n_head'),
      dMlp: r.intOrNull('n_inner') ?? 4 * dModel,
      vocabSize: r.int('vocab_size', 50257),
      nCtx: r.int('n_positions', 1024),
      normEps: r.num('layer_norm_epsilon', 1e-5),
      activation: r.activation('activation_function', 'gelu_new'),
      rotaryDim: 0, ropeTheta: 0,
      parallelResidual: false,
      tiedEmbeddings: r.bool('tie_word_embeddings', true),
      attnBias: true, mlpBias: true,
      scaleAttnWeights: r.bool('scale_attn_weights', true),
      scaleAttnByInverseLayerIdx: r.bool('scale_attn_by_inverse_layer_idx', false),
      ...r.specialTokens(),
      ...plainSwitches('layer', false, true, r.int('n_layer', 12)),
    };
  } else if (family === 'gpt_neox') {
    const dModel = r.int('hidden_size', 6144);
    const nHeads = r.int('num_attention_heads', 64);
    const dHead = r.divide(dModel, nHeads, 'hidden_size', 'num_attention_heads');
    const rope = r.rope(1);
    cfg = {
      family, head,
      numLabels: 0,
      nLayers: r.int('num_hidden_layers', 44),
      dModel, nHeads, nKvHeads: nHeads, dHead,
      dMlp: r.int('intermediate_size', 24576),
      vocabSize: r.int('vocab_size', 50432),
      nCtx: r.int('max_position_embeddings', 2048),
      normEps: r.num('layer_norm_eps', 1e-5),
      activation: r.activation('hidden_act', 'gelu'),
      // HF: rotary_ndims = int(head_size * partial_rotary_factor).
      rotaryDim: Math.floor(dHead * rope.partialRotaryFactor),
      ropeTheta: rope.theta,
      parallelResidual: r.bool('use_parallel_residual', true),
      tiedEmbeddings: r.bool('tie_word_embeddings', false),
      attnBias: r.bool('attention_bias', true), mlpBias: true,
      scaleAttnWeights: true, scaleAttnByInverseLayerIdx: false,
      ...r.specialTokens(),
      ...plainSwitches('layer', false, r.bool('attention_bias', true), r.int('num_hidden_layers', 44)),
    };
  } else if (family === 'gptj') {
    const dModel = r.int('n_embd', 4096);
    const nHeads = r.int('n_head', 16);
    const dHead = r.divide(dModel, nHeads, 'n_embd', 'n_head');
    const nLayers = r.int('n_layer', 28);
    const tiedEmbeddings = r.bool('tie_word_embeddings', false);
    // HF GPT-J: theta is fixed at 10000 (no rope keys). rotary_dim null builds frequencies over the
    // model width (n_embd), which only fits a head when there is one head: refused otherwise.
    const rotaryDim = r.intOrNull('rotary_dim');
    if (rotaryDim === null && nHeads !== 1) throw new ModelError(`${source}: a GPT-J config without "rotary_dim" (rotary over n_embd) is not supported with ${nHeads} heads`);
    cfg = {
      family, head,
      numLabels: 0,
      nLayers, dModel, nHeads, nKvHeads: nHeads, dHead,
      dMlp: r.intOrNull('n_inner') ?? 4 * dModel,
      vocabSize: r.int('vocab_size', 50400),
      nCtx: r.int('n_positions', 2048),
      normEps: r.num('layer_norm_epsilon', 1e-5),
      activation: r.activation('activation_function', 'gelu_new'),
      rotaryDim: rotaryDim ?? dHead,
      ropeTheta: 10000,
      parallelResidual: true,
      tiedEmbeddings,
      attnBias: false, mlpBias: true,
      scaleAttnWeights: true, scaleAttnByInverseLayerIdx: false,
      ...r.specialTokens(),
      ...plainSwitches('layer', false, false, nLayers),
      sharedNorm: true,
      unembedBias: head === 'lm', // lm_head = nn.Linear(n_embd, vocab) with its bias
      ropeInterleaved: true,
    };
  } else {
    cfg = llamaLike(r, family, head);
  }
  if (head === 'sequence-classification') cfg.numLabels = r.numLabels();
  return validateConfig(cfg, source);
}

/** Check the invariants every loader and kernel relies on; returns the config. */
export function validateConfig(cfg: ModelConfig, source: string): ModelConfig {
  const bad = (why: string): never => {
    throw new ModelError(`${source}: ${why}`);
  };
  for (const k of ['nLayers', 'dModel', 'nHeads', 'nKvHeads', 'dHead', 'dMlp', 'vocabSize', 'nCtx'] as const) {
    if (!Number.isInteger(cfg[k]) || cfg[k] <= 0) bad(`${k} must be a positive integer, got ${cfg[k]}`);
  }
  if (cfg.nHeads % cfg.nKvHeads !== 0) bad(`nHeads ${cfg.nHeads} is not a multiple of nKvHeads ${cfg.nKvHeads}`);
  if (cfg.rotaryDim % 2 !== 0 || cfg.rotaryDim > cfg.dHead || cfg.rotaryDim < 0) bad(`rotary dims ${cfg.rotaryDim} must be even and at most dHead ${cfg.dHead}`);
  if (cfg.family !== 'gpt2' && cfg.rotaryDim === 0) bad('rotary dims is 0: a rotary model needs partial_rotary_factor > 0');
  if (!(cfg.normEps > 0)) bad(`norm epsilon must be positive, got ${cfg.normEps}`);
  if (cfg.head === 'sequence-classification' && !(Number.isInteger(cfg.numLabels) && cfg.numLabels > 0)) bad(`num_labels must be a positive integer, got ${cfg.numLabels}`);
  if (cfg.attnWindows.length !== cfg.nLayers) bad(`${cfg.attnWindows.length} attention windows for ${cfg.nLayers} layers`);
  for (const w of cfg.attnWindows) if (w !== null && !(Number.isInteger(w) && w > 0)) bad(`sliding window ${w} must be a positive integer`);
  for (const [k, v] of [['attn_logit_softcapping', cfg.attnSoftcap], ['final_logit_softcapping', cfg.finalSoftcap], ['attention scale', cfg.attnScale]] as const) {
    if (v !== null && !(v > 0 && Number.isFinite(v))) bad(`${k} must be a positive number, got ${v}`);
  }
  if (!(cfg.embedScale > 0)) bad(`embedding scale must be positive, got ${cfg.embedScale}`);
  if (cfg.sharedNorm && !cfg.parallelResidual) bad('a shared norm needs parallel attention and MLP');
  return cfg;
}

/** HF's defaults per Llama-like family (the configuration classes' keyword defaults). */
const LLAMA_LIKE_DEFAULTS: Readonly<Record<string, { hidden: number; heads: number; kvHeads: number | null; headDim: number | null; layers: number; mlp: number; vocab: number; ctx: number; act: string; tied: boolean }>> = {
  llama: { hidden: 4096, heads: 32, kvHeads: null, headDim: null, layers: 32, mlp: 11008, vocab: 32000, ctx: 2048, act: 'silu', tied: false },
  qwen2: { hidden: 4096, heads: 32, kvHeads: 32, headDim: null, layers: 32, mlp: 22016, vocab: 151936, ctx: 32768, act: 'silu', tied: false },
  mistral: { hidden: 4096, heads: 32, kvHeads: 8, headDim: null, layers: 32, mlp: 14336, vocab: 32000, ctx: 131072, act: 'silu', tied: false },
  gemma: { hidden: 3072, heads: 16, kvHeads: 16, headDim: 256, layers: 28, mlp: 24576, vocab: 256000, ctx: 8192, act: 'gelu_pytorch_tanh', tied: true },
  gemma2: { hidden: 2304, heads: 8, kvHeads: 4, headDim: 256, layers: 26, mlp: 9216, vocab: 256000, ctx: 8192, act: 'gelu_pytorch_tanh', tied: true },
};

/**
 * Llama and the families that are Llama plus switches: Qwen2 (Q/K/V biases, optional sliding
 * windows from max_window_layers on), Mistral (sliding window on every layer), Gemma (√d embedding
 * scale, (1 + w) RMSNorm, GeGLU with tanh GELU, tied head) and Gemma-2 (Gemma plus post-norms,
 * soft-capping, query_pre_attn_scalar, sliding window on even layers).
 */
function llamaLike(r: Reader, family: ModelFamily, head: ModelHead): ModelConfig {
  const d = LLAMA_LIKE_DEFAULTS[family]!;
  const gemma = family === 'gemma' || family === 'gemma2';
  const dModel = r.int('hidden_size', d.hidden);
  const nHeads = r.int('num_attention_heads', d.heads);
  const dHead = r.intOrNull('head_dim') ?? d.headDim ?? r.divide(dModel, nHeads, 'hidden_size', 'num_attention_heads');
  const nLayers = r.int('num_hidden_layers', d.layers);
  const rope = r.rope(1);
  r.refuseTrue('use_bidirectional_attention', 'bidirectional attention');
  // Gemma: hidden_activation when present (HF's fix for checkpoints that say "gelu"), else hidden_act.
  const activation = gemma && r.has('hidden_activation') ? r.activation('hidden_activation', d.act) : r.activation('hidden_act', d.act);
  const attnBias = family === 'llama' || gemma ? r.bool('attention_bias', false) : family === 'qwen2';
  const cfg: ModelConfig = {
    family, head,
    numLabels: 0,
    nLayers, dModel, nHeads,
    nKvHeads: r.intOrNull('num_key_value_heads') ?? d.kvHeads ?? nHeads,
    dHead,
    dMlp: r.int('intermediate_size', d.mlp),
    vocabSize: r.int('vocab_size', d.vocab),
    nCtx: r.int('max_position_embeddings', d.ctx),
    normEps: r.num('rms_norm_eps', 1e-6),
    activation,
    rotaryDim: Math.floor(dHead * rope.partialRotaryFactor),
    ropeTheta: rope.theta,
    parallelResidual: false,
    tiedEmbeddings: r.bool('tie_word_embeddings', d.tied),
    attnBias,
    mlpBias: family === 'llama' ? r.bool('mlp_bias', false) : false,
    scaleAttnWeights: true, scaleAttnByInverseLayerIdx: false,
    ...r.specialTokens(),
    ...plainSwitches('rms', true, family === 'qwen2' ? false : attnBias, nLayers),
  };
  if (gemma) {
    cfg.embedScale = Math.fround(Math.sqrt(dModel));
    cfg.normPlusOne = true;
  }
  if (family === 'gemma2') {
    cfg.postNorms = true;
    cfg.attnScale = r.num('query_pre_attn_scalar', 256) ** -0.5;
    cfg.attnSoftcap = r.numOrNull('attn_logit_softcapping', 50);
    if (head === 'lm') cfg.finalSoftcap = r.numOrNull('final_logit_softcapping', 30);
  }
  cfg.attnWindows = r.layerWindows(family, nLayers);
  return cfg;
}

function familyAndHead(raw: Json, source: string): [ModelFamily, ModelHead] {
  const supported = Object.keys(SUPPORTED_ARCHITECTURES).join(', ');
  const archs = raw['architectures'];
  const modelType = raw['model_type'];
  if (Array.isArray(archs) && archs.length > 0) {
    const known = archs.find((a): a is string => typeof a === 'string' && a in SUPPORTED_ARCHITECTURES);
    if (!known) throw new ModelError(`${source}: unsupported architecture ${archs.map((a) => JSON.stringify(a)).join(', ')}; supported: ${supported}`);
    const fh = SUPPORTED_ARCHITECTURES[known]!;
    if (typeof modelType === 'string' && FAMILY_OF_MODEL_TYPE[modelType] !== undefined && FAMILY_OF_MODEL_TYPE[modelType] !== fh[0]) {
      throw new ModelError(`${source}: architecture ${known} does not match model_type ${JSON.stringify(modelType)}`);
    }
    return [fh[0], fh[1]];
  }
  // No architectures list: the model_type alone says the family; assume a causal LM.
  if (typeof modelType === 'string' && FAMILY_OF_MODEL_TYPE[modelType]) return [FAMILY_OF_MODEL_TYPE[modelType]!, 'lm'];
  throw new ModelError(`${source}: unsupported model (model_type ${JSON.stringify(modelType ?? null)}, no known "architectures"); supported: ${supported}`);
}

/** Typed access to config keys with HF's defaults and one-line errors. */
class Reader {
  constructor(
    private readonly raw: Json,
    private readonly source: string,
  ) {}

  private fail(key: string, want: string): never {
    throw new ModelError(`${this.source}: "${key}" must be ${want}, got ${JSON.stringify(this.raw[key])}`);
  }

  int(key: string, dflt: number): number {
    return this.intOrNull(key) ?? dflt;
  }

  intOrNull(key: string): number | null {
    const v = this.raw[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) this.fail(key, 'a positive integer');
    return v;
  }

  num(key: string, dflt: number): number {
    const v = this.raw[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(key, 'a number');
    return v;
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  /** A number, null (the key says "off") or, when absent, `dflt`. */
  numOrNull(key: string, dflt: number | null): number | null {
    const v = this.raw[key];
    if (v === undefined) return dflt;
    if (v === null) return null;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) this.fail(key, 'a positive number or null');
    return v;
  }

  /** Refuse a key that switches on something saelab does not implement. */
  refuseTrue(key: string, what: string): void {
    if (this.raw[key] === true) throw new ModelError(`${this.source}: "${key}": true (${what}) is not supported`);
  }

  /**
   * Each layer's sliding window (null: full attention), as HF derives it: an explicit `layer_types`
   * list ("sliding_attention" / "full_attention") wins; else Mistral slides every layer, Qwen2 the
   * layers from max_window_layers on when use_sliding_window, Gemma-2 the even layers.
   */
  layerWindows(family: ModelFamily, nLayers: number): (number | null)[] {
    const none = new Array<number | null>(nLayers).fill(null);
    if (family === 'llama' || family === 'gemma') {
      if (Array.isArray(this.raw['layer_types']) && (this.raw['layer_types'] as unknown[]).some((t) => t !== 'full_attention')) this.fail('layer_types', `only "full_attention" layers for ${family}`);
      return none;
    }
    const dflt = 4096; // Mistral, Qwen2 and Gemma-2 configuration classes all default to 4096
    let window = this.raw['sliding_window'] === undefined ? dflt : (this.raw['sliding_window'] as number | null);
    if (window !== null && !(typeof window === 'number' && Number.isInteger(window) && window > 0)) this.fail('sliding_window', 'a positive integer or null');
    if (family === 'qwen2' && this.raw['use_sliding_window'] !== true) window = null;
    const types = this.raw['layer_types'];
    if (types !== undefined && types !== null) {
      if (!Array.isArray(types) || types.length !== nLayers) this.fail('layer_types', `a list of ${nLayers} layer types`);
      return (types as unknown[]).map((t, i) => {
        if (t === 'full_attention') return null;
        if (t !== 'sliding_attention') throw new ModelError(`${this.source}: layer_types[${i}] ${JSON.stringify(t)} is not supported (only "sliding_attention" and "full_attention")`);
        if (window === null) throw new ModelError(`${this.source}: layer_types[${i}] is "sliding_attention" but there is no sliding_window`);
        return window;
      });
    }
    if (window === null) return none;
    if (family === 'mistral') return none.map(() => window);
    if (family === 'gemma2') return none.map((_, i) => (i % 2 === 0 ? window : null));
    const from = this.int('max_window_layers', 28);
    return none.map((_, i) => (i >= from ? window : null));
  }

  bool(key: string, dflt: boolean): boolean {
    const v = this.raw[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') this.fail(key, 'true or false');
    return v;
  }

  divide(a: number, b: number, ka: string, kb: string): number {
    if (a % b !== 0) throw new ModelError(`${this.source}: "${ka}" ${a} is not a multiple of "${kb}" ${b}`);
    return a / b;
  }

  activation(key: string, dflt: string): ModelActivation {
    const v = this.raw[key] ?? dflt;
    switch (v) {
      case 'gelu_new':
      case 'gelu_pytorch_tanh':
      case 'gelu_fast': // the same tanh formula, written differently
        return 'gelu_new';
      case 'gelu':
        return 'gelu';
      case 'silu':
      case 'swish':
        return 'silu';
      case 'relu':
        return 'relu';
      default:
        return this.fail(key, 'one of gelu_new, gelu_pytorch_tanh, gelu_fast, gelu, silu, swish, relu');
    }
  }

  /** RoPE settings: HF 5.x `rope_parameters { rope_theta, partial_rotary_factor, rope_type }`, or the older top-level keys. */
  rope(dfltFactor: number): { theta: number; partialRotaryFactor: number } {
    const params = this.raw['rope_parameters'];
    const p = typeof params === 'object' && params !== null && !Array.isArray(params) ? (params as Json) : {};
    const scaling = this.raw['rope_scaling'];
    for (const [where, obj] of [['rope_parameters', p], ['rope_scaling', scaling]] as const) {
      if (typeof obj !== 'object' || obj === null) continue;
      const type = (obj as Json)['rope_type'] ?? (obj as Json)['type'];
      if (type !== undefined && type !== null && type !== 'default') {
        throw new ModelError(`${this.source}: ${where} rope_type ${JSON.stringify(type)} is not supported (only "default" RoPE)`);
      }
    }
    const pick = (...vals: unknown[]): number | undefined => vals.find((v): v is number => typeof v === 'number');
    const theta = pick(p['rope_theta'], this.raw['rope_theta'], this.raw['rotary_emb_base']) ?? 10000;
    const factor = pick(p['partial_rotary_factor'], this.raw['partial_rotary_factor'], this.raw['rotary_pct']) ?? dfltFactor;
    if (!(theta > 0)) this.fail('rope_theta', 'a positive number');
    if (!(factor > 0 && factor <= 1)) this.fail('partial_rotary_factor', 'in (0, 1]');
    return { theta, partialRotaryFactor: factor };
  }

  /** pad/bos/eos ids: a number, null, or (eos in some configs) a list whose first entry is used. */
  specialTokens(): { padTokenId: number | null; bosTokenId: number | null; eosTokenId: number | null } {
    const id = (key: string): number | null => {
      let v = this.raw[key];
      if (Array.isArray(v)) v = v[0];
      if (v === undefined || v === null) return null;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.fail(key, 'a token id, a list of them, or null');
      return v;
    };
    return { padTokenId: id('pad_token_id'), bosTokenId: id('bos_token_id'), eosTokenId: id('eos_token_id') };
  }

  /** HF: num_labels, else the size of id2label, else 2. */
  numLabels(): number {
    const n = this.raw['num_labels'];
    if (typeof n === 'number') return n;
    const map = this.raw['id2label'];
    if (typeof map === 'object' && map !== null) return Object.keys(map).length;
    return 2;
  }
}
