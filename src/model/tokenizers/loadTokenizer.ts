// Pick and load the tokenizer a model folder carries, in the order the formats are trusted:
// tokenizer.json (what HF itself uses), else vocab.json + merges.txt (GPT-2's original pair), else a
// llama2.c tokenizer.bin / tok<N>.bin. A folder is a local path or a ByteFolder (a URL in a browser).

import type { ByteFolder } from '../../io/byteSource.js';
import { localFolder, localPathKind, readLocalFile } from '../../io/fileByteSource.js';
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

/** The tokenizer of a model folder (a local path or a ByteFolder), or of one local tokenizer file: tokenizer.json, or a llama2.c .bin. */
export async function loadTokenizer(path: string | ByteFolder, options: LoadTokenizerOptions = {}): Promise<Tokenizer> {
  let folder: ByteFolder;
  if (typeof path === 'string') {
    const kind = await localPathKind(path);
    if (kind === null) throw new TokenizerError(`${path}: no such folder (looked for ${LOOKED_FOR})`);
    if (kind === 'file') return parseTokenizerFile(await readLocalFile(path), path, NO_CONFIGS, options);
    folder = localFolder(path);
  } else folder = path;
  const name = folder.name;
  const files = new Set(await folder.list());
  const file = async (rel: string, configs: FolderConfigs) => parseTokenizerFile(await folder.readBytes(rel), folder.label(rel), configs, options);
  if (files.has('tokenizer.json')) return file('tokenizer.json', await readFolderConfigs(folder));
  if (files.has('vocab.json') && files.has('merges.txt')) return loadVocabMerges(folder, await readFolderConfigs(folder));
  const bins = [...files].filter((f) => /^tok\d+\.bin$/.test(f)).sort();
  if (files.has('tokenizer.bin')) return file('tokenizer.bin', NO_CONFIGS);
  if (bins.length === 1) return file(bins[0]!, NO_CONFIGS);
  if (bins.length > 1) throw new TokenizerError(`${name}: several llama2.c tokenizers (${bins.join(', ')}); pass the one you want as a file path`);
  const half = files.has('vocab.json') ? ' (vocab.json is there but merges.txt is not)' : files.has('merges.txt') ? ' (merges.txt is there but vocab.json is not)' : '';
  throw new TokenizerError(`${name}: no tokenizer found${half}: looked for ${LOOKED_FOR}`);
}

/** One tokenizer file's bytes: a tokenizer.json (any *.json) or a llama2.c tokenizer (*.bin). */
function parseTokenizerFile(data: Uint8Array, file: string, configs: FolderConfigs, options: LoadTokenizerOptions): Tokenizer {
  if (file.endsWith('.bin')) return Llama2cTokenizer.parse(data, file);
  if (file.endsWith('.json')) return tokenizerFromJson(parseJsonObject(new TextDecoder().decode(data), file), configs, { engine: options.engine, file });
  throw new TokenizerError(`${file}: not a tokenizer file (expected tokenizer.json or a llama2.c .bin; for vocab.json + merges.txt pass their folder)`);
}

/** GPT-2's vocab.json + merges.txt, with special tokens from the side files plus <|endoftext|> when the vocabulary has it. */
async function loadVocabMerges(folder: ByteFolder, configs: FolderConfigs): Promise<Tokenizer> {
  const vocabFile = folder.label('vocab.json');
  const mergesFile = folder.label('merges.txt');
  const text = async (rel: string) => new TextDecoder().decode(await folder.readBytes(rel));
  const vocab = parseJsonObject(await text('vocab.json'), vocabFile) as Record<string, number>;
  const merges = parseMergesTxt(await text('merges.txt'), mergesFile);
  const lookup = (t: string): number | null => (Object.hasOwn(vocab, t) ? vocab[t]! : ((configs.addedTokens[t] as number | undefined) ?? null));
  const specialTokens = declaredSpecialTokens(configs, lookup);
  // GPT-2's own files name no special tokens; its <|endoftext|> is in the vocabulary.
  if (!specialTokens.has('<|endoftext|>') && Object.hasOwn(vocab, '<|endoftext|>')) specialTokens.set('<|endoftext|>', vocab['<|endoftext|>']!);
  const ids = resolveSpecialIds(configs, lookup, false);
  return new Gpt2BpeTokenizer({ vocab, merges, specialTokens, ...ids, source: `${baseName(folder.name)}/vocab.json + merges.txt` });
}

/** The last step of a path or URL (the folder's name in a tokenizer's label). */
function baseName(p: string): string {
  const parts = p.split(/[\\/]/).filter((x) => x !== '');
  return parts[parts.length - 1] ?? p;
}
