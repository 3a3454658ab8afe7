// `saelab train` as a library function: several SAEs (the cross product of seeds × widths × ks or
// × L1 coefficients) trained from ONE activation stream, then saved as SAELens folders.
//
//   text corpus → tokenize + pack → model forward (harvest one hook) → shuffle buffer → batches
//   (or: an activation store's seeded shuffled batches)
//   → × norm_scaling_factor (expected_average_only_in: E‖x‖² = d_in, estimated on the first batches)
//   → trainSaes (every batch to every SAE) → checkpoints, train-log.jsonl, workspace SQLite
//   → DIR/<arch>-k<k>-s<seed> | DIR/standard-l1_<l1>-s<seed> (cfg.json, weights, sparsity);
//     with several widths: DIR/<arch>-k<k>-d<d_sae>-s<seed> | DIR/standard-l1_<l1>-d<d_sae>-s<seed>
//     with several hooks (--hook a,b: SAEs spliced in together, trained jointly end to end, one SAE
//     per hook per sweep point): DIR/<hook>/<the names above>
//
// The stages live in their own files: activationSource.ts (model or store → host batches),
// objectiveSetup.ts (the objective, local or end-to-end, and its batches: normalisation and b_dec
// sample from the first ones via trainBatches.ts), trainer.ts (the steps),
// trainOutputs.ts (folder, resume point, workspace rows, SAELens folders); options and defaults in
// trainOptions.ts, the sweep in trainSweep.ts. This file wires them together.
//
// Resume: the batch stream is a deterministic function of the options (corpus order, packing, the
// model's forward, a seeded shuffle buffer), so a resumed run rebuilds it from the start and the
// trainer skips the batches the checkpoint already consumed. The price is that a resume re-runs the
// model forward (and shuffle) over every token trained before the kill — no SAE steps, but the same
// harvest time; training from an activation store (`store`) skips by re-reading shards instead.
// The normalisation factor and b_dec's sample come from the same first batches, so they are
// recomputed identically too (on CPU bit for bit; on a GPU as far as its forward is deterministic).

import { rmdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DataError } from '../data/errors.js';
import { openWorkspaceDb, workspaceDbPath, type WorkspaceDb } from '../io/workspaceDb.js';
import { SAELAB_VERSION } from '../version.js';
import { openActivationSource } from './activationSource.js';
import { createSae, initSae } from './initSae.js';
import { objectiveHooks } from './objectiveHooks.js';
import { setupObjective } from './objectiveSetup.js';
import { trainSaes } from './trainer.js';
import type { TrainLogRow } from './trainLog.js';
import { checkPositiveInt, resolveTrainOptions, TRAIN_DEFAULTS, TrainRunError, type TrainProgress, type TrainRunOptions, type TrainRunReport } from './trainOptions.js';
import { checkTrainMemory, deviceBudget } from './memoryPlan.js';
import { runSettings } from './resumeCheck.js';
import { disposeTrainState, findResumePoint, holdOutputFolder, saveTrainedSaes, workspaceRunRows, type HeldOutput } from './trainOutputs.js';
import { saeFolderName, sweepConfigs } from './trainSweep.js';
import type { SaeConfig, SaeModel } from './types.js';
import { openWarmStart, type WarmStart } from './warmStart.js';

// The public names of `saelab train` as a library, where callers have always imported them from.
export { defaultData, defaultHook, defaultModel, parseNumberList, TRAIN_DEFAULTS, TrainRunError, type TrainedSaeReport, type TrainProgress, type TrainRunOptions, type TrainRunReport } from './trainOptions.js';
export { saeFolderName, sweepConfigs } from './trainSweep.js';

/** The block of a hook name (`blocks.L.…`), or null. */
function layerOf(hook: string): number | null {
  const m = /^blocks\.(\d+)\./.exec(hook);
  return m ? Number(m[1]) : null;
}

