// Which ids are BOS, EOS and PAD, from the side files of an HF folder: tokenizer_config.json and
// special_tokens_map.json name the tokens, config.json gives ids, added_tokens.json lists extra ones.
// The names win over config.json's ids because they belong to the tokenizer; family defaults
// ("<|endoftext|>", "<s>") fill in only when neither says anything.

import type { ByteFolder } from '../../io/byteSource.js';
import { localFolder } from '../../io/fileByteSource.js';
import type { SpecialIds } from './hfTokenizer.js';
import { TokenizerError } from './tokenizer.js';

type Json = Record<string, unknown>;

/** The optional side files of a tokenizer folder ({} for each file that is absent). */
export interface FolderConfigs {
  tokenizerConfig: Json;
  specialTokensMap: Json;
  modelConfig: Json;
  addedTokens: Json;
}

/** No side files (for a tokenizer built from a single file). */
export const NO_CONFIGS: FolderConfigs = { tokenizerConfig: {}, specialTokensMap: {}, modelConfig: {}, addedTokens: {} };

/** Read tokenizer_config.json, special_tokens_map.json, config.json and added_tokens.json where present (a local folder or a ByteFolder). */
export async function readFolderConfigs(dir: string | ByteFolder): Promise<FolderConfigs> {
  const folder = typeof dir === 'string' ? localFolder(dir) : dir;
  return {
    tokenizerConfig: await readOptionalJson(folder, 'tokenizer_config.json'),
    specialTokensMap: await readOptionalJson(folder, 'special_tokens_map.json'),
    modelConfig: await readOptionalJson(folder, 'config.json'),
    addedTokens: await readOptionalJson(folder, 'added_tokens.json'),
  };
}

/** A JSON object file's content, {} when the file does not exist. */
async function readOptionalJson(folder: ByteFolder, rel: string): Promise<Json> {
  const file = folder.label(rel);
  if (!(await folder.has(rel))) return {};
  let text: string;
  try {
    text = new TextDecoder().decode(await folder.readBytes(rel));
  } catch (e) {
    throw new TokenizerError(`${file}: cannot read: ${(e as Error).message}`, { cause: e });
  }
  return parseJsonObject(text, file);
}

/** `text` parsed as a JSON object, or a TokenizerError naming `file`. */
export function parseJsonObject(text: string, file: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(`${file}: not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new TokenizerError(`${file}: expected a JSON object`);
  return value as Json;
}

/** A token name as the configs write it: a string, or an AddedToken object with `content`; null when set to null. */
function tokenName(value: unknown): string | null | undefined {
  if (value === null) return null;
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as Json).content === 'string') return (value as Json).content as string;
  return undefined;
}

type Role = 'bos' | 'eos' | 'pad';

/** The id of one role: a named token, else config.json's id, else the first fallback string in the vocabulary. */
function resolveRole(role: Role, configs: FolderConfigs, tokenToId: (t: string) => number | null, fallbacks: readonly string[]): number | null {
  for (const source of [configs.tokenizerConfig, configs.specialTokensMap]) {
    if (!(`${role}_token` in source)) continue;
    const name = tokenName(source[`${role}_token`]);
    if (name === null) return null; // explicitly none (e.g. a tokenizer with no BOS)
    if (name !== undefined) {
      const id = tokenToId(name);
      if (id !== null) return id;
    }
  }
  const key = `${role}_token_id`;
  if (key in configs.modelConfig) {
    const v = configs.modelConfig[key];
    const id = Array.isArray(v) ? v[0] : v;
    if (id === null) return null;
    if (Number.isInteger(id)) return id as number;
  }
  for (const name of fallbacks) {
    const id = tokenToId(name);
    if (id !== null) return id;
  }
  return null;
}

/** Family defaults used when the folder names no special tokens. */
const FALLBACKS: Record<Role, readonly string[]> = {
  bos: ['<|endoftext|>', '<s>', '<|begin_of_text|>', '<bos>'],
  eos: ['<|endoftext|>', '</s>', '<|end_of_text|>', '<eos>'],
  pad: [], // no guess: a wrong pad id silently corrupts masks
};

/** BOS/EOS/PAD ids and the BOS convention, from the folder's configs and the tokenizer's vocabulary. */
export function resolveSpecialIds(configs: FolderConfigs, tokenToId: (t: string) => number | null, defaultBos: boolean): SpecialIds {
  const add = configs.tokenizerConfig.add_bos_token;
  return {
    bosId: resolveRole('bos', configs, tokenToId, FALLBACKS.bos),
    eosId: resolveRole('eos', configs, tokenToId, FALLBACKS.eos),
    padId: resolveRole('pad', configs, tokenToId, FALLBACKS.pad),
    defaultBos: typeof add === 'boolean' ? add : defaultBos,
  };
}

/** Special tokens a vocab.json + merges.txt folder declares: added_tokens.json, tokenizer_config's added_tokens_decoder and *_token names. */
export function declaredSpecialTokens(configs: FolderConfigs, tokenToId: (t: string) => number | null): Map<string, number> {
  const out = new Map<string, number>();
  for (const [content, id] of Object.entries(configs.addedTokens)) if (Number.isInteger(id)) out.set(content, id as number);
  const decoder = configs.tokenizerConfig.added_tokens_decoder;
  if (decoder && typeof decoder === 'object') {
    for (const [id, tok] of Object.entries(decoder as Json)) {
      const content = tokenName(tok);
      if (content && (tok as Json).special !== false && /^\d+$/.test(id)) out.set(content, Number(id));
    }
  }
  for (const source of [configs.tokenizerConfig, configs.specialTokensMap]) {
    for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
      const name = tokenName(source[key]);
      const id = name ? tokenToId(name) : null;
      if (name && id !== null) out.set(name, id);
    }
  }
  return out;
}
