// Opening a model the way every command and run does: resolve the spec (a folder, a llama2.c .bin,
// or a hub id through the HF cache), load it, and load the tokenizer that sits beside it.

import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Device } from '../compute/device.js';
import { resolveModel } from '../io/resolveModel.js';
import { loadTokenizer, type Tokenizer } from './tokenizers/index.js';
import type { LoadOptions } from './loadStore.js';
import { Transformer } from './transformer.js';

/** A model with its tokenizer (null when the model has none and none was needed). */
export interface OpenedModel {
  model: Transformer;
  tokenizer: Tokenizer | null;
  /** The resolved path (a folder or a llama2.c .bin). */
  path: string;
}

/**
 * Resolve and load a model (a folder, a llama2.c .bin next to its tokenizer, or a hub id from the HF
 * cache — downloaded only with `download`) and its tokenizer. Without `needTokenizer`, a missing or
 * unreadable tokenizer is reported through `note` and left null. `load`: dtype, streaming, blocks (LoadOptions).
 */
export async function openModel(spec: string, device: Device, opts: { download?: boolean; needTokenizer?: boolean; note?: (line: string) => void; load?: LoadOptions } = {}): Promise<OpenedModel> {
  const path = await resolveModel(spec, { download: opts.download ?? false });
  const model = await Transformer.load(path, device, { note: opts.note, ...opts.load });
  // A llama2.c checkpoint keeps its tokenizer (tok512.bin / tokenizer.bin) beside it.
  const tokDir = (await stat(path)).isFile() ? dirname(path) : path;
  let tokenizer: Tokenizer | null = null;
  try {
    tokenizer = await loadTokenizer(tokDir);
  } catch (e) {
    if (opts.needTokenizer) {
      model.dispose();
      throw e;
    }
    opts.note?.(`note: no usable tokenizer beside the model, so token ids only (${(e as Error).message})`);
  }
  return { model, tokenizer, path };
}

