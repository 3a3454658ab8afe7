// Tiny random HF-style checkpoints of the GPT-J, Qwen2, Gemma, Gemma-2 and Mistral families, and a
// float64 reference forward written from each family's definition (HF's modeling code read as
// maths: HF tensor names and layouts, nn.Linear [out, in], GPT-J's interleaved rotary pairs, Gemma's
// (1 + w) norms), independent of saelab's config parser and canonical weights. Used by
// families.test.ts; the tensors are what the test writes to safetensors, so both sides read the
// same f32 values.

import { Rng } from '../../src/compute/random.js';

export type Family = 'gptj' | 'qwen2' | 'gemma' | 'gemma2' | 'mistral';
export const FAMILIES: readonly Family[] = ['gptj', 'qwen2', 'gemma', 'gemma2', 'mistral'];
export type Head = 'lm' | 'cls';

export const VOCAB = 50;
export const D = 24;
export const MLP = 40;
export const PAD = 0;

const ARCH: Record<Family, string> = { gptj: 'GPTJ', qwen2: 'Qwen2', gemma: 'Gemma', gemma2: 'Gemma2', mistral: 'Mistral' };

/** The HF config.json of a tiny model of `fam` (windows of 3 tokens and small soft-caps, so they matter at T = 7). */
export function hfConfig(fam: Family, head: Head, numLabels = 1): Record<string, unknown> {
  const architectures = [`${ARCH[fam]}${head === 'lm' ? 'ForCausalLM' : 'ForSequenceClassification'}`];
  const common = { architectures, model_type: fam, vocab_size: VOCAB, pad_token_id: PAD, ...(head === 'cls' ? { num_labels: numLabels } : {}) };
  switch (fam) {
    case 'gptj':
      return { ...common, n_embd: D, n_head: 4, n_layer: 2, n_positions: 32, rotary_dim: 4, n_inner: MLP, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5, tie_word_embeddings: false };
    case 'qwen2':
      return { ...common, hidden_size: D, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 3, intermediate_size: MLP, max_position_embeddings: 32, rms_norm_eps: 1e-6, rope_theta: 1000, tie_word_embeddings: false, use_sliding_window: true, sliding_window: 3, max_window_layers: 1, hidden_act: 'silu' };
    case 'mistral':
      return { ...common, hidden_size: D, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8, num_hidden_layers: 2, intermediate_size: MLP, max_position_embeddings: 32, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false, sliding_window: 3, hidden_act: 'silu' };
    case 'gemma':
      return { ...common, hidden_size: D, num_attention_heads: 4, num_key_value_heads: 1, head_dim: 8, num_hidden_layers: 2, intermediate_size: MLP, max_position_embeddings: 32, rms_norm_eps: 1e-6, hidden_act: 'gelu', hidden_activation: 'gelu_pytorch_tanh', tie_word_embeddings: true };
    case 'gemma2':
      return { ...common, hidden_size: D, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8, num_hidden_layers: 3, intermediate_size: MLP, max_position_embeddings: 32, rms_norm_eps: 1e-6, hidden_activation: 'gelu_pytorch_tanh', query_pre_attn_scalar: 12, sliding_window: 3, attn_logit_softcapping: 1.0, final_logit_softcapping: 2.0, tie_word_embeddings: true };
  }
}

interface Dims {
  L: number;
  H: number;
  Hkv: number;
  dh: number;
}

function dims(fam: Family): Dims {
  const c = hfConfig(fam, 'lm');
  const L = (c['n_layer'] ?? c['num_hidden_layers']) as number;
  const H = (c['n_head'] ?? c['num_attention_heads']) as number;
  const Hkv = (c['num_key_value_heads'] ?? H) as number;
  const dh = (c['head_dim'] as number | undefined) ?? D / H;
  return { L, H, Hkv, dh };
}

export type HfTensors = Map<string, { shape: number[]; data: Float32Array }>;

