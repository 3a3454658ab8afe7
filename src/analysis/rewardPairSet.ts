// Attribution over a set of preference pairs (chosen = a, rejected = b), unsupervised: every pair's
// Δr split into feature effects (rewardAttribution.ts), then per SAE the features ranked by their
// mean contribution to Δr over all pairs (zero where a feature is silent), with how consistently
// signed it is, how often it fires on completion tokens (high-frequency flag), its nearest decoder
// direction in the SAEs at other hooks (near-duplicate flag), groups of top features, and exact
// ablations of the top candidates and of a random sample to score the linear estimate.
// Reward statistics (mean Δr, accuracy) are reported per split (each --pairs range).

import { Rng } from '../compute/random.js';
import { tokenPieces, type Tokenizer } from '../model/tokenizers/index.js';
import type { Transformer } from '../model/transformer.js';
import { EvalError } from '../eval/errors.js';
import { encodeCompletion, type PairRecord } from '../eval/pairData.js';
import { ablatedRewards, rowCodes } from './rewardAblation.js';
import { attributeRows, checkAttributionSetup, pairDifference, type AttributionRow, type AttributionSae, type PairDifference } from './rewardAttribution.js';
import { featureGroups, nearestInOther, randomPairCosine, spearman, type FeatureGroup } from './rewardFeatureGroups.js';

export interface PairSetOptions {
  model: Transformer;
  tokenizer: Tokenizer;
  saes: AttributionSae[];
  /** The pairs, each with the label of its split (range). */
  splits: { label: string; pairs: PairRecord[] }[];
  /** Pairs per forward (default 8). */
  batchPairs?: number;
  /** Features listed per SAE (default 30). */
  top?: number;
  /** A feature firing on more than this fraction of completion tokens is high-frequency (default 0.1). */
  highFrequency?: number;
  /** Decoder cosine at or above which a feature at another hook counts as a near-duplicate (default 0.9). */
  duplicateCosine?: number;
  /** Group thresholds: decoder cosine and co-activation correlation (defaults 0.5 and 0.5). */
  groupCosine?: number;
  groupCorrelation?: number;
  /** Exact ablations: the top candidates, a random sample of active features, over the first pairs (defaults 8, 8, 16). */
  exactTop?: number;
  exactRandom?: number;
  exactPairs?: number;
  seed?: number;
  /** Pairs whose tokens and per-token effects are kept for the pair view (default 20). */
  keepPairs?: number;
  /** Strongest activations kept per listed feature (default 5), and tokens of context either side (default 6, 3). */
  examples?: number;
  contextBefore?: number;
  contextAfter?: number;
  onProgress?: (pairsDone: number, pairs: number) => void;
}

/** One feature's line in the ranking. */
export interface RankedFeature {
  feature: number;
  /** Mean effect on Δr over all pairs (silent pairs count as 0). */
  meanEffect: number;
  meanAbsEffect: number;
  /** Pairs where the feature fired in either completion, and the signs of its effect there. */
  pairsActive: number;
  positive: number;
  negative: number;
  /** The share of active pairs with the majority sign (1 = always the same sign). */
  signConsistency: number;
  /** Fraction of completion tokens (both sides) where it fired. */
  firingFrequency: number;
  highFrequency: boolean;
  /** Mean summed activation over chosen and over rejected completions. */
  meanActChosen: number;
  meanActRejected: number;
  /** The nearest decoder direction in each other SAE, and whether it passes duplicateCosine. */
  nearest: { sae: string; feature: number; cosine: number; duplicate: boolean }[];
  /** Its strongest activations on completion tokens: pair, side, activation, the token and a few before and after. */
  examples: FeatureExample[];
}

export interface FeatureExample {
  pair: number;
  side: 'chosen' | 'rejected';
  act: number;
  before: string;
  token: string;
  after: string;
}

/** A candidate example while the pairs stream by: where, not yet the text. */
interface ExampleRef {
  act: number;
  pair: PairRecord;
  side: 0 | 1;
  /** Token index in the row's ids. */
  at: number;
}

export interface ExactCheck {
  features: number[];
  randomFeatures: number[];
  pairs: number;
  /** (pair, feature) entries where the feature fired in the pair. */
  entries: { pair: number; feature: number; linear: number; exact: number; random: boolean }[];
  spearman: number;
  spearmanTop: number;
  spearmanRandom: number;
  /** Least-squares slope of exact on linear through the origin (1 = the linear estimate sizes right). */
  slope: number;
}

