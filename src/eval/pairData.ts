// Preference pairs as prompt + two completions, for reward attribution and pair statistics.
// Two JSONL layouts (optionally .gz/.xz, as the text sources):
//   HH (Anthropic hh-rlhf): {"chosen": transcript, "rejected": transcript}; "\n\nHuman:" /
//     "\n\nAssistant:" turns; the two share a prefix and differ in the last Assistant turn. The
//     prompt is the shared prefix up to the end of the last "\n\nAssistant:" inside it.
//   {"prompt", "chosen", "rejected"}: the completions follow the prompt (text = prompt + completion).
// A range `FILE:start-end` keeps pairs start ≤ i < end (0-based, half-open, as Python slices).
// A completion's token span is where the prompt's tokens stop agreeing with the full text's.

import { textLines } from '../data/textSource.js';
import type { Tokenizer } from '../model/tokenizers/index.js';
import { EvalError } from './errors.js';

export const HH_ASSISTANT = '\n\nAssistant:';
export const HH_HUMAN = '\n\nHuman:';

/** One pair: the prompt and the two completions (text = prompt + completion). */
export interface PairRecord {
  /** 0-based line index of the pair in its file (blank lines not counted). */
  index: number;
  prompt: string;
  chosen: string;
  rejected: string;
  format: 'hh' | 'prompt';
}

/** A pair file and the half-open range of pair indices to read (end null: to the end). */
export interface PairRange {
  file: string;
  start: number;
  end: number | null;
  /** The spec as given (a label for the split). */
  label: string;
}

/** `FILE[:start-end]` → file and range; a range that is not two ordered integers is an EvalError. */
export function parsePairsSpec(spec: string): PairRange {
  const m = /^(.*):(\d*)-(\d*)$/.exec(spec);
  if (!m || !m[1]) return { file: spec, start: 0, end: null, label: spec };
  const start = m[2] ? Number(m[2]) : 0;
  const end = m[3] ? Number(m[3]) : null;
  if (end !== null && end <= start) throw new EvalError(`--pairs ${spec}: the range ${start}-${end} is empty (start-end keeps pairs start ≤ i < end)`);
  return { file: m[1], start, end, label: spec };
}

/** Split an HH pair into prompt and completions; an EvalError when the transcripts share no Assistant turn. */
export function splitHhPair(chosen: string, rejected: string, where: string): { prompt: string; chosen: string; rejected: string } {
  let k = 0;
  const n = Math.min(chosen.length, rejected.length);
  while (k < n && chosen.charCodeAt(k) === rejected.charCodeAt(k)) k++;
  // The last "\n\nAssistant:" that ends inside the shared prefix starts the completions.
  const at = chosen.lastIndexOf(HH_ASSISTANT, k - HH_ASSISTANT.length);
  if (at < 0 || k < HH_ASSISTANT.length) throw new EvalError(`${where}: chosen and rejected share no "\\n\\nAssistant:" turn: not an HH pair (use {"prompt","chosen","rejected"})`);
  const cut = at + HH_ASSISTANT.length;
  return { prompt: chosen.slice(0, cut), chosen: chosen.slice(cut), rejected: rejected.slice(cut) };
}

/** One JSONL line → a pair; missing or non-string fields and identical completions are EvalErrors naming file and line. */
export function parsePairLine(line: string, where: string, index: number): PairRecord {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    throw new EvalError(`${where}: invalid JSON: ${(e as Error).message}`);
  }
  const o = v as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new EvalError(`${where}: a pair is a JSON object with "chosen" and "rejected" (and optionally "prompt")`);
  for (const k of ['chosen', 'rejected']) if (typeof o[k] !== 'string') throw new EvalError(`${where}: the pair has no string field "${k}"`);
  if (o.prompt !== undefined && typeof o.prompt !== 'string') throw new EvalError(`${where}: "prompt" must be a string`);
  const c = o.chosen as string;
  const r = o.rejected as string;
  if (c === r) throw new EvalError(`${where}: chosen and rejected are identical: a pair must differ`);
  if (typeof o.prompt === 'string') return { index, prompt: o.prompt, chosen: c, rejected: r, format: 'prompt' };
  return { index, ...splitHhPair(c, r, where), format: 'hh' };
}

/** The pairs of a range of a JSONL file, in order (see the file comment). */
export async function* readPairRecords(range: PairRange): AsyncGenerator<PairRecord> {
  const { file } = range;
  let lineNo = 0;
  let index = 0;
  for await (const line of textLines(file)) {
    lineNo++;
    if (!line.trim()) continue;
    const i = index++;
    if (i < range.start) continue;
    if (range.end !== null && i >= range.end) return;
    yield parsePairLine(line, `${file}:${lineNo}`, i);
  }
}

/** All pairs of a range; an EvalError when the range holds none. */
export async function loadPairRecords(range: PairRange): Promise<PairRecord[]> {
  const out: PairRecord[] = [];
  for await (const p of readPairRecords(range)) out.push(p);
  if (out.length === 0) throw new EvalError(`--pairs ${range.label}: no pairs in that range`);
  return out;
}

/** A tokenized prompt + completion: ids and the completion's token span [start, ids.length). */
export interface EncodedCompletion {
  ids: Int32Array;
  /** Index in `ids` of the completion's first token. */
  start: number;
  /** Tokens cut from the left to fit the context (0 when none). */
  truncated: number;
  /** Completion tokens cut too (the completion alone is longer than the context). */
  completionTruncated: boolean;
}

/**
 * Tokenize prompt + completion, keeping the last `nCtx` tokens (the reward is read at the end).
 * The span starts at the first token where the prompt's own tokenization stops agreeing with the
 * full text's (a token straddling the boundary counts as the completion's).
 */
export function encodeCompletion(tok: Tokenizer, prompt: string, completion: string, nCtx: number): EncodedCompletion {
  const full = tok.encode(prompt + completion);
  const p = prompt ? tok.encode(prompt) : [];
  let start = 0;
  while (start < p.length && start < full.length && p[start] === full[start]) start++;
  let ids = Int32Array.from(full);
  let truncated = 0;
  if (ids.length > nCtx) {
    truncated = ids.length - nCtx;
    ids = ids.slice(truncated);
  }
  // Cutting more tokens than the prompt had cuts into the completion.
  return { ids, start: Math.max(0, start - truncated), truncated, completionTruncated: truncated > start };
}
