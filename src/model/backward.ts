// The model's backward: the gradient of a scalar objective with respect to the activation at one
// hook point, and of every parameter downstream of it, from a forward run with `grad: true`.
// Explicit, in the manner of llm.c: the head, the final norm, then each block (block.ts) in
// reverse, down to the hook. Objectives:
//   next-token-ce   mean next-token cross-entropy over the B·(T−1) predicted tokens (HF `loss`)
//   rewards         Σ_b c_b · rewards[b, label] (e.g. c = [1, −1]: reward[0] − reward[1])
//   kl-to-clean     mean over the B·T positions of KL(P_clean ‖ P_this) in nats, P = softmax of logits
//                   (end-to-end SAE training; the clean logits come from an unpatched forward)
//   output-grad     any objective whose gradient w.r.t. the logits / rewards the caller supplies
// Further terms at downstream residual hooks join through `inject` (their gradients, added in place).
// The hook's gradient is taken w.r.t. the value the forward went on with (after any hook function).
// `collect` returns the gradients at several hooks from the same single pass (SAEs spliced in at
// several hooks and trained jointly): each is copied where the backward passes its hook.

import { crossEntropyBackward } from '../compute/ops/crossEntropy.js';
import { addInPlace, scale } from '../compute/ops/elementwise.js';
import { softcapBackward } from '../compute/ops/softcap.js';
import { sumColumns } from '../compute/ops/reductions.js';
import { klDivergenceBackward } from '../compute/ops/klDivergence.js';
import { embeddingScatterAdd } from '../compute/ops/embedding.js';
import { matmul } from '../compute/ops/matmul.js';
import type { Tensor } from '../compute/tensor.js';
import { blockBackward, normBackward } from './block.js';
import { ModelError } from './errors.js';
import { FINAL_HOOK, parseHook } from './hooks.js';
import { nextTokenTargets, type ForwardCache, type Transformer } from './transformer.js';

export type Objective =
  | { kind: 'next-token-ce' }
  | { kind: 'rewards'; coefficients: readonly number[]; label?: number }
  | { kind: 'kl-to-clean'; cleanLogits: Tensor }
  | { kind: 'output-grad'; grad: Tensor };

/** d(reward[0] − reward[1]): the preference margin of a chosen/rejected pair. */
export const REWARD_DIFF: Objective = { kind: 'rewards', coefficients: [1, -1] };
export const NEXT_TOKEN_CE: Objective = { kind: 'next-token-ce' };

export interface BackwardOptions {
  /** The hook whose gradient to return (e.g. `blocks.1.hook_resid_pre`); default: the earliest of `collect`. */
  to?: string;
  /**
   * Hooks (at or after `to`, any kind) whose gradients to return in `grads`, all from this one pass.
   * A collected gradient includes the `inject` terms at hooks the forward reaches after it, and at
   * the hook itself for a resid_post (the same point as the next resid_pre, whose terms it also has).
   */
  collect?: readonly string[];
  /** Also compute the gradients of the parameters downstream of `to` (default true). */
  params?: boolean;
  /**
   * With `to: 'blocks.0.hook_resid_pre'`: also the embeddings' gradients (token and position rows the
   * input used), so that `params` holds every parameter's full gradient (LM fine-tuning).
   */
  embeddings?: boolean;
  /**
   * Gradients of further loss terms at residual-stream hooks downstream of `to`
   * (`blocks.L.hook_resid_post` or `blocks.L.hook_resid_pre`), each shaped like the hook [B, T, d],
   * added where the backward passes that point (end-to-end + downstream SAE training).
   */
  inject?: ReadonlyMap<string, Tensor>;
}

export interface BackwardResult {
  /** d objective / d (activation at `to`), shaped like it. */
  grad: Tensor;
  /**
   * Parameter gradients by canonical name (`blocks.L.attn.W_Q`, `blocks.L.ln1.w`, `ln_final.w`,
   * `unembed`, `score`, and `embed` for the unembedding side of a tied embedding), for the
   * parameters downstream of `to`.
   */
  params: Map<string, Tensor>;
  /** d objective / d (activation at h) for each hook h of `collect` (empty without it); the entry of `to` is `grad` itself. */
  grads: Map<string, Tensor>;
}

