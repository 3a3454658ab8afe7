// Dataset statistics of a preference-pair file, one command away (`saelab pairs stats|grep`):
// per range, the pair count, text and token lengths, turns, and (given a reward model) the reward
// difference r(chosen) − r(rejected): mean, accuracy, mean rewards, truncations; and how often a
// phrase occurs in the chosen / rejected completions, in any Assistant or Human turn, and in an
// Assistant turn that answers a Human turn containing another phrase.

import type { Tokenizer } from '../model/tokenizers/index.js';
import type { Transformer } from '../model/transformer.js';
import { encodeCompletion, HH_ASSISTANT, HH_HUMAN, type PairRecord } from '../eval/pairData.js';
import { EvalError } from '../eval/errors.js';
import { padIdOf, padRows, type AttributionRow } from './rewardAttribution.js';

export interface RangeStats {
  label: string;
  pairs: number;
  meanPromptChars: number;
  meanChosenChars: number;
  meanRejectedChars: number;
  /** Mean "\n\nHuman:" turns per prompt. */
  meanHumanTurns: number;
  chosenLonger: number;
  /** With a model (and tokenizer): rewards and tokens. */
  rewards?: {
    meanDeltaR: number;
    stdDeltaR: number;
    accuracy: number;
    meanRewardChosen: number;
    meanRewardRejected: number;
    meanChosenTokens: number;
    meanRejectedTokens: number;
    truncated: number;
  };
}

/** Text statistics of a range, and the rewards when a model is given. */
export async function rangeStats(label: string, pairs: readonly PairRecord[], m?: { model: Transformer; tokenizer: Tokenizer; batchPairs?: number; onProgress?: (done: number, total: number) => void }): Promise<RangeStats> {
  const n = pairs.length;
  const mean = (f: (p: PairRecord) => number) => pairs.reduce((s, p) => s + f(p), 0) / Math.max(1, n);
  const st: RangeStats = {
    label, pairs: n, meanPromptChars: mean((p) => p.prompt.length), meanChosenChars: mean((p) => p.chosen.length), meanRejectedChars: mean((p) => p.rejected.length),
    meanHumanTurns: mean((p) => p.prompt.split(HH_HUMAN).length - 1), chosenLonger: pairs.filter((p) => p.chosen.length > p.rejected.length).length,
  };
  if (!m) return st;
  const { model, tokenizer: tok } = m;
  if (model.config.head !== 'sequence-classification') throw new EvalError(`${model.source}: a causal LM; reward statistics need a reward (sequence-classification) model`);
  const pad = padIdOf(model);
  const nCtx = model.config.nCtx;
  const bp = m.batchPairs ?? 16;
  const dr: number[] = [];
  let rc = 0;
  let rr = 0;
  let tc = 0;
  let tr = 0;
  let truncated = 0;
  for (let p0 = 0; p0 < n; p0 += bp) {
    const rows: AttributionRow[] = [];
    for (const p of pairs.slice(p0, p0 + bp)) {
      const a = encodeCompletion(tok, p.prompt, p.chosen, nCtx);
      const b = encodeCompletion(tok, p.prompt, p.rejected, nCtx);
      if (a.truncated || b.truncated) truncated++;
      tc += a.ids.length - a.start;
      tr += b.ids.length - b.start;
      rows.push({ ids: a.ids, start: a.start }, { ids: b.ids, start: b.start });
    }
    const { ids, T } = padRows(rows, pad);
    const r = model.forward(ids, [rows.length, T]);
    const v = (await r.rewards!.read()) as Float32Array;
    r.rewards!.dispose();
    const L = v.length / rows.length;
    for (let q = 0; q < rows.length; q += 2) {
      dr.push(v[q * L]! - v[(q + 1) * L]!);
      rc += v[q * L]!;
      rr += v[(q + 1) * L]!;
    }
    m.onProgress?.(Math.min(n, p0 + bp), n);
  }
  const md = dr.reduce((s, x) => s + x, 0) / Math.max(1, n);
  st.rewards = {
    meanDeltaR: md, stdDeltaR: Math.sqrt(dr.reduce((s, x) => s + (x - md) ** 2, 0) / Math.max(1, n - 1)), accuracy: dr.filter((x) => x > 0).length / Math.max(1, n),
    meanRewardChosen: rc / Math.max(1, n), meanRewardRejected: rr / Math.max(1, n), meanChosenTokens: tc / Math.max(1, n), meanRejectedTokens: tr / Math.max(1, n), truncated,
  };
  return st;
}

