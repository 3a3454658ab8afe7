// Where an SAE's inputs came from, recorded so that another machine can find them, and found
// again here. cfg.json's `model_name` / `dataset_path` are what SAELens and Neuronpedia read, so
// they hold a name, never a path of this machine: the hub id when the model is a hub model (given
// as an id, or a snapshot in the HF cache `.../models--ORG--NAME/snapshots/REV`), else the folder
// (or .bin) name. The local path and a content hash (sha256 of config.json, or of the .bin) go to
// saelab's own metadata keys. Reading back prefers the local path, then the name.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { findCachedModel, isRepoId } from '../io/hfCache.js';

/** Metadata keys saelab adds beside SAELens's (SAELens keeps unknown metadata keys as they are). */
export const LOCAL_MODEL_PATH_KEY = 'saelab_model_path';
export const MODEL_SHA256_KEY = 'saelab_model_sha256';
export const LOCAL_DATASET_PATH_KEY = 'saelab_dataset_path';

/** The hub id of a path inside an HF cache snapshot (`models--ORG--NAME/snapshots/REV[/...]`), or null. */
export function hubIdOfCachePath(path: string): string | null {
  const m = /(?:^|[/\\])models--([^/\\]+)[/\\]snapshots[/\\][^/\\]+(?:[/\\]|$)/.exec(path);
  if (!m) return null;
  const id = m[1]!.split('--').join('/');
  return isRepoId(id) ? id : null;
}

/** sha256 (hex) of a model's identity: its config.json (a folder) or the file itself (a llama2.c .bin); null when unreadable. */
function modelSha256(path: string): string | null {
  try {
    const file = statSync(path).isDirectory() ? join(path, 'config.json') : path;
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return null;
  }
}

/** Whether a metadata value is a path of this (or some) machine rather than a name. */
function isLocalPath(v: string): boolean {
  return isAbsolute(v) || existsSync(v);
}

/**
 * A copy of run metadata with portable `model_name` and `dataset_path`: local paths become the hub
 * id or the base name, and move (absolute) to saelab_model_path / saelab_dataset_path, with the
 * model's sha256. Names (hub ids) are kept as they are.
 */
export function portableRunMetadata<T extends Record<string, unknown>>(meta: T): T {
  const out: Record<string, unknown> = { ...meta };
  const model = meta.model_name;
  if (typeof model === 'string' && isLocalPath(model)) {
    const path = resolve(model);
    out.model_name = hubIdOfCachePath(path) ?? basename(path);
    out[LOCAL_MODEL_PATH_KEY] = path;
    const sha = modelSha256(path);
    if (sha) out[MODEL_SHA256_KEY] = sha;
  }
  const data = meta.dataset_path;
  if (typeof data === 'string' && isLocalPath(data)) {
    const path = resolve(data);
    out.dataset_path = basename(path);
    out[LOCAL_DATASET_PATH_KEY] = path;
  }
  return out as T;
}

/**
 * The model an SAE was trained on, as a spec this machine can open: the recorded local path when it
 * is here, else `model_name` when it is a path here (older folders) or a hub id in the HF cache;
 * undefined when neither is found (callers then use their default or --model).
 */
export function saeModelSpec(meta: Record<string, unknown>): string | undefined {
  const local = meta[LOCAL_MODEL_PATH_KEY];
  if (typeof local === 'string' && existsSync(local)) return local;
  const name = meta.model_name;
  if (typeof name !== 'string' || name === '') return undefined;
  if (existsSync(name)) return name;
  if (isRepoId(name) && findCachedModel(name)) return name;
  return undefined;
}

/** The dataset an SAE was trained on, when it is on this machine: the recorded local path, else `dataset_path` when it exists here. */
export function saeDatasetPath(meta: Record<string, unknown>): string | undefined {
  for (const v of [meta[LOCAL_DATASET_PATH_KEY], meta.dataset_path]) if (typeof v === 'string' && v !== '' && existsSync(v)) return v;
  return undefined;
}