/** d(objective)/d(output): dlogits [B, T, V] or drewards [B, numLabels]. */
function outputGrad(model: Transformer, cache: ForwardCache, objective: Objective): Tensor {
  const cfg = model.config;
  const dev = model.device;
  const { B, T } = cache;
  if (objective.kind === 'output-grad') {
    const out = cache.logits ?? cache.rewards!;
    const g = objective.grad;
    if (g.shape.length !== out.shape.length || g.shape.some((s, i) => s !== out.shape[i])) {
      throw new ModelError(`output-grad objective: gradient of shape [${g.shape}], the model's output is [${out.shape}]`);
    }
    return g;
  }
  if (objective.kind === 'next-token-ce') {
    if (!cache.logits) throw new ModelError('the next-token-ce objective needs a causal LM (this model is a sequence classifier)');
    if (T < 2) throw new ModelError('a next-token loss needs at least 2 tokens per row');
    const targets = dev.fromArray(nextTokenTargets(cache.idsHost, B, T), [B, T]);
    const d = crossEntropyBackward(cache.logits, targets, 1 / (B * (T - 1)), -1);
    targets.dispose();
    return d;
  }
  if (objective.kind === 'kl-to-clean') {
    if (!cache.logits) throw new ModelError('the kl-to-clean objective needs a causal LM (this model is a sequence classifier)');
    const c = objective.cleanLogits;
    if (c.shape.length !== 3 || c.shape.some((s, i) => s !== cache.logits!.shape[i])) {
      throw new ModelError(`kl-to-clean objective: clean logits of shape [${c.shape}], the model's logits are [${cache.logits.shape}]`);
    }
    // d KL(P‖Q)/d logitsQ = (q − p), times 1/(B·T) for the mean over positions.
    return klDivergenceBackward(c, cache.logits, 1 / (B * T), { withP: false }).dLogitsQ;
  }
  if (!cache.rewards) throw new ModelError('the rewards objective needs a sequence-classification model (this one is a causal LM)');
  const label = objective.label ?? 0;
  if (objective.coefficients.length !== B) throw new ModelError(`rewards objective: ${objective.coefficients.length} coefficients for a batch of ${B}`);
  if (!(Number.isInteger(label) && label >= 0 && label < cfg.numLabels)) throw new ModelError(`rewards objective: label ${label} outside [0, ${cfg.numLabels})`);
  const d = new Float32Array(B * cfg.numLabels);
  objective.coefficients.forEach((c, b) => (d[b * cfg.numLabels + label] = c));
  return dev.fromArray(d, [B, cfg.numLabels]);
}

