// Checks of input paths that every command runs before it opens a device or a model, so a wrong
// path is one line in a moment instead of after seconds of device start-up (and its log lines).

import { statSync } from 'node:fs';
import { resolveModel } from '../io/resolveModel.js';
import { UsageError } from './errors.js';

/** What is at `path`: 'file', 'dir' or null when nothing is. */
function kindOf(path: string): 'file' | 'dir' | null {
  try {
    const st = statSync(path);
    return st.isDirectory() ? 'dir' : 'file';
  } catch {
    return null;
  }
}

/** `--flag path` must exist (as a folder with want 'dir'). */
export function checkPath(flag: string, path: string | undefined, want: 'dir' | 'any' = 'any'): void {
  if (path === undefined) return;
  const k = kindOf(path);
  if (k === null) throw new UsageError(`${flag} ${path}: no such ${want === 'dir' ? 'folder' : 'file or folder'}`);
  if (want === 'dir' && k !== 'dir') throw new UsageError(`${flag} ${path}: is a file, not a folder`);
}

/** Every SAE folder of `flag` exists and is a folder. */
export function checkSaeDirs(flag: string, dirs: readonly string[] | undefined): void {
  for (const d of dirs ?? []) checkPath(flag, d, 'dir');
}

/**
 * `--model spec` names something loadable: a model folder, a llama2.c .bin, or a hub id in the HF
 * cache (with `download`, a hub id not yet cached is left to the download).
 */
export async function checkModelSpec(spec: string | undefined, download = false): Promise<void> {
  if (spec === undefined) return;
  try {
    await resolveModel(spec, { download: false });
  } catch (e) {
    const name = (e as Error).name;
    if (download && name === 'HubError') return;
    throw new UsageError(`--model: ${(e as Error).message.split('\n')[0]}`);
  }
}