export interface SaePairSetReport {
  label: string;
  hook: string;
  path: string | null;
  dSae: number;
  completionTokens: number;
  /** Means over pairs of the error term, b_dec, the prompt positions and rest (Δr − Σ effects − error − bias − prompt), and of |rest|. */
  meanError: number;
  meanBias: number;
  meanPrompt: number;
  meanRest: number;
  meanAbsRest: number;
  meanSumEffects: number;
  top: RankedFeature[];
  groups: (FeatureGroup & { randomCosineMean: number; randomCosineP95: number })[];
  exact: ExactCheck;
}

export interface SplitStats {
  label: string;
  pairs: number;
  meanDeltaR: number;
  accuracy: number;
  meanRewardChosen: number;
  meanRewardRejected: number;
  /** Pairs whose transcript was cut from the left to the context; pairs whose completion was cut too. */
  truncated: number;
  completionTruncated: number;
}

/** A pair kept for the pair view: tokens and per-token effects of the first SAE. */
export interface PairView {
  index: number;
  split: string;
  deltaR: number;
  rewardChosen: number;
  rewardRejected: number;
  saes: { label: string; error: number; bias: number; prompt: number; rest: number; topFeatures: { feature: number; effect: number; actChosen: number; actRejected: number }[]; chosen: TokenShading; rejected: TokenShading }[];
}

/** A completion's tokens and each token's attribution (Σ features, and the error term). */
export interface TokenShading {
  tokens: string[];
  featureEffect: number[];
  errorEffect: number[];
}

export interface PairSetReport {
  splits: SplitStats[];
  all: SplitStats;
  saes: SaePairSetReport[];
  pairViews: PairView[];
  skipped: { index: number; split: string; why: string }[];
}

interface FeatureAcc {
  sum: number;
  sumAbs: number;
  pairs: number;
  pos: number;
  neg: number;
  fired: number;
  actA: number;
  actB: number;
}

/** Encode a pair's two completions; null with a reason when a completion has no token. */
export function encodePair(tok: Tokenizer, p: PairRecord, nCtx: number): { a: AttributionRow; b: AttributionRow; truncated: boolean; completionTruncated: boolean } | string {
  const ea = encodeCompletion(tok, p.prompt, p.chosen, nCtx);
  const eb = encodeCompletion(tok, p.prompt, p.rejected, nCtx);
  if (ea.start >= ea.ids.length || eb.start >= eb.ids.length) return 'a completion has no token';
  return { a: { ids: ea.ids, start: ea.start }, b: { ids: eb.ids, start: eb.start }, truncated: ea.truncated > 0 || eb.truncated > 0, completionTruncated: ea.completionTruncated || eb.completionTruncated };
}

/** Token strings of ids (one decode per token; a character split across tokens shown whole, tokenPieces). */
export function tokenStrings(tok: Tokenizer, ids: ArrayLike<number>): string[] {
  return tokenPieces(tok, ids);
}