/** Random weights under HF's names and shapes (norm weights near 1, or near 0 for Gemma's 1 + w). */
export function hfWeights(fam: Family, head: Head, seed: number, numLabels = 1): HfTensors {
  const rng = new Rng(seed);
  const { L, H, Hkv, dh } = dims(fam);
  const out: HfTensors = new Map();
  const mat = (name: string, shape: number[], std = 0.3) => out.set(name, { shape, data: rng.normalArray(shape.reduce((a, b) => a * b, 1), std) });
  const normW = (name: string, plusOne: boolean) => out.set(name, { shape: [D], data: Float32Array.from(rng.normalArray(D, 0.1), (v) => (plusOne ? v : 1 + v)) });
  if (fam === 'gptj') {
    mat('transformer.wte.weight', [VOCAB, D], 1);
    for (let l = 0; l < L; l++) {
      const p = `transformer.h.${l}.`;
      normW(`${p}ln_1.weight`, false);
      mat(`${p}ln_1.bias`, [D], 0.1);
      for (const k of ['q', 'k', 'v']) mat(`${p}attn.${k}_proj.weight`, [H * dh, D]);
      mat(`${p}attn.out_proj.weight`, [D, H * dh]);
      mat(`${p}mlp.fc_in.weight`, [MLP, D]);
      mat(`${p}mlp.fc_in.bias`, [MLP], 0.1);
      mat(`${p}mlp.fc_out.weight`, [D, MLP]);
      mat(`${p}mlp.fc_out.bias`, [D], 0.1);
    }
    normW('transformer.ln_f.weight', false);
    mat('transformer.ln_f.bias', [D], 0.1);
    if (head === 'lm') {
      mat('lm_head.weight', [VOCAB, D]);
      mat('lm_head.bias', [VOCAB], 0.5);
    }
  } else {
    const gemma = fam === 'gemma' || fam === 'gemma2';
    mat('model.embed_tokens.weight', [VOCAB, D], 1);
    for (let l = 0; l < L; l++) {
      const p = `model.layers.${l}.`;
      normW(`${p}input_layernorm.weight`, gemma);
      normW(`${p}post_attention_layernorm.weight`, gemma);
      if (fam === 'gemma2') {
        normW(`${p}pre_feedforward_layernorm.weight`, true);
        normW(`${p}post_feedforward_layernorm.weight`, true);
      }
      mat(`${p}self_attn.q_proj.weight`, [H * dh, D]);
      mat(`${p}self_attn.k_proj.weight`, [Hkv * dh, D]);
      mat(`${p}self_attn.v_proj.weight`, [Hkv * dh, D]);
      if (fam === 'qwen2') {
        mat(`${p}self_attn.q_proj.bias`, [H * dh], 0.5);
        mat(`${p}self_attn.k_proj.bias`, [Hkv * dh], 0.5);
        mat(`${p}self_attn.v_proj.bias`, [Hkv * dh], 0.5);
      }
      mat(`${p}self_attn.o_proj.weight`, [D, H * dh]);
      mat(`${p}mlp.gate_proj.weight`, [MLP, D]);
      mat(`${p}mlp.up_proj.weight`, [MLP, D]);
      mat(`${p}mlp.down_proj.weight`, [D, MLP]);
    }
    normW('model.norm.weight', gemma);
    if (head === 'lm' && !gemma) mat('lm_head.weight', [VOCAB, D]);
  }
  if (head === 'cls') mat('score.weight', [numLabels, D]);
  return out;
}

// ---- float64 reference -------------------------------------------------------------------------

/** y [N, out] = x [N, in] · Wᵀ (W [out, in], nn.Linear) + b. */
function linear(x: Float64Array, N: number, inD: number, W: ArrayLike<number>, outD: number, b?: ArrayLike<number>): Float64Array {
  const y = new Float64Array(N * outD);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < outD; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < inD; i++) s += x[n * inD + i]! * W[o * inD + i]!;
      y[n * outD + o] = s;
    }
  }
  return y;
}