/** Backward from `objective` to the hook `opts.to` (collecting the gradients at `opts.collect` on the way). */
export function backward(model: Transformer, cache: ForwardCache, objective: Objective, opts: BackwardOptions): BackwardResult {
  const cfg = model.config;
  // Through the store: a 16-bit model's blocks are widened one at a time, as in the forward.
  const w = model.store;
  const collect = collectedHooks(opts, cfg);
  const to = opts.to ?? collect.earliest;
  const stop = parseHook(to, cfg);
  for (const name of collect.names) if (parseHook(name, cfg).order < stop.order) throw new ModelError(`backward collect: "${name}" comes before the hook the backward stops at (${to})`);
  if (opts.embeddings && to !== 'blocks.0.hook_resid_pre') throw new ModelError(`embeddings: true needs to: 'blocks.0.hook_resid_pre' (got "${to}")`);
  const params = opts.params === false ? null : new Map<string, Tensor>();
  const grads = new Map<string, Tensor>();
  // A copy of the gradient at `name` when it is collected (the `to` hook's is the result itself).
  const take = (name: string, g: Tensor) => {
    if (name !== to && collect.names.has(name)) grads.set(name, scale(g, 1)); // an exact copy
  };
  const finish = (grad: Tensor): BackwardResult => {
    if (collect.names.has(to)) grads.set(to, grad);
    return { grad, params: params ?? new Map(), grads };
  };
  const { B, T } = cache;
  const d = cfg.dModel;

  // The head: d(ln_final output) [B, T, d].
  const dCapped = outputGrad(model, cache, objective);
  // Under final soft-capping, from d(capped logits) to d(raw logits), through the saved output.
  const dOut = cache.logits && cfg.finalSoftcap !== null ? softcapBackward(cache.logits, dCapped, cfg.finalSoftcap) : dCapped;
  const h = cache.lnFinal.y;
  let dH: Tensor;
  if (cache.logits) {
    if (w.unembedBias) params?.set('unembed_b', sumColumns(dOut.reshape([B * T, cfg.vocabSize])));
    // Untied: logits = h·unembed [d, V]; tied: h·embedᵀ with embed [V, d].
    dH = w.withUnembed((W, tied) => matmul(dOut, W, { transB: !tied }));
    if (!cfg.tiedEmbeddings || cfg.head !== 'lm') params?.set('unembed', matmul(h.reshape([B * T, d]), dOut.reshape([B * T, cfg.vocabSize]), { transA: true }));
    else params?.set('embed', matmul(dOut.reshape([B * T, cfg.vocabSize]), h.reshape([B * T, d]), { transA: true }));
  } else {
    // rewards = h[rows] · score: the gradient lands on the pooled rows only.
    const dPooled = matmul(dOut, w.score!, { transB: true });
    params?.set('score', matmul(cache.pooled!, dOut, { transA: true }));
    dH = embeddingScatterAdd(cache.pooledRows!, dPooled, B * T).reshape([B, T, d]);
    dPooled.dispose();
  }
  if (dOut !== dCapped) dOut.dispose();
  if (dCapped !== (objective.kind === 'output-grad' ? objective.grad : null)) dCapped.dispose();
  if (stop.kind === FINAL_HOOK) return finish(dH);
  take(FINAL_HOOK, dH);

  // The final norm, then the blocks in reverse.
  let dResid = normBackward(dH, cache.lnFinal, w.lnFinal, params, 'ln_final');
  dH.dispose();
  const stopLayer = stop.layer!;
  const inject = checkInjected(opts.inject, stop.order, cfg);
  for (let l = cfg.nLayers - 1; l >= stopLayer; l--) {
    // dResid is now d/d(blocks.l+1.hook_resid_pre), then with blocks.l.hook_resid_post's terms d/d(blocks.l.hook_resid_post).
    const gPre = inject.get(`blocks.${l + 1}.hook_resid_pre`);
    if (gPre) addInPlace(dResid, gPre.reshape(dResid.shape));
    take(`blocks.${l + 1}.hook_resid_pre`, dResid);
    const gPost = inject.get(`blocks.${l}.hook_resid_post`);
    if (gPost) addInPlace(dResid, gPost.reshape(dResid.shape));
    const c = cache.blocks[l];
    if (!c) throw new ModelError(`the forward cache has no block ${l}: run the forward with grad: true`);
    const kind = l === stopLayer ? (stop.kind as Exclude<typeof stop.kind, typeof FINAL_HOOK>) : 'hook_resid_pre';
    const lw = w.layer(l);
    const next = blockBackward(cfg, lw, c, dResid, kind, params, collect.names.size > 0 ? (k, g) => take(`blocks.${l}.${k}`, g) : undefined);
    w.releaseLayer(l, lw);
    if (next !== dResid) dResid.dispose();
    dResid = next;
  }
  if (opts.embeddings && params) embeddingGrads(model, cache, dResid, params);
  return finish(dResid);
}

/** `opts.collect` parsed: its names (each a hook of the model, none twice) and the earliest of them. */
function collectedHooks(opts: BackwardOptions, cfg: Transformer['config']): { names: Set<string>; earliest: string } {
  const list = opts.collect ?? [];
  if (opts.to === undefined && list.length === 0) throw new ModelError('backward: give `to` or a non-empty `collect`');
  let earliest = opts.to ?? list[0]!;
  let order = Infinity;
  for (const name of list) {
    const p = parseHook(name, cfg);
    if (p.order < order) [order, earliest] = [p.order, name];
  }
  const names = new Set(list);
  if (names.size !== list.length) throw new ModelError(`backward collect: a hook is listed twice (${list.join(', ')})`);
  return { names, earliest };
}

