// Pruning an SAE to a target L0: remove latents in order of firing frequency on held-out tokens,
// the most frequent first (ties: lower index first), the fewest that bring L0 ≤ X. A removed
// latent's activation is set to 0 after encoding (no other latent takes its place, also for TopK),
// so on the tokens the frequencies came from, L0 after removal = Σ over kept latents of their
// frequency — exactly, from the integer counts.

import { mul } from '../compute/ops/elementwise.js';
import type { Tensor } from '../compute/tensor.js';
import type { SaeModel } from '../sae/types.js';
import { PerturbError } from './perturbation.js';

/** Which latents a target L0 removes. */
export interface PruneChoice {
  targetL0: number;
  /** [dSae] 1 = kept, 0 = removed. */
  mask: Float32Array;
  removed: number;
  /** Σ kept counts / tokens: the L0 on the counted tokens after removal. */
  l0: number;
}

/** The latents in removal order: firing count descending, ties by index ascending. */
export function pruneOrder(counts: ArrayLike<number>): number[] {
  return Array.from({ length: counts.length }, (_, i) => i).sort((a, b) => counts[b]! - counts[a]! || a - b);
}

/** The fewest most-frequent latents to remove so that L0 (Σ counts / tokens) ≤ targetL0. */
export function pruneForL0(counts: ArrayLike<number>, tokens: number, targetL0: number): PruneChoice {
  if (!(targetL0 >= 0 && Number.isFinite(targetL0))) throw new PerturbError(`--l0 targets must be non-negative numbers (got ${targetL0})`);
  if (!(tokens > 0)) throw new PerturbError('zero tokens to count firings on');
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  const mask = new Float32Array(counts.length).fill(1);
  const order = pruneOrder(counts);
  let removed = 0;
  // Compare integer counts against targetL0·tokens so the bound holds exactly.
  while (total > targetL0 * tokens && removed < order.length) {
    const i = order[removed++]!;
    total -= counts[i]!;
    mask[i] = 0;
  }
  return { targetL0, mask, removed, l0: total / tokens };
}

/** An SAE whose latents outside `mask` [dSae] (1 keep, 0 drop) are zeroed after encoding; for evaluation only. */
export function maskedSae(sae: SaeModel, mask: Tensor): SaeModel {
  if (mask.numel !== sae.cfg.dSae) throw new Error(`maskedSae: mask has ${mask.numel} entries for ${sae.cfg.dSae} latents`);
  return {
    cfg: sae.cfg,
    params: sae.params,
    encode: (x) => {
      const f = sae.encode(x);
      const g = mul(f, mask);
      f.dispose();
      return g;
    },
    decode: (f) => sae.decode(f),
    step: () => {
      throw new Error('a pruned SAE is for evaluation, not training');
    },
  };
}
