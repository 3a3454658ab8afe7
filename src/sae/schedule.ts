// Learning-rate and L1-coefficient schedules: pure functions of the step (0-based, the step about
// to be taken), so a resumed run recomputes exactly the values an uninterrupted one would use.
//
// LR = lr · warm(s) · decay(s):
//   warm(s)  = (s + 1) / warmupSteps for s < warmupSteps, else 1. Starting at lr/W rather than 0
//              (SAELens: LinearLR(start_factor = 1/W, total_iters = W − 1)) so no step is wasted.
//   decay(s) = 1 before the decay phase [totalSteps − decaySteps, totalSteps), then
//              linear: (totalSteps − s) / decaySteps       (1 at the first decay step, → 0 at the end)
//              cosine: ½(1 + cos(π (s − start) / decaySteps)) (1 at the first decay step, → 0 at the end)
//              both floored at minLrFactor (SAELens' lr_end / lr).
// L1 coefficient (SAELens L1Scheduler): final · min(1, s / l1WarmupSteps), so the first step has 0.

/** How the learning rate decays at the end of training. */
export type LrDecay = 'none' | 'linear' | 'cosine';

export interface ScheduleOptions {
  /** Steps of linear LR warm-up (0: none). */
  warmupSteps?: number;
  decay?: LrDecay;
  /** Length of the decay phase; default: linear 20% of totalSteps, cosine all steps after warm-up. */
  decaySteps?: number;
  /** Lowest LR as a fraction of lr during decay (default 0). */
  minLrFactor?: number;
  /** Steps of linear L1-coefficient warm-up (0: full coefficient from the start). */
  l1WarmupSteps?: number;
}

/** The decay phase's length after defaults, clamped to [0, totalSteps]. */
export function decayStepsOf(o: ScheduleOptions, totalSteps: number): number {
  const decay = o.decay ?? 'none';
  if (decay === 'none') return 0;
  const d = o.decaySteps ?? (decay === 'linear' ? Math.floor(totalSteps * 0.2) : totalSteps - (o.warmupSteps ?? 0));
  return Math.max(0, Math.min(totalSteps, Math.floor(d)));
}

/** Multiplier of the base learning rate at step `step` (0-based) of `totalSteps`. */
export function lrFactorAt(step: number, totalSteps: number, o: ScheduleOptions = {}): number {
  const warmup = o.warmupSteps ?? 0;
  const warm = warmup > 0 && step < warmup ? (step + 1) / warmup : 1;
  const decaySteps = decayStepsOf(o, totalSteps);
  let decay = 1;
  const start = totalSteps - decaySteps;
  if (decaySteps > 0 && step >= start) {
    decay = o.decay === 'linear' ? (totalSteps - step) / decaySteps : 0.5 * (1 + Math.cos((Math.PI * (step - start)) / decaySteps));
    decay = Math.max(o.minLrFactor ?? 0, decay);
  }
  return warm * decay;
}

/** Learning rate at step `step` (0-based): `lr · lrFactorAt(...)`. */
export function lrAt(step: number, lr: number, totalSteps: number, o: ScheduleOptions = {}): number {
  return lr * lrFactorAt(step, totalSteps, o);
}

/** L1 coefficient at step `step` (0-based) after warm-up, as SAELens' L1Scheduler. */
export function l1CoefficientAt(step: number, finalCoefficient: number, l1WarmupSteps = 0): number {
  if (l1WarmupSteps <= 0) return finalCoefficient;
  return finalCoefficient * Math.min(1, step / l1WarmupSteps);
}
