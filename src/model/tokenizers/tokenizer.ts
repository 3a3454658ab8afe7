// The one tokenizer interface every model family uses, and the error its implementations throw.
// encode() never adds BOS/EOS unless asked: whether a sequence starts with BOS is a data decision
// (harvesting, packing), so it belongs to the caller; `defaultBos` says what the model's own
// reference tokenizer does, for callers that want to follow it.

/** Options for Tokenizer.encode. */
export interface EncodeOptions {
  /**
   * Map literal special-token strings in the text (GPT-2's "<|endoftext|>", Llama's "<s>") to their ids.
   * Default false: they are ordinary text, as in gpt-3-encoder and tiktoken's encode_ordinary, because
   * research corpora use the literal "<|endoftext|>" as a document separator inside plain text.
   */
  allowSpecial?: boolean;
  /** Prepend bosId (llama2.c's `bos` flag). Default false. Throws when the tokenizer has no BOS. */
  bos?: boolean;
  /** Append eosId (llama2.c's `eos` flag). Default false. Throws when the tokenizer has no EOS. */
  eos?: boolean;
}

/** Text ⇄ token ids for one model's vocabulary. */
export interface Tokenizer {
  /** Which implementation: 'gpt2-bpe', 'hf-tokenizer-json' or 'llama2c'. */
  readonly kind: string;
  /** Number of ids: one more than the largest id (may be smaller than a model's padded embedding). */
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly padId: number | null;
  /** Whether the model's reference tokenizer prepends BOS by default (Llama, llama2.c: yes; GPT-2, Pythia: no). */
  readonly defaultBos: boolean;
  /** Token ids of `text`; see EncodeOptions for special tokens, BOS and EOS. */
  encode(text: string, options?: EncodeOptions): number[];
  /**
   * The text of `ids`; throws TokenizerError on an id outside the vocabulary. Special tokens decode to
   * their strings ("<|endoftext|>", "<s>") as in HF, except llama2.c's BOS/EOS, which give nothing as in run.c.
   */
  decode(ids: ArrayLike<number>): string;
  /** The vocabulary's own string for `id` (byte-level form such as "Ġthe" for GPT-2, "<0x0A>" for byte tokens). */
  idToToken(id: number): string;
  /** The id of a vocabulary string (the form idToToken returns), or null. */
  tokenToId(token: string): number | null;
}

/** A bad token id, a bad option, or a folder or file that holds no usable tokenizer. */
export class TokenizerError extends Error {
  override name = 'TokenizerError';

  constructor(message: string, options?: { cause?: unknown }) {
    // One line, so the CLI can print it as it is (file contents may put newlines in names).
    super(message.replace(/[\r\n]+/g, ' '), options);
  }
}

/** Throw TokenizerError unless `id` is an integer in [0, vocabSize). */
export function checkId(id: number, vocabSize: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
    throw new TokenizerError(`token id ${id} is out of range for a vocabulary of ${vocabSize} tokens (valid ids are 0..${vocabSize - 1})`);
  }
}

/** `ids` with BOS prepended and EOS appended as the options ask (in place; returns `ids`). */
export function addBosEos(ids: number[], tok: Pick<Tokenizer, 'bosId' | 'eosId' | 'kind'>, options: EncodeOptions | undefined): number[] {
  if (options?.bos) {
    if (tok.bosId === null) throw new TokenizerError(`encode({ bos: true }): this ${tok.kind} tokenizer has no BOS token`);
    ids.unshift(tok.bosId);
  }
  if (options?.eos) {
    if (tok.eosId === null) throw new TokenizerError(`encode({ eos: true }): this ${tok.kind} tokenizer has no EOS token`);
    ids.push(tok.eosId);
  }
  return ids;
}
