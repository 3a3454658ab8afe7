// Preference pairs for reward-model evaluation: JSON lines {"chosen": text, "rejected": text}
// (optionally .gz or .xz, as the text sources), e.g. Anthropic hh-rlhf.

import { fileBytes } from '../data/byteStream.js';
import { StrictUtf8Decoder } from '../data/utf8.js';
import { EvalError } from './errors.js';

export interface PreferencePair {
  chosen: string;
  rejected: string;
}

/** The pairs of a JSONL file, in order; a malformed line is an EvalError naming the file and line. */
export async function* readPreferencePairs(file: string): AsyncGenerator<PreferencePair> {
  const dec = new StrictUtf8Decoder((offset) => new EvalError(`${file}: not UTF-8 text: invalid byte at offset ${offset}`));
  let buf = '';
  let lineNo = 0;
  const parse = (line: string): PreferencePair | null => {
    lineNo++;
    if (!line.trim()) return null;
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
    return { chosen: o.chosen, rejected: o.rejected };
  };
  for await (const chunk of fileBytes(file)) {
    buf += dec.push(chunk);
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const p = parse(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      if (p) yield p;
    }
  }
  buf += dec.end();
  const p = parse(buf);
  if (p) yield p;
}
