// Stage 2's set-up: the objective of a run and the batches it reads, with the normalisation factor
// and b_dec's sample fixed by the first batches. Local training reads activation batches from the
// source; end-to-end objectives read token batches and take the same statistics from the hook's
// activations on their first batches (a joint run: from each of its hooks', one factor and one
// b_dec sample per hook).

import type { Device } from '../compute/device.js';
import type { Tensor } from '../compute/tensor.js';
import type { ActivationSource } from './activationSource.js';
import { e2eObjective, type TokenBatch } from './e2eObjective.js';
import { jointE2eObjective } from './jointE2eObjective.js';
import { keptActivations, tokenBatches } from './e2eSource.js';
import { localObjective, type TrainObjective } from './objective.js';
import { pairBatches } from './rewardPairs.js';
import { rewardObjective } from './rewardObjective.js';
import { prepareTrainBatches } from './trainBatches.js';
import { TrainRunError } from './trainOptions.js';
import type { TrainLoss } from './trainOptions.js';

/** A run's objective, its batch stream, and what the first batches fixed. */
export interface RunObjective {
  objective: TrainObjective<unknown>;
  batches: AsyncGenerator<unknown>;
  /** The first hook's normalisation factor and b_dec sample (normalised, or undefined; the caller disposes it). */
  factor: number;
  bDecSample: Tensor | undefined;
  /** Per hook of the source (one for a single-hook run; its entry is factor / bDecSample above). */
  inputs: { hook: string; factor: number; bDecSample: Tensor | undefined }[];
  /** What cfg.json's metadata records as `training_objective`. */
  record: Record<string, unknown>;
  /** Stop the batch stream and whatever feeds it (the model's harvest, the corpus reader); idempotent. */
  close(): Promise<void>;
}

/** Settings shared by both kinds of objective. */
export interface ObjectiveSetupOptions {
  device: Device;
  out: string;
  totalSteps: number;
  batchSize: number;
  contextSize: number;
  dataSeed: number;
  normSteps: number;
  normalize: boolean;
  bDecInit: 'zeros' | 'mean' | 'geometric_median';
  bDecSampleRows: number;
  /** A warm start's normalisation factor (used instead of an estimate). */
  factor?: number;
  loss: TrainLoss;
  klCoefficient: number;
  localCoefficient: number;
  downstream: { hook: string; coefficient: number }[];
  rewardCoefficient: number;
  rewardDifference: boolean;
  /** Where a line for the user goes (e.g. that the corpus will repeat). */
  note?: (line: string) => void;
}

/** Open the objective of a run over `src` (the caller calls `close` when done, whatever happened). */
export async function setupObjective(src: ActivationSource, o: ObjectiveSetupOptions): Promise<RunObjective> {
  const common = { device: o.device, dIn: src.dIn, hook: src.hook, out: o.out, normSteps: o.normSteps, normalize: o.normalize, bDecInit: o.bDecInit, bDecSampleRows: o.bDecSampleRows, factor: o.factor };
  if (o.loss === 'local') {
    const source = src.hostBatches({ totalSteps: o.totalSteps, batchSize: o.batchSize, dataSeed: o.dataSeed, note: o.note });
    try {
      const tb = await prepareTrainBatches(source, common);
      // The device batches pull from `source` by hand, so closing them would not close it: close both.
      const close = async () => {
        await tb.batches.return(undefined);
        await source.return(undefined);
      };
      return { objective: localObjective as TrainObjective<unknown>, batches: tb.batches, factor: tb.factor, bDecSample: tb.bDecSample, inputs: [{ hook: src.hook, factor: tb.factor, bDecSample: tb.bDecSample }], record: { loss: 'local', mse_coefficient: 1 }, close };
    } catch (e) {
      await source.return(undefined);
      throw e;
    }
  }
  // End-to-end: whole windows, ⌊batchSize / contextSize⌋ of them per step, in corpus order
  // (reward: whole pairs, ⌊batchSize / 2·contextSize⌋ of them, in file order).
  const model = src.model!;
  const reward = o.loss === 'reward';
  const windowsPerBatch = Math.max(1, Math.floor(o.batchSize / o.contextSize));
  const pairsPerBatch = Math.max(1, Math.floor(o.batchSize / (2 * o.contextSize)));
  const padId = model.config.padTokenId ?? src.tokenizer!.eosId;
  if (reward && padId === null) throw new TrainRunError('--loss reward: the model has no pad token id and the tokenizer no EOS to pad pairs with');
  if (reward) src.metadata.prepend_bos = false; // pairs are tokenized as they are, right-padded
  const stream = reward ? pairBatches(src.metadata.dataset_path as string, src.tokenizer!, { contextSize: o.contextSize, pairsPerBatch, padId: padId! }) : tokenBatches(src.tokenWindows!(), windowsPerBatch);
  const first: TokenBatch[] = [];
  try {
    while (first.length < o.normSteps) {
      const r = await stream.next();
      if (r.done) break;
      first.push(r.value);
    }
    // Per hook: the normalisation factor and b_dec's sample from its activations on the first batches.
    const inputs: RunObjective['inputs'] = [];
    try {
      for (const hook of src.hooks) {
        const tb = await prepareTrainBatches(keptActivations(model, hook, first), { ...common, hook });
        await tb.batches.return(undefined); // only the statistics are wanted; the trainer reads tokens
        inputs.push({ hook, factor: tb.factor, bDecSample: tb.bDecSample });
      }
    } catch (e) {
      for (const i of inputs) i.bDecSample?.dispose();
      throw e;
    }
    const tb = inputs[0]!;
    const objective = reward
      ? rewardObjective({ model, hook: src.hook, normScale: tb.factor, rewardCoefficient: o.rewardCoefficient, localCoefficient: o.localCoefficient, pairs: o.rewardDifference })
      : src.hooks.length > 1
        ? jointE2eObjective({ model, hooks: src.hooks, normScales: inputs.map((i) => i.factor), klCoefficient: o.klCoefficient, localCoefficient: o.localCoefficient, downstream: o.downstream })
        : e2eObjective({ model, hook: src.hook, normScale: tb.factor, klCoefficient: o.klCoefficient, localCoefficient: o.localCoefficient, downstream: o.downstream });
    async function* batches(): AsyncGenerator<TokenBatch> {
      yield* first.splice(0);
      yield* stream;
    }
    const all = batches();
    const close = async () => {
      await all.return(undefined);
      await stream.return(undefined); // started above, so its finally (closing the corpus reader) runs
    };
    const record: Record<string, unknown> = reward
      ? { loss: 'reward', reward_coefficient: o.rewardCoefficient, mse_coefficient: o.localCoefficient, reward_term: o.rewardDifference ? '(dr_spliced - dr_clean)^2 per pair, dr = r(chosen) - r(rejected)' : '(r_spliced - r_clean)^2 per sequence', pairs_per_batch: pairsPerBatch }
      : { loss: objective.name, kl_coefficient: o.klCoefficient, mse_coefficient: o.localCoefficient, kl_direction: 'KL(P_clean || P_spliced), mean over kept positions', windows_per_batch: windowsPerBatch };
    if (src.hooks.length > 1) record.joint_hooks = [...src.hooks];
    if (o.downstream.length > 0) record.downstream = o.downstream.map((d) => ({ hook: d.hook, coefficient: d.coefficient, term: 'sum_t ||a_spliced - a_clean||^2 / sum_t ||a_clean||^2' }));
    return { objective: objective as TrainObjective<unknown>, batches: all, factor: tb.factor, bDecSample: tb.bDecSample, inputs, record, close };
  } catch (e) {
    await stream.return(undefined);
    throw e;
  }
}
