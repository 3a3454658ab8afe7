// Per-token gradients of a downstream objective at one or more hooks, from one forward and one
// backward per batch (model/backward.ts `collect`). The objectives:
//   ce      Σ_t CE_t over the predicted positions: g_s = d(Σ_t CE_t)/d x_s (the last position of a
//           row predicts nothing and is left out: its gradient is 0 by causality)
//   kl      KL(P_clean ‖ P_x) has gradient 0 at the clean point, so a first-order picture says
//           nothing; its Hessian there is exactly Jᵀ F J (the Fisher information F = diag(p) − ppᵀ of
//           the softmax pulled back through the model's Jacobian J: the term with KL's gradient
//           vanishes). We sample it: y_t ~ P_clean(·|t) per position and g = d(Σ_t −log q_t(y_t))/d x,
//           whose logit gradient at the clean point is p_t − e_{y_t}; E[g_s g_sᵀ] = Σ_t J_tsᵀ F_t J_ts,
//           the Hessian of Σ_t KL_t w.r.t. x_s. So the Gram of these samples estimates the curvature
//           that decides how much KL a perturbation of x_s costs: ½ δᵀ E[g gᵀ] δ.
//   reward  g_s = d r / d x_s of a reward model's reward (each text on its own row).
// Rows whose positions are excluded (BOS, padding) are marked in `keep`.

import { softmaxRows } from '../compute/ops/softmax.js';
import type { Rng } from '../compute/random.js';
import { backward, NEXT_TOKEN_CE, type Objective } from '../model/backward.js';
import type { Transformer } from '../model/transformer.js';

/** The objectives `saelab gradients` offers. */
export const GRADIENT_OBJECTIVES = ['kl', 'ce', 'reward'] as const;
export type GradientObjective = (typeof GRADIENT_OBJECTIVES)[number];

/** Whether the model's head can give the objective; a sentence saying why not otherwise. */
export function objectiveProblem(model: Transformer, objective: GradientObjective): string | null {
  const lm = model.config.head === 'lm';
  if (objective === 'reward' && lm) return `--objective reward needs a reward (sequence-classification) model; ${model.source} is a causal LM (use kl or ce)`;
  if (objective !== 'reward' && !lm) return `--objective ${objective} needs a causal LM; ${model.source} is a reward model (use reward)`;
  return null;
}

/** One batch's gradients at each hook [B·T, d] (host) and which rows count (1) for the Gram. */
export interface BatchGradients {
  grads: Map<string, Float32Array>;
  keep: Uint8Array;
}

/**
 * Gradients of `objective` at `hooks` for token ids [B, T]; `keep` [B·T] marks the positions that
 * count (1 - exclude); `rng` draws the KL objective's samples (in row-major position order).
 */
export async function batchGradients(model: Transformer, hooks: readonly string[], ids: Int32Array, B: number, T: number, keep: Uint8Array, objective: GradientObjective, rng: Rng): Promise<BatchGradients> {
  const fwd = model.forward(ids, [B, T], { grad: true });
  const cache = fwd.cache!;
  const kept = keep.slice();
  let obj: Objective;
  let scale = 1;
  let gradT = null;
  try {
    if (objective === 'ce') {
      obj = NEXT_TOKEN_CE;
      scale = B * (T - 1); // the mean's 1/(B(T−1)) undone: each position's own loss, summed
      for (let b = 0; b < B; b++) kept[b * T + T - 1] = 0;
    } else if (objective === 'kl') {
      const probs = softmaxRows(fwd.logits!);
      const p = ((await probs.read()) as Float32Array).slice();
      probs.dispose();
      const V = model.config.vocabSize;
      for (let r = 0; r < B * T; r++) {
        const row = p.subarray(r * V, (r + 1) * V);
        if (!kept[r]) {
          row.fill(0);
          continue;
        }
        row[sampleIndex(row, rng)]! -= 1;
      }
      gradT = model.device.fromArray(p, [B, T, V]);
      obj = { kind: 'output-grad', grad: gradT };
    } else {
      obj = { kind: 'rewards', coefficients: new Array(B).fill(1) };
    }
    const r = backward(model, cache, obj, { collect: hooks, params: false });
    const grads = new Map<string, Float32Array>();
    for (const h of hooks) {
      const g = r.grads.get(h)!;
      const host = ((await g.read()) as Float32Array).slice();
      if (scale !== 1) for (let i = 0; i < host.length; i++) host[i]! *= scale;
      grads.set(h, host);
    }
    for (const g of new Set(r.grads.values())) g.dispose();
    return { grads, keep: kept };
  } finally {
    gradT?.dispose();
    cache.dispose();
    fwd.logits?.dispose();
    fwd.rewards?.dispose();
  }
}

/** An index drawn from the distribution `p` (sums to 1 up to rounding) with one uniform of `rng`. */
export function sampleIndex(p: ArrayLike<number>, rng: Rng): number {
  const u = rng.uniform();
  let c = 0;
  let last = 0;
  for (let i = 0; i < p.length; i++) {
    const v = p[i]!;
    if (v <= 0) continue;
    c += v;
    last = i;
    if (u < c) return i;
  }
  return last; // rounding left the total below u
}
