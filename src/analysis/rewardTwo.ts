// Two completions of one prompt (a, b; optionally a baseline c): Δr = r_a − r_b split into every
// feature whose summed activation differs between a and b (added: silent in a, active in b;
// removed: the reverse; changed: both), each with its effect on Δr, plus the error term, b_dec and
// the rest. A counterfactual edit is a = original, b = edited: the lists show everything the edit
// changed besides the intended feature. The baseline completion gets each listed feature's effect
// on its own reward: a feature that moves an unrelated text as much is no evidence for a hypothesis.
// The top features by |effect| are also ablated exactly.

import type { Tokenizer } from '../model/tokenizers/index.js';
import type { Transformer } from '../model/transformer.js';
import { EvalError } from '../eval/errors.js';
import { encodeCompletion } from '../eval/pairData.js';
import { ablatedRewards, rowCodes } from './rewardAblation.js';
import { attributeRows, checkAttributionSetup, pairDifference, type AttributionRow, type AttributionSae } from './rewardAttribution.js';
import { tokenStrings, type TokenShading } from './rewardPairSet.js';

export interface TwoOptions {
  model: Transformer;
  tokenizer: Tokenizer;
  saes: AttributionSae[];
  prompt: string;
  a: string;
  b: string;
  baseline?: string;
  /** Features ablated exactly per SAE (default 10). */
  exactTop?: number;
  /** A feature firing on more than this fraction of tokens (per the SAE's sparsity file) is flagged (default 0.1). */
  highFrequency?: number;
  /** Relative tolerance under which two summed activations count as equal (default 1e-6). */
  tolerance?: number;
}

export interface DiffFeature {
  feature: number;
  kind: 'added' | 'removed' | 'changed';
  actA: number;
  actB: number;
  /** Effect on r_a, on r_b, and on Δr = their difference. */
  effectA: number;
  effectB: number;
  effect: number;
  /** Exact ablation effect on Δr (top features only). */
  exact?: number;
  /** Firing frequency from the SAE folder's sparsity.safetensors (when it has one) and whether it passes highFrequency. */
  firingFrequency?: number;
  highFrequency?: boolean;
  /** On the baseline completion: the feature's summed activation and its effect on r_c. */
  baselineAct?: number;
  baselineEffect?: number;
}

export interface SaeTwoReport {
  label: string;
  hook: string;
  features: DiffFeature[];
  added: number;
  removed: number;
  changed: number;
  sumEffects: number;
  error: number;
  bias: number;
  prompt: number;
  rest: number;
  tokensA: TokenShading;
  tokensB: TokenShading;
  tokensBaseline?: TokenShading;
}

export interface TwoReport {
  rewardA: number;
  rewardB: number;
  rewardBaseline?: number;
  deltaR: number;
  /** Tokens cut from the left of each text to fit the context (0: none). */
  truncated: { a: number; b: number; baseline?: number };
  saes: SaeTwoReport[];
}

/** Attribute r_a − r_b (see the file comment). */
export async function attributeTwo(o: TwoOptions): Promise<TwoReport> {
  const { model, tokenizer: tok, saes } = o;
  checkAttributionSetup(model, saes);
  const nCtx = model.config.nCtx;
  const enc = (text: string, name: string) => {
    const e = encodeCompletion(tok, o.prompt, text, nCtx);
    if (e.start >= e.ids.length) throw new EvalError(`--${name}: the completion has no token`);
    if (e.completionTruncated) throw new EvalError(`--${name}: the completion alone is longer than the model's context of ${nCtx} tokens`);
    return e;
  };
  const ea = enc(o.a, 'a');
  const eb = enc(o.b, 'b');
  const ec = o.baseline !== undefined ? enc(o.baseline, 'baseline') : null;
  const rows: AttributionRow[] = [{ ids: ea.ids, start: ea.start }, { ids: eb.ids, start: eb.start }];
  if (ec) rows.push({ ids: ec.ids, start: ec.start });
  const res = await attributeRows(model, saes, rows);
  const [ra, rb, rc] = res;
  const tol = o.tolerance ?? 1e-6;
  const shade = (row: AttributionRow, k: number, r: typeof ra): TokenShading => ({ tokens: tokenStrings(tok, row.ids.subarray(row.start)), featureEffect: Array.from(r!.saes[k]!.tokenEffect), errorEffect: Array.from(r!.saes[k]!.tokenError) });
  const reports: SaeTwoReport[] = [];
  for (let k = 0; k < saes.length; k++) {
    const s = saes[k]!;
    const pd = pairDifference(ra!, rb!, k);
    const feats: DiffFeature[] = [];
    pd.features.forEach((f, i) => {
      const a = pd.actA[i]!;
      const b = pd.actB[i]!;
      if (Math.abs(a - b) <= tol * Math.max(Math.abs(a), Math.abs(b))) return;
      feats.push({ feature: f, kind: a === 0 ? 'added' : b === 0 ? 'removed' : 'changed', actA: a, actB: b, effectA: pd.effectA[i]!, effectB: pd.effectB[i]!, effect: pd.effect[i]! });
    });
    feats.sort((x, y) => Math.abs(y.effect) - Math.abs(x.effect) || x.feature - y.feature);
    if (s.sparsity) {
      for (const f of feats) {
        f.firingFrequency = 10 ** s.sparsity[f.feature]!;
        f.highFrequency = f.firingFrequency > (o.highFrequency ?? 0.1);
      }
    }
    if (rc) {
      const C = rc.saes[k]!;
      const where = new Map(Array.from(C.features, (f, i) => [f, i]));
      for (const f of feats) {
        const i = where.get(f.feature);
        f.baselineAct = i === undefined ? 0 : C.act[i]!;
        f.baselineEffect = i === undefined ? 0 : C.effect[i]!;
      }
    }
    const exactN = Math.min(o.exactTop ?? 10, feats.length);
    if (exactN > 0) {
      const codes = await rowCodes(model, s, rows.slice(0, 2));
      const abl = await ablatedRewards(model, s, codes, feats.slice(0, exactN).flatMap((f) => [{ row: 0, features: [f.feature] }, { row: 1, features: [f.feature] }]));
      for (let c = 0; c < exactN; c++) feats[c]!.exact = (codes[0]!.reward - abl[2 * c]!) - (codes[1]!.reward - abl[2 * c + 1]!);
    }
    const r: SaeTwoReport = {
      label: s.label, hook: s.hook, features: feats,
      added: feats.filter((f) => f.kind === 'added').length, removed: feats.filter((f) => f.kind === 'removed').length, changed: feats.filter((f) => f.kind === 'changed').length,
      sumEffects: pd.effect.reduce((x, y) => x + y, 0), error: pd.error, bias: pd.bias, prompt: pd.prompt, rest: pd.rest,
      tokensA: shade(rows[0]!, k, ra), tokensB: shade(rows[1]!, k, rb),
    };
    if (rc) r.tokensBaseline = shade(rows[2]!, k, rc);
    reports.push(r);
  }
  const out: TwoReport = { rewardA: ra!.reward, rewardB: rb!.reward, deltaR: ra!.reward - rb!.reward, truncated: { a: ea.truncated, b: eb.truncated }, saes: reports };
  if (rc) (out.rewardBaseline = rc.reward), (out.truncated.baseline = ec!.truncated);
  return out;
}
