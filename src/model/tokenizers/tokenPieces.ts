// Token strings for display: decoding each id alone shows "��" where one character's UTF-8 bytes
// are split across byte-level tokens. Here such a token is decoded together with the split tokens
// before it in its run (the run starts at a character boundary, since a clean token ends on one;
// at most 16 back, to bound the work), and it shows only the text it completes: the partial bytes
// at its end go to the token that finishes them. Tokens whose own decode is clean are
// decoded alone, as before, so only split characters change.

import type { Tokenizer } from './tokenizer.js';

const BAD = '\uFFFD';

/** Strip trailing replacement characters (an incomplete UTF-8 tail). */
function stable(s: string): string {
  let e = s.length;
  while (e > 0 && s[e - 1] === BAD) e--;
  return s.slice(0, e);
}

/**
 * The display string of each token of `ids` (same length as ids); their join equals decode(ids) when
 * the tokenizer decodes byte-wise. `single` decodes one id (pass a cached one; default tok.decode).
 */
export function tokenPieces(tok: Tokenizer, ids: ArrayLike<number>, single: (id: number) => string = (id) => tok.decode([id])): string[] {
  const n = ids.length;
  const alone = Array.from({ length: n }, (_, k) => single(ids[k]!));
  const split = alone.map((s) => s.includes(BAD));
  const out = alone.slice();
  let runStart = 0;
  for (let k = 0; k < n; k++) {
    if (!split[k]) continue;
    if (k === 0 || !split[k - 1]) runStart = k;
    const s = Math.max(runStart, k - 16);
    const window = Array.from({ length: k + 1 - s }, (_, j) => ids[s + j]!);
    // The text before token k, less its incomplete tail when token k continues it.
    let before: string;
    let full: string;
    try {
      before = stable(tok.decode(window.slice(0, -1)));
      full = tok.decode(window);
    } catch {
      continue; // an id outside the vocabulary nearby: keep the token's own decode
    }
    // Token k's own incomplete tail goes to the next token when that one continues it.
    const upTo = k + 1 < n && split[k + 1] ? stable(full) : full;
    if (upTo.startsWith(before)) out[k] = upTo.slice(before.length);
  }
  return out;
}