/** The turns of a transcript: [speaker, text] in order ('human' | 'assistant'); text before the first turn is dropped. */
export function turns(text: string): ['human' | 'assistant', string][] {
  const out: ['human' | 'assistant', string][] = [];
  const re = /\n\n(Human|Assistant):/g;
  let last: { who: 'human' | 'assistant'; at: number } | null = null;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (last) out.push([last.who, text.slice(last.at, m.index)]);
    last = { who: m[1] === 'Human' ? 'human' : 'assistant', at: m.index + m[0].length };
  }
  if (last) out.push([last.who, text.slice(last.at)]);
  return out;
}

export interface GrepCounts {
  label: string;
  pairs: number;
  /** Pairs whose chosen / rejected completion contains the phrase; both; only chosen; only rejected. */
  chosen: number;
  rejected: number;
  both: number;
  onlyChosen: number;
  onlyRejected: number;
  /** Assistant and Human turns (prompts + both completions, each pair's prompt once) containing it, and all such turns. */
  assistantTurns: number;
  assistantTurnsTotal: number;
  humanTurns: number;
  /** With `after`: Assistant turns answering a Human turn that contains `after`, and how many of those contain the phrase. */
  afterTurns?: number;
  afterWithPhrase?: number;
  /** The first pair indices where a completion contains it. */
  examples: number[];
}

/** Count a phrase in a range of pairs (see the file comment). */
export function grepPairs(label: string, pairs: readonly PairRecord[], phrase: string, o: { after?: string; ignoreCase?: boolean; examples?: number } = {}): GrepCounts {
  if (!phrase) throw new EvalError('the phrase to count is empty');
  const norm = (s: string) => (o.ignoreCase ? s.toLowerCase() : s);
  const ph = norm(phrase);
  const after = o.after !== undefined ? norm(o.after) : undefined;
  const has = (s: string) => norm(s).includes(ph);
  const c: GrepCounts = { label, pairs: pairs.length, chosen: 0, rejected: 0, both: 0, onlyChosen: 0, onlyRejected: 0, assistantTurns: 0, assistantTurnsTotal: 0, humanTurns: 0, examples: [] };
  if (after !== undefined) (c.afterTurns = 0), (c.afterWithPhrase = 0);
  /** Count turns `ts`; `before` is the turn just before ts[0] (context only, not counted). */
  const countTurns = (ts: ['human' | 'assistant', string][], before?: ['human' | 'assistant', string]) => {
    ts.forEach(([who, text], i) => {
      if (who === 'assistant') {
        c.assistantTurnsTotal++;
        if (has(text)) c.assistantTurns++;
        const prev = i > 0 ? ts[i - 1] : before;
        if (after !== undefined && prev && prev[0] === 'human' && norm(prev[1]).includes(after)) {
          c.afterTurns!++;
          if (has(text)) c.afterWithPhrase!++;
        }
      } else if (has(text)) c.humanTurns++;
    });
  };
  for (const p of pairs) {
    const a = has(p.chosen);
    const b = has(p.rejected);
    if (a) c.chosen++;
    if (b) c.rejected++;
    if (a && b) c.both++;
    if (a && !b) c.onlyChosen++;
    if (b && !a) c.onlyRejected++;
    if ((a || b) && c.examples.length < (o.examples ?? 10)) c.examples.push(p.index);
    // The prompt's turns once (an HH prompt ends with an empty, open Assistant turn: not a turn);
    // each completion is the Assistant turn answering the prompt's last turn.
    let pt = turns(p.prompt);
    const open = pt.at(-1);
    if (open && open[0] === 'assistant' && open[1].trim() === '') pt = pt.slice(0, -1);
    countTurns(pt);
    for (const comp of [p.chosen, p.rejected]) countTurns(turns(HH_ASSISTANT + comp), pt.at(-1));
  }
  return c;
}
