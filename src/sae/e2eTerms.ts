// The loss terms an end-to-end step reads after its spliced forward, with their gradients: the KL
// at the output (its gradient on the spliced logits) and the relative downstream errors (their
// gradients on the downstream hooks, for backward's `inject`). The joint objective
// (jointE2eObjective.ts) uses them; they compute exactly what e2eObjective.ts's step does inline.
// Formulas: docs/training.md.

import { embeddingGather, embeddingScatterAdd } from '../compute/ops/embedding.js';
import { mul, scale, sub } from '../compute/ops/elementwise.js';
import { klDivergence, klDivergenceBackward } from '../compute/ops/klDivergence.js';
import type { Tensor } from '../compute/tensor.js';
import { sumSquares } from './e2eObjective.js';
import { total } from './saeCommon.js';

/** The KL term of one spliced forward: d(c_kl·Σ_t w_t KL_t)/d logits [B, T, V], and Σ_t w_t KL_t [1] when logging. */
export function klTerm(logitsClean: Tensor, logits: Tensor, weights: Tensor, cKl: number, logging: boolean): { dLogits: Tensor; value: Tensor | null } {
  let value: Tensor | null = null;
  if (logging) {
    // Only for logs: a pass over [B, T, V] the gradient does not need.
    const klPos = klDivergence(logitsClean, logits); // [B, T]
    const weighted = mul(klPos, weights);
    klPos.dispose();
    value = total(weighted);
    weighted.dispose();
  }
  const d = klDivergenceBackward(logitsClean, logits, weights, { withP: false }).dLogitsQ;
  if (cKl === 1) return { dLogits: d, value };
  const dLogits = scale(d, cKl);
  d.dispose();
  return { dLogits, value };
}

/** A downstream term's hook and weight. */
export interface DownstreamTerm {
  hook: string;
  coefficient: number;
}

/** The clean side of the downstream terms of a batch: kept rows [N, d] per hook and Σ_t ‖a_clean‖² (host). */
export interface DownstreamClean {
  kept: Tensor[];
  den: number[];
}

/** The clean kept rows and denominators of `terms`, from a clean forward's activations (read once per batch). */
export async function downstreamClean(terms: readonly DownstreamTerm[], activations: ReadonlyMap<string, Tensor>, rows: Tensor): Promise<DownstreamClean> {
  const kept = terms.map((t) => gatherRows(activations.get(t.hook)!, rows));
  const den: number[] = [];
  for (const a of kept) {
    const s = sumSquares(a);
    den.push(Math.max((await s.read())[0]!, 1e-30));
    s.dispose();
  }
  return { kept, den };
}

/**
 * The downstream terms of a spliced forward: each value Σ‖a_s − a_c‖²/den [1], and its gradient
 * 2(a_s − a_c)·c/den on the kept rows as a [B, T, d] tensor by hook (for backward's inject).
 */
export function downstreamTerms(terms: readonly DownstreamTerm[], clean: DownstreamClean, spliced: ReadonlyMap<string, Tensor>, rows: Tensor, shape: readonly [number, number, number]): { inject: Map<string, Tensor>; values: Tensor[] } {
  const [B, T, d] = shape;
  const inject = new Map<string, Tensor>();
  const values: Tensor[] = [];
  terms.forEach((term, j) => {
    const aS = gatherRows(spliced.get(term.hook)!, rows);
    const r = sub(aS, clean.kept[j]!);
    aS.dispose();
    const v = sumSquares(r);
    values.push(scale(v, 1 / clean.den[j]!));
    v.dispose();
    const g = scale(r, (2 * term.coefficient) / clean.den[j]!);
    r.dispose();
    inject.set(term.hook, embeddingScatterAdd(rows, g, B * T).reshape([B, T, d]));
    g.dispose();
  });
  return { inject, values };
}

/** The kept rows `rows` [N] of a [B, T, d] activation → [N, d]. */
export function gatherRows(a: Tensor, rows: Tensor): Tensor {
  const d = a.shape[a.shape.length - 1]!;
  return embeddingGather(a.reshape([a.numel / d, d]), rows);
}
