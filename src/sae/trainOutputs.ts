// Stage 3 of `saelab train`: what a run leaves behind. The output folder (checked writable before
// any work), the resume point from its checkpoints, the workspace database's run and SAE rows
// (reused on resume), and at the end one SAELens folder per SAE.

import { rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Tensor } from '../compute/tensor.js';
import { cleanStaleTemps } from '../io/atomicWrite.js';
import { acquireOutputLock, type OutputLock } from '../io/outputLock.js';
import { checkOutputDir } from '../io/outputPaths.js';
import { checkWorkspaceDb, type WorkspaceDb } from '../io/workspaceDb.js';
import { latestIntactCheckpoint } from './checkpoint.js';
import { checkResumeSettings, type RunSettings } from './resumeCheck.js';
import { saveSae, type SaeRunMetadata } from './saeFiles.js';
import type { TrainResult } from './trainer.js';
import type { TrainLogRow } from './trainLog.js';
import { TrainRunError, type TrainedSaeReport } from './trainOptions.js';
import type { SaeConfig, SaeModel } from './types.js';

/** The output folder of a run, held: the folders created for it, and its lock (release it when the run ends). */
export interface HeldOutput {
  created: string[];
  lock: OutputLock;
}

/**
 * Before any work: create `out` and check it takes files (checkOutputDir), lock it against a second
 * run (a live holder is refused, naming it; a dead one's lock is taken over), remove partial files
 * of killed runs in it and its checkpoints, and check the workspace database `dbPath` can be written.
 */
export async function holdOutputFolder(out: string, dbPath: string, note?: (line: string) => void): Promise<HeldOutput> {
  const { created } = checkOutputDir(out, '--out');
  let lock: OutputLock | null = null;
  try {
    lock = acquireOutputLock(out, 'saelab train', note);
    await cleanStaleTemps(out, note);
    await cleanStaleTemps(join(out, 'checkpoints'), note);
    checkWorkspaceDb(dbPath);
    return { created, lock };
  } catch (e) {
    lock?.release();
    for (const d of [...created].reverse()) await rmdir(d).catch(() => undefined);
    throw e;
  }
}

/** Where a run starts: step 0, or the newest checkpoint's step with the workspace run id it stored. */
export interface ResumePoint {
  resumedFromStep: number;
  resumedTokens: number;
  /** The workspace run the checkpoint belongs to, when it recorded one. */
  priorRunId?: number;
}

/**
 * The resume point of a run writing checkpoints to `checkpointDir`: a fresh run refuses old
 * checkpoints (it would later resume from the wrong run's weights); a resume takes the newest
 * intact checkpoint (a broken one is skipped with a line through `note`), checks it was made with
 * the same settings (`settings`, `cfgs`: see resumeCheck.ts) and is not finished.
 */
export async function findResumePoint(checkpointDir: string, o: { resume: boolean; nSaes: number; totalSteps: number; out: string; settings?: RunSettings; cfgs?: readonly SaeConfig[]; note?: (line: string) => void }): Promise<ResumePoint> {
  const found = await latestIntactCheckpoint(checkpointDir, o.note);
  if (found && !o.resume) throw new TrainRunError(`${checkpointDir} holds checkpoints of an earlier run: pass --resume to continue it, or choose a new --out`);
  if (!o.resume || !found) return { resumedFromStep: 0, resumedTokens: 0 };
  const st = found.state;
  const prior = (st.batchState ?? null) as { runId?: number; settings?: RunSettings } | null;
  if (o.settings && o.cfgs) checkResumeSettings({ checkpoint: found.path, saved: prior?.settings, now: o.settings, savedCfgs: st.saes.map((s) => s.cfg), cfgs: o.cfgs });
  if (st.saes.length !== o.nSaes) throw new TrainRunError(`--resume: the checkpoint in ${checkpointDir} has ${st.saes.length} SAEs, this run trains ${o.nSaes}; use the same sweep options`);
  if (st.totalSteps !== o.totalSteps) throw new TrainRunError(`--resume: the checkpoint was made for ${st.totalSteps} steps, this run has ${o.totalSteps}; use the same --tokens and --batch-size`);
  if (st.step >= o.totalSteps) throw new TrainRunError(`--resume: the run in ${o.out} already finished (step ${st.step} of ${o.totalSteps}); its SAEs are in ${o.out}`);
  const point: ResumePoint = { resumedFromStep: st.step, resumedTokens: st.tokens };
  if (prior?.runId !== undefined) point.priorRunId = prior.runId;
  return point;
}

