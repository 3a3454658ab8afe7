// Trains several SAEs from one stream of activation batches: every batch goes to every SAE (a sweep
// over seeds, k, L1 or widths costs one pass over the data). Per SAE and step:
//   step (forward + backward) → [decoderUnitNorm: remove grad ∥ W_dec rows] → global-norm clip →
//   Adam(W) on every param with a gradient → [decoderUnitNorm: renormalise W_dec rows] →
//   tokens-since-fired update,
// the order of SAELens' trainer. The schedule is a pure function of the step and the batch of step
// s is `batchAt(s)` (or the s-th item of an iterable), so a run resumed from a checkpoint is, on
// CPU, bit for bit the run that was never interrupted. What a step minimises is the objective's
// (objective.ts; default `local`, whose batches are activations [N, dIn], already normalised).

import { performance } from 'node:perf_hooks';
import { adamwUpdate } from '../compute/ops/adamw.js';
import { addInPlace, mul, scaleInPlace } from '../compute/ops/elementwise.js';
import { sumRows } from '../compute/ops/reductions.js';
import { rowsCols, type Tensor } from '../compute/tensor.js';
import { latestIntactCheckpoint, loadCheckpoint, saveCheckpoint, type SaeTrainState } from './checkpoint.js';
import { DEFAULT_DEAD_TOKENS_THRESHOLD, deadFractionOf, updateTokensSinceFired } from './deadFeatures.js';
import { normalizeRowsInPlace, removeParallelGrad } from './decoderNorm.js';
import { l1CoefficientAt, lrAt, type ScheduleOptions } from './schedule.js';
import { appendTrainLog, truncateTrainLog, type TrainLogRow } from './trainLog.js';
import { localObjective, type PreparedBatch, type TrainObjective } from './objective.js';
import type { SaeModel, SaeParams } from './types.js';

/** Where batches come from: `batchAt(step)` (0-based, deterministic: best for resume) or an iterable. */
export type BatchSource<B = Tensor> = ((step: number) => B | Promise<B>) | AsyncIterable<B> | Iterable<B>;

export interface TrainOptions<B = Tensor> {
  saes: readonly SaeModel[];
  /** Batches of the objective (local: x [N, dIn], already normalised); the trainer disposes each after use unless keepBatches. */
  batches: BatchSource<B>;
  /** What each step minimises (default: local). */
  objective?: TrainObjective<B>;
  totalSteps: number;
  /** Base learning rate, one for all SAEs or one per SAE. */
  lr: number | readonly number[];
  /** Adam betas (default [0.9, 0.999]). */
  betas?: readonly [number, number];
  /** Adam eps (default 1e-8). */
  eps?: number;
  /** Decoupled weight decay (default 0: plain Adam, as SAELens). */
  weightDecay?: number;
  /** Clip each SAE's global gradient norm to this (0 or absent: no clipping). */
  gradClip?: number;
  schedule?: ScheduleOptions;
  /** Tokens without firing after which a latent counts as dead (default: cfg's, else 10M). */
  deadTokensThreshold?: number;
  /** Log every this many steps (and at the last step); default 100. */
  logEvery?: number;
  /** JSONL file the log rows are appended to. */
  logFile?: string;
  onLog?: (row: TrainLogRow) => void;
  /** Called after every step (progress bars). */
  onStep?: (step: number, tokens: number) => void;
  /** Checkpoint every this many steps (and at the end); needs checkpointDir. */
  checkpointEvery?: number;
  checkpointDir?: string;
  /** Checkpoints kept (default 2). */
  keepCheckpoints?: number;
  /** Continue from the newest intact checkpoint in checkpointDir (from scratch when there is none). */
  resume?: boolean;
  /** Gets a line when a broken checkpoint is skipped for an earlier one. */
  onNote?: (line: string) => void;
  /** Also checkpoint when stopped by `signal` (a graceful Ctrl-C); default false. */
  checkpointOnAbort?: boolean;
  /** JSON the batch source needs to resume, stored in each checkpoint (for sources that are not a pure function of the step). */
  batchState?: () => unknown;
  /** Do not dispose batches after use (the source owns them). */
  keepBatches?: boolean;
  /** Stop after the current step. */
  signal?: AbortSignal;
  /** Sum each SAE's firing counts over steps ≥ this (0-based; default: none) into its state's firedCount, kept in checkpoints. */
  countFiringFrom?: number;
}

