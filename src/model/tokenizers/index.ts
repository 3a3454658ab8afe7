// Tokenizers: one interface over GPT-2 byte-level BPE, HF tokenizer.json and llama2.c.

export { type EncodeOptions, type Tokenizer, TokenizerError } from './tokenizer.js';
export { Gpt2BpeTokenizer, type ByteLevelBpeSpec, parseMergesTxt, parseJsonMerges } from './gpt2Bpe.js';
export { HfTokenizer, type TokenizerJson, type AddedTokenJson, type SpecialIds } from './hfTokenizer.js';
export { Llama2cTokenizer } from './llama2cTokenizer.js';
export { tokenizerFromJson, isPlainByteLevelBpe, type TokenizerEngine } from './tokenizerJson.js';
export { readFolderConfigs, type FolderConfigs } from './specialTokens.js';
export { tokenPieces } from './tokenPieces.js';
export { loadTokenizer, type LoadTokenizerOptions } from './loadTokenizer.js';
