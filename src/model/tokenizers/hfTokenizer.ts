// Any Hugging Face tokenizer.json (byte-fallback BPE as Llama/Mistral, Unigram, WordPiece, byte-level
// BPE with normalizers or non-special added tokens as Pythia) through @huggingface/tokenizers, the
// maintained JS port of HF `tokenizers`. This wrapper only adds what the library does not do our way:
// special tokens are plain text unless asked for, BOS/EOS are explicit, decode is exact, ids are checked.
// Known library difference: its ByteLevel pre-tokenizer uses JavaScript's \s, which disagrees with
// HF's Rust on U+FEFF and U+0085; plain byte-level files avoid it by taking Gpt2BpeTokenizer.

import { Tokenizer as HfLibTokenizer } from '@huggingface/tokenizers';
import { addBosEos, checkId, type EncodeOptions, type Tokenizer, TokenizerError } from './tokenizer.js';

/** One entry of tokenizer.json's added_tokens. */
export interface AddedTokenJson {
  id: number;
  content: string;
  special?: boolean;
  single_word?: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  normalized?: boolean;
}

/** The parts of a tokenizer.json this package reads (the library reads the rest). */
export interface TokenizerJson {
  model: { type?: string; vocab?: unknown; merges?: unknown; byte_fallback?: boolean; [k: string]: unknown };
  added_tokens?: AddedTokenJson[];
  normalizer?: unknown;
  pre_tokenizer?: unknown;
  post_processor?: unknown;
  decoder?: unknown;
  [k: string]: unknown;
}

/** The special ids and BOS convention a tokenizer is built with. */
export interface SpecialIds {
  bosId: number | null;
  eosId: number | null;
  padId: number | null;
  defaultBos: boolean;
}

/** A tokenizer.json run by @huggingface/tokenizers. */
export class HfTokenizer implements Tokenizer {
  readonly kind = 'hf-tokenizer-json';
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly padId: number | null;
  readonly defaultBos: boolean;
  /** With every added token: encodes with allowSpecial, and decodes everything. */
  private readonly full: HfLibTokenizer;
  /** Without the special added tokens, so their strings in text are plain text; built on first use. */
  private plain: HfLibTokenizer | null = null;
  private readonly json: TokenizerJson;
  private readonly libConfig: Record<string, unknown>;

  /** `tokenizerConfig` is tokenizer_config.json's content (the library reads a few flags from it). */
  constructor(json: TokenizerJson, specials: SpecialIds, tokenizerConfig: Record<string, unknown> = {}) {
    this.json = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...json, added_tokens: json.added_tokens ?? [] };
    // clean_up_tokenization_spaces rewrites " ." to "." and the like: decode must give the text back.
    this.libConfig = { ...tokenizerConfig, clean_up_tokenization_spaces: false };
    try {
      this.full = new HfLibTokenizer(this.json, this.libConfig);
    } catch (e) {
      throw new TokenizerError(`tokenizer.json: @huggingface/tokenizers cannot build it: ${(e as Error).message}`, { cause: e });
    }
    this.vocabSize = this.full.model!.vocab.length;
    this.bosId = specials.bosId;
    this.eosId = specials.eosId;
    this.padId = specials.padId;
    this.defaultBos = specials.defaultBos;
  }

  /** Token ids of `text` (see EncodeOptions); the post-processor's BOS/EOS are never added implicitly. */
  encode(text: string, options?: EncodeOptions): number[] {
    const lib = options?.allowSpecial ? this.full : this.plainTokenizer();
    const ids = lib.encode(text, { add_special_tokens: false }).ids;
    for (const id of ids) {
      // The library yields undefined for a piece that is not in the vocabulary when there is no unk token.
      if (id === undefined) throw new TokenizerError(`cannot encode the text: a piece is not in the vocabulary and the tokenizer has no unknown token`);
    }
    return addBosEos(ids, this, options);
  }

  /** The text of `ids` through the tokenizer.json decoder, special tokens included, spaces as they are. */
  decode(ids: ArrayLike<number>): string {
    if (ids.length === 0) return '';
    const list = Array.from(ids);
    for (const id of list) this.idToToken(id);
    return this.full.decode(list, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  }

  /** The vocabulary string for `id`. */
  idToToken(id: number): string {
    checkId(id, this.vocabSize);
    const token = this.full.id_to_token(id);
    if (token === undefined) throw new TokenizerError(`token id ${id} has no token in this vocabulary (of ${this.vocabSize} ids)`);
    return token;
  }

  /** The id of a vocabulary string, or null. */
  tokenToId(token: string): number | null {
    return this.full.token_to_id(token) ?? null;
  }

  private plainTokenizer(): HfLibTokenizer {
    const added = this.json.added_tokens ?? [];
    if (!added.some((t) => t.special)) return this.full;
    return (this.plain ??= new HfLibTokenizer({ ...this.json, added_tokens: added.filter((t) => !t.special) }, this.libConfig));
  }
}
