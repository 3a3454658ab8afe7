// A training objective: what one step of one SAE minimises. The trainer (trainer.ts) owns the
// optimiser, schedules, dead-latent tracking and checkpoints; an objective turns each batch into
// the SAEs' inputs and, per SAE, into gradients and logged numbers. `local` (the SAE's own
// reconstruction, + L1 or AuxK) is one objective; the end-to-end ones (e2eObjective.ts, and
// jointE2eObjective.ts for SAEs at several hooks spliced in together) run the frozen model with the
// SAEs spliced in. Formulas, units and defaults: docs/training.md.

import type { Tensor } from '../compute/tensor.js';
import type { SaeModel, SaeStepContext, SaeStepResult } from './types.js';

/** One batch made ready for every SAE of a step (work shared by the SAEs is done once, here). */
export interface PreparedBatch {
  /**
   * The SAEs' inputs [N, dIn], normalised; N is the step's token count. A joint objective (SAEs at
   * several hooks) gives its first hook's here and each SAE its own hook's inside `step`.
   */
  x: Tensor;
  /** One SAE's forward + backward on this batch. */
  step(sae: SaeModel, ctx: SaeStepContext): Promise<SaeStepResult>;
  /** Free what `prepare` made (not the batch itself: see TrainObjective.disposeBatch). */
  dispose(): void;
}

/** An objective over batches of type B (a Tensor [N, dIn] for local training). */
export interface TrainObjective<B = Tensor> {
  /** `local`, `e2e`, `e2e+ds`, … (what cfg.json records). */
  readonly name: string;
  /** Make a batch ready for the step of every SAE of `saes` (the trainer's list, in order; a joint objective groups them by it). */
  prepare(batch: B, saes?: readonly SaeModel[]): Promise<PreparedBatch>;
  /** Free a batch after its step (the trainer calls it unless keepBatches). */
  disposeBatch(batch: B): void;
}

/** Local training: each SAE minimises its own loss on the batch (MSE at the hook, + L1 or AuxK). */
export const localObjective: TrainObjective<Tensor> = {
  name: 'local',
  async prepare(x) {
    return { x, step: async (sae, ctx) => sae.step(x, ctx), dispose: () => undefined };
  },
  disposeBatch: (x) => x.dispose(),
};
