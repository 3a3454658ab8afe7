// GPT-2 byte-level BPE (vocab.json + merges.txt, or a plain byte-level tokenizer.json), exact to
// openai/gpt-2's encoder.py and written here rather than run through @huggingface/tokenizers
// because it is several times faster (a per-word cache with no eviction churn, no JSON-keyed merge
// ranks): tokenizing a corpus is on the path of every harvesting run.

import { mergePairs } from './bpeMerge.js';
import { BYTE_TO_CHAR, GPT2_PATTERN, fromByteLevel } from './byteLevel.js';
import { addBosEos, checkId, type EncodeOptions, type Tokenizer, TokenizerError } from './tokenizer.js';

/** What a byte-level BPE tokenizer is built from. */
export interface ByteLevelBpeSpec {
  /** Token string (byte-level alphabet) → id. */
  vocab: ReadonlyMap<string, number> | Readonly<Record<string, number>>;
  /** Merge rules in priority order (first merges first). */
  merges: readonly (readonly [string, string])[];
  /** Special tokens (literal text → id), matched in text only with `allowSpecial`, decoded literally. */
  specialTokens?: ReadonlyMap<string, number>;
  bosId?: number | null;
  eosId?: number | null;
  padId?: number | null;
  defaultBos?: boolean;
  /** Where the vocabulary came from, for error messages. */
  source?: string;
}

/** Words longer than this are not cached (they are rare and would pin memory). */
const MAX_CACHED_WORD = 256;
/** The word cache is cleared when it reaches this many entries (cheaper than LRU bookkeeping). */
const CACHE_LIMIT = 200_000;

/** Byte-level BPE as GPT-2 (and any tokenizer.json that is plain byte-level BPE). */
export class Gpt2BpeTokenizer implements Tokenizer {
  readonly kind = 'gpt2-bpe';
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly padId: number | null;
  readonly defaultBos: boolean;
  private readonly toId = new Map<string, number>();
  private readonly toToken: (string | undefined)[] = [];
  private readonly ranks = new Map<string, number>();
  private readonly specials: ReadonlyMap<string, number>;
  private readonly specialIds: ReadonlySet<number>;
  private readonly specialPattern: RegExp | null;
  private readonly cache = new Map<string, readonly number[]>();
  private idBytes: (Uint8Array | undefined)[] | null = null;
  private readonly source: string;

  constructor(spec: ByteLevelBpeSpec) {
    this.source = spec.source ?? 'vocabulary';
    const entries = spec.vocab instanceof Map ? [...spec.vocab] : Object.entries(spec.vocab);
    for (const [token, id] of entries) {
      if (!Number.isInteger(id) || id < 0) throw new TokenizerError(`${this.source}: token ${JSON.stringify(token)} has id ${id}, not a non-negative integer`);
      this.toId.set(token, id);
      this.toToken[id] = token;
    }
    this.specials = spec.specialTokens ?? new Map();
    for (const [token, id] of this.specials) {
      if (!this.toId.has(token)) this.toId.set(token, id);
      this.toToken[id] ??= token;
    }
    this.specialIds = new Set(this.specials.values());
    this.vocabSize = this.toToken.length;
    spec.merges.forEach(([a, b], rank) => {
      // A merge whose parts or result are not tokens means vocab and merges do not belong together.
      for (const t of [a, b, a + b]) {
        if (!this.toId.has(t)) throw new TokenizerError(`${this.source}: merge ${rank + 1} (${JSON.stringify(a)} ${JSON.stringify(b)}) uses ${JSON.stringify(t)}, which is not in the vocabulary`);
      }
      const key = `${a} ${b}`;
      if (!this.ranks.has(key)) this.ranks.set(key, rank);
    });
    for (const ch of BYTE_TO_CHAR) {
      if (!this.toId.has(ch)) throw new TokenizerError(`${this.source}: not a byte-level vocabulary: it lacks the token for byte character ${JSON.stringify(ch)}`);
    }
    // Longest first, so that a special token containing another wins.
    const names = [...this.specials.keys()].filter((s) => s.length > 0).sort((x, y) => y.length - x.length);
    this.specialPattern = names.length > 0 ? new RegExp(names.map(escapeRegExp).join('|'), 'g') : null;
    this.bosId = spec.bosId ?? null;
    this.eosId = spec.eosId ?? null;
    this.padId = spec.padId ?? null;
    this.defaultBos = spec.defaultBos ?? false;
  }

