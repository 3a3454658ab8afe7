// Linear attribution of a reward model's rewards to SAE features (attribution patching), with the
// SAE's error term spliced in so that the pieces add up.
//
// At a hook, x = x̂ + e with x̂ = (Σ_i f_i d_i + b_dec)/s (d_i = W_dec row i, s the SAE's input
// scale) and e = x − x̂ the error term. Splicing x̂ + e in is the identity in value, so the clean
// forward is the spliced forward, and one backward (objective Σ_b reward_b: rows do not interact,
// so row b's gradient is d reward_b / d x_b) gives the gradient g for every feature at once:
//   effect_i(row)  = Σ_{t ∈ completion} f_i[t] (g[t]·d_i)/s       (per token, and summed)
//   error(row)     = Σ_{t ∈ completion} g[t]·e[t]
//   bias(row)      = Σ_{t ∈ completion} g[t]·b_dec/s
//   prompt(row)    = Σ_{t ∈ prompt} g[t]·x[t]  (the prompt's positions: the same activations in both
//                    rows of a pair, different gradients)
// For a pair (a, b): Δr = r_a − r_b and each term is the row a term minus the row b term; the rest
// rest = Δr − Σ_i effect_i − error − bias − prompt is what the first-order picture misses (the
// nonlinearity). So Σ_i effect_i + error + bias + prompt + rest = Δr by definition, and `rest` says
// how far the linear picture is from the truth. At ln_final.hook_normalized the reward is linear in
// x and only the last token has a gradient: there rest = 0 up to rounding (the known-answer test).

import { backward } from '../model/backward.js';
import { parseHook } from '../model/hooks.js';
import type { Transformer } from '../model/transformer.js';
import type { SaeConfig, SaeModel } from '../sae/types.js';
import { EvalError } from '../eval/errors.js';
import { reconstruct } from '../eval/evalSae.js';

/** One SAE at its hook, with host copies of its decoder (model units come from dividing by the scale). */
export interface AttributionSae {
  label: string;
  hook: string;
  cfg: SaeConfig;
  model: SaeModel;
  normScalingFactor?: number;
  /** W_dec [dSae, dIn] and b_dec [dIn], host copies. */
  wDec: Float32Array;
  bDec: Float32Array;
  /** log10 firing frequency per latent from the SAE's folder, when it has one. */
  sparsity?: Float32Array;
  path?: string;
}

/** A sequence to attribute: token ids and the completion's first index (the span runs to the end). */
export interface AttributionRow {
  ids: Int32Array;
  start: number;
}

/** One SAE's attribution of one row's reward (the row's own reward, not a difference). */
export interface SaeRowAttribution {
  /** Features active on at least one completion token, ascending. */
  features: Int32Array;
  /** Σ_t f_i[t] over the completion, per listed feature. */
  act: Float64Array;
  /** Σ_t f_i[t] (g[t]·d_i)/s, per listed feature. */
  effect: Float64Array;
  /** Completion tokens where the feature fired, per listed feature. */
  fired: Int32Array;
  error: number;
  bias: number;
  /** Σ over the prompt's positions of g·x (the same for every SAE at one hook). */
  prompt: number;
  /** Per completion token: Σ_i of the feature effects, and the error term's g·e. */
  tokenEffect: Float64Array;
  tokenError: Float64Array;
  /** The sparse code per completion token: offsets [tokens+1] into (ids, vals). */
  codeOffsets: Int32Array;
  codeIds: Int32Array;
  codeVals: Float32Array;
}

/** A row's reward and each SAE's attribution of it. */
export interface RowAttribution {
  reward: number;
  /** Completion span [start, end) in the row's ids. */
  start: number;
  end: number;
  saes: SaeRowAttribution[];
}

/** The pad id for right-padding rows of a batch. */
export function padIdOf(model: Transformer): number {
  const p = model.config.padTokenId;
  if (p === null) throw new EvalError('the reward model has no pad_token_id in its config.json: cannot batch texts of different lengths');
  return p;
}

/** Check that the model is a reward model and every SAE fits it; EvalErrors name what is wrong. */
export function checkAttributionSetup(model: Transformer, saes: readonly AttributionSae[]): void {
  if (model.config.head !== 'sequence-classification') throw new EvalError(`${model.source}: a causal LM; reward attribution needs a reward (sequence-classification) model`);
  if (saes.length === 0) throw new EvalError('no SAE given (--sae DIR, one or more)');
  for (const s of saes) {
    parseHook(s.hook, model.config);
    if (s.cfg.dIn !== model.config.dModel) throw new EvalError(`${s.label}: the SAE's d_in is ${s.cfg.dIn} but ${s.hook} of the model has d_model ${model.config.dModel}: this SAE was trained on another model`);
  }
}

