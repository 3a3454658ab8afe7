// Checks of input paths that every command runs before it opens a device or a model, so a wrong
// path is one line in a moment instead of after seconds of device start-up (and its log lines).

import { openSync, readFileSync, readSync, closeSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { resolveModel } from '../io/resolveModel.js';
import { parseHfConfig, type ModelConfig } from '../model/config.js';
import { parseHook } from '../model/hooks.js';
import { llama2cConfig, parseLlama2cHeader } from '../model/llama2c.js';
import { resolveSaeSpec, type OpenHubSaeOptions } from '../sae/hubSae.js';
import { UsageError } from './errors.js';
import { batchProgress } from './progress.js';

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

/** The SAE folders of a command, with which of them came from the hub. */
export interface ResolvedSaes {
  dirs: string[];
  /** Per folder: whether it was named on the hub (`hf:…` or a SAELens release) and lives in the HF cache. */
  fromHub: boolean[];
}

/**
 * Every `--sae` of `flag` as a local folder: a path here (checked to be a folder), or an SAE named
 * on the hub (`hf:OWNER/REPO[/FOLDER][@REV]`, a SAELens release `RELEASE/SAE_ID`), found in the HF
 * cache or downloaded there with a progress bar. Bad names and hub failures are one UsageError line.
 */
export async function resolveSaeDirs(flag: string, specs: readonly string[] | undefined, opts: { quiet?: boolean; hub?: OpenHubSaeOptions } = {}): Promise<ResolvedSaes> {
  const out: ResolvedSaes = { dirs: [], fromHub: [] };
  for (const text of specs ?? []) {
    const bar = batchProgress('download', !!opts.quiet, 'MB');
    let r: Awaited<ReturnType<typeof resolveSaeSpec>>;
    try {
      r = await resolveSaeSpec(text, {
        ...opts.hub,
        onDownload: (ref) => {
          if (!opts.quiet) process.stderr.write(`downloading ${text} (${ref.repoId}${ref.subfolder ? `/${ref.subfolder}` : ''}@${ref.revision}) into the HF cache\n`);
        },
        onProgress: (done, total) => bar.onProgress(Math.round(done / 1e6), Math.max(1, Math.round(total / 1e6))),
      });
    } catch (e) {
      const err = e as Error;
      if (err.name !== 'HubError' && err.name !== 'SaeSpecError') throw e;
      const line = err.message.split('\n')[0]!;
      throw new UsageError(`${flag} ${line.startsWith(text) ? line : `${text}: ${line}`}`);
    } finally {
      bar.stop();
    }
    if (r.hub?.release && !opts.quiet) for (const n of r.hub.release.notes) process.stderr.write(`${n}\n`);
    if (!r.hub) checkPath(flag, r.path, 'dir');
    out.dirs.push(r.path);
    out.fromHub.push(r.hub !== null);
  }
  return out;
}

/** The model config at a resolved model path (config.json, or a llama2.c header), without loading weights. */
function readModelConfig(path: string): ModelConfig {
  if (statSync(path).isFile()) {
    const fd = openSync(path, 'r');
    try {
      const head = new Uint8Array(28);
      readSync(fd, head, 0, 28, 0);
      return llama2cConfig(parseLlama2cHeader(head, path), path);
    } finally {
      closeSync(fd);
    }
  }
  return parseHfConfig(JSON.parse(readFileSync(join(path, 'config.json'), 'utf8')), join(path, 'config.json'));
}

/**
 * `--model spec` names something loadable: a model folder, a llama2.c .bin, or a hub id in the HF
 * cache (with `download`, a hub id not yet cached is left to the download). Returns the model's
 * config when it could be read cheaply (for checkHooks), else null.
 */
export async function checkModelSpec(spec: string | undefined, download = false): Promise<ModelConfig | null> {
  if (spec === undefined) return null;
  let path: string;
  try {
    path = await resolveModel(spec, { download: false });
  } catch (e) {
    const name = (e as Error).name;
    if (download && name === 'HubError') return null;
    throw new UsageError(`--model: ${(e as Error).message.split('\n')[0]}`);
  }
  try {
    return readModelConfig(path);
  } catch {
    return null; // an unreadable config: loading the model reports it properly
  }
}

/**
 * Hook names (and perturb's `all` / `blocks.*.hook_x` patterns) exist in the model of `cfg`: an
 * unknown one is the model's one-line "unknown hook … did you mean" error, before any device opens.
 */
export function checkHooks(cfg: ModelConfig | null, hooks: readonly (string | undefined)[]): void {
  if (!cfg) return;
  for (const h of hooks) {
    if (h === undefined || h === 'all') continue;
    if (!h.startsWith('blocks.*.')) {
      parseHook(h, cfg);
      continue;
    }
    // A pattern: check its kind at layer 0, and speak of the pattern in the message.
    try {
      parseHook(`blocks.0.${h.slice('blocks.*.'.length)}`, cfg);
    } catch (e) {
      throw new UsageError((e as Error).message.replace(/"blocks\.0\./g, '"blocks.*.'));
    }
  }
}