function layerNorm(x: Float64Array, N: number, w: ArrayLike<number>, b: ArrayLike<number>, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let n = 0; n < N; n++) {
    let mean = 0;
    for (let i = 0; i < D; i++) mean += x[n * D + i]!;
    mean /= D;
    let v = 0;
    for (let i = 0; i < D; i++) v += (x[n * D + i]! - mean) ** 2;
    const r = 1 / Math.sqrt(v / D + eps);
    for (let i = 0; i < D; i++) y[n * D + i] = (x[n * D + i]! - mean) * r * w[i]! + b[i]!;
  }
  return y;
}

/** RMSNorm; Gemma multiplies by (1 + w). */
function rmsNorm(x: Float64Array, N: number, w: ArrayLike<number>, eps: number, plusOne: boolean): Float64Array {
  const y = new Float64Array(x.length);
  for (let n = 0; n < N; n++) {
    let ss = 0;
    for (let i = 0; i < D; i++) ss += x[n * D + i]! ** 2;
    const r = 1 / Math.sqrt(ss / D + eps);
    for (let i = 0; i < D; i++) y[n * D + i] = x[n * D + i]! * r * ((plusOne ? 1 : 0) + w[i]!);
  }
  return y;
}

const geluTanh = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
const silu = (v: number) => v / (1 + Math.exp(-v));

/** Rotate one head vector (offset o, dh dims) at position pos: pairs (i, i + rd/2), or (2i, 2i + 1) when interleaved. */
function rotate(x: Float64Array, o: number, pos: number, rd: number, theta: number, interleaved: boolean): void {
  for (let i = 0; i < rd / 2; i++) {
    const f = pos * theta ** (-(2 * i) / rd);
    const [a, b] = interleaved ? [o + 2 * i, o + 2 * i + 1] : [o + i, o + i + rd / 2];
    const x1 = x[a]!;
    const x2 = x[b]!;
    x[a] = x1 * Math.cos(f) - x2 * Math.sin(f);
    x[b] = x2 * Math.cos(f) + x1 * Math.sin(f);
  }
}

interface AttnSpec {
  H: number;
  Hkv: number;
  dh: number;
  scale: number;
  window: number | null;
  cap: number | null;
}

/** Causal attention of one sequence: q [T, H·dh], k, v [T, Hkv·dh] → [T, H·dh]. */
function attention(q: Float64Array, k: Float64Array, v: Float64Array, T: number, a: AttnSpec): Float64Array {
  const out = new Float64Array(T * a.H * a.dh);
  for (let h = 0; h < a.H; h++) {
    const g = Math.floor(h / (a.H / a.Hkv));
    for (let t = 0; t < T; t++) {
      const keys: number[] = [];
      for (let s = 0; s <= t; s++) if (a.window === null || t - s < a.window) keys.push(s);
      const sc = keys.map((s) => {
        let dot = 0;
        for (let j = 0; j < a.dh; j++) dot += q[(t * a.H + h) * a.dh + j]! * k[(s * a.Hkv + g) * a.dh + j]!;
        const raw = dot * a.scale;
        return a.cap === null ? raw : a.cap * Math.tanh(raw / a.cap);
      });
      const m = Math.max(...sc);
      const e = sc.map((x) => Math.exp(x - m));
      const z = e.reduce((x, y) => x + y, 0);
      keys.forEach((s, i) => {
        for (let j = 0; j < a.dh; j++) out[(t * a.H + h) * a.dh + j] += (e[i]! / z) * v[(s * a.Hkv + g) * a.dh + j]!;
      });
    }
  }
  return out;
}

export interface Reference {
  hooks: Map<string, Float64Array>;
  /** [B, T, V] for an LM. */
  logits: Float64Array | null;
  /** [B, numLabels] for a classifier. */
  rewards: Float64Array | null;
}

