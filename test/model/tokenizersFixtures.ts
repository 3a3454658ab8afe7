// Builders for the tokenizer tests: small synthetic tokenizers (byte-level BPE tokenizer.json,
// Llama-style byte-fallback tokenizer.json, a llama2.c tokenizer file) and literal reference ports
// of the algorithms our implementations speed up.

import { BYTE_TO_CHAR, toByteLevel } from '../../src/model/tokenizers/byteLevel.js';

/** A GPT-2-shaped tokenizer.json (ByteLevel pre-tokenizer, BPE, ByteLevel decoder) from a vocab and merges. */
export function byteLevelJson(vocab: Record<string, number>, merges: [string, string][], specials: Record<string, number>): Record<string, unknown> {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: Object.entries(specials).map(([content, id]) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: merges.map(([a, b]) => `${a} ${b}`) },
  };
}

/** A tiny byte-level BPE: the 256 byte characters, merges of a few English pieces, and <|endoftext|>. */
export function tinyByteLevel(): { vocab: Record<string, number>; merges: [string, string][]; eot: number } {
  const vocab: Record<string, number> = {};
  BYTE_TO_CHAR.forEach((c, b) => (vocab[c] = b));
  const merges: [string, string][] = [];
  const add = (a: string, b: string): void => {
    merges.push([a, b]);
    vocab[a + b] ??= Object.keys(vocab).length;
  };
  // Merges on byte-level strings, in priority order; each result is a new token.
  for (const [a, b] of [[' ', 't'], ['h', 'e'], [' t', 'he'], ['i', 'n'], [' ', 'a'], ['e', 'r'], [' ', ' '], ['  ', '  '], ['\n', '\n'], ['l', 'l'], [' ', 'w'], ['o', 'r'], [' w', 'or'], ['l', 'd'], [' wor', 'ld'], ['h', 'el'], ['e', 'l'], ['el', 'lo'], ['l', 'o'], ['1', '2'], ['12', '3'], ["'", 's']] as const) {
    const [x, y] = [toByteLevel(a), toByteLevel(b)];
    if (vocab[x] === undefined || vocab[y] === undefined) continue;
    add(x, y);
  }
  // A merge inside one character's UTF-8 bytes, then with the next character: "é" (C3 A9) + "t".
  const e = toByteLevel('é');
  add(e[0]!, e[1]!);
  add(e, 't');
  const eot = Object.keys(vocab).length;
  vocab['<|endoftext|>'] = eot;
  return { vocab, merges, eot };
}

/** A Llama-style tokenizer.json: BPE with byte_fallback over a tiny "▁hello ▁world" vocabulary. */
export function llamaJson(variant: 'normalizer' | 'metaspace'): Record<string, unknown> {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  const merges = ['▁ h', 'l l', '▁h e', '▁he ll', '▁hell o', '▁ w', 'o r', '▁w or', 'l d', '▁wor ld'];
  for (const p of ['▁', 'h', 'e', 'l', 'o', 'w', 'r', 'd']) vocab[p] = Object.keys(vocab).length;
  for (const m of merges) vocab[m.replace(' ', '')] ??= Object.keys(vocab).length;
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer:
      variant === 'normalizer'
        ? { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] }
        : null,
    pre_tokenizer: variant === 'metaspace' ? { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false } : null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }],
    },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges },
  };
}

/** A llama2.c tokenizer file: int32 max_token_length, then per piece float32 score, int32 byte length, UTF-8 bytes. */
export function llama2cFile(pieces: readonly (readonly [string, number])[]): Uint8Array {
  const enc = new TextEncoder();
  const bytes = pieces.map(([p]) => enc.encode(p));
  const out = new Uint8Array(4 + bytes.reduce((n, b) => n + 8 + b.length, 0));
  const view = new DataView(out.buffer);
  view.setInt32(0, Math.max(...bytes.map((b) => b.length)), true);
  let at = 4;
  pieces.forEach(([, score], i) => {
    view.setFloat32(at, score, true);
    view.setInt32(at + 4, bytes[i]!.length, true);
    out.set(bytes[i]!, at + 8);
    at += 8 + bytes[i]!.length;
  });
  return out;
}

/** The llama2.c pieces <unk>, BOS, EOS and the 256 byte tokens, then `rest`. */
export function llama2cPieces(rest: readonly (readonly [string, number])[]): [string, number][] {
  const head: [string, number][] = [['<unk>', 0], ['\n<s>\n', 0], ['\n</s>\n', 0]];
  for (let b = 0; b < 256; b++) head.push([`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, 0]);
  return [...head, ...rest.map(([p, s]) => [p, s] as [string, number])];
}

/** Parse a llama2.c tokenizer file into binary-string pieces and scores (for the reference port). */
export function parseLlama2c(data: Uint8Array): { pieces: string[]; scores: number[] } {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const pieces: string[] = [];
  const scores: number[] = [];
  for (let at = 4; at < data.byteLength; ) {
    scores.push(view.getFloat32(at, true));
    const len = view.getInt32(at + 4, true);
    pieces.push(String.fromCharCode(...data.subarray(at + 8, at + 8 + len)));
    at += 8 + len;
  }
  return { pieces, scores };
}

/** A line-by-line port of llama2.c run.c's encode(): O(n²), BOS inside the merge loop as there. */
export function llama2cReferenceEncode(tok: { pieces: string[]; scores: number[] }, text: string, bos: boolean, eos: boolean): number[] {
  const lookup = new Map<string, number>();
  tok.pieces.forEach((p, i) => lookup.has(p) || lookup.set(p, i));
  const tokens: number[] = [];
  if (bos) tokens.push(1);
  const bytes = new TextEncoder().encode(text);
  if (bytes.length > 0) tokens.push(lookup.get(' ')!);
  let buf: number[] = [];
  for (let c = 0; c < bytes.length; c++) {
    if ((bytes[c]! & 0xc0) !== 0x80) buf = [];
    buf.push(bytes[c]!);
    if (c + 1 < bytes.length && (bytes[c + 1]! & 0xc0) === 0x80 && buf.length < 4) continue;
    const id = lookup.get(String.fromCharCode(...buf));
    if (id !== undefined) tokens.push(id);
    else for (const b of buf) tokens.push(b + 3);
    buf = [];
  }
  for (;;) {
    let best = -1e10;
    let bestId = -1;
    let bestIdx = -1;
    for (let i = 0; i < tokens.length - 1; i++) {
      const id = lookup.get(tok.pieces[tokens[i]!]! + tok.pieces[tokens[i + 1]!]!);
      if (id !== undefined && tok.scores[id]! > best) {
        best = tok.scores[id]!;
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestIdx === -1) break;
    tokens.splice(bestIdx, 2, bestId);
  }
  if (eos) tokens.push(2);
  return tokens;
}

/** The naive greedy merge (rescan every pair, merge the best, leftmost on ties): mergePairs's specification. */
export function naiveMerge(symbols: string[], rank: (a: string, b: string) => number | undefined): string[] {
  const s = symbols.slice();
  for (;;) {
    let best = Infinity;
    let at = -1;
    for (let i = 0; i + 1 < s.length; i++) {
      const r = rank(s[i]!, s[i + 1]!);
      if (r !== undefined && r < best) {
        best = r;
        at = i;
      }
    }
    if (at < 0) return s;
    s.splice(at, 2, s[at]! + s[at + 1]!);
  }
}
