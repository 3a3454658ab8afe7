// Preference pairs for reward-model evaluation: JSON lines {"chosen": text, "rejected": text}
// (optionally .gz or .xz, as the text sources), e.g. Anthropic hh-rlhf.

import { textLines } from '../data/textSource.js';
import { EvalError } from './errors.js';

export interface PreferencePair {
  chosen: string;
  rejected: string;
}

/** The pairs of a JSONL file, in order; a malformed line is an EvalError naming the file and line. */
export async function* readPreferencePairs(file: string): AsyncGenerator<PreferencePair> {
  let lineNo = 0;
  for await (const line of textLines(file)) {
    lineNo++;
    if (!line.trim()) continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new EvalError(`${file}:${lineNo}: invalid JSON: ${(e as Error).message}`);
    }
    const o = v as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || typeof o.chosen !== 'string' || typeof o.rejected !== 'string') {
      throw new EvalError(`${file}:${lineNo}: a preference pair needs string fields "chosen" and "rejected"`);
    }
    yield { chosen: o.chosen, rejected: o.rejected };
  }
}
