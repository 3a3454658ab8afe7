// End-to-end objectives (Braun et al. 2024): the SAE's reconstruction is spliced into the frozen
// model at its hook and the loss is read downstream.
//   e2e     L = c_kl · KL(P_clean ‖ P_spliced) + sparsity (+ c_local · MSE at the hook)
//   e2e+ds  L = e2e + Σ_h c_h · Σ_t ‖a_h,spliced − a_h,clean‖² / Σ_t ‖a_h,clean‖²   (h: downstream hooks)
// KL in nats, averaged over the batch's kept positions (the packing's exclude mask: BOS, EOS, PAD);
// only kept positions are spliced (excluded ones keep their clean value, as local training never
// sees them). KL(P_clean ‖ P_spliced) = Σ_v p_clean (log p_clean − log p_spliced): the clean model is
// the target (distillation's direction: mass-covering, its gradient on the spliced logits is
// p_spliced − p_clean); it is what e2e_sae's code computes (torch's kl_div(log q, log p) = KL(p‖q)).
// One hook is the joint objective (jointE2eObjective.ts) with one SAE per set; this file holds the
// single-hook entry point and `--downstream`'s resolution. Formulas, units, defaults: docs/training.md.

import { parseHook } from '../model/hooks.js';
import type { Transformer } from '../model/transformer.js';
import { e2eObjectiveName, type TokenBatch } from './e2eTerms.js';
import { jointE2eObjective } from './jointE2eObjective.js';
import type { TrainObjective } from './objective.js';

export type { TokenBatch } from './e2eTerms.js';

/** The coefficients and hooks of an end-to-end objective. */
export interface E2eObjectiveOptions {
  model: Transformer;
  /** The SAE's hook. */
  hook: string;
  /** Inputs are x·normScale (the SAEs' normalisation factor; 1 for none). */
  normScale: number;
  /** Weight of KL(P_clean ‖ P_spliced) (default 1). */
  klCoefficient?: number;
  /** Weight of the MSE at the hook (default 0). */
  localCoefficient?: number;
  /** Downstream residual hooks and their weights (e2e+ds); empty for plain e2e. */
  downstream?: readonly { hook: string; coefficient: number }[];
}

/**
 * The downstream hooks of `--downstream` for an SAE at `hook`: `all` (every later
 * blocks.L.hook_resid_post), `next` / `next:N` (the next N of them), or a comma list of names (each a
 * residual hook after `hook`). Throws a plain Error with the reason (callers wrap it as a usage error).
 */
export function downstreamHooks(spec: string, hook: string, model: Transformer): string[] {
  const cfg = model.config;
  const at = parseHook(hook, cfg);
  const later: string[] = [];
  for (let l = 0; l < cfg.nLayers; l++) {
    const name = `blocks.${l}.hook_resid_post`;
    if (parseHook(name, cfg).order > at.order) later.push(name);
  }
  const m = /^next(?::(\d+))?$/.exec(spec);
  if (spec === 'all') {
    if (later.length === 0) throw new Error(`--downstream all: no residual hook comes after ${hook}`);
    return later;
  }
  if (m) {
    const n = m[1] === undefined ? 1 : Number(m[1]);
    if (!(n >= 1)) throw new Error(`--downstream ${spec}: N must be a positive integer`);
    if (n > later.length) throw new Error(`--downstream ${spec}: only ${later.length} residual hook(s) come after ${hook}`);
    return later.slice(0, n);
  }
  const names = spec.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.length === 0) throw new Error(`--downstream '${spec}': give all, next, next:N or hook names`);
  for (const n of names) {
    const p = parseHook(n, cfg);
    if (p.kind !== 'hook_resid_post' && p.kind !== 'hook_resid_pre') throw new Error(`--downstream ${n}: only residual-stream hooks (hook_resid_post, hook_resid_pre) can be downstream terms`);
    if (p.order <= at.order) throw new Error(`--downstream ${n} does not come after the SAE's hook ${hook}`);
  }
  if (new Set(names).size !== names.length) throw new Error(`--downstream lists a hook twice (${spec})`);
  return names;
}

/** An end-to-end objective (e2e, or e2e+ds with `downstream`) over token batches: the joint objective with one hook. */
export function e2eObjective(o: E2eObjectiveOptions): TrainObjective<TokenBatch> {
  return jointE2eObjective({ model: o.model, hooks: [o.hook], normScales: [o.normScale], klCoefficient: o.klCoefficient, localCoefficient: o.localCoefficient, downstream: o.downstream });
}
