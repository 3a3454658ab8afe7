// SAEs at several hooks spliced in together and trained jointly on one end-to-end objective:
//   L = c_kl · KL(P_clean ‖ P_all spliced) [+ Σ_h c_h · downstream_h] + Σ_SAEs (sparsity + c_local · MSE)
// A joint set is one SAE per hook (the trainer's list holds the sets one after another, each in the
// order of `hooks`). Per batch: one clean forward shared by every set, and the clean distribution
// (p, Σ p log p) computed once from it (prepare). Per set, when its first SAE steps: each SAE's
// change added at its hook's kept rows in ONE spliced forward, which resumes at the earliest hook's
// block from the clean residual (the layers before it are the same with and without SAEs), the KL
// (and downstream terms, at hooks after the last SAE hook) read once, ONE backward collecting the
// gradient at every SAE hook; then each SAE's own step with its gradient on x̂ (the splice used
// every SAE's weights from before any of the set's updates). With one hook this is e2eObjective
// (which calls it). Formulas and units: docs/training.md ("Several hooks").

import type { Tensor } from '../compute/tensor.js';
import { add, scale } from '../compute/ops/elementwise.js';
import { klTarget } from '../compute/ops/klDivergence.js';
import { backward } from '../model/backward.js';
import { parseHook } from '../model/hooks.js';
import type { Transformer } from '../model/transformer.js';
import { downstreamClean, downstreamTerms, e2eObjectiveName, gatherRows, keptPositions, klTerm, withTerms, type DownstreamTerm, type TokenBatch } from './e2eTerms.js';
import type { PreparedBatch, TrainObjective } from './objective.js';
import { keptOutputGrad, spliceDelta } from './spliceForward.js';
import type { SaeModel, SaeStepContext, SaeStepResult } from './types.js';

/** The hooks, scales and coefficients of a joint end-to-end objective. */
export interface JointE2eObjectiveOptions {
  model: Transformer;
  /** The SAE hooks, distinct, in the order of the SAEs within each joint set. */
  hooks: readonly string[];
  /** Per hook: inputs are x·normScale (that hook's normalisation factor; 1 for none). */
  normScales: readonly number[];
  klCoefficient?: number;
  localCoefficient?: number;
  /** Downstream residual hooks (each after the last SAE hook) and their weights; empty for e2e. */
  downstream?: readonly DownstreamTerm[];
}

/** What one joint set's spliced forward and backward left for its SAEs' steps. */
interface SetResult {
  /** Per hook: dL/dx̂ [N, d] (normalised units), taken (and freed) by that SAE's step. */
  outputGrads: (Tensor | null)[];
  /** The shared terms' host values (when logging), each SAE's row gets them. */
  terms: Record<string, { value: number; coefficient: number }> | null;
}

