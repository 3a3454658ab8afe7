// End-to-end objectives (Braun et al. 2024): the SAE's reconstruction is spliced into the frozen
// model at its hook and the loss is read downstream.
//   e2e     L = c_kl · KL(P_clean ‖ P_spliced) + sparsity (+ c_local · MSE at the hook)
//   e2e+ds  L = e2e + Σ_h c_h · Σ_t ‖a_h,spliced − a_h,clean‖² / Σ_t ‖a_h,clean‖²   (h: downstream hooks)
// KL in nats, averaged over the batch's kept positions (the packing's exclude mask: BOS, EOS, PAD);
// only kept positions are spliced (excluded ones keep their clean value, as local training never
// sees them). KL(P_clean ‖ P_spliced) = Σ_v p_clean (log p_clean − log p_spliced): the clean model is
// the target (distillation's direction: mass-covering, its gradient on the spliced logits is
// p_spliced − p_clean); it is what e2e_sae's code computes (torch's kl_div(log q, log p) = KL(p‖q)).
// Per step: one clean forward shared by every SAE (prepare), then per SAE a spliced forward that
// resumes at the hook's block from the clean residual, a backward to the hook (params: false), and
// the SAE's own step with that gradient on x̂.
// Formulas, units and defaults: docs/training.md.

import type { Tensor } from '../compute/tensor.js';
import { add, mul, scale, sub } from '../compute/ops/elementwise.js';
import { embeddingGather, embeddingScatterAdd } from '../compute/ops/embedding.js';
import { klTarget, klToTarget } from '../compute/ops/klDivergence.js';
import { backward } from '../model/backward.js';
import { parseHook } from '../model/hooks.js';
import type { Transformer } from '../model/transformer.js';
import type { PreparedBatch, TrainObjective } from './objective.js';
import { total } from './saeCommon.js';
import { keptOutputGrad, spliceDelta } from './spliceForward.js';
import type { SaeModel, SaeStepContext, SaeStepResult, SaeStepStats } from './types.js';

/** A batch of token windows: ids [B, T] row-major and the positions to leave out (1 = excluded). */
export interface TokenBatch {
  ids: Int32Array;
  exclude: Uint8Array;
  B: number;
  T: number;
}

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