export interface TrainResult {
  /** Steps completed. */
  step: number;
  tokens: number;
  /** True when stopped by the signal before totalSteps. */
  aborted: boolean;
  /** The checkpoint resumed from, or null. */
  resumedFrom: string | null;
  /** Per SAE: params (the model's own tensors), Adam moments, tokens since fired. */
  states: SaeTrainState[];
  /** The last log row of each SAE (empty before the first log). */
  lastRows: TrainLogRow[];
  /** Tokens of the steps whose firing counts are in each state's firedCount (resumed runs included). */
  firingTokens: number;
}

// Fixed order, so that Adam updates (and anything else per param) run in the same order every run.
const PARAM_NAMES: readonly (keyof SaeParams)[] = ['W_enc', 'b_enc', 'W_dec', 'b_dec', 'threshold'];

/** Train `saes` for `totalSteps` steps on one batch stream (see the file comment). */
export async function trainSaes<B = Tensor>(o: TrainOptions<B>): Promise<TrainResult> {
  const objective = o.objective ?? (localObjective as unknown as TrainObjective<B>);
  const n = o.saes.length;
  if (n === 0) throw new Error('trainSaes: no SAEs to train');
  if (!(Number.isInteger(o.totalSteps) && o.totalSteps >= 0)) throw new Error(`trainSaes: totalSteps must be a non-negative integer, got ${o.totalSteps}`);
  const lrs = typeof o.lr === 'number' ? o.saes.map(() => o.lr as number) : [...o.lr];
  if (lrs.length !== n || lrs.some((x) => !(x >= 0))) throw new Error(`trainSaes: lr must be a non-negative number or one per SAE (${n})`);
  const dIn = o.saes[0]!.cfg.dIn;
  if (o.saes.some((s) => s.cfg.dIn !== dIn)) throw new Error('trainSaes: every SAE must have the same dIn (they share batches)');
  if ((o.checkpointEvery || o.resume) && !o.checkpointDir) throw new Error('trainSaes: checkpointEvery and resume need checkpointDir');
  const [beta1, beta2] = o.betas ?? [0.9, 0.999];
  const eps = o.eps ?? 1e-8;
  const weightDecay = o.weightDecay ?? 0;
  const schedule = o.schedule ?? {};
  const logEvery = Math.max(1, Math.floor(o.logEvery ?? 100));

  const states = o.saes.map(newTrainState);
  let step = 0;
  let tokens = 0;
  let firingTokens = 0;
  let resumedFrom: string | null = null;
  if (o.resume) {
    const latest = (await latestIntactCheckpoint(o.checkpointDir!, o.onNote))?.path;
    if (latest) {
      const st = await loadCheckpoint(latest, states);
      step = st.step;
      tokens = st.tokens;
      firingTokens = st.firingTokens ?? 0;
      resumedFrom = latest;
    }
  }
  const countFrom = o.countFiringFrom ?? Infinity;
  // A fresh run starts a fresh log; a resumed one drops rows the lost steps had written.
  if (o.logFile) await truncateTrainLog(o.logFile, step);

  const nextBatch = batchReader(o.batches, step, (b) => objective.disposeBatch(b));
  const threshold = (i: number) => o.deadTokensThreshold ?? o.saes[i]!.cfg.deadTokensThreshold ?? DEFAULT_DEAD_TOKENS_THRESHOLD;
  const save = () =>
    saveCheckpoint(o.checkpointDir!, states, { step, tokens, totalSteps: o.totalSteps, firingTokens, batchState: o.batchState?.() }, o.keepCheckpoints ?? 2);
  let lastRows: TrainLogRow[] = [];
  let lastLogTime = performance.now();
  let lastLogTokens = tokens;
  let aborted = false;
  let savedAt = -1;

  try {
    while (step < o.totalSteps) {
      if (o.signal?.aborted) {
        aborted = true;
        break;
      }
      const batch = await nextBatch(step);
      let nTok = 0;
      const logging = (step + 1) % logEvery === 0 || step + 1 === o.totalSteps;
      const pending: { i: number; row: Omit<TrainLogRow, 'step' | 'tokens' | 'tokensPerSecond'> }[] = [];
      let prepared: PreparedBatch | null = null;
      try {
        prepared = await objective.prepare(batch, o.saes);
        const x = prepared.x;
        if (x.shape.length !== 2 || x.shape[1] !== dIn) throw new Error(`trainSaes: batch ${step} has shape [${x.shape}], expected [N, ${dIn}]`);
        nTok = x.shape[0]!;
        for (let i = 0; i < n; i++) {
          const lr = lrAt(step, lrs[i]!, o.totalSteps, schedule);
          const l1 = l1CoefficientAt(step, o.saes[i]!.cfg.l1Coefficient ?? 0, schedule.l1WarmupSteps);
          const r = await trainStep(o.saes[i]!, states[i]!, prepared, {
            adam: { lr, beta1, beta2, eps, weightDecay, step: step + 1 },
            l1,
            gradClip: o.gradClip ?? 0,
            logging,
            deadThreshold: threshold(i),
            tokensSeen: tokens,
            countFiring: step >= countFrom,
          });
          if (r) pending.push({ i, row: { saeIndex: i, ...r, lr } });
        }
      } finally {
        prepared?.dispose();
        if (!o.keepBatches) objective.disposeBatch(batch);
      }
      if (step >= countFrom) firingTokens += nTok;
      step++;
      tokens += nTok;
      if (logging) {
        const now = performance.now();
        const tokensPerSecond = (tokens - lastLogTokens) / Math.max(1e-9, (now - lastLogTime) / 1000);
        lastLogTime = now;
        lastLogTokens = tokens;
        lastRows = pending.map(({ row }) => ({ step, tokens, ...row, tokensPerSecond }));
        if (o.logFile) await appendTrainLog(o.logFile, lastRows);
        for (const row of lastRows) o.onLog?.(row);
      }
      if (o.checkpointDir && o.checkpointEvery && (step % o.checkpointEvery === 0 || step === o.totalSteps)) {
        await save();
        savedAt = step;
      }
      o.onStep?.(step, tokens);
    }
    if (aborted && o.checkpointOnAbort && o.checkpointDir && savedAt !== step) await save();
  } finally {
    await nextBatch.close();
  }
  return { step, tokens, aborted, resumedFrom, states, lastRows, firingTokens };
}