  /** Token ids of `text` (see EncodeOptions). */
  encode(text: string, options?: EncodeOptions): number[] {
    const ids: number[] = [];
    if (options?.allowSpecial && this.specialPattern) {
      let last = 0;
      for (const m of text.matchAll(this.specialPattern)) {
        this.encodeOrdinary(text.slice(last, m.index), ids);
        ids.push(this.specials.get(m[0])!);
        last = m.index + m[0].length;
      }
      this.encodeOrdinary(text.slice(last), ids);
    } else {
      this.encodeOrdinary(text, ids);
    }
    return addBosEos(ids, this, options);
  }

  /** The text of `ids`: byte-level tokens to bytes, special tokens literally, then UTF-8. */
  decode(ids: ArrayLike<number>): string {
    const table = (this.idBytes ??= []);
    const parts: Uint8Array[] = [];
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      let bytes = table[id];
      if (bytes === undefined) {
        checkId(id, this.vocabSize);
        const token = this.toToken[id];
        if (token === undefined) throw new TokenizerError(`token id ${id} has no token in this vocabulary (of ${this.vocabSize} ids)`);
        bytes = this.specialIds.has(id) ? utf8.encode(token) : fromByteLevel(token);
        table[id] = bytes;
      }
      parts.push(bytes);
      total += bytes.length;
    }
    const all = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return utf8Decoder.decode(all);
  }

  /** The vocabulary string for `id` (byte-level form, e.g. "Ġthe"). */
  idToToken(id: number): string {
    checkId(id, this.vocabSize);
    const token = this.toToken[id];
    if (token === undefined) throw new TokenizerError(`token id ${id} has no token in this vocabulary (of ${this.vocabSize} ids)`);
    return token;
  }

  /** The id of a vocabulary string, or null. */
  tokenToId(token: string): number | null {
    return this.toId.get(token) ?? null;
  }

  /** Append the ids of `text`, with special-token strings treated as plain text. */
  private encodeOrdinary(text: string, out: number[]): void {
    const re = new RegExp(GPT2_PATTERN);
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const word = m[0];
      let ids = this.cache.get(word);
      if (ids === undefined) {
        ids = this.bpeWord(word);
        if (word.length <= MAX_CACHED_WORD) {
          if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
          this.cache.set(word, ids);
        }
      }
      for (let i = 0; i < ids.length; i++) out.push(ids[i]!);
    }
  }

  /** The ids of one pre-tokenized word: its UTF-8 bytes as byte-level symbols, merged by rank. */
  private bpeWord(word: string): number[] {
    const symbols: string[] = [];
    for (const b of utf8.encode(word)) symbols.push(BYTE_TO_CHAR[b]!);
    return mergePairs(symbols, this.rankOf).map((s) => this.toId.get(s)!);
  }

  private readonly rankOf = (a: string, b: string): number | undefined => this.ranks.get(`${a} ${b}`);
}

const utf8 = new TextEncoder();
// ignoreBOM: a text that starts with U+FEFF must decode back to itself.
const utf8Decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** `s` with RegExp syntax characters escaped. */
function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The merge rules of a merges.txt (a "#version" first line, then "left right" per line). */
export function parseMergesTxt(text: string, file = 'merges.txt'): [string, string][] {
  const merges: [string, string][] = [];
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '' || (i === 0 && line.startsWith('#version'))) return;
    const parts = line.split(' ');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      throw new TokenizerError(`${file}: line ${i + 1} is not "left right": ${JSON.stringify(line.slice(0, 80))}`);
    }
    merges.push([parts[0]!, parts[1]!]);
  });
  return merges;
}

/** tokenizer.json merges, either "left right" strings (older files) or [left, right] pairs (newer). */
export function parseJsonMerges(merges: unknown, file = 'tokenizer.json'): [string, string][] {
  if (!Array.isArray(merges)) throw new TokenizerError(`${file}: model.merges is not a list`);
  return merges.map((m: unknown, i) => {
    if (typeof m === 'string') {
      const parts = m.split(' ');
      if (parts.length === 2) return [parts[0]!, parts[1]!];
    } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') {
      return [m[0], m[1]];
    }
    throw new TokenizerError(`${file}: model.merges[${i}] is neither "left right" nor [left, right]`);
  });
}
