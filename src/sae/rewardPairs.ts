// The batches of a reward-preserving run: preference pairs from a JSONL file, either HH's
// {"chosen": text, "rejected": text} (each a whole conversation) or {"prompt", "chosen", "rejected"}
// (the prompt goes before each answer), optionally .gz / .xz. Each text becomes one window of its
// last contextSize tokens, right-padded with the model's pad id (pad positions excluded), and a
// batch holds whole pairs: rows 2p (chosen) and 2p + 1 (rejected). The file repeats when it runs out.

import { DataError } from '../data/errors.js';
import { readPairTexts, rewardWindow } from '../data/preferencePairs.js';
import type { Tokenizer } from '../model/tokenizers/index.js';
import type { TokenBatch } from './e2eObjective.js';

/** Token batches of `pairsPerBatch` pairs (2·pairsPerBatch rows of contextSize tokens), pass after pass over the file. */
export async function* pairBatches(file: string, tok: Tokenizer, o: { contextSize: number; pairsPerBatch: number; padId: number }): AsyncGenerator<TokenBatch> {
  const T = o.contextSize;
  const B = 2 * o.pairsPerBatch;
  const window = (text: string, ids: Int32Array, exclude: Uint8Array, row: number): boolean => {
    const w = rewardWindow(tok, text, T, o.padId);
    if (!w) return false;
    ids.set(w.ids, row * T);
    exclude.set(w.exclude, row * T);
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