/** Attribute every pair and summarise (see the file comment). */
export async function attributePairSet(o: PairSetOptions): Promise<PairSetReport> {
  const { model, tokenizer: tok, saes } = o;
  checkAttributionSetup(model, saes);
  const nCtx = model.config.nCtx;
  const batchPairs = Math.max(1, o.batchPairs ?? 8);
  const top = o.top ?? 30;
  const hf = o.highFrequency ?? 0.1;
  const keepPairs = o.keepPairs ?? 20;
  const exactPairs = o.exactPairs ?? 16;
  const S = saes.length;
  const acc = saes.map(() => new Map<number, FeatureAcc>());
  const tokens = new Float64Array(S);
  const sums = saes.map(() => ({ error: 0, bias: 0, prompt: 0, rest: 0, absRest: 0, effects: 0 }));
  // Per completion row (2 per pair): each SAE's mean activation per token, for co-activation groups.
  const rowActs: { features: Int32Array; act: Float64Array }[][] = saes.map(() => []);
  const nEx = o.examples ?? 5;
  // Per SAE, per feature: its strongest activations so far (ascending by act, at most nEx).
  const best = saes.map(() => new Map<number, ExampleRef[]>());
  const offer = (k: number, f: number, ref: ExampleRef) => {
    const m = best[k]!;
    let l = m.get(f);
    if (!l) m.set(f, (l = []));
    if (l.length === nEx && l[0]!.act >= ref.act) return;
    if (l.length === nEx) l.shift();
    let i = 0;
    while (i < l.length && l[i]!.act < ref.act) i++;
    l.splice(i, 0, ref);
  };
  const kept: { pair: number; rows: [AttributionRow, AttributionRow]; diffs: PairDifference[] }[] = [];
  const pairViews: { ord: number; view: PairView }[] = [];
  const skipped: PairSetReport['skipped'] = [];
  const splitStats: SplitStats[] = [];
  const all: SplitStats = { label: 'all', pairs: 0, meanDeltaR: 0, accuracy: 0, meanRewardChosen: 0, meanRewardRejected: 0, truncated: 0, completionTruncated: 0 };
  const total = o.splits.reduce((s, x) => s + x.pairs.length, 0);
  let done = 0;
  let used = 0;

  for (const split of o.splits) {
    const st: SplitStats = { label: split.label, pairs: 0, meanDeltaR: 0, accuracy: 0, meanRewardChosen: 0, meanRewardRejected: 0, truncated: 0, completionTruncated: 0 };
    // Encode the split, then batch pairs of similar length (sorted by length, ties by position): padding
    // to the longest row of a batch is most of the cost otherwise. Sums run in that order (fixed, so
    // reproducible); the kept pairs (exact check, pair views) are the first ones in file order.
    const encAll: { p: PairRecord; a: AttributionRow; b: AttributionRow; ord: number }[] = [];
    for (const p of split.pairs) {
      const e = encodePair(tok, p, nCtx);
      if (typeof e === 'string') {
        skipped.push({ index: p.index, split: split.label, why: e });
        continue;
      }
      if (e.truncated) st.truncated++;
      if (e.completionTruncated) st.completionTruncated++;
      encAll.push({ p, a: e.a, b: e.b, ord: used + encAll.length });
    }
    const len = (e: (typeof encAll)[number]) => Math.max(e.a.ids.length, e.b.ids.length);
    const sorted = encAll.slice().sort((x, y) => len(x) - len(y) || x.ord - y.ord);
    for (let p0 = 0; p0 < sorted.length; p0 += batchPairs) {
      const enc = sorted.slice(p0, p0 + batchPairs);
      if (enc.length) {
        const res = await attributeRows(model, saes, enc.flatMap((e) => [e.a, e.b]));
        enc.forEach((e, q) => {
          const ra = res[2 * q]!;
          const rb = res[2 * q + 1]!;
          const dr = ra.reward - rb.reward;
          st.pairs++;
          st.meanDeltaR += dr;
          st.accuracy += dr > 0 ? 1 : 0;
          st.meanRewardChosen += ra.reward;
          st.meanRewardRejected += rb.reward;
          const diffs = saes.map((_, k) => pairDifference(ra, rb, k));
          diffs.forEach((pd, k) => {
            const A = acc[k]!;
            pd.features.forEach((f, i) => {
              let a = A.get(f);
              if (!a) A.set(f, (a = { sum: 0, sumAbs: 0, pairs: 0, pos: 0, neg: 0, fired: 0, actA: 0, actB: 0 }));
              const ef = pd.effect[i]!;
              a.sum += ef;
              a.sumAbs += Math.abs(ef);
              a.pairs++;
              if (ef > 0) a.pos++;
              else if (ef < 0) a.neg++;
              a.actA += pd.actA[i]!;
              a.actB += pd.actB[i]!;
            });
            for (const [side, r] of [[0, ra], [1, rb]] as const) {
              const s = r.saes[k]!;
              s.features.forEach((f, i) => (A.get(f)!.fired += s.fired[i]!));
              for (let t = 0; t + 1 < s.codeOffsets.length; t++) {
                for (let c = s.codeOffsets[t]!; c < s.codeOffsets[t + 1]!; c++) offer(k, s.codeIds[c]!, { act: s.codeVals[c]!, pair: e.p, side, at: r.start + t });
              }
              tokens[k] += r.end - r.start;
              // Per-token means: summed activations all grow with the completion's length, which would join every pair of features.
              const n = r.end - r.start;
              rowActs[k]!.push({ features: s.features, act: Float64Array.from(s.act, (v) => v / n) });
            }
            const sm = sums[k]!;
            sm.error += pd.error;
            sm.bias += pd.bias;
            sm.prompt += pd.prompt;
            sm.rest += pd.rest;
            sm.absRest += Math.abs(pd.rest);
            sm.effects += pd.effect.reduce((x, y) => x + y, 0);
          });
          if (e.ord < exactPairs) kept.push({ pair: e.ord, rows: [e.a, e.b], diffs });
          if (e.ord < keepPairs) pairViews.push({ ord: e.ord, view: pairView(tok, e.p, split.label, ra, rb, diffs, saes, e.a, e.b) });
        });
      }
      done += enc.length;
      o.onProgress?.(done, total);
    }
    used += encAll.length;
    done += split.pairs.length - encAll.length;
    addInto(all, st);
    splitStats.push(finishStats(st));
  }
  kept.sort((x, y) => x.pair - y.pair);
  if (used === 0) throw new EvalError('no pair to attribute: every pair was skipped (a completion with no token)');

  const reports: SaePairSetReport[] = [];
  for (let k = 0; k < S; k++) {
    const s = saes[k]!;
    const d = s.cfg.dIn;
    const A = acc[k]!;
    const ranked = [...A.entries()].sort((x, y) => Math.abs(y[1].sum) - Math.abs(x[1].sum) || x[0] - y[0]);
    const topIds = ranked.slice(0, top).map(([f]) => f);
    const others = saes.filter((q) => q.hook !== s.hook);
    const nearest = others.map((q) => ({ q, near: nearestInOther(s.wDec, topIds, q.wDec, q.cfg.dSae, d) }));
    const dupCos = o.duplicateCosine ?? 0.9;
    const topFeatures: RankedFeature[] = topIds.map((f, r) => {
      const a = A.get(f)!;
      const active = a.pos + a.neg;
      return {
        feature: f, meanEffect: a.sum / used, meanAbsEffect: a.sumAbs / used, pairsActive: a.pairs, positive: a.pos, negative: a.neg,
        signConsistency: active ? Math.max(a.pos, a.neg) / active : 0, firingFrequency: a.fired / tokens[k]!, highFrequency: a.fired / tokens[k]! > hf,
        meanActChosen: a.actA / used, meanActRejected: a.actB / used,
        nearest: nearest.map(({ q, near }) => ({ sae: q.label, feature: near[r]!.feature, cosine: near[r]!.cosine, duplicate: near[r]!.cosine >= dupCos })),
        examples: (best[k]!.get(f) ?? []).slice().reverse().map((x) => exampleText(tok, x, nCtx, o.contextBefore ?? 6, o.contextAfter ?? 3)),
      };
    });
    // Co-activation series over completions for the top features.
    const series = topIds.map(() => new Float64Array(rowActs[k]!.length));
    const pos = new Map(topIds.map((f, i) => [f, i]));
    rowActs[k]!.forEach((row, t) => row.features.forEach((f, i) => {
      const p = pos.get(f);
      if (p !== undefined) series[p]![t] = row.act[i]!;
    }));
    const rnd = randomPairCosine(s.wDec, s.cfg.dSae, d, 4000, (o.seed ?? 0) + k);
    const groups = featureGroups(s.wDec, d, topIds, series, { cosine: o.groupCosine ?? 0.5, correlation: o.groupCorrelation ?? 0.5 }).map((g) => ({ ...g, randomCosineMean: rnd.mean, randomCosineP95: rnd.p95 }));
    const exact = await exactCheck(model, s, k, kept, topIds, [...A.keys()], o);
    const sm = sums[k]!;
    reports.push({
      label: s.label, hook: s.hook, path: s.path ?? null, dSae: s.cfg.dSae, completionTokens: tokens[k]!,
      meanError: sm.error / used, meanBias: sm.bias / used, meanPrompt: sm.prompt / used, meanRest: sm.rest / used, meanAbsRest: sm.absRest / used, meanSumEffects: sm.effects / used,
      top: topFeatures, groups, exact,
    });
  }
  return { splits: splitStats, all: finishStats(all), saes: reports, pairViews: pairViews.sort((x, y) => x.ord - y.ord).map((v) => v.view), skipped };
}

