// The reward-preserving objective for sequence-classification (reward) models: the SAE's output is
// spliced in at its hook (kept positions only, as e2e) and the model's reward must not move.
//   single   L = c_local · MSE + λ · (1/B) Σ_b (r_spliced,b − r_clean,b)²
//   pairs    L = c_local · MSE + λ · (1/P) Σ_p (Δr_spliced,p − Δr_clean,p)²,  Δr = r(chosen) − r(rejected)
// (+ the architecture's L1 or AuxK). In pairs mode the batch's rows come as (chosen, rejected) pairs:
// rows 2p and 2p + 1. Rewards are the model's label-0 output in its own units (reward²). Per step:
// one clean forward shared by every SAE, per SAE a spliced forward and a backward from the reward.
// Formulas, units and defaults: docs/training.md.

import type { Tensor } from '../compute/tensor.js';
import { add, scale } from '../compute/ops/elementwise.js';
import { embeddingGather } from '../compute/ops/embedding.js';
import { backward } from '../model/backward.js';
import type { Transformer } from '../model/transformer.js';
import { keptPositions, withTerms, type TokenBatch } from './e2eTerms.js';
import type { PreparedBatch, TrainObjective } from './objective.js';
import { keptOutputGrad, spliceDelta } from './spliceForward.js';
import type { SaeModel, SaeStepContext, SaeStepResult } from './types.js';

export interface RewardObjectiveOptions {
  model: Transformer;
  hook: string;
  /** Inputs are x·normScale. */
  normScale: number;
  /** λ, the weight of the reward term (default 1). */
  rewardCoefficient?: number;
  /** Weight of the MSE at the hook (default 1: local training plus the reward term). */
  localCoefficient?: number;
  /** Rows are (chosen, rejected) pairs: preserve the reward difference, not each reward. */
  pairs?: boolean;
}

/** The reward term's value and its gradient with respect to the spliced rewards (host arrays of length B). */
export function rewardTerm(spliced: ArrayLike<number>, clean: ArrayLike<number>, pairs: boolean): { value: number; grad: Float64Array } {
  const B = clean.length;
  const grad = new Float64Array(B);
  let value = 0;
  if (!pairs) {
    for (let b = 0; b < B; b++) {
      const e = spliced[b]! - clean[b]!;
      value += (e * e) / B;
      grad[b] = (2 * e) / B;
    }
    return { value, grad };
  }
  if (B % 2 !== 0) throw new Error(`reward objective: a batch of pairs needs an even number of rows (got ${B})`);
  const P = B / 2;
  for (let p = 0; p < P; p++) {
    const e = spliced[2 * p]! - spliced[2 * p + 1]! - (clean[2 * p]! - clean[2 * p + 1]!);
    value += (e * e) / P;
    grad[2 * p] = (2 * e) / P;
    grad[2 * p + 1] = (-2 * e) / P;
  }
  return { value, grad };
}

/** The reward-preserving objective over token batches of a reward model. */
export function rewardObjective(o: RewardObjectiveOptions): TrainObjective<TokenBatch> {
  const { model, hook } = o;
  if (model.config.head === 'lm') throw new Error('the reward objective needs a sequence-classification (reward) model; this one is a causal LM: use --loss e2e');
  const lambda = o.rewardCoefficient ?? 1;
  const cLocal = o.localCoefficient ?? 1;
  const pairs = !!o.pairs;
  const c = o.normScale;
  const dev = model.device;
  const d = model.config.dModel;
  const L = model.config.numLabels;
  return {
    name: 'reward',
    disposeBatch: () => undefined,
    async prepare(batch: TokenBatch): Promise<PreparedBatch> {
      const { B, T } = batch;
      const rowsHost = keptPositions(batch);
      if (rowsHost.length === 0) throw new Error('reward objective: a batch with no kept positions');
      const rows = dev.fromArray(rowsHost, [rowsHost.length]);
      const clean = model.forward(batch.ids, [B, T], { keep: [hook] });
      const rClean = readLabel0((await clean.rewards!.read()) as Float32Array, B, L);
      clean.rewards!.dispose();
      const hookClean = clean.activations.get(hook)!;
      const xRaw = embeddingGather(hookClean.reshape([B * T, d]), rows);
      hookClean.dispose();
      const x = c === 1 ? xRaw : scale(xRaw, c);
      if (x !== xRaw) xRaw.dispose();
      const step = async (sae: SaeModel, ctx: SaeStepContext): Promise<SaeStepResult> => {
        const delta = spliceDelta(sae, x, rows, [B, T, d], c);
        const spliced = model.forward(batch.ids, [B, T], { grad: true, hooks: { [hook]: (h) => add(h, delta) } });
        delta.dispose();
        const rSpliced = readLabel0((await spliced.rewards!.read()) as Float32Array, B, L);
        const term = rewardTerm(rSpliced, rClean, pairs);
        const g = new Float32Array(B * L);
        for (let b = 0; b < B; b++) g[b * L] = lambda * term.grad[b]!;
        const dRewards = dev.fromArray(g, [B, L]);
        const back = backward(model, spliced.cache!, { kind: 'output-grad', grad: dRewards }, { to: hook, params: false });
        spliced.cache!.dispose();
        spliced.rewards!.dispose();
        dRewards.dispose();
        const outputGrad = keptOutputGrad(back.grad, rows, c);
        const res = sae.step(x, { ...ctx, mseCoefficient: cLocal, outputGrad });
        outputGrad.dispose();
        return withTerms(res, { [pairs ? 'reward_diff' : 'reward']: { value: dev.fromArray(new Float32Array([term.value]), [1]), coefficient: lambda } });
      };
      return { x, step, dispose: () => (rows.dispose(), x.dispose()) };
    },
  };
}

/** Label 0 of rewards [B, L] (host). */
function readLabel0(r: Float32Array, B: number, L: number): Float64Array {
  return Float64Array.from({ length: B }, (_, b) => r[b * L]!);
}
