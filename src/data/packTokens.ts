// Tokenize documents and pack them into fixed context windows, as SAELens does: documents are
// tokenized without special tokens, joined into one stream with a separator token between them,
// and cut into windows; with `prependBos` each window starts with BOS and carries contextSize − 1
// stream tokens. A trailing partial window is dropped (every window is full, so every forward has
// the same shape). Each window comes with a mask of positions to leave out of SAE training data:
// by default the special tokens (BOS, EOS, PAD — whose activations are outliers that carry no
// text), optionally position 0 of every window (the attention sink).

import type { Tokenizer } from '../model/tokenizers/index.js';
import { DataError } from './errors.js';

export interface PackOptions {
  /** Tokens per window. */
  contextSize: number;
  /** Start each window with BOS. Default true (SAELens' prepend_bos). */
  prependBos?: boolean;
  /** The token between documents: 'eos' (default; GPT-2's <|endoftext|>), 'bos', or 'none'. */
  separator?: 'eos' | 'bos' | 'none';
  /** Exclude positions holding BOS, EOS or PAD ids. Default true. */
  excludeSpecial?: boolean;
  /** Exclude position 0 of every window, whatever it holds. Default false. */
  excludeFirst?: boolean;
}

/** The packing settings with every default filled in (what a manifest records). */
export interface PackSettings {
  contextSize: number;
  prependBos: boolean;
  separator: 'eos' | 'bos' | 'none';
  excludeSpecial: boolean;
  excludeFirst: boolean;
}

/** One window of token ids, and which positions to exclude (1 = exclude). */
export interface PackedWindow {
  ids: Int32Array;
  exclude: Uint8Array;
}

/** The settings with defaults filled in, checked against the tokenizer's special ids. */
export function packSettings(opts: PackOptions, tok: Pick<Tokenizer, 'bosId' | 'eosId'>): PackSettings {
  const s: PackSettings = {
    contextSize: opts.contextSize,
    prependBos: opts.prependBos ?? true,
    separator: opts.separator ?? 'eos',
    excludeSpecial: opts.excludeSpecial ?? true,
    excludeFirst: opts.excludeFirst ?? false,
  };
  if (!Number.isInteger(s.contextSize) || s.contextSize < (s.prependBos ? 2 : 1)) throw new DataError(`context size must be an integer ≥ ${s.prependBos ? 2 : 1} (got ${opts.contextSize})`);
  if (s.prependBos && tok.bosId === null) throw new DataError('prependBos: the tokenizer has no BOS token (pack without BOS)');
  if (s.separator !== 'none' && (s.separator === 'eos' ? tok.eosId : tok.bosId) === null) throw new DataError(`separator '${s.separator}': the tokenizer has no ${s.separator.toUpperCase()} token`);
  return s;
}

/** Packs a token stream into windows; push documents' ids, take the full windows out. */
export class WindowPacker {
  readonly settings: PackSettings;
  private readonly special: Set<number>;
  private readonly bos: number | null;
  private readonly sep: number | null;
  private readonly body: number; // stream tokens per window
  private pending: number[] = [];
  private docs = 0;

  constructor(tok: Pick<Tokenizer, 'bosId' | 'eosId' | 'padId'>, opts: PackOptions) {
    this.settings = packSettings(opts, tok);
    const s = this.settings;
    this.bos = s.prependBos ? tok.bosId : null;
    this.sep = s.separator === 'eos' ? tok.eosId : s.separator === 'bos' ? tok.bosId : null;
    this.special = new Set([tok.bosId, tok.eosId, tok.padId].filter((x): x is number => x !== null));
    this.body = s.contextSize - (s.prependBos ? 1 : 0);
  }

  /** Add one document's token ids (without special tokens); returns the windows it completed. */
  push(ids: ArrayLike<number>): PackedWindow[] {
    if (ids.length === 0) return [];
    if (this.docs > 0 && this.sep !== null) this.pending.push(this.sep);
    this.docs++;
    for (let i = 0; i < ids.length; i++) this.pending.push(ids[i]!);
    const out: PackedWindow[] = [];
    let start = 0;
    while (this.pending.length - start >= this.body) {
      out.push(this.window(this.pending, start));
      start += this.body;
    }
    if (start > 0) this.pending = this.pending.slice(start);
    return out;
  }

  /** Stream tokens waiting for a window (dropped at the end: they do not fill one). */
  get leftover(): number {
    return this.pending.length;
  }

  private window(src: number[], start: number): PackedWindow {
    const s = this.settings;
    const ids = new Int32Array(s.contextSize);
    let o = 0;
    if (this.bos !== null) ids[o++] = this.bos;
    for (let i = 0; i < this.body; i++) ids[o++] = src[start + i]!;
    const exclude = new Uint8Array(s.contextSize);
    if (s.excludeSpecial) for (let t = 0; t < ids.length; t++) if (this.special.has(ids[t]!)) exclude[t] = 1;
    if (s.excludeFirst) exclude[0] = 1;
    return { ids, exclude };
  }
}

/** Tokenize a stream of documents and yield full windows (see the file comment). */
export async function* packTokens(docs: AsyncIterable<string | { text: string }> | Iterable<string | { text: string }>, tok: Tokenizer, opts: PackOptions): AsyncGenerator<PackedWindow> {
  const packer = new WindowPacker(tok, opts);
  for await (const d of docs) {
    // Literal "<|endoftext|>" inside a document stays text (encode's default): separators are ids.
    const ids = tok.encode(typeof d === 'string' ? d : d.text);
    yield* packer.push(ids);
  }
}

/**
 * Drop windows from the front of `windows` until `tokens` stream tokens are skipped, counting each
 * window's body (its length less the BOS, the same unit as a training run's stream tokens), so text
 * a run trained on can be held out of an evaluation.
 */
export async function* skipStreamTokens(windows: AsyncIterable<PackedWindow>, tokens: number, body: number): AsyncGenerator<PackedWindow> {
  let skipped = 0;
  for await (const w of windows) {
    if (skipped < tokens) {
      skipped += body;
      continue;
    }
    yield w;
  }
}

/** How many positions of a window are kept (not excluded). */
export function keptCount(w: PackedWindow): number {
  let n = 0;
  for (let t = 0; t < w.exclude.length; t++) if (!w.exclude[t]) n++;
  return n;
}