/** The float64 forward of `fam` on ids [B, T] from HF tensors, with TransformerLens hook values. */
export function referenceForward(fam: Family, head: Head, W: HfTensors, ids: Int32Array, B: number, T: number, numLabels = 1): Reference {
  const cfg = hfConfig(fam, head, numLabels);
  const { L, H, Hkv, dh } = dims(fam);
  const w = (name: string): Float32Array => {
    const t = W.get(name);
    if (!t) throw new Error(`reference: no tensor ${name}`);
    return t.data;
  };
  const N = B * T;
  const hooks = new Map<string, Float64Array>();
  const gemma = fam === 'gemma' || fam === 'gemma2';
  const embedName = fam === 'gptj' ? 'transformer.wte.weight' : 'model.embed_tokens.weight';
  const emb = w(embedName);
  let x = new Float64Array(N * D);
  const embScale = gemma ? Math.sqrt(D) : 1;
  for (let n = 0; n < N; n++) for (let i = 0; i < D; i++) x[n * D + i] = emb[ids[n]! * D + i]! * embScale;
  const seqs = (f: (b: number) => void) => {
    for (let b = 0; b < B; b++) f(b);
  };
  // Q and K of every sequence rotated at positions 0..T−1.
  const rope = (t: Float64Array, heads: number, rd: number, theta: number, interleaved: boolean) => {
    for (let n = 0; n < N; n++) for (let h = 0; h < heads; h++) rotate(t, (n * heads + h) * dh, n % T, rd, theta, interleaved);
  };
  const attnAll = (q: Float64Array, k: Float64Array, v: Float64Array, spec: AttnSpec): Float64Array => {
    const o = new Float64Array(N * H * dh);
    seqs((b) => o.set(attention(q.subarray(b * T * H * dh, (b + 1) * T * H * dh), k.subarray(b * T * Hkv * dh, (b + 1) * T * Hkv * dh), v.subarray(b * T * Hkv * dh, (b + 1) * T * Hkv * dh), T, spec), b * T * H * dh));
    return o;
  };
  const add = (a: Float64Array, b: Float64Array) => Float64Array.from(a, (v, i) => v + b[i]!);
  for (let l = 0; l < L; l++) {
    const P = `blocks.${l}.`;
    hooks.set(`${P}hook_resid_pre`, x);
    if (fam === 'gptj') {
      const p = `transformer.h.${l}.`;
      const h = layerNorm(x, N, w(`${p}ln_1.weight`), w(`${p}ln_1.bias`), 1e-5);
      const q = linear(h, N, D, w(`${p}attn.q_proj.weight`), H * dh);
      const k = linear(h, N, D, w(`${p}attn.k_proj.weight`), H * dh);
      const v = linear(h, N, D, w(`${p}attn.v_proj.weight`), H * dh);
      rope(q, H, cfg['rotary_dim'] as number, 10000, true);
      rope(k, H, cfg['rotary_dim'] as number, 10000, true);
      const a = linear(attnAll(q, k, v, { H, Hkv: H, dh, scale: 1 / Math.sqrt(dh), window: null, cap: null }), N, H * dh, w(`${p}attn.out_proj.weight`), D);
      const pre = linear(h, N, D, w(`${p}mlp.fc_in.weight`), MLP, w(`${p}mlp.fc_in.bias`)).map(geluTanh);
      const m = linear(pre, N, MLP, w(`${p}mlp.fc_out.weight`), D, w(`${p}mlp.fc_out.bias`));
      hooks.set(`${P}hook_attn_out`, a);
      hooks.set(`${P}hook_mlp_out`, m);
      x = add(add(x, a), m);
    } else {
      const p = `model.layers.${l}.`;
      const eps = cfg['rms_norm_eps'] as number;
      const norm = (t: Float64Array, name: string) => rmsNorm(t, N, w(name), eps, gemma);
      const h = norm(x, `${p}input_layernorm.weight`);
      const bias = (n: string) => (fam === 'qwen2' ? w(`${p}self_attn.${n}_proj.bias`) : undefined);
      const q = linear(h, N, D, w(`${p}self_attn.q_proj.weight`), H * dh, bias('q'));
      const k = linear(h, N, D, w(`${p}self_attn.k_proj.weight`), Hkv * dh, bias('k'));
      const v = linear(h, N, D, w(`${p}self_attn.v_proj.weight`), Hkv * dh, bias('v'));
      const theta = (cfg['rope_theta'] as number | undefined) ?? 10000;
      rope(q, H, dh, theta, false);
      rope(k, Hkv, dh, theta, false);
      // Which layers slide: Mistral all, Qwen2 from max_window_layers on, Gemma-2 the even ones.
      const slides = fam === 'mistral' || (fam === 'qwen2' && l >= (cfg['max_window_layers'] as number)) || (fam === 'gemma2' && l % 2 === 0);
      const spec: AttnSpec = {
        H, Hkv, dh,
        scale: fam === 'gemma2' ? (cfg['query_pre_attn_scalar'] as number) ** -0.5 : 1 / Math.sqrt(dh),
        window: slides ? (cfg['sliding_window'] as number) : null,
        cap: fam === 'gemma2' ? (cfg['attn_logit_softcapping'] as number) : null,
      };
      let a = linear(attnAll(q, k, v, spec), N, H * dh, w(`${p}self_attn.o_proj.weight`), D);
      if (fam === 'gemma2') a = norm(a, `${p}post_attention_layernorm.weight`);
      hooks.set(`${P}hook_attn_out`, a);
      const mid = add(x, a);
      hooks.set(`${P}hook_resid_mid`, mid);
      const h2 = norm(mid, fam === 'gemma2' ? `${p}pre_feedforward_layernorm.weight` : `${p}post_attention_layernorm.weight`);
      const gate = linear(h2, N, D, w(`${p}mlp.gate_proj.weight`), MLP);
      const up = linear(h2, N, D, w(`${p}mlp.up_proj.weight`), MLP);
      const act = Float64Array.from(gate, (g, i) => (gemma ? geluTanh(g) : silu(g)) * up[i]!);
      let m = linear(act, N, MLP, w(`${p}mlp.down_proj.weight`), D);
      if (fam === 'gemma2') m = norm(m, `${p}post_feedforward_layernorm.weight`);
      hooks.set(`${P}hook_mlp_out`, m);
      x = add(mid, m);
    }
    hooks.set(`${P}hook_resid_post`, x);
  }
  const hf = fam === 'gptj' ? layerNorm(x, N, w('transformer.ln_f.weight'), w('transformer.ln_f.bias'), 1e-5) : rmsNorm(x, N, w('model.norm.weight'), cfg['rms_norm_eps'] as number, gemma);
  hooks.set('ln_final.hook_normalized', hf);
  if (head === 'lm') {
    let logits = gemma ? linear(hf, N, D, emb, VOCAB) : linear(hf, N, D, w('lm_head.weight'), VOCAB, fam === 'gptj' ? w('lm_head.bias') : undefined);
    if (fam === 'gemma2') {
      const c = cfg['final_logit_softcapping'] as number;
      logits = logits.map((z) => c * Math.tanh(z / c));
    }
    return { hooks, logits, rewards: null };
  }
  // The score at each row's last non-pad token.
  const score = w('score.weight');
  const rewards = new Float64Array(B * numLabels);
  for (let b = 0; b < B; b++) {
    let t = T - 1;
    while (t > 0 && ids[b * T + t] === PAD) t--;
    const row = hf.subarray((b * T + t) * D, (b * T + t + 1) * D);
    for (let j = 0; j < numLabels; j++) {
      let s = 0;
      for (let i = 0; i < D; i++) s += row[i]! * score[j * D + i]!;
      rewards[b * numLabels + j] = s;
    }
  }
  return { hooks, logits: null, rewards };
}