/** The text around an example: the pair re-encoded (deterministic), tokens before, the token, tokens after. */
function exampleText(tok: Tokenizer, x: ExampleRef, nCtx: number, nb: number, na: number): FeatureExample {
  const e = encodeCompletion(tok, x.pair.prompt, x.side === 0 ? x.pair.chosen : x.pair.rejected, nCtx);
  const ids = Array.from(e.ids);
  return {
    pair: x.pair.index, side: x.side === 0 ? 'chosen' : 'rejected', act: x.act,
    before: tok.decode(ids.slice(Math.max(0, x.at - nb), x.at)), token: tok.decode([ids[x.at]!]), after: tok.decode(ids.slice(x.at + 1, x.at + 1 + na)),
  };
}

/** Exact ablation of the top candidates and a seeded random sample of active features on the kept pairs. */
async function exactCheck(model: Transformer, s: AttributionSae, k: number, kept: { pair: number; rows: [AttributionRow, AttributionRow]; diffs: PairDifference[] }[], topIds: number[], active: number[], o: PairSetOptions): Promise<ExactCheck> {
  const nTop = o.exactTop ?? 8;
  const features = topIds.slice(0, nTop);
  const rng = new Rng((o.seed ?? 0) * 7919 + k);
  // The random sample comes from the features active in the kept pairs, so that each has entries to compare.
  const inKept = new Set(kept.flatMap((kp) => Array.from(kp.diffs[k]!.features)));
  const pool = active.filter((f) => inKept.has(f) && !features.includes(f)).sort((a, b) => a - b);
  const randomFeatures: number[] = [];
  const nRand = Math.min(o.exactRandom ?? 8, pool.length);
  while (randomFeatures.length < nRand) {
    const f = pool.splice(rng.int(pool.length), 1)[0]!;
    randomFeatures.push(f);
  }
  const entries: ExactCheck['entries'] = [];
  for (const kp of kept) {
    const pd = kp.diffs[k]!;
    const where = new Map(Array.from(pd.features, (f, i) => [f, i]));
    const cand = [...features, ...randomFeatures].filter((f) => where.has(f));
    if (!cand.length) continue;
    const codes = await rowCodes(model, s, kp.rows);
    const abl = await ablatedRewards(model, s, codes, cand.flatMap((f) => [{ row: 0, features: [f] }, { row: 1, features: [f] }]));
    cand.forEach((f, c) => {
      const exact = (codes[0]!.reward - abl[2 * c]!) - (codes[1]!.reward - abl[2 * c + 1]!);
      entries.push({ pair: kp.pair, feature: f, linear: pd.effect[where.get(f)!]!, exact, random: randomFeatures.includes(f) });
    });
  }
  const sp = (es: typeof entries) => spearman(es.map((e) => e.linear), es.map((e) => e.exact));
  let num = 0;
  let den = 0;
  for (const e of entries) (num += e.linear * e.exact), (den += e.linear * e.linear);
  return { features, randomFeatures, pairs: kept.length, entries, spearman: sp(entries), spearmanTop: sp(entries.filter((e) => !e.random)), spearmanRandom: sp(entries.filter((e) => e.random)), slope: den > 0 ? num / den : NaN };
}