/** The joint end-to-end objective (e2e, or e2e+ds with `downstream`) over token batches. */
export function jointE2eObjective(o: JointE2eObjectiveOptions): TrainObjective<TokenBatch> {
  const { model, hooks } = o;
  const H = hooks.length;
  if (H === 0) throw new Error('joint e2e objective: no hooks');
  if (new Set(hooks).size !== H) throw new Error(`joint e2e objective: a hook is listed twice (${hooks.join(', ')})`);
  if (o.normScales.length !== H) throw new Error(`joint e2e objective: ${o.normScales.length} normalisation factors for ${H} hooks`);
  if (model.config.head !== 'lm') throw new Error(`the ${e2eObjectiveName(o)} objective needs a causal LM (this model is a sequence classifier: use --loss reward)`);
  const ds = o.downstream ?? [];
  const last = Math.max(...hooks.map((h) => parseHook(h, model.config).order));
  for (const t of ds) if (parseHook(t.hook, model.config).order <= last) throw new Error(`downstream hook ${t.hook} does not come after the last SAE hook`);
  const dsNames = ds.map((t) => t.hook);
  // The block the spliced forwards resume at (none when the earliest hook is ln_final's).
  const layers = hooks.map((h) => parseHook(h, model.config).layer ?? null);
  const startLayer = layers.includes(null) ? null : Math.min(...(layers as number[]));
  const startName = startLayer === null ? null : `blocks.${startLayer}.hook_resid_pre`;
  const cKl = o.klCoefficient ?? 1;
  const cLocal = o.localCoefficient ?? 0;
  const dev = model.device;
  const d = model.config.dModel;
  return {
    name: e2eObjectiveName(o),
    disposeBatch: () => undefined,
    async prepare(batch: TokenBatch, saes: readonly SaeModel[] = []): Promise<PreparedBatch> {
      // One hook: every SAE is its own set (no list needed). Several: sets are runs of H in `saes`.
      if (H > 1 && (saes.length === 0 || saes.length % H !== 0)) throw new Error(`joint e2e objective: ${saes.length} SAEs do not make sets of one per hook (${H} hooks)`);
      const { B, T } = batch;
      const shape = [B, T, d] as const;
      const rowsHost = keptPositions(batch);
      const N = rowsHost.length;
      if (N === 0) throw new Error('e2e objective: a batch with no kept positions');
      const rows = dev.fromArray(rowsHost, [N]);
      const clean = model.forward(batch.ids, [B, T], { keep: [...new Set([...hooks, ...(startName ? [startName] : []), ...dsNames])] });
      const target = klTarget(clean.logits!);
      clean.logits!.dispose();
      const startAt = startName ? { layer: startLayer!, resid: clean.activations.get(startName)! } : undefined;
      const xs = hooks.map((h, i) => {
        const raw = gatherRows(clean.activations.get(h)!, rows);
        if (o.normScales[i] === 1) return raw;
        const x = scale(raw, o.normScales[i]!);
        raw.dispose();
        return x;
      });
      // Per-position KL weights: 1/N on kept positions, 0 elsewhere (the mean over kept positions).
      const wHost = new Float32Array(B * T);
      for (const r of rowsHost) wHost[r] = 1 / N;
      const weights = dev.fromArray(wHost, [B, T]);
      const dsClean = await downstreamClean(ds, clean.activations, rows);
      for (const t of clean.activations.values()) if (t !== startAt?.resid) t.dispose();
      const sets = new Map<unknown, SetResult>();

      // One set's spliced forward and backward (on its first SAE's step).
      const runSet = async (set: readonly SaeModel[], logging: boolean): Promise<SetResult> => {
        const deltas = set.map((sae, i) => spliceDelta(sae, xs[i]!, rows, shape, o.normScales[i]!));
        const fns = Object.fromEntries(hooks.map((h, i) => [h, (v: Tensor) => add(v, deltas[i]!)]));
        const spliced = model.forward(batch.ids, [B, T], { grad: true, keep: dsNames, hooks: fns, startAt });
        for (const t of deltas) t.dispose();
        const logits = spliced.logits!;
        const kl = klTerm(target, logits, weights, cKl, logging);
        const down = downstreamTerms(ds, dsClean, spliced.activations, rows, shape);
        const back = backward(model, spliced.cache!, { kind: 'output-grad', grad: kl.dLogits }, { collect: hooks, params: false, inject: down.inject });
        spliced.cache!.dispose();
        // Kept values can be the cache's own tensors (the last resid_post feeds the final norm): freed after the backward.
        for (const t of spliced.activations.values()) t.dispose();
        logits.dispose();
        kl.dLogits.dispose();
        for (const g of down.inject.values()) g.dispose();
        const outputGrads = hooks.map((h, i) => keptOutputGrad(back.grads.get(h)!, rows, o.normScales[i]!));
        let terms: SetResult['terms'] = null;
        if (kl.value) {
          terms = { kl: { value: (await kl.value.read())[0]!, coefficient: cKl } };
          for (let j = 0; j < ds.length; j++) terms[`ds:${ds[j]!.hook}`] = { value: (await down.values[j]!.read())[0]!, coefficient: ds[j]!.coefficient };
        }
        kl.value?.dispose();
        for (const v of down.values) v.dispose();
        return { outputGrads, terms };
      };

      const step = async (sae: SaeModel, ctx: SaeStepContext): Promise<SaeStepResult> => {
        const at = H === 1 ? 0 : saes.indexOf(sae);
        if (at < 0) throw new Error('joint e2e objective: an SAE that is not in the trainer\'s list');
        const j = H === 1 ? sae : Math.floor(at / H);
        const i = at % H;
        let r = sets.get(j);
        if (!r) sets.set(j, (r = await runSet(H === 1 ? [sae] : saes.slice(at - i, at - i + H), ctx.logging ?? true)));
        const outputGrad = r.outputGrads[i];
        if (!outputGrad) throw new Error(`joint e2e objective: SAE ${at} stepped twice on one batch`);
        r.outputGrads[i] = null;
        const res = sae.step(xs[i]!, { ...ctx, mseCoefficient: cLocal, outputGrad });
        outputGrad.dispose();
        if (r.outputGrads.every((g) => g === null)) sets.delete(j);
        if (!r.terms) return res;
        // Every SAE of the set logs the shared terms ([1] tensors of the same f32 values).
        return withTerms(res, Object.fromEntries(Object.entries(r.terms).map(([k, t]) => [k, { value: dev.fromArray(Float32Array.of(t.value), [1]), coefficient: t.coefficient }])));
      };
      return {
        x: xs[0]!,
        step,
        dispose: () => {
          for (const r of sets.values()) for (const g of r.outputGrads) g?.dispose();
          target.dispose();
          for (const t of [rows, weights, ...xs, ...dsClean.kept, ...(startAt ? [startAt.resid] : [])]) t.dispose();
        },
      };
    },
  };
}