/**
 * The workspace rows of a run: the resumed run's own (when its id is known and it has one SAE row
 * per config), else a new run row and one SAE row per config.
 */
export function workspaceRunRows(db: WorkspaceDb, o: { priorRunId?: number; runConfig: unknown; name: string; cfgs: readonly SaeConfig[]; dIn: number; hook: string | readonly string[]; modelName: string }): { runId: number; saeIds: number[] } {
  const reuse = o.priorRunId !== undefined ? db.getRun(o.priorRunId) : null;
  if (reuse && reuse.kind === 'train' && db.listSaes(reuse.id).length === o.cfgs.length) {
    db.setRunStatus(reuse.id, 'running');
    return { runId: reuse.id, saeIds: db.listSaes(reuse.id).map((s) => s.id) };
  }
  const runId = db.insertRun({ kind: 'train', config: o.runConfig, name: o.name });
  const saeIds = o.cfgs.map((cfg, i) => db.insertSae({ runId, saeIndex: i, architecture: cfg.architecture, dIn: o.dIn, dSae: cfg.dSae, hook: perSae(o.hook, i), model: o.modelName, cfg }));
  return { runId, saeIds };
}

/**
 * Save every trained SAE as a SAELens folder `<out>/<name>` (firing frequencies from the trainer's
 * counts), record its path in the workspace, and describe it; `lastRows` backs up the trainer's
 * own last log rows. `metadata` and `factor` are one for every SAE or one per SAE (a joint run's
 * SAEs sit at different hooks).
 */
export async function saveTrainedSaes(res: TrainResult, o: { out: string; names: readonly string[]; cfgs: readonly SaeConfig[]; saes: readonly SaeModel[]; saeIds: readonly number[]; db: WorkspaceDb; metadata: SaeRunMetadata | readonly SaeRunMetadata[]; factor: number | readonly number[]; deviceKind: string; lastRows: readonly TrainLogRow[] }): Promise<TrainedSaeReport[]> {
  const reports: TrainedSaeReport[] = [];
  for (let i = 0; i < o.cfgs.length; i++) {
    const cfg = o.cfgs[i]!;
    const counts = (await res.states[i]!.firedCount.read()) as Float32Array;
    const freq = Float32Array.from(counts, (c) => (res.firingTokens > 0 ? c / res.firingTokens : 0));
    const path = join(o.out, o.names[i]!);
    const metadata = perSae(o.metadata, i);
    await saveSae(path, cfg, o.saes[i]!.params, { metadata, normScalingFactor: cfg.normalizeActivations === 'expected_average_only_in' ? perSae(o.factor, i) : undefined, firingFrequency: freq, device: o.deviceKind === 'webgpu' ? 'cuda' : 'cpu' });
    o.db.setSaePath(o.saeIds[i]!, path);
    const row = res.lastRows.find((r) => r.saeIndex === i) ?? o.lastRows.find((r) => r.saeIndex === i);
    const rep: TrainedSaeReport = { index: i, path, hook: metadata.hook_name ?? '', architecture: cfg.architecture, seed: cfg.seed, dSae: cfg.dSae, loss: row?.loss ?? null, mse: row?.mse ?? null, l0: row?.l0 ?? null, deadFraction: row?.deadFraction ?? null };
    if (cfg.k !== undefined) rep.k = cfg.k;
    if (cfg.l1Coefficient !== undefined) rep.l1Coefficient = cfg.l1Coefficient;
    reports.push(rep);
  }
  return reports;
}

/** `v` when it is one value for every SAE, else its entry `i`. */
function perSae<T extends object | string | number>(v: T | readonly T[], i: number): T {
  return Array.isArray(v) ? (v as readonly T[])[i]! : (v as T);
}

/** Free the trainer's states and the SAEs' parameters. */
export function disposeTrainState(res: TrainResult, saes: readonly SaeModel[]): void {
  for (const st of res.states) for (const t of [st.tokensSinceFired, st.firedCount, ...Object.values(st.m), ...Object.values(st.v)]) t.dispose();
  for (const s of saes) for (const p of Object.values(s.params) as (Tensor | undefined)[]) p?.dispose();
}