function addInto(all: SplitStats, st: SplitStats): void {
  all.pairs += st.pairs;
  all.meanDeltaR += st.meanDeltaR;
  all.accuracy += st.accuracy;
  all.meanRewardChosen += st.meanRewardChosen;
  all.meanRewardRejected += st.meanRewardRejected;
  all.truncated += st.truncated;
  all.completionTruncated += st.completionTruncated;
}

/** Sums → means. */
function finishStats(st: SplitStats): SplitStats {
  const n = Math.max(1, st.pairs);
  return { ...st, meanDeltaR: st.meanDeltaR / n, accuracy: st.accuracy / n, meanRewardChosen: st.meanRewardChosen / n, meanRewardRejected: st.meanRewardRejected / n };
}

function pairView(tok: Tokenizer, p: PairRecord, split: string, ra: { reward: number; saes: { tokenEffect: Float64Array; tokenError: Float64Array }[] }, rb: typeof ra, diffs: PairDifference[], saes: AttributionSae[], a: AttributionRow, b: AttributionRow): PairView {
  const shade = (row: AttributionRow, r: typeof ra, k: number): TokenShading => ({
    tokens: tokenStrings(tok, row.ids.subarray(row.start)), featureEffect: Array.from(r.saes[k]!.tokenEffect), errorEffect: Array.from(r.saes[k]!.tokenError),
  });
  return {
    index: p.index, split, deltaR: ra.reward - rb.reward, rewardChosen: ra.reward, rewardRejected: rb.reward,
    saes: saes.map((s, k) => {
      const pd = diffs[k]!;
      const order = Array.from(pd.features.keys()).sort((x, y) => Math.abs(pd.effect[y]!) - Math.abs(pd.effect[x]!)).slice(0, 8);
      return {
        label: s.label, error: pd.error, bias: pd.bias, prompt: pd.prompt, rest: pd.rest,
        topFeatures: order.map((i) => ({ feature: pd.features[i]!, effect: pd.effect[i]!, actChosen: pd.actA[i]!, actRejected: pd.actB[i]! })),
        chosen: shade(a, ra, k), rejected: shade(b, rb, k),
      };
    }),
  };
}