/** Train a sweep of SAEs on one activation stream and save them (see the file comment). */
export async function trainRun(opts: TrainRunOptions, ctl: { onProgress?: (p: TrainProgress) => void; onNote?: (line: string) => void; signal?: AbortSignal } = {}): Promise<TrainRunReport> {
  const D = TRAIN_DEFAULTS;
  const t0 = performance.now();
  const { arch, seeds, ks, l1s, batchSize, lr, contextSize, totalSteps, loss, out } = resolveTrainOptions(opts);

  // ---- stage 1, the source: open the model (or store), check the hook, before anything is written ----
  const src = await openActivationSource(opts, opts.device, contextSize);
  const { hook, hooks, dIn, modelName, metadata } = src;
  const joint = hooks.length > 1;
  const dSaes = opts.dSaes ?? [opts.dSae ?? D.dSaeMultiple * dIn];
  const dSae = dSaes[0]!;
  const dSaeFlag = opts.dSaes !== undefined ? '--d-saes' : '--d-sae';
  const dbPath = resolve(opts.db ?? workspaceDbPath(out));
  let held: HeldOutput;
  let cfgs: SaeConfig[];
  let names: string[];
  // A joint run trains one SAE per hook for each sweep point, set after set: SAE s sits at saeHooks[s].
  let saeHooks: string[];
  let downstream: { hook: string; coefficient: number }[] = [];
  let warm: WarmStart | null = null;
  try {
    for (const d of dSaes) checkPositiveInt(d, dSaeFlag);
    if (arch !== 'standard') for (const d of dSaes) for (const k of ks) if (k > d) throw new TrainRunError(`--k ${k} is larger than ${dSaeFlag === '--d-sae' ? '--d-sae' : '--d-saes width'} ${d}`);
    cfgs = sweepConfigs({
      arch, dIn, dSaes, seeds, ks, l1s, normalize: opts.normalize ?? true,
      decoderUnitNorm: opts.decoderUnitNorm ?? D.decoderUnitNorm(arch), deadTokensThreshold: opts.deadTokensThreshold,
    });
    names = cfgs.map((c) => saeFolderName(c, dSaes.length > 1));
    if (new Set(names).size !== names.length) throw new TrainRunError(`two SAEs of the sweep would share a folder (${names.join(', ')}): make --ks/--l1s/--seeds/--d-saes distinct`);
    saeHooks = cfgs.flatMap(() => hooks);
    if (joint) {
      names = cfgs.flatMap((_c, i) => hooks.map((h) => join(h, names[i]!)));
      cfgs = cfgs.flatMap((c) => hooks.map(() => ({ ...c })));
    }
    if (loss !== 'local') downstream = objectiveHooks(src, loss, opts);
    if (opts.initFrom !== undefined) warm = await openWarmStart(opts.initFrom, cfgs, hook, opts.device);
    // Before any work: the memory the SAEs need, then the output folder (writable, locked, db usable).
    checkTrainMemory(cfgs, batchSize, deviceBudget(opts.device));
    held = await holdOutputFolder(out, dbPath, ctl.onNote);
  } catch (e) {
    src.dispose();
    throw e;
  }
  const createdDirs = held.created;
  const settings = runSettings(opts, { arch, seeds, ks, l1s, batchSize, lr, contextSize, totalSteps, dSaes, loss }, { hook: hooks.join(','), modelName, data: typeof metadata.dataset_path === 'string' ? metadata.dataset_path : null, store: opts.store ? resolve(opts.store) : null });

  // ---- one deterministic batch stream, its first batches also fixing scale and b_dec ----
  const normSteps = Math.max(1, Math.min(totalSteps, Math.ceil((opts.normTokens ?? D.normTokens) / batchSize)));
  let closeBatches: (() => Promise<void>) | null = null;
  let db: WorkspaceDb | null = null;
  let runId = -1;
  let status: 'done' | 'failed' | 'aborted' = 'failed';
  const tData = performance.now(); // throughput counts harvest + training, not model loading
  const checkpointDir = join(out, 'checkpoints');
  try {
    // Where to start, checked before any harvest: a resume with other settings is refused here.
    const { resumedFromStep, resumedTokens, priorRunId } = await findResumePoint(checkpointDir, { resume: !!opts.resume, nSaes: cfgs.length, totalSteps, out, settings, cfgs, note: ctl.onNote });
    const bDecInit = opts.bDecInit ?? D.bDecInit;
    const run = await setupObjective(src, {
      device: opts.device, out, totalSteps, batchSize, contextSize, dataSeed: opts.dataSeed ?? D.dataSeed, normSteps, normalize: opts.normalize ?? true,
      bDecInit, bDecSampleRows: opts.bDecSampleRows ?? D.bDecSampleRows, factor: warm?.factor, loss,
      klCoefficient: opts.klCoefficient ?? D.klCoefficient, localCoefficient: opts.localCoefficient ?? (loss === 'reward' ? D.rewardLocalCoefficient : D.localCoefficient), downstream,
      rewardCoefficient: opts.rewardCoefficient ?? D.rewardCoefficient, rewardDifference: !!opts.rewardDifference, note: ctl.onNote,
    });
    closeBatches = run.close;
    const { factor } = run;
    metadata.training_objective = run.record;
    if (warm) metadata.init_from = warm.lineage;
    const saes: SaeModel[] = [];
    const inputOf = (s: number) => run.inputs[hooks.indexOf(saeHooks[s]!)]!;
    for (const [s, cfg] of cfgs.entries()) saes.push(warm ? createSae(cfg, await warm.params(opts.device)) : await initSae(cfg, opts.device, { bDecInit, sample: inputOf(s).bDecSample, encoderScale: opts.encoderScale }));
    for (const i of run.inputs) i.bDecSample?.dispose();

    // ---- stage 3 set-up: checkpoints, log, workspace database ----
    const logFile = join(out, 'train-log.jsonl');
    const logEvery = Math.max(1, Math.floor(opts.logEvery ?? D.logEvery));
    // Checkpoints fall on logged steps (a multiple of logEvery), so a non-finite loss is caught by
    // onLog before a checkpoint could store the broken weights.
    const ckSteps = Math.max(1, Math.round((opts.checkpointEvery ?? D.checkpointEvery) / batchSize / logEvery)) * logEvery;
    db = openWorkspaceDb(dbPath);
    const runConfig = { ...opts, device: opts.device.kind, out, hook, hooks, model: modelName, dIn, dSae, dSaes, totalSteps, normScalingFactor: factor, saelabVersion: SAELAB_VERSION };
    const rows = workspaceRunRows(db, { priorRunId, runConfig, name: `${arch} ${hooks.join(',')}`, cfgs, dIn, hook: saeHooks, modelName });
    runId = rows.runId;
    const saeIds = rows.saeIds;

    // Firing counts over the last sparsityTokens tokens; the trainer keeps them in its checkpoints, so
    // a resumed run's sparsity covers the whole window.
    const sparsitySteps = Math.max(1, Math.min(totalSteps, Math.ceil((opts.sparsityTokens ?? D.sparsityTokens) / batchSize)));
    const countFrom = totalSteps - sparsitySteps;

    // ---- stage 2, the trainer ----
    let lastRows: TrainLogRow[] = [];
    const tStart = performance.now();
    const res = await trainSaes({
      saes, batches: run.batches, objective: run.objective, totalSteps, lr, gradClip: opts.gradClip, countFiringFrom: countFrom,
      schedule: { decay: opts.lrDecay ?? 'linear', warmupSteps: opts.lrWarmupSteps ?? 0, l1WarmupSteps: arch === 'standard' ? Math.floor(totalSteps * 0.05) : 0 },
      deadTokensThreshold: opts.deadTokensThreshold, logEvery, logFile,
      checkpointEvery: ckSteps, checkpointDir, keepCheckpoints: opts.keepCheckpoints ?? D.keepCheckpoints, resume: !!opts.resume,
      checkpointOnAbort: true, batchState: () => ({ runId, settings }), signal: ctl.signal,
      onLog: (row) => {
        if (!Number.isFinite(row.loss)) {
          throw new DataError(`non-finite loss (${row.loss}) at step ${row.step} for SAE ${names[row.saeIndex]} at hook ${saeHooks[row.saeIndex]}: training stopped, the last checkpoint in ${checkpointDir} is intact (try a lower --lr)`);
        }
        db!.insertTrainLogRows(saeIds, [row]);
        if (row.terms) db!.insertMetrics(Object.entries(row.terms).map(([name, value]) => ({ saeId: saeIds[row.saeIndex]!, step: row.step, tokens: row.tokens, name, value })));
        lastRows = lastRows.filter((r) => r.saeIndex !== row.saeIndex).concat(row);
      },
      onStep: (s, tokens) => {
        const secs = (performance.now() - tStart) / 1000;
        const mean = (k: 'loss' | 'l0' | 'deadFraction') => (lastRows.length ? lastRows.reduce((a, r) => a + r[k], 0) / lastRows.length : undefined);
        const p: TrainProgress = { step: s, totalSteps, tokens, totalTokens: totalSteps * batchSize, tokensPerSecond: secs > 0 ? (tokens - resumedTokens) / secs : 0, loss: mean('loss'), l0: mean('l0'), deadFraction: mean('deadFraction') };
        if (lastRows.length && lastRows[0]!.terms?.kl !== undefined) p.kl = lastRows.reduce((a, r) => a + (r.terms?.kl ?? 0), 0) / lastRows.length;
        ctl.onProgress?.(p);
      },
    });

    // ---- stage 3, the outputs ----
    const seconds = (performance.now() - t0) / 1000;
    const dataSeconds = (performance.now() - tData) / 1000;
    const trainedTokens = res.tokens - resumedTokens;
    const report: TrainRunReport = {
      out, model: modelName, hook, hooks, dIn, dSae, dSaes, source: src.kind, steps: res.step, totalSteps, tokens: res.tokens,
      normScalingFactor: (opts.normalize ?? true) ? factor : null, resumedFromStep, aborted: res.aborted, seconds,
      tokensPerSecond: dataSeconds > 0 ? trainedTokens / dataSeconds : 0, db: dbPath, runId, logFile, saes: [],
    };
    if (res.aborted) {
      status = 'aborted';
      return report;
    }
    // How much of dataset_path training read (stream tokens, read-ahead included): eval skips it by default.
    metadata.training_tokens = res.tokens;
    const streamTokens = src.streamTokensRead();
    if (streamTokens !== null) metadata.training_stream_tokens = streamTokens;
    // A joint run's SAEs: each its own hook in cfg.json's metadata (training_objective.joint_hooks lists the set) and its own factor.
    const perSae = joint ? cfgs.map((_c, s) => ({ metadata: { ...metadata, hook_name: saeHooks[s]!, hook_layer: layerOf(saeHooks[s]!) }, factor: inputOf(s).factor })) : null;
    report.saes = await saveTrainedSaes(res, { out, names, cfgs, saes, saeIds, db, metadata: perSae?.map((p) => p.metadata) ?? metadata, factor: perSae?.map((p) => p.factor) ?? factor, deviceKind: opts.device.kind, lastRows });
    disposeTrainState(res, saes);
    status = 'done';
    return report;
  } catch (e) {
    // A run that failed before writing anything leaves no empty --out folder behind.
    if (!db) {
      held.lock.release();
      for (const d of [...createdDirs].reverse()) await rmdir(d).catch(() => undefined);
    }
    throw e;
  } finally {
    await closeBatches?.().catch(() => undefined);
    if (db) {
      if (runId >= 0) db.setRunStatus(runId, status);
      db.close();
    }
    src.dispose();
    held.lock.release();
  }
}
