// Build a Tokenizer from a tokenizer.json. A plain byte-level BPE (GPT-2's own tokenizer.json and its
// likes) goes to our exact, faster Gpt2BpeTokenizer; everything else (byte fallback, normalizers,
// non-special added tokens, Unigram, WordPiece) goes to @huggingface/tokenizers. The test suite
// checks that both give the same ids on a GPT-2 tokenizer.json.

import { Gpt2BpeTokenizer, parseJsonMerges } from './gpt2Bpe.js';
import { type AddedTokenJson, HfTokenizer, type TokenizerJson } from './hfTokenizer.js';
import { type FolderConfigs, NO_CONFIGS, resolveSpecialIds } from './specialTokens.js';
import { type Tokenizer, TokenizerError } from './tokenizer.js';

/** Which implementation runs a tokenizer.json: 'auto' takes the fast path where it is exact, 'hf' always the library. */
export type TokenizerEngine = 'auto' | 'hf';

type Json = Record<string, unknown>;

/** Whether `json` is byte-level BPE with nothing our Gpt2BpeTokenizer does not do exactly. */
export function isPlainByteLevelBpe(json: TokenizerJson): boolean {
  const m = json.model;
  const pre = json.pre_tokenizer as Json | null | undefined;
  const dec = json.decoder as Json | null | undefined;
  return (
    m.type === 'BPE' &&
    !m.byte_fallback &&
    !m.continuing_subword_prefix &&
    !m.end_of_word_suffix &&
    !m.ignore_merges &&
    m.dropout == null &&
    json.normalizer == null &&
    pre?.type === 'ByteLevel' &&
    pre.add_prefix_space !== true &&
    pre.use_regex !== false &&
    dec?.type === 'ByteLevel' &&
    // Non-special added tokens are matched before pre-tokenization, and strip flags edit the text: leave those to the library.
    (json.added_tokens ?? []).every((t) => t.special === true && !t.lstrip && !t.rstrip && !t.single_word)
  );
}

/** Whether the post-processor puts a special token first (Llama's TemplateProcessing "<s> $A"). */
function postProcessorAddsBos(pp: unknown): boolean {
  if (!pp || typeof pp !== 'object') return false;
  const p = pp as Json;
  if (p.type === 'Sequence' && Array.isArray(p.processors)) return p.processors.some(postProcessorAddsBos);
  if (p.type === 'TemplateProcessing' && Array.isArray(p.single)) {
    const first = p.single[0] as Json | undefined;
    return first !== undefined && 'SpecialToken' in first;
  }
  return false;
}

/** token → id over tokenizer.json's vocabulary (BPE/WordPiece objects, Unigram [piece, score] lists) and added tokens. */
function jsonVocab(json: TokenizerJson): Map<string, number> {
  const map = new Map<string, number>();
  const vocab = json.model.vocab;
  if (Array.isArray(vocab)) vocab.forEach((entry, id) => Array.isArray(entry) && typeof entry[0] === 'string' && map.set(entry[0], id));
  else if (vocab && typeof vocab === 'object') for (const [t, id] of Object.entries(vocab as Json)) if (typeof id === 'number') map.set(t, id);
  for (const t of json.added_tokens ?? []) map.set(t.content, t.id);
  return map;
}

/** Check the shape the rest of the code relies on, so a wrong file fails with its name. */
function validate(json: Json, file: string): TokenizerJson {
  const model = json.model as Json | undefined;
  // Old tokenizer.json files omit model.type for BPE; the library infers it from merges.
  if (!model || typeof model !== 'object' || (typeof model.type !== 'string' && !('merges' in model))) {
    throw new TokenizerError(`${file}: no "model" object with a "type" (is this a Hugging Face tokenizer.json?)`);
  }
  const added = json.added_tokens ?? [];
  if (!Array.isArray(added) || !added.every((t: AddedTokenJson) => t && typeof t.content === 'string' && Number.isInteger(t.id))) {
    throw new TokenizerError(`${file}: "added_tokens" must be a list of {id, content, ...}`);
  }
  return json as TokenizerJson;
}

/** A Tokenizer for a parsed tokenizer.json, with special ids from the folder's side files. */
export function tokenizerFromJson(json: Json, configs: FolderConfigs = NO_CONFIGS, options: { engine?: TokenizerEngine; file?: string } = {}): Tokenizer {
  const file = options.file ?? 'tokenizer.json';
  const tj = validate(json, file);
  const vocab = jsonVocab(tj);
  const specials = resolveSpecialIds(configs, (t) => vocab.get(t) ?? null, postProcessorAddsBos(tj.post_processor));
  if ((options.engine ?? 'auto') === 'auto' && isPlainByteLevelBpe(tj)) {
    const specialTokens = new Map((tj.added_tokens ?? []).map((t) => [t.content, t.id] as const));
    return new Gpt2BpeTokenizer({
      vocab: tj.model.vocab as Record<string, number>,
      merges: parseJsonMerges(tj.model.merges, file),
      specialTokens,
      ...specials,
      source: file,
    });
  }
  return new HfTokenizer(tj, specials, configs.tokenizerConfig);
}
