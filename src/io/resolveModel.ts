// Turn what a user typed for a model into a path: a local folder, a llama2.c checkpoint file, a
// snapshot already in the HF cache, or (when allowed) a fresh download. Local paths win, as in
// transformers, so a folder named like a hub id is never shadowed by the hub.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { HfFolderError } from './errors.js';
import { findCachedModel, hfCacheDir, hubOffline, HubError, isRepoId, repoFolder } from './hfCache.js';
import { downloadModel, type DownloadOptions } from './hubDownload.js';

/** Options of resolveModel: those of downloadModel, plus whether a download is allowed. */
export interface ResolveOptions extends DownloadOptions {
  /** Download from the hub when the model is neither local nor cached (default false; never when HF_HUB_OFFLINE is set). */
  download?: boolean;
}

/** Whether `spec` can only mean a file system path (it cannot be a hub id). */
function looksLikePath(spec: string): boolean {
  return /^(\.{1,2}|~)?[/\\]/.test(spec) || spec === '.' || spec === '..' || spec === '~' || /^[A-Za-z]:[/\\]/.test(spec) || spec.endsWith('.bin');
}

function kind(path: string): 'file' | 'dir' | null {
  try {
    const st = statSync(path);
    return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : null;
  } catch {
    return null;
  }
}

/** Whether a snapshot has what loading needs: config.json and safetensors weights (single or indexed). */
function complete(dir: string): boolean {
  return existsSync(join(dir, 'config.json')) && (existsSync(join(dir, 'model.safetensors')) || existsSync(join(dir, 'model.safetensors.index.json')));
}

/** Split `ORG/NAME@revision`; the `@` part overrides options.revision. */
export function parseModelSpec(spec: string, revision = 'main'): { repoId: string; revision: string } {
  const at = spec.lastIndexOf('@');
  return at > 0 ? { repoId: spec.slice(0, at), revision: spec.slice(at + 1) || revision } : { repoId: spec, revision };
}

/** A model folder (or llama2.c .bin file) for `spec`: a local path, an HF cache snapshot, or a download when allowed. */
export async function resolveModel(spec: string, options: ResolveOptions = {}): Promise<string> {
  const path = resolve(spec === '~' || spec.startsWith('~/') ? join(homedir(), spec.slice(1)) : spec);
  const local = kind(path);
  if (local === 'file' && path.endsWith('.bin')) return path; // a llama2.c checkpoint
  if (local === 'dir') {
    if (!existsSync(join(path, 'config.json'))) {
      // A llama2.c folder holds the checkpoint beside its tokenizer (tok512.bin, tokenizer.bin): name the file to pass.
      const bins = readdirSync(path).filter((f) => f.endsWith('.bin') && !/^tok/i.test(f)).sort();
      if (bins.length) throw new HfFolderError(path, `no config.json, but it holds the llama2.c checkpoint${bins.length > 1 ? 's' : ''} ${bins.join(', ')}: pass the file itself, e.g. ${join(path, bins[0]!)}`);
      throw new HfFolderError(path, 'no config.json: not a Hugging Face model folder');
    }
    return path;
  }
  if (local === 'file') throw new HfFolderError(path, 'is a file: pass a model folder (with config.json) or a llama2.c .bin checkpoint');
  if (looksLikePath(spec)) throw new HfFolderError(path, 'no such file or folder');

  const { repoId, revision } = parseModelSpec(spec, options.revision);
  if (!isRepoId(repoId)) throw new HubError(`${JSON.stringify(spec)}: no such local folder, and not a hub model id (ORG/NAME[@revision])`);
  const cacheDir = options.cacheDir ?? hfCacheDir();
  const snap = findCachedModel(repoId, { revision, cacheDir });
  if (snap && complete(snap)) return snap;
  const offline = hubOffline();
  if (options.download && !offline) return downloadModel(repoId, { ...options, revision, cacheDir });
  // Config but no safetensors: hand it over, and openHfFolder will say what the weights are instead.
  if (snap && existsSync(join(snap, 'config.json'))) return snap;
  const where = `${repoFolder(repoId, cacheDir)}${revision === 'main' ? '' : ` at revision ${revision}`}`;
  const found = snap ? `found only an incomplete snapshot ${snap}` : `not in the HF cache (looked in ${where})`;
  const next = offline ? 'HF_HUB_OFFLINE is set, so no download' : 'allow a download from the hub';
  throw new HubError(`${spec}: no such local folder, and ${found}; ${next}, place the model in the HF cache, or pass a local folder`);
}