/** The injected gradients by hook name, each checked to be a residual hook after `afterOrder` (a ModelError otherwise). */
function checkInjected(inject: ReadonlyMap<string, Tensor> | undefined, afterOrder: number, cfg: Transformer['config']): ReadonlyMap<string, Tensor> {
  if (!inject) return new Map();
  for (const name of inject.keys()) {
    const p = parseHook(name, cfg);
    if (p.kind !== 'hook_resid_post' && p.kind !== 'hook_resid_pre') throw new ModelError(`backward inject: "${name}" is not a residual-stream hook (hook_resid_post or hook_resid_pre)`);
    if (p.order <= afterOrder) throw new ModelError(`backward inject: "${name}" is not downstream of the hook the backward stops at`);
  }
  return inject;
}

/** d(embed) (added to the unembedding side when tied) and d(pos_embed) from d(blocks.0.hook_resid_pre). */
function embeddingGrads(model: Transformer, cache: ForwardCache, dX: Tensor, params: Map<string, Tensor>): void {
  const w = model.store;
  const cfg = model.config;
  const { B, T } = cache;
  // x = embed[ids] · embedScale: the rows receive dX · embedScale.
  const dRows = cfg.embedScale !== 1 ? scale(dX, cfg.embedScale) : dX;
  const dEmbed = embeddingScatterAdd(cache.ids, dRows, cfg.vocabSize);
  if (dRows !== dX) dRows.dispose();
  const tied = params.get('embed');
  if (tied) {
    addInPlace(tied, dEmbed);
    dEmbed.dispose();
  } else {
    params.set('embed', dEmbed);
  }
  if (w.posEmbed) {
    // Position t's row receives Σ_b dX[b, t]: a scatter-add by position ids.
    const pos = model.device.fromArray(Int32Array.from({ length: B * T }, (_, i) => i % T), [B, T]);
    params.set('pos_embed', embeddingScatterAdd(pos, dX, cfg.nCtx));
    pos.dispose();
  }
}

/**
 * The backward of the blocks between two hooks only: given `grad` = d(objective)/d(activation at the
 * residual hook `from`, `blocks.L.hook_resid_pre` or `blocks.L.hook_resid_post`) [B, T, d], the
 * gradient at `to` (at or before `from`) — no head, no parameter gradients. For objectives that live
 * at a hook, such as a later SAE's latent (feature-to-feature connections). `grad` stays the caller's.
 */
export function backwardBetween(model: Transformer, cache: ForwardCache, from: string, grad: Tensor, to: string): Tensor {
  const cfg = model.config;
  const src = parseHook(from, cfg);
  const stop = parseHook(to, cfg);
  if (src.kind !== 'hook_resid_pre' && src.kind !== 'hook_resid_post') throw new ModelError(`backwardBetween: "${from}" is not a residual-stream hook (hook_resid_pre or hook_resid_post)`);
  if (stop.order > src.order || stop.kind === FINAL_HOOK) throw new ModelError(`backwardBetween: "${to}" does not come before "${from}"`);
  // grad is d/d(blocks.top.hook_resid_pre) (resid_post of layer L is resid_pre of L + 1).
  const top = src.kind === 'hook_resid_pre' ? src.layer! : src.layer! + 1;
  if (to === `blocks.${top}.hook_resid_pre` || to === from) return scale(grad, 1);
  let dResid = grad;
  for (let l = top - 1; l >= stop.layer!; l--) {
    const c = cache.blocks[l];
    if (!c) throw new ModelError(`the forward cache has no block ${l}: run the forward with grad: true`);
    const kind = l === stop.layer ? (stop.kind as Exclude<typeof stop.kind, typeof FINAL_HOOK>) : 'hook_resid_pre';
    const lw = model.store.layer(l);
    const next = blockBackward(cfg, lw, c, dResid, kind, null);
    model.store.releaseLayer(l, lw);
    if (next !== dResid && dResid !== grad) dResid.dispose();
    dResid = next;
  }
  return dResid === grad ? scale(grad, 1) : dResid;
}
