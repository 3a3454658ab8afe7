// `train --resume` continues a run only with the settings it started with: every setting that
// shapes the SAEs or their batch stream is recorded in each checkpoint, and a resume with any of
// them changed is refused with one line naming the setting, the old and the new value. (Without
// this, a different seed, k, hook or corpus would continue the old weights under new labels.)

import { statSync } from 'node:fs';
import type { SaeConfig } from './types.js';
import { TRAIN_DEFAULTS, TrainRunError, type TrainRunOptions } from './trainOptions.js';

/** The settings of a run, by their flag names (defaults applied), as a checkpoint records them. */
export type RunSettings = Record<string, string | number | boolean | null | (string | number)[]>;

/** The size of a corpus file (a changed file changes the stream), or null for a folder or a store. */
function fileBytes(path: string | null): number | null {
  if (!path) return null;
  try {
    const st = statSync(path);
    return st.isFile() ? st.size : null;
  } catch {
    return null;
  }
}

/**
 * The settings of a run that shape its SAEs and batch stream, keyed by flag, from its options
 * (`r`: the values resolveTrainOptions settled) and its opened source (`s`).
 */
export function runSettings(
  opts: TrainRunOptions,
  r: { arch: string; seeds: number[]; ks: number[]; l1s: number[]; batchSize: number; lr: number; contextSize: number; totalSteps: number; dSaes: number[]; loss?: string },
  s: { hook: string; modelName: string; data: string | null; store: string | null },
): RunSettings {
  const D = TRAIN_DEFAULTS;
  const settings: RunSettings = {
    '--model': s.modelName,
    '--hook': s.hook,
    '--store': s.store,
    '--data': s.store ? null : s.data,
    '--data (file size in bytes)': s.store ? null : fileBytes(s.data),
    '--arch': r.arch,
    '--seeds': r.seeds,
    '--d-sae/--d-saes': r.dSaes,
    '--batch-size': r.batchSize,
    '--tokens (whole batches)': r.totalSteps * r.batchSize,
    '--lr': r.lr,
    '--lr-decay': opts.lrDecay ?? 'linear',
    lrWarmupSteps: opts.lrWarmupSteps ?? 0,
    '--context-size': s.store ? null : r.contextSize,
    '--data-seed': opts.dataSeed ?? D.dataSeed,
    '--buffer-batches': opts.bufferBatches ?? D.bufferBatches,
    '--harvest-batch-size': s.store ? null : (opts.harvestBatchSize ?? D.harvestBatchSize),
    '--normalize': opts.normalize ?? true,
    '--b-dec-init': opts.bDecInit ?? D.bDecInit,
    bDecSampleRows: opts.bDecSampleRows ?? D.bDecSampleRows,
    normTokens: opts.normTokens ?? D.normTokens,
    '--decoder-unit-norm': opts.decoderUnitNorm ?? D.decoderUnitNorm(r.arch as 'topk'),
    '--dead-tokens': opts.deadTokensThreshold ?? null,
    gradClip: opts.gradClip ?? null,
    '--sparsity-tokens': opts.sparsityTokens ?? D.sparsityTokens,
    '--text-field': s.store ? null : (opts.textField ?? 'text'),
    '--doc-separator': s.store ? null : (opts.docSeparator === undefined ? '<|endoftext|>' : opts.docSeparator),
    '--prepend-bos': s.store ? null : (opts.prependBos ?? true),
  };
  // The objective (absent for local training, so local runs' checkpoints compare as before).
  if (r.loss !== undefined && r.loss !== 'local') {
    Object.assign(settings, {
      '--loss': r.loss, '--kl-coefficient': opts.klCoefficient ?? null, '--local-coefficient': opts.localCoefficient ?? null,
      '--downstream': opts.downstream ?? null, '--downstream-coefficients': opts.downstreamCoefficients ?? null,
      '--reward-coefficient': opts.rewardCoefficient ?? null, '--reward-difference': opts.rewardDifference ?? false,
    });
  }
  if (opts.initFrom !== undefined) settings['--init-from'] = opts.initFrom;
  if (opts.encoderScale !== undefined) settings['--init-encoder-scale'] = opts.encoderScale;
  if (opts.storeChunkRows !== undefined) settings['--store-chunk-rows'] = opts.storeChunkRows;
  // Holding the weights in 16 bits changes the activations (streaming does not: it is bit-identical).
  if (opts.modelLoad?.dtype !== undefined && opts.modelLoad.dtype !== 'float32') settings['--model-dtype'] = opts.modelLoad.dtype;
  if (r.arch === 'standard') settings['--l1/--l1s'] = r.l1s;
  else settings['--k/--ks'] = r.ks;
  return settings;
}

const show = (v: unknown): string => (Array.isArray(v) ? v.join(',') : v === null || v === undefined ? '(none)' : typeof v === 'string' ? JSON.stringify(v) : String(v));

/**
 * Refuse a resume whose settings differ from the checkpoint's (TrainRunError, exit 2): the first
 * differing setting, its value when the run started and now. `saved` is absent in checkpoints of an
 * older saelab; then the SAE configs (`savedCfgs` against `cfgs`) are compared instead.
 */
export function checkResumeSettings(o: { checkpoint: string; saved: RunSettings | undefined; now: RunSettings; savedCfgs: readonly Partial<SaeConfig>[]; cfgs: readonly SaeConfig[] }): void {
  const refuse = (what: string, was: unknown, now: unknown) =>
    new TrainRunError(`--resume: ${what} was ${show(was)} when the run in ${o.checkpoint} started, now ${show(now)}; resume with the same settings, or train into a new --out`);
  if (o.saved) {
    for (const key of new Set([...Object.keys(o.saved), ...Object.keys(o.now)])) {
      if (show(o.saved[key]) !== show(o.now[key])) throw refuse(key, o.saved[key], o.now[key]);
    }
  }
  if (o.savedCfgs.length !== o.cfgs.length) throw refuse('the number of SAEs in the sweep', o.savedCfgs.length, o.cfgs.length);
  const fields = ['architecture', 'seed', 'dSae', 'k', 'l1Coefficient', 'dIn', 'decoderUnitNorm', 'normalizeActivations'] as const;
  o.cfgs.forEach((cfg, i) => {
    for (const f of fields) if (show(o.savedCfgs[i]![f]) !== show(cfg[f])) throw refuse(`SAE ${i}'s ${f}`, o.savedCfgs[i]![f], cfg[f]);
  });
}
