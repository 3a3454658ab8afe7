// Training checkpoints. One folder per checkpoint, `step-<8 digits>/`, holding per SAE
// `sae-<i>.safetensors` (params under their SAELens names, Adam moments as `adam_m.<name>` /
// `adam_v.<name>`, `tokens_since_fired`, `fired_count`) and `state.json` (step, tokens, configs, the caller's
// batch-source state) written last. The folder is built under a hidden temp name and renamed into
// place, so a checkpoint either exists complete or not at all; the newest complete one is `latest`.
// The trainer has no randomness of its own: params, moments, counts and the step (which fixes the
// schedule and the batch position) are the whole state, so a resume continues bit for bit on CPU.

import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Tensor } from '../compute/tensor.js';
import { cleanStaleTemps, writeFileAtomic } from '../io/atomicWrite.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { writeSafetensors, type TensorToWrite } from '../io/safetensorsWrite.js';
import type { SaeConfig, SaeParams } from './types.js';

export const CHECKPOINT_VERSION = 1;

/** What the trainer keeps per SAE besides its config: the tensors a checkpoint saves and restores. */
export interface SaeTrainState {
  cfg: SaeConfig;
  params: SaeParams;
  /** Adam first and second moments, by param name (the keys of params that are trained). */
  m: Record<string, Tensor>;
  v: Record<string, Tensor>;
  /** [dSae] tokens since each latent fired. */
  tokensSinceFired: Tensor;
  /** [dSae] firings summed over the counted steps (for sparsity.safetensors). */
  firedCount: Tensor;
}

/** The JSON part of a checkpoint. */
export interface CheckpointState {
  version: number;
  /** Steps completed (= batches consumed). */
  step: number;
  tokens: number;
  totalSteps: number;
  /** Tokens whose firings are in each SAE's fired_count (absent in older checkpoints: 0). */
  firingTokens?: number;
  saes: { file: string; cfg: SaeConfig }[];
  /** Whatever the batch source needs to resume (JSON), when it is not a pure function of the step. */
  batchState?: unknown;
  createdAt: string;
}

/** The folder name of the checkpoint after `step` steps. */
export function checkpointName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

const NAME_RE = /^step-(\d{8,})$/;

/** Complete checkpoints in `dir` (those with a state.json), oldest first. */
export async function listCheckpoints(dir: string): Promise<{ step: number; path: string }[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const found: { step: number; path: string }[] = [];
  for (const n of names) {
    const m = NAME_RE.exec(n);
    if (!m) continue;
    const path = join(dir, n);
    if (await exists(join(path, 'state.json'))) found.push({ step: Number(m[1]), path });
  }
  return found.sort((a, b) => a.step - b.step);
}

/** The newest complete checkpoint in `dir`, or null. */
export async function latestCheckpoint(dir: string): Promise<string | null> {
  const all = await listCheckpoints(dir);
  return all.length ? all[all.length - 1]!.path : null;
}

