// The batches of a reward-preserving run: preference pairs from a JSONL file, either HH's
// {"chosen": text, "rejected": text} (each a whole conversation) or {"prompt", "chosen", "rejected"}
// (the prompt goes before each answer), optionally .gz / .xz. Each text becomes one window of its
// last contextSize tokens, right-padded with the model's pad id (pad positions excluded), and a
// batch holds whole pairs: rows 2p (chosen) and 2p + 1 (rejected). The file repeats when it runs out.

import { DataError } from '../data/errors.js';
import { textLines } from '../data/textSource.js';
import type { Tokenizer } from '../model/tokenizers/index.js';
import type { TokenBatch } from './e2eObjective.js';

/** One pair's two texts. */
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

/** Token batches of `pairsPerBatch` pairs (2·pairsPerBatch rows of contextSize tokens), pass after pass over the file. */
export async function* pairBatches(file: string, tok: Tokenizer, o: { contextSize: number; pairsPerBatch: number; padId: number }): AsyncGenerator<TokenBatch> {
  const T = o.contextSize;
  const B = 2 * o.pairsPerBatch;
  const window = (text: string, ids: Int32Array, exclude: Uint8Array, row: number): boolean => {
    let t = tok.encode(text);
    if (t.length === 0) return false; // no token to read a reward at
    if (t.length > T) t = t.slice(t.length - T);
    ids.fill(o.padId, row * T, (row + 1) * T);
    exclude.fill(1, row * T, (row + 1) * T);
    ids.set(t, row * T);
    exclude.fill(0, row * T, row * T + t.length);
    return true;
  };
  for (;;) {
    let pairs = 0;
    let ids = new Int32Array(B * T);
    let exclude = new Uint8Array(B * T);
    let row = 0;
    for await (const p of readPairTexts(file)) {
      if (!window(p.chosen, ids, exclude, row) || !window(p.rejected, ids, exclude, row + 1)) continue;
      pairs++;
      row += 2;
      if (row === B) {
        yield { ids, exclude, B, T };
        ids = new Int32Array(B * T);
        exclude = new Uint8Array(B * T);
        row = 0;
      }
    }
    if (pairs < o.pairsPerBatch) throw new DataError(`${file}: ${pairs} usable preference pair(s), fewer than one batch of ${o.pairsPerBatch} (use a smaller --batch-size or more pairs)`);
  }
}
