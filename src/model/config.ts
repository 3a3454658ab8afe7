// One config for every supported transformer: HF `config.json` (GPT-2, GPT-NeoX/Pythia, Llama, each
// as a causal LM or a sequence classifier) normalised into `ModelConfig`, which the weight loaders,
// the forward and the backward read. Field names follow TransformerLens where it has one (nLayers,
// dModel, dHead, dMlp, nCtx); the values are HF's, with HF's defaults where a key is absent.

import { ModelError } from './errors.js';

export type ModelFamily = 'gpt2' | 'gpt_neox' | 'llama';
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
}

/** The HF `architectures` entries this package loads, by family and head. */
export const SUPPORTED_ARCHITECTURES: Readonly<Record<string, readonly [ModelFamily, ModelHead]>> = {
  GPT2LMHeadModel: ['gpt2', 'lm'],
  GPT2ForSequenceClassification: ['gpt2', 'sequence-classification'],
  GPTNeoXForCausalLM: ['gpt_neox', 'lm'],
  GPTNeoXForSequenceClassification: ['gpt_neox', 'sequence-classification'],
  LlamaForCausalLM: ['llama', 'lm'],
  LlamaForSequenceClassification: ['llama', 'sequence-classification'],
};

const FAMILY_OF_MODEL_TYPE: Readonly<Record<string, ModelFamily>> = { gpt2: 'gpt2', gpt_neox: 'gpt_neox', llama: 'llama' };

/** The attention scale of one layer. */
export function attentionScale(cfg: ModelConfig, layer: number): number {
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
    };
  } else {
    const dModel = r.int('hidden_size', 4096);
    const nHeads = r.int('num_attention_heads', 32);
    const dHead = r.intOrNull('head_dim') ?? r.divide(dModel, nHeads, 'hidden_size', 'num_attention_heads');
    const rope = r.rope(1);
    cfg = {
      family, head,
      numLabels: 0,
      nLayers: r.int('num_hidden_layers', 32),
      dModel, nHeads,
      nKvHeads: r.intOrNull('num_key_value_heads') ?? nHeads,
      dHead,
      dMlp: r.int('intermediate_size', 11008),
      vocabSize: r.int('vocab_size', 32000),
      nCtx: r.int('max_position_embeddings', 2048),
      normEps: r.num('rms_norm_eps', 1e-6),
      activation: r.activation('hidden_act', 'silu'),
      rotaryDim: Math.floor(dHead * rope.partialRotaryFactor),
      ropeTheta: rope.theta,
      parallelResidual: false,
      tiedEmbeddings: r.bool('tie_word_embeddings', false),
      attnBias: r.bool('attention_bias', false), mlpBias: r.bool('mlp_bias', false),
      scaleAttnWeights: true, scaleAttnByInverseLayerIdx: false,
      ...r.specialTokens(),
    };
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