/** Right-pad rows to one length: ids [B·T] and T. */
export function padRows(rows: readonly AttributionRow[], pad: number): { ids: Int32Array; T: number } {
  const T = Math.max(...rows.map((r) => r.ids.length));
  const ids = new Int32Array(rows.length * T).fill(pad);
  rows.forEach((r, b) => ids.set(r.ids, b * T));
  return { ids, T };
}

/** The completion rows of x [B·T, d] (row b: positions start…len−1), packed, and where each row's begin. */
export function completionRows(x: Float32Array, rows: readonly AttributionRow[], T: number, d: number): { packed: Float32Array; offsets: number[] } {
  const offsets = [0];
  for (const r of rows) offsets.push(offsets.at(-1)! + (r.ids.length - r.start));
  const packed = new Float32Array(offsets.at(-1)! * d);
  rows.forEach((r, b) => packed.set(x.subarray((b * T + r.start) * d, (b * T + r.ids.length) * d), offsets[b]! * d));
  return { packed, offsets };
}

/**
 * Attribute each row's reward to the features of every SAE (one forward, one backward per distinct
 * hook). Identical rows are computed once and shared: a batch's rows may round differently in a
 * GEMM, and one text against itself must give exactly zero differences.
 */
export async function attributeRows(model: Transformer, saes: readonly AttributionSae[], rows: readonly AttributionRow[]): Promise<RowAttribution[]> {
  const keyOf = (r: AttributionRow) => `${r.start}:${r.ids.join(',')}`;
  const first = new Map<string, number>();
  const unique: AttributionRow[] = [];
  const slot = rows.map((r) => {
    const k = keyOf(r);
    let i = first.get(k);
    if (i === undefined) first.set(k, (i = unique.push(r) - 1));
    return i;
  });
  if (unique.length === rows.length) return attributeUniqueRows(model, saes, rows);
  const res = await attributeUniqueRows(model, saes, unique);
  return slot.map((i) => res[i]!);
}

async function attributeUniqueRows(model: Transformer, saes: readonly AttributionSae[], rows: readonly AttributionRow[]): Promise<RowAttribution[]> {
  const d = model.config.dModel;
  const dev = model.device;
  const B = rows.length;
  for (const r of rows) if (!(r.start >= 0 && r.start < r.ids.length)) throw new EvalError(`a completion span [${r.start}, ${r.ids.length}) is empty: the completion has no token`);
  const { ids, T } = padRows(rows, padIdOf(model));
  const hooks = [...new Set(saes.map((s) => s.hook))];
  const fwd = model.forward(ids, [B, T], { keep: hooks, grad: true });
  const rewardsHost = ((await fwd.rewards!.read()) as Float32Array).slice();
  const L = rewardsHost.length / B;
  const out: RowAttribution[] = rows.map((r, b) => ({ reward: rewardsHost[b * L]!, start: r.start, end: r.ids.length, saes: [] }));
  const perSae = new Map<AttributionSae, SaeRowAttribution[]>();
  try {
    for (const hook of hooks) {
      const xT = fwd.activations.get(hook)!;
      const x = ((await xT.read()) as Float32Array).slice();
      const { grad } = backward(model, fwd.cache!, { kind: 'rewards', coefficients: new Array(B).fill(1) }, { to: hook, params: false });
      const g = ((await grad.read()) as Float32Array).slice();
      grad.dispose();
      const xs = completionRows(x, rows, T, d);
      const gs = completionRows(g, rows, T, d);
      const n = xs.offsets.at(-1)!;
      const packedT = dev.fromArray(xs.packed, [n, d]);
      const prompt = rows.map((r, b) => {
        let p = 0;
        for (let i = b * T * d; i < (b * T + r.start) * d; i++) p += g[i]! * x[i]!;
        return p;
      });
      for (const s of saes.filter((q) => q.hook === hook)) {
        const { f, xHat } = await reconstruct(s, packedT);
        perSae.set(s, rows.map((_, b) => ({ ...rowTerms(s, f, xs.packed, xHat, gs.packed, xs.offsets[b]!, xs.offsets[b + 1]!, d), prompt: prompt[b]! })));
      }
      packedT.dispose();
    }
  } finally {
    fwd.cache!.dispose();
    fwd.rewards!.dispose();
    for (const t of fwd.activations.values()) t.dispose();
  }
  out.forEach((o, b) => (o.saes = saes.map((s) => perSae.get(s)![b]!)));
  return out;
}