/** Write a checkpoint of `states` after `step` steps into `dir`, keeping the newest `keep`; returns its path. */
export async function saveCheckpoint(
  dir: string,
  states: readonly SaeTrainState[],
  info: { step: number; tokens: number; totalSteps: number; firingTokens?: number; batchState?: unknown },
  keep = 2,
): Promise<string> {
  await mkdir(dir, { recursive: true });
  // Temp folders of a run killed mid-save (kill -9) would otherwise stay forever.
  await cleanStaleTemps(dir);
  const final = join(dir, checkpointName(info.step));
  const temp = join(dir, `.${checkpointName(info.step)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  await mkdir(temp);
  try {
    const saes: CheckpointState['saes'] = [];
    for (let i = 0; i < states.length; i++) {
      const file = `sae-${i}.safetensors`;
      await writeSafetensors(join(temp, file), await stateTensors(states[i]!));
      saes.push({ file, cfg: states[i]!.cfg });
    }
    const state: CheckpointState = { version: CHECKPOINT_VERSION, ...info, saes, createdAt: new Date().toISOString() };
    await writeFileAtomic(join(temp, 'state.json'), JSON.stringify(state, null, 2) + '\n');
    // Re-saving a step (a resumed run reaching a step it had saved) replaces the older copy.
    await rm(final, { recursive: true, force: true });
    await rename(temp, final);
    await syncDir(dir);
  } catch (e) {
    await rm(temp, { recursive: true, force: true });
    throw e;
  }
  const all = await listCheckpoints(dir);
  for (const old of all.slice(0, Math.max(0, all.length - Math.max(1, keep)))) await rm(old.path, { recursive: true, force: true });
  return final;
}

/** A checkpoint that cannot be read (corrupt state.json, a missing or broken tensor file): exit 2, one line. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Read a checkpoint's state.json, checking its shape (a CheckpointError naming the problem otherwise). */
export async function readCheckpointState(path: string): Promise<CheckpointState> {
  const bad = (why: string) => new CheckpointError(`checkpoint ${path}: ${why}`);
  let state: CheckpointState;
  try {
    state = JSON.parse(await readFile(join(path, 'state.json'), 'utf8')) as CheckpointState;
  } catch (e) {
    throw bad(`state.json is unreadable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message.split('\n')[0]})`);
  }
  if (typeof state !== 'object' || state === null || Array.isArray(state)) throw bad('state.json is not a JSON object');
  if (state.version !== CHECKPOINT_VERSION) throw bad(`version ${JSON.stringify(state.version)}, this saelab reads ${CHECKPOINT_VERSION}`);
  for (const k of ['step', 'tokens', 'totalSteps'] as const) if (!isCount(state[k])) throw bad(`state.json: "${k}" is ${JSON.stringify(state[k])}, not a count`);
  if (state.firingTokens !== undefined && !isCount(state.firingTokens)) throw bad('state.json: "firingTokens" is not a count');
  if (!Array.isArray(state.saes) || state.saes.length === 0) throw bad('state.json: "saes" is not a non-empty list');
  state.saes.forEach((s, i) => {
    const c = (s as { cfg?: Partial<SaeConfig> } | null)?.cfg;
    if (typeof s?.file !== 'string' || !/^[\w.-]+$/.test(s.file)) throw bad(`state.json: saes[${i}].file is not a file name`);
    if (typeof c !== 'object' || c === null || !isCount(c.dIn) || !isCount(c.dSae) || typeof c.architecture !== 'string') throw bad(`state.json: saes[${i}].cfg lacks dIn, dSae or architecture`);
  });
  return state;
}

/** Check a checkpoint is whole: state.json reads (see readCheckpointState) and every SAE's tensor file opens and holds its tensors. */
export async function verifyCheckpoint(path: string): Promise<CheckpointState> {
  const state = await readCheckpointState(path);
  for (const s of state.saes) {
    let f: SafetensorsFile;
    try {
      f = await SafetensorsFile.open(join(path, s.file));
    } catch (e) {
      throw new CheckpointError(`checkpoint ${path}: ${s.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message.split('\n')[0]}`);
    }
    try {
      for (const name of ['W_enc', 'W_dec', 'tokens_since_fired']) if (!f.has(name)) throw new CheckpointError(`checkpoint ${path}: ${s.file} lacks tensor ${name}`);
    } finally {
      await f.close();
    }
  }
  return state;
}

/**
 * The newest checkpoint in `dir` that verifies (see verifyCheckpoint), or null when there is none.
 * A broken one is renamed `<name>.corrupt` (kept for a look, no longer listed) and the previous one
 * is tried, with a line through `note`; when every checkpoint is broken, the newest's error is thrown.
 */
export async function latestIntactCheckpoint(dir: string, note?: (line: string) => void): Promise<{ path: string; state: CheckpointState } | null> {
  const all = await listCheckpoints(dir);
  let firstError: unknown = null;
  for (let i = all.length - 1; i >= 0; i--) {
    const path = all[i]!.path;
    try {
      return { path, state: await verifyCheckpoint(path) };
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
      firstError ??= e;
      const prev = i > 0 ? `falling back to ${all[i - 1]!.path}` : 'no earlier checkpoint';
      note?.(`saelab: ${e.message}; ${prev}`);
      await rename(path, `${path}.corrupt`).catch(() => undefined);
    }
  }
  if (firstError) throw firstError;
  return null;
}

/** Restore `states` (tensors overwritten in place) from the checkpoint at `path`; returns its state. */
export async function loadCheckpoint(path: string, states: readonly SaeTrainState[]): Promise<CheckpointState> {
  const state = await readCheckpointState(path);
  if (state.saes.length !== states.length) throw new CheckpointError(`checkpoint ${path}: has ${state.saes.length} SAEs, this run trains ${states.length}`);
  for (let i = 0; i < states.length; i++) {
    const s = states[i]!;
    const saved = state.saes[i]!.cfg;
    if (saved.dIn !== s.cfg.dIn || saved.dSae !== s.cfg.dSae || saved.architecture !== s.cfg.architecture) {
      throw new CheckpointError(`checkpoint ${path}: SAE ${i} is ${saved.architecture} ${saved.dIn}×${saved.dSae}, this run's is ${s.cfg.architecture} ${s.cfg.dIn}×${s.cfg.dSae}`);
    }
    const f = await SafetensorsFile.open(join(path, state.saes[i]!.file));
    try {
      for (const [name, t] of namedTensors(s)) {
        if (name === 'fired_count' && !f.has(name)) continue; // older checkpoints: counting restarts (stays 0)
        if (!f.has(name)) throw new CheckpointError(`checkpoint ${path}: SAE ${i} lacks tensor ${name}`);
        const data = await f.readF32(name);
        if (data.length !== t.numel) throw new CheckpointError(`checkpoint ${path}: SAE ${i} tensor ${name} has ${data.length} values, expected ${t.numel}`);
        t.device.write(t, data);
      }
    } finally {
      await f.close();
    }
  }
  return state;
}

/** Every tensor of a train state under its checkpoint name. */
function namedTensors(s: SaeTrainState): [string, Tensor][] {
  const out: [string, Tensor][] = [];
  for (const [k, t] of Object.entries(s.params) as [string, Tensor | undefined][]) if (t) out.push([k, t]);
  for (const [k, t] of Object.entries(s.m)) out.push([`adam_m.${k}`, t]);
  for (const [k, t] of Object.entries(s.v)) out.push([`adam_v.${k}`, t]);
  out.push(['tokens_since_fired', s.tokensSinceFired]);
  out.push(['fired_count', s.firedCount]);
  return out;
}

/** Read every tensor of a train state back to the host, ready for writeSafetensors. */
async function stateTensors(s: SaeTrainState): Promise<Record<string, TensorToWrite>> {
  const out: Record<string, TensorToWrite> = {};
  for (const [name, t] of namedTensors(s)) {
    if (t.dtype !== 'f32') throw new Error(`checkpoint: tensor ${name} is ${t.dtype}, expected f32`);
    out[name] = { dtype: 'F32', shape: [...t.shape], data: (await t.device.read(t)) as Float32Array };
  }
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** fsync a directory so a rename in it is durable (skipped where the platform refuses). */
async function syncDir(dir: string): Promise<void> {
  try {
    const h = await open(dir, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  } catch {
    // Windows and some file systems cannot fsync a directory; the rename still happened.
  }
}
