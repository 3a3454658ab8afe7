// Preference pairs from a JSONL file (optionally .gz/.xz, as the text sources): HH's
// {"chosen": text, "rejected": text} (each a whole conversation) or {"prompt", "chosen", "rejected"}
// (the prompt goes before each answer), and the window a reward model reads of one text: its last
// contextSize tokens, right-padded with the pad id (pad positions excluded). Used by `saelab eval`
// on reward models and by reward-preserving training. (Attribution, which splits the prompt off,
// reads pairs through eval/pairData.ts.)

import { DataError } from './errors.js';
import type { PackedWindow } from './packTokens.js';
import { textLines } from './textSource.js';
import type { Tokenizer } from '../model/tokenizers/index.js';

/** One pair's two texts (with the prompt, when the file has one, in front of each). */
export interface PairTexts {
  chosen: string;
  rejected: string;
}

/** The pairs of a JSONL file in order; a line without the fields is a DataError naming file and line. */
export async function* readPairTexts(file: string): AsyncGenerator<PairTexts> {
  let lineNo = 0;
  for await (const line of textLines(file)) {
    lineNo++;
    if (line.trim() === '') continue;
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(line) as Record<string, unknown>;
    } catch (e) {
      throw new DataError(`${file}:${lineNo}: invalid JSON (${(e as Error).message})`);
    }
    const missing = ['chosen', 'rejected'].filter((k) => typeof v?.[k] !== 'string');
    if (missing.length > 0) throw new DataError(`${file}:${lineNo}: a preference pair needs string fields "chosen" and "rejected" (missing or not text: ${missing.join(', ')})`);
    if (v.prompt !== undefined && typeof v.prompt !== 'string') throw new DataError(`${file}:${lineNo}: "prompt" must be text`);
    const prompt = (v.prompt as string | undefined) ?? '';
    yield { chosen: prompt + (v.chosen as string), rejected: prompt + (v.rejected as string) };
  }
}

/** A reward model's window of `text`: its last `contextSize` tokens, right-padded with `padId`; null for a text with no token. */
export function rewardWindow(tok: Pick<Tokenizer, 'encode'>, text: string, contextSize: number, padId: number): PackedWindow | null {
  let t = tok.encode(text);
  if (t.length === 0) return null; // no token to read a reward at
  if (t.length > contextSize) t = t.slice(t.length - contextSize);
  const w = { ids: new Int32Array(contextSize).fill(padId), exclude: new Uint8Array(contextSize).fill(1) };
  w.ids.set(t);
  w.exclude.fill(0, 0, t.length);
  return w;
}
