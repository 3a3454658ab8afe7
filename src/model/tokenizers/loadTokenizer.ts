// Pick and load the tokenizer a model folder carries, in the order the formats are trusted:
// tokenizer.json (what HF itself uses), else vocab.json + merges.txt (GPT-2's original pair), else a
// llama2.c tokenizer.bin / tok<N>.bin.

import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Gpt2BpeTokenizer, parseMergesTxt } from './gpt2Bpe.js';
import { Llama2cTokenizer } from './llama2cTokenizer.js';
import { declaredSpecialTokens, type FolderConfigs, NO_CONFIGS, parseJsonObject, readFolderConfigs, resolveSpecialIds } from './specialTokens.js';
import { type Tokenizer, TokenizerError } from './tokenizer.js';
import { type TokenizerEngine, tokenizerFromJson } from './tokenizerJson.js';

/** Options for loadTokenizer. */
export interface LoadTokenizerOptions {
  /** For tokenizer.json: 'auto' (default) uses the fast exact byte-level path where it applies, 'hf' always @huggingface/tokenizers. */
  engine?: TokenizerEngine;
}

const LOOKED_FOR = 'tokenizer.json, vocab.json + merges.txt, or a llama2.c tokenizer.bin / tok<N>.bin';

/** The tokenizer of a model folder (or of one tokenizer file: tokenizer.json, or a llama2.c .bin). */
export async function loadTokenizer(path: string, options: LoadTokenizerOptions = {}): Promise<Tokenizer> {
  let isFile: boolean;
  try {
    isFile = (await stat(path)).isFile();
  } catch {
    throw new TokenizerError(`${path}: no such folder (looked for ${LOOKED_FOR})`);
  }
  if (isFile) return loadTokenizerFile(path, NO_CONFIGS, options);
  const files = new Set(await readdir(path));
  if (files.has('tokenizer.json')) return loadTokenizerFile(join(path, 'tokenizer.json'), await readFolderConfigs(path), options);
  if (files.has('vocab.json') && files.has('merges.txt')) return loadVocabMerges(path, await readFolderConfigs(path));
  const bins = [...files].filter((f) => /^tok\d+\.bin$/.test(f)).sort();
  if (files.has('tokenizer.bin')) return loadTokenizerFile(join(path, 'tokenizer.bin'), NO_CONFIGS, options);
  if (bins.length === 1) return loadTokenizerFile(join(path, bins[0]!), NO_CONFIGS, options);
  if (bins.length > 1) throw new TokenizerError(`${path}: several llama2.c tokenizers (${bins.join(', ')}); pass the one you want as a file path`);
  const half = files.has('vocab.json') ? ' (vocab.json is there but merges.txt is not)' : files.has('merges.txt') ? ' (merges.txt is there but vocab.json is not)' : '';
  throw new TokenizerError(`${path}: no tokenizer found${half}: looked for ${LOOKED_FOR}`);
}

/** One tokenizer file: a tokenizer.json (any *.json) or a llama2.c tokenizer (*.bin). */
async function loadTokenizerFile(file: string, configs: FolderConfigs, options: LoadTokenizerOptions): Promise<Tokenizer> {
  const data = await readFile(file);
  if (file.endsWith('.bin')) return Llama2cTokenizer.parse(data, file);
  if (file.endsWith('.json')) return tokenizerFromJson(parseJsonObject(data.toString('utf8'), file), configs, { engine: options.engine, file });
  throw new TokenizerError(`${file}: not a tokenizer file (expected tokenizer.json or a llama2.c .bin; for vocab.json + merges.txt pass their folder)`);
}

/** GPT-2's vocab.json + merges.txt, with special tokens from the side files plus <|endoftext|> when the vocabulary has it. */
async function loadVocabMerges(dir: string, configs: FolderConfigs): Promise<Tokenizer> {
  const vocabFile = join(dir, 'vocab.json');
  const mergesFile = join(dir, 'merges.txt');
  const vocab = parseJsonObject(await readFile(vocabFile, 'utf8'), vocabFile) as Record<string, number>;
  const merges = parseMergesTxt(await readFile(mergesFile, 'utf8'), mergesFile);
  const lookup = (t: string): number | null => (Object.hasOwn(vocab, t) ? vocab[t]! : ((configs.addedTokens[t] as number | undefined) ?? null));
  const specialTokens = declaredSpecialTokens(configs, lookup);
  // GPT-2's own files name no special tokens; its <|endoftext|> is in the vocabulary.
  if (!specialTokens.has('<|endoftext|>') && Object.hasOwn(vocab, '<|endoftext|>')) specialTokens.set('<|endoftext|>', vocab['<|endoftext|>']!);
  const ids = resolveSpecialIds(configs, lookup, false);
  return new Gpt2BpeTokenizer({ vocab, merges, specialTokens, ...ids, source: `${basename(dir)}/vocab.json + merges.txt` });
}
