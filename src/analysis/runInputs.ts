// What gradients, perturb and connect open first: SAE folders, then the model they name. The
// caller owns the loaded list (so a failure half-way still frees what was loaded) and disposes it.

import { resolve } from 'node:path';
import type { Device } from '../compute/device.js';
import type { Tensor } from '../compute/tensor.js';
import { loadSpec } from '../eval/evalRun.js';
import type { LoadOptions } from '../model/loadStore.js';
import { openModel } from '../model/openModel.js';
import type { Tokenizer } from '../model/tokenizers/index.js';
import type { Transformer } from '../model/transformer.js';
import { saeModelSpec } from '../sae/runSource.js';
import { defaultModel } from '../sae/trainRun.js';
/** One loaded SAE folder: its evaluation spec and its weights. */
export type LoadedSpec = Awaited<ReturnType<typeof loadSpec>>;

/** Load SAE folders `dirs` into `loaded`, one after another (the caller frees them with disposeLoaded). */
export async function loadSaeFolders(dirs: readonly string[], device: Device, loaded: LoadedSpec[]): Promise<void> {
  for (const dir of dirs) loaded.push(await loadSpec(resolve(dir), device, undefined));
}

/** Open the model: `model` when given, else the one the first loaded SAE names, else the shared default (held as `load` says). */
export async function openRunModel(model: string | undefined, loaded: readonly LoadedSpec[], device: Device, download: boolean, load?: LoadOptions): Promise<{ spec: string; model: Transformer; tokenizer: Tokenizer }> {
  const spec = model ?? (loaded[0] ? saeModelSpec(loaded[0].loaded.metadata) : undefined) ?? defaultModel();
  const opened = await openModel(spec, device, { download, needTokenizer: true, load });
  return { spec, model: opened.model, tokenizer: opened.tokenizer! };
}

/** Free the weights of every loaded SAE. */
export function disposeLoaded(loaded: readonly LoadedSpec[]): void {
  for (const l of loaded) for (const p of Object.values(l.loaded.params) as (Tensor | undefined)[]) p?.dispose();
}