/** One row's terms for one SAE from the packed completion rows [t0, t1) of f, x, x̂ and g. */
function rowTerms(s: AttributionSae, f: Float32Array, x: Float32Array, xHat: Float32Array, g: Float32Array, t0: number, t1: number, d: number): Omit<SaeRowAttribution, 'prompt'> {
  const m = s.cfg.dSae;
  const inv = 1 / (s.normScalingFactor ?? 1);
  const W = s.wDec;
  const act = new Map<number, { act: number; effect: number; fired: number }>();
  const nTok = t1 - t0;
  const tokenEffect = new Float64Array(nTok);
  const tokenError = new Float64Array(nTok);
  const codeOffsets = new Int32Array(nTok + 1);
  const codeIds: number[] = [];
  const codeVals: number[] = [];
  let error = 0;
  let bias = 0;
  for (let t = t0; t < t1; t++) {
    const gt = g.subarray(t * d, (t + 1) * d);
    let te = 0;
    for (let j = 0; j < d; j++) te += gt[j]! * (x[t * d + j]! - xHat[t * d + j]!);
    tokenError[t - t0] = te;
    error += te;
    let tb = 0;
    for (let j = 0; j < d; j++) tb += gt[j]! * s.bDec[j]!;
    bias += tb * inv;
    let tf = 0;
    const row = f.subarray(t * m, (t + 1) * m);
    for (let i = 0; i < m; i++) {
      const v = row[i]!;
      if (v === 0) continue;
      let dot = 0;
      const o = i * d;
      for (let j = 0; j < d; j++) dot += gt[j]! * W[o + j]!;
      const e = v * dot * inv;
      tf += e;
      codeIds.push(i);
      codeVals.push(v);
      const a = act.get(i);
      if (a) {
        a.act += v;
        a.effect += e;
        a.fired++;
      } else act.set(i, { act: v, effect: e, fired: 1 });
    }
    tokenEffect[t - t0] = tf;
    codeOffsets[t - t0 + 1] = codeIds.length;
  }
  const features = Int32Array.from([...act.keys()].sort((a, b) => a - b));
  return {
    features,
    act: Float64Array.from(features, (i) => act.get(i)!.act),
    effect: Float64Array.from(features, (i) => act.get(i)!.effect),
    fired: Int32Array.from(features, (i) => act.get(i)!.fired),
    error, bias, tokenEffect, tokenError, codeOffsets, codeIds: Int32Array.from(codeIds), codeVals: Float32Array.from(codeVals),
  };
}

/** A pair's (a − b) attribution for one SAE: every feature active in either completion. */
export interface PairDifference {
  deltaR: number;
  features: Int32Array;
  /** effect_i(a) − effect_i(b). */
  effect: Float64Array;
  actA: Float64Array;
  actB: Float64Array;
  effectA: Float64Array;
  effectB: Float64Array;
  error: number;
  bias: number;
  /** The prompt positions' g·x, a minus b. */
  prompt: number;
  /** Δr − Σ effect − error − bias − prompt. */
  rest: number;
}

/** The difference of two rows' attributions by one SAE (index `k` in the rows' saes). */
export function pairDifference(a: RowAttribution, b: RowAttribution, k: number): PairDifference {
  const A = a.saes[k]!;
  const Bq = b.saes[k]!;
  const ids = Int32Array.from(new Set([...A.features, ...Bq.features])).sort();
  const idxA = new Map(Array.from(A.features, (f, i) => [f, i]));
  const idxB = new Map(Array.from(Bq.features, (f, i) => [f, i]));
  const n = ids.length;
  const r: PairDifference = {
    deltaR: a.reward - b.reward, features: ids, effect: new Float64Array(n), actA: new Float64Array(n), actB: new Float64Array(n),
    effectA: new Float64Array(n), effectB: new Float64Array(n), error: A.error - Bq.error, bias: A.bias - Bq.bias, prompt: A.prompt - Bq.prompt, rest: 0,
  };
  let sum = 0;
  ids.forEach((f, i) => {
    const ia = idxA.get(f);
    const ib = idxB.get(f);
    if (ia !== undefined) (r.actA[i] = A.act[ia]!), (r.effectA[i] = A.effect[ia]!);
    if (ib !== undefined) (r.actB[i] = Bq.act[ib]!), (r.effectB[i] = Bq.effect[ib]!);
    r.effect[i] = r.effectA[i]! - r.effectB[i]!;
    sum += r.effect[i]!;
  });
  r.rest = r.deltaR - sum - r.error - r.bias - r.prompt;
  return r;
}