/** The objective's name as cfg.json records it. */
export function e2eObjectiveName(o: Pick<E2eObjectiveOptions, 'downstream'>): 'e2e' | 'e2e+ds' {
  return o.downstream && o.downstream.length > 0 ? 'e2e+ds' : 'e2e';
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

/** Kept flat positions (b·T + t) of a batch. */
export function keptPositions(b: TokenBatch): Int32Array {
  const out: number[] = [];
  for (let i = 0; i < b.B * b.T; i++) if (!b.exclude[i]) out.push(i);
  return Int32Array.from(out);
}

/** An end-to-end objective (e2e, or e2e+ds with `downstream`) over token batches. */
export function e2eObjective(o: E2eObjectiveOptions): TrainObjective<TokenBatch> {
  const { model, hook } = o;
  if (model.config.head !== 'lm') throw new Error(`the ${e2eObjectiveName(o)} objective needs a causal LM (this model is a sequence classifier: use --loss reward)`);
  const ds = o.downstream ?? [];
  const dsNames = ds.map((d) => d.hook);
  const cKl = o.klCoefficient ?? 1;
  const cLocal = o.localCoefficient ?? 0;
  const c = o.normScale;
  const dev = model.device;
  const d = model.config.dModel;
  const startLayer = parseHook(hook, model.config).layer;
  const startName = startLayer == null ? null : `blocks.${startLayer}.hook_resid_pre`;
  return {
    name: e2eObjectiveName(o),
    disposeBatch: () => undefined,
    async prepare(batch: TokenBatch): Promise<PreparedBatch> {
      const { B, T } = batch;
      const rowsHost = keptPositions(batch);
      const N = rowsHost.length;
      if (N === 0) throw new Error('e2e objective: a batch with no kept positions');
      const rows = dev.fromArray(rowsHost, [N]);
      // The spliced forwards resume from the clean residual entering the hook's block (the layers
      // before it are the same with and without the SAE).
      const clean = model.forward(batch.ids, [B, T], { keep: [...new Set([hook, ...(startName ? [startName] : []), ...dsNames])] });
      const startAt = startName ? { layer: startLayer!, resid: clean.activations.get(startName)! } : undefined;
      // The clean distribution once per batch (p and Σ p log p), shared by every SAE's KL.
      const target = klTarget(clean.logits!);
      clean.logits!.dispose();
      const gatherKept = (t: Tensor): Tensor => embeddingGather(t.reshape([B * T, d]), rows);
      const hookClean = clean.activations.get(hook)!;
      const xRaw = gatherKept(hookClean);
      const x = c === 1 ? xRaw : scale(xRaw, c);
      if (x !== xRaw) xRaw.dispose();
      // Per-position KL weights: 1/N on kept positions, 0 elsewhere (the mean over kept positions).
      const wHost = new Float32Array(B * T);
      for (const r of rowsHost) wHost[r] = 1 / N;
      const weights = dev.fromArray(wHost, [B, T]);
      const dsClean = dsNames.map((h) => gatherKept(clean.activations.get(h)!));
      // Σ_t ‖a_clean‖² per downstream hook: each term's denominator (host numbers, read once per batch).
      const dsDen: number[] = [];
      for (const a of dsClean) {
        const s = sumSquares(a);
        dsDen.push(Math.max((await s.read())[0]!, 1e-30));
        s.dispose();
      }
      for (const [name, t] of clean.activations) if (name !== hook && name !== startName) t.dispose();

      const step = async (sae: SaeModel, ctx: SaeStepContext): Promise<SaeStepResult> => {
        // The spliced value: clean + (x̂ − x)/c on kept rows.
        const delta = spliceDelta(sae, x, rows, [B, T, d], c);
        const spliced = model.forward(batch.ids, [B, T], { grad: true, keep: dsNames, hooks: { [hook]: (h) => add(h, delta) }, startAt });
        delta.dispose();
        const logits = spliced.logits!;
        // KL's gradient and its per-position value (w·KL, [B, T]) in one pass over the logits.
        const { dLogitsQ: dlogits, klw } = klToTarget(target, logits, weights);
        const dLogits = cKl === 1 ? dlogits : scale(dlogits, cKl);
        if (dLogits !== dlogits) dlogits.dispose();
        // Downstream terms: value Σ‖a_s − a_c‖²/den, gradient 2(a_s − a_c)·coef/den on kept rows.
        const inject = new Map<string, Tensor>();
        const dsValues: Tensor[] = [];
        ds.forEach((term, j) => {
          const aS = gatherKept(spliced.activations.get(term.hook)!);
          const r = sub(aS, dsClean[j]!);
          aS.dispose();
          const v = sumSquares(r);
          dsValues.push(scale(v, 1 / dsDen[j]!));
          v.dispose();
          const g = scale(r, (2 * term.coefficient) / dsDen[j]!);
          r.dispose();
          inject.set(term.hook, embeddingScatterAdd(rows, g, B * T).reshape([B, T, d]));
          g.dispose();
        });
        const back = backward(model, spliced.cache!, { kind: 'output-grad', grad: dLogits }, { to: hook, params: false, inject });
        spliced.cache!.dispose();
        // Kept values can be the cache's own tensors (the last resid_post feeds the final norm): freed after the backward.
        for (const t of spliced.activations.values()) t.dispose();
        logits.dispose();
        dLogits.dispose();
        for (const g of inject.values()) g.dispose();
        const outputGrad = keptOutputGrad(back.grad, rows, c);
        const res = sae.step(x, { ...ctx, mseCoefficient: cLocal, outputGrad });
        outputGrad.dispose();
        if (!(ctx.logging ?? true)) {
          klw.dispose();
          for (const v of dsValues) v.dispose();
          return res;
        }
        const klSum = total(klw);
        klw.dispose();
        return withTerms(res, { kl: { value: klSum, coefficient: cKl }, ...Object.fromEntries(ds.map((t, j) => [`ds:${t.hook}`, { value: dsValues[j]!, coefficient: t.coefficient }])) });
      };
      return {
        x,
        step,
        dispose: () => {
          target.dispose();
          for (const t of new Set([rows, hookClean, startAt?.resid, x, weights, ...dsClean])) t?.dispose();
        },
      };
    },
  };
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