/** Adam moments (zeros) for every param and a zero tokens-since-fired vector, on the params' device. */
function newTrainState(sae: SaeModel): SaeTrainState {
  const m: Record<string, Tensor> = {};
  const v: Record<string, Tensor> = {};
  for (const k of PARAM_NAMES) {
    const p = sae.params[k];
    if (!p) continue;
    m[k] = p.device.zeros(p.shape);
    v[k] = p.device.zeros(p.shape);
  }
  const dev = sae.params.W_enc.device;
  return { cfg: sae.cfg, params: sae.params, m, v, tokensSinceFired: dev.zeros([sae.cfg.dSae]), firedCount: dev.zeros([sae.cfg.dSae]) };
}

interface StepOptions {
  adam: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; step: number };
  l1: number;
  gradClip: number;
  logging: boolean;
  deadThreshold: number;
  /** Tokens trained on before this step. */
  tokensSeen: number;
  /** Add this step's firing counts to the state's firedCount. */
  countFiring: boolean;
}

type StepNumbers = Pick<TrainLogRow, 'loss' | 'mse' | 'l1' | 'auxK' | 'l0' | 'deadFraction' | 'gradNorm' | 'terms'>;

/** One optimiser step of one SAE on x; returns its numbers when logging. */
async function trainStep(sae: SaeModel, st: SaeTrainState, batch: PreparedBatch, so: StepOptions): Promise<StepNumbers | null> {
  const x = batch.x;
  const res = await batch.step(sae, { tokensSinceFired: st.tokensSinceFired, l1Coefficient: so.l1, tokensSeen: so.tokensSeen, logging: so.logging });
  try {
    const named: [keyof SaeParams, Tensor][] = [];
    for (const k of PARAM_NAMES) {
      const g = res.grads[k];
      if (!g) continue;
      if (!sae.params[k] || !st.m[k]) throw new Error(`trainSaes: a gradient for ${k}, which the SAE has no param for`);
      named.push([k, g]);
    }
    if (sae.cfg.decoderUnitNorm && res.grads.W_dec) removeParallelGrad(res.grads.W_dec, sae.params.W_dec);
    let gradNorm: number | undefined;
    if (so.gradClip > 0 || so.logging) gradNorm = await globalNorm(named.map(([, g]) => g));
    if (so.gradClip > 0 && gradNorm! > so.gradClip) {
      // torch.nn.utils.clip_grad_norm_: coefficient max_norm / (norm + 1e-6).
      const coef = so.gradClip / (gradNorm! + 1e-6);
      for (const [, g] of named) scaleInPlace(g, coef);
    }
    for (const [k, g] of named) adamwUpdate(sae.params[k]!, g, st.m[k]!, st.v[k]!, so.adam);
    if (sae.cfg.decoderUnitNorm) normalizeRowsInPlace(sae.params.W_dec);
    updateTokensSinceFired(st.tokensSinceFired, res.firedCounts, x.shape[0]!);
    if (so.countFiring) addInPlace(st.firedCount, res.firedCounts);
    if (!so.logging) return null;
    const stats = await res.stats();
    const tsf = await st.tokensSinceFired.device.read(st.tokensSinceFired);
    const out: StepNumbers = { loss: stats.loss, mse: stats.mse, l0: stats.l0, deadFraction: deadFractionOf(tsf, so.deadThreshold), gradNorm };
    if (stats.l1 !== undefined) out.l1 = stats.l1;
    if (stats.auxK !== undefined) out.auxK = stats.auxK;
    if (stats.terms !== undefined) out.terms = stats.terms;
    return out;
  } finally {
    res.dispose();
  }
}

