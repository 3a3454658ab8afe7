// The loss terms an end-to-end step reads after its spliced forward, with their gradients: the KL
// at the output (its gradient on the spliced logits) and the relative downstream errors (their
// gradients on the downstream hooks, for backward's `inject`); and the batch vocabulary the
// end-to-end and reward objectives share (token batches, kept positions, logged terms).
// Formulas: docs/training.md.

import { embeddingGather, embeddingScatterAdd } from '../compute/ops/embedding.js';
import { mul, scale, sub } from '../compute/ops/elementwise.js';
import { klToTarget, type KlTarget } from '../compute/ops/klDivergence.js';
import type { Tensor } from '../compute/tensor.js';
import { total } from './saeCommon.js';
import type { SaeStepResult, SaeStepStats } from './types.js';

/** A batch of token windows: ids [B, T] row-major and the positions to leave out (1 = excluded). */
export interface TokenBatch {
  ids: Int32Array;
  exclude: Uint8Array;
  B: number;
  T: number;
}

/** The objective's name as cfg.json records it. */
export function e2eObjectiveName(o: { downstream?: readonly unknown[] }): 'e2e' | 'e2e+ds' {
  return o.downstream && o.downstream.length > 0 ? 'e2e+ds' : 'e2e';
}

/** Kept flat positions (b·T + t) of a batch. */
export function keptPositions(b: TokenBatch): Int32Array {
  const out: number[] = [];
  for (let i = 0; i < b.B * b.T; i++) if (!b.exclude[i]) out.push(i);
  return Int32Array.from(out);
}


/**
 * The KL term of one spliced forward against the batch's clean target (klTarget, computed once):
 * d(c_kl·Σ_t w_t KL_t)/d logits [B, T, V], and Σ_t w_t KL_t [1] when logging; one pass over the logits.
 */
export function klTerm(target: KlTarget, logits: Tensor, weights: Tensor, cKl: number, logging: boolean): { dLogits: Tensor; value: Tensor | null } {
  const { dLogitsQ: d, klw } = klToTarget(target, logits, weights);
  const value = logging ? total(klw) : null;
  klw.dispose();
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

/** Σ of a² over every element → [1]. */
export function sumSquares(a: Tensor): Tensor {
  const a2 = mul(a, a);
  const s = total(a2);
  a2.dispose();
  return s;
}

/** The SAE step's result with the objective's terms ([1] tensors, each times its coefficient) added to the loss. */
export function withTerms(res: SaeStepResult, terms: Record<string, { value: Tensor; coefficient: number }>): SaeStepResult {
  let cached: Promise<SaeStepStats> | null = null;
  return {
    grads: res.grads,
    firedCounts: res.firedCounts,
    stats() {
      cached ??= (async () => {
        const s = await res.stats();
        const values: Record<string, number> = {};
        let loss = s.loss;
        for (const [k, t] of Object.entries(terms)) {
          values[k] = (await t.value.read())[0]!;
          loss += t.coefficient * values[k]!;
        }
        return { ...s, loss, terms: values };
      })();
      return cached;
    },
    dispose() {
      res.dispose();
      for (const t of Object.values(terms)) t.value.dispose();
    },
  };
}