/** sqrt(Σ over tensors Σ g²): per tensor on the device (rows, then the row sums), summed in f64 on the host in a fixed order. */
export async function globalNorm(grads: readonly Tensor[]): Promise<number> {
  const parts = grads.map((g) => {
    const [rows, cols] = rowsCols(g.shape);
    const sq = mul(g, g).reshape([rows, cols]);
    const perRow = sumRows(sq).reshape([1, rows]);
    sq.dispose();
    const total = sumRows(perRow);
    perRow.dispose();
    return total;
  });
  const values = await Promise.all(parts.map((p) => p.device.read(p)));
  for (const p of parts) p.dispose();
  let s = 0;
  for (const v of values) s += v[0]!;
  return Math.sqrt(s);
}

/** The batch of each step in order, from either kind of source; an iterable skips `start` items. */
function batchReader<B>(src: BatchSource<B>, start: number, disposeBatch: (b: B) => void): ((step: number) => Promise<B>) & { close(): Promise<void> } {
  if (typeof src === 'function') return Object.assign(async (s: number) => src(s), { close: async () => {} });
  const it: AsyncIterator<B> | Iterator<B> = Symbol.asyncIterator in src ? (src as AsyncIterable<B>)[Symbol.asyncIterator]() : (src as Iterable<B>)[Symbol.iterator]();
  let position = 0;
  const pull = async (): Promise<B> => {
    const r = await it.next();
    if (r.done) throw new Error(`trainSaes: the batch source ended after ${position} batches`);
    position++;
    return r.value;
  };
  const read = async (s: number): Promise<B> => {
    // Skip what an interrupted run consumed (resume), then take batches strictly in order.
    while (position < start) disposeBatch(await pull());
    if (s !== position) throw new Error(`trainSaes: batch ${s} asked for at position ${position}`);
    return pull();
  };
  return Object.assign(read, { close: async () => void (await it.return?.()) });
}
