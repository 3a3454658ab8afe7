// Evaluating SAEs spliced into a model (docs/metrics.md). Per batch of windows:
//   1 clean forward, keeping every hook an SAE reads                 (shared by all SAEs)
//   per hook: a zero-ablation and a mean-ablation forward             (shared by the SAEs on it)
//   per SAE: encode/decode the clean activation, a spliced forward
// then the accumulators of metricsSpec.ts (CE and KL per position from the host logits through
// logitLosses.ts, which computes the clean softmax once per batch for all variants). Replacements act only on evaluated positions (not BOS,
// not padding): those keep their clean activation, so every variant differs from the clean run
// exactly where the metrics are averaged. The SAE sees x·s (its normalisation factor s); x̂ is
// divided by s before it is compared or spliced, so every number is in the model's units.
// The mean for mean ablation comes from a first pass (stopping at the last hook) over the same
// windows. A reward model (classifier head) gets reward metrics instead of CE/KL.

import { add, scale, sub } from '../compute/ops/elementwise.js';
import type { Tensor } from '../compute/tensor.js';
import type { PackedWindow } from '../data/packTokens.js';
import { parseHook } from '../model/hooks.js';
import { nextTokenTargets, type Transformer } from '../model/transformer.js';
import type { SaeConfig, SaeModel } from '../sae/types.js';
import { EvalError } from './errors.js';
import { CleanLogits } from './logitLosses.js';
import { FiringAccumulator, LmLossAccumulator, ReconstructionAccumulator, RewardAccumulator, type FiringMetrics, type LmLossMetrics, type ReconstructionMetrics, type RewardMetrics } from './metricsSpec.js';

/**
 * Default windows per forward. Each window's logits [T, V] are the bulk of eval's memory (on the CPU
 * a batch holds a few copies: the model's output, its read-back, the clean softmax): ~110 MB per
 * 128-token window of a 50,257-token vocabulary. Peak RSS of `eval` on gpt2-corpus-tiny, at any
 * --tokens: 1.6 GB at 8 windows, 603 MB at 2, ~430 MB at 1 (BENCHMARKS.md, "Memory").
 */
export const EVAL_BATCH_SIZE = 1;

/** One SAE to evaluate and the hook it is spliced into. */
export interface EvalSaeSpec {
  /** A name for reports (e.g. the folder name). */
  label: string;
  /** The SAE folder, when it came from one. */
  path?: string;
  cfg: SaeConfig;
  model: SaeModel;
  /** The SAE's input scale s (x·s is what it was trained on); absent = 1. */
  normScalingFactor?: number;
  hook: string;
}

export interface EvalOptions {
  model: Transformer;
  saes: EvalSaeSpec[];
  /** Token windows, all of one length; `exclude` marks positions left out of every metric. */
  windows: PackedWindow[];
  /** Reward model: windows come as (chosen, rejected) pairs, in that order. */
  pairs?: boolean;
  /** Windows per forward (default EVAL_BATCH_SIZE; rounded up to even with pairs). Peak memory grows with it, not with the windows. */
  batchSize?: number;
  denseThreshold?: number;
  /** Run the error-term check on the first batch (default true). */
  checkErrorTerm?: boolean;
  onProgress?: (batchesDone: number, batches: number) => void;
}

/** All metrics of one SAE, by spec name. */
export type SaeMetrics = ReconstructionMetrics & FiringMetrics & Partial<LmLossMetrics> & Partial<RewardMetrics>;

export interface SaeEvalResult {
  label: string;
  path: string | null;
  hook: string;
  architecture: SaeConfig['architecture'];
  dIn: number;
  dSae: number;
  cfg: SaeConfig;
  metrics: SaeMetrics;
  checks: {
    /** Largest |output(x̂ + (x − x̂) spliced) − output(clean)| on the first batch (logits or rewards). */
    error_term_max_abs_diff: number;
  };
  /** log10 firing frequency of each latent that fired (for the density histogram). */
  log10Frequencies: number[];
  /** Mean ce_sae − ce_clean at each position (LM only). */
  ceIncreaseByPosition: number[];
}

export interface EvalReport {
  head: 'lm' | 'classifier';
  windows: number;
  contextSize: number;
  /** Evaluated tokens (not excluded) in all windows. */
  tokens: number;
  saes: SaeEvalResult[];
}

/** Check that an SAE fits the model: the hook exists (a ModelError with a suggestion otherwise) and d_in = d_model. */
export function checkSaeFitsModel(model: Transformer, s: Pick<EvalSaeSpec, 'label' | 'cfg' | 'hook'>): void {
  parseHook(s.hook, model.config);
  if (s.cfg.dIn !== model.config.dModel) {
    throw new EvalError(`${s.label}: the SAE's d_in is ${s.cfg.dIn} but ${s.hook} of the model has d_model ${model.config.dModel}: this SAE was trained on another model`);
  }
}

/** Host copy of `x` with the kept rows (keep[t] = 1) of width d replaced by `by` (a row array, or one row broadcast, or null for zeros). */
export function spliceRows(x: Float32Array, by: Float32Array | null, keep: ArrayLike<number>, d: number): Float32Array {
  const out = x.slice();
  const broadcast = by !== null && by.length === d;
  for (let t = 0; t < keep.length; t++) {
    if (!keep[t]) continue;
    if (by === null) out.fill(0, t * d, (t + 1) * d);
    else if (broadcast) out.set(by, t * d);
    else out.set(by.subarray(t * d, (t + 1) * d), t * d);
  }
  return out;
}

/** The kept rows of x [n, d], packed. */
export function keptRows(x: Float32Array, keep: ArrayLike<number>, d: number): Float32Array {
  let n = 0;
  for (let t = 0; t < keep.length; t++) if (keep[t]) n++;
  const out = new Float32Array(n * d);
  for (let t = 0, r = 0; t < keep.length; t++) if (keep[t]) out.set(x.subarray(t * d, (t + 1) * d), d * r++);
  return out;
}

/** Encode and decode host activations x [n, dIn] (model units) through an SAE: latents f [n, dSae] and x̂ [n, dIn] in model units. */
export async function reconstruct(s: Pick<EvalSaeSpec, 'cfg' | 'model' | 'normScalingFactor'>, x: Tensor): Promise<{ f: Float32Array; xHat: Float32Array }> {
  const factor = s.normScalingFactor ?? 1;
  const xin = factor === 1 ? x : scale(x, factor);
  const f = s.model.encode(xin);
  const xs = s.model.decode(f);
  const xHatT = factor === 1 ? xs : scale(xs, 1 / factor);
  const fHost = (await f.read()) as Float32Array;
  const xHat = (await xHatT.read()) as Float32Array;
  for (const t of new Set([f, xs, xHatT])) t.dispose();
  if (xin !== x) xin.dispose();
  return { f: fHost.slice(), xHat: xHat.slice() };
}

/** Per-dimension mean of each hook over the evaluated positions of all windows (a forward stopping at the last hook). */
export async function hookMeans(model: Transformer, hooks: string[], windows: PackedWindow[], batchSize: number): Promise<Map<string, Float32Array>> {
  const d = model.config.dModel;
  const sums = new Map(hooks.map((h) => [h, new Float64Array(d)]));
  let n = 0;
  const last = hooks.reduce((a, b) => (parseHook(b, model.config).order > parseHook(a, model.config).order ? b : a));
  for (let i = 0; i < windows.length; i += batchSize) {
    const { ids, keep, B, T } = batchOf(windows.slice(i, i + batchSize));
    const r = model.forward(ids, [B, T], { keep: hooks, stopAt: last });
    for (const h of hooks) {
      const t = r.activations.get(h)!;
      const x = (await t.read()) as Float32Array;
      t.dispose();
      const s = sums.get(h)!;
      for (let p = 0; p < B * T; p++) if (keep[p]) for (let j = 0; j < d; j++) s[j] += x[p * d + j]!;
    }
    for (let p = 0; p < B * T; p++) if (keep[p]) n++;
  }
  return new Map(hooks.map((h) => [h, Float32Array.from(sums.get(h)!, (v) => v / n)]));
}

/** Windows → ids [B·T], keep [B·T] (1 - exclude). */
export function batchOf(ws: PackedWindow[]): { ids: Int32Array; keep: Uint8Array; B: number; T: number } {
  const B = ws.length;
  const T = ws[0]!.ids.length;
  const ids = new Int32Array(B * T);
  const keep = new Uint8Array(B * T);
  ws.forEach((w, b) => {
    if (w.ids.length !== T) throw new EvalError(`evaluation windows must all have one length (${T}); window ${b} has ${w.ids.length}`);
    ids.set(w.ids, b * T);
    for (let t = 0; t < T; t++) keep[b * T + t] = w.exclude[t] ? 0 : 1;
  });
  return { ids, keep, B, T };
}

/** Largest |a − b| over two host arrays. */
function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** A read-back of a tensor that is then freed. */
async function take(t: Tensor): Promise<Float32Array> {
  const v = ((await t.read()) as Float32Array).slice();
  t.dispose();
  return v;
}

/** Evaluate SAEs on windows: the spec's metrics for each, sharing the clean and ablation forwards. */
export async function evalSaes(o: EvalOptions): Promise<EvalReport> {
  const { model, saes, windows } = o;
  const cfg = model.config;
  const head = cfg.head === 'lm' ? 'lm' : 'classifier';
  if (saes.length === 0) throw new EvalError('no SAE to evaluate');
  if (windows.length === 0) throw new EvalError('no evaluation windows: the data gave zero tokens');
  for (const s of saes) checkSaeFitsModel(model, s);
  let tokens = 0;
  for (const w of windows) for (let t = 0; t < w.exclude.length; t++) if (!w.exclude[t]) tokens++;
  if (tokens === 0) throw new EvalError('zero evaluation tokens: every position of the evaluation windows is excluded (BOS/padding)');
  if (o.pairs && windows.length % 2 !== 0) throw new EvalError('preference pairs need an even number of windows (chosen, rejected)');
  let batchSize = Math.max(1, Math.floor(o.batchSize ?? EVAL_BATCH_SIZE));
  if (o.pairs && batchSize % 2) batchSize++;
  const d = cfg.dModel;
  const dev = model.device;
  const hooks = [...new Set(saes.map((s) => s.hook))];
  const means = head === 'lm' ? await hookMeans(model, hooks, windows, batchSize) : new Map<string, Float32Array>();

  const recon = saes.map(() => new ReconstructionAccumulator(d));
  const firing = saes.map((s) => new FiringAccumulator(s.cfg.dSae, o.denseThreshold));
  const lm = saes.map(() => new LmLossAccumulator());
  const rew = saes.map(() => new RewardAccumulator());
  const errTerm = saes.map(() => NaN);
  const batches = Math.ceil(windows.length / batchSize);
  const T = windows[0]!.ids.length;

  for (let bi = 0; bi < batches; bi++) {
    const { ids, keep, B } = batchOf(windows.slice(bi * batchSize, (bi + 1) * batchSize));
    const shape = [B, T] as const;
    const hshape = [B, T, d];
    const clean = model.forward(ids, shape, { keep: hooks });
    const xs = new Map<string, Float32Array>(); // hook → clean activations [B·T, dModel]
    for (const h of hooks) xs.set(h, await take(clean.activations.get(h)!));
    const replaced = (hook: string, host: Float32Array) => model.forward(ids, shape, { hooks: { [hook]: () => dev.fromArray(host, hshape) } });
    /** SAE i on its hook's clean activations: reconstruction and firing metrics added; x̂ for the splices (the caller frees xT). */
    const encodeAndCount = async (i: number) => {
      const s = saes[i]!;
      const x = xs.get(s.hook)!;
      const xT = dev.fromArray(x, [B * T, d]);
      const { f, xHat } = await reconstruct(s, xT);
      recon[i]!.add(x, xHat, f, s.cfg.dSae, keep);
      firing[i]!.add(f, keep);
      return { s, x, xT, xHat };
    };

    if (head === 'lm') {
      const targets = nextTokenTargets(ids, B, T); // [B·T], −1 at each window's last position
      const V = cfg.vocabSize;
      // The clean side's softmax statistics once per batch, for the evaluated rows only. Memory: a
      // batch's logits [B·T, V] are the largest arrays here, so each is read without a second copy
      // and dropped as soon as it is used (the clean ones kept only on the batch of the error-term
      // check): the peak is ~3 × B·T·V floats (softmax kept, a variant's device tensor + read-back).
      const checkNow = bi === 0 && (o.checkErrorTerm ?? true);
      // On the CPU each logits tensor is read in place and its array goes back to the device's pool
      // for the next forward (no 25 MB copy, allocation and collection per variant).
      let clean0 = null as Float32Array | null; // [B·T, V], kept for the error-term check only (set in the callback)
      const { cleanLogits, ceClean } = await clean.logits!.readThenDispose((z) => {
        const c = new CleanLogits(z as Float32Array, V, keep);
        const ce = c.ce(targets);
        c.dropLogits();
        if (checkNow) clean0 = (z as Float32Array).slice();
        return { cleanLogits: c, ceClean: ce };
      });
      const lossesOf = (logits: Tensor) => logits.readThenDispose((q) => cleanLogits.compare(q as Float32Array, targets));
      const ablations = new Map<string, { zero: { ce: Float64Array; kl: Float64Array }; mean: { ce: Float64Array; kl: Float64Array } }>();
      for (const h of hooks) {
        const x = xs.get(h)!;
        const zero = await lossesOf(replaced(h, spliceRows(x, null, keep, d)).logits!);
        const mean = await lossesOf(replaced(h, spliceRows(x, means.get(h)!, keep, d)).logits!);
        ablations.set(h, { zero, mean });
      }
      for (let i = 0; i < saes.length; i++) {
        const { s, x, xT, xHat } = await encodeAndCount(i);
        const spliced = await lossesOf(replaced(s.hook, spliceRows(x, xHat, keep, d)).logits!);
        const ab = ablations.get(s.hook)!;
        lm[i]!.add({ T, keep, ceClean, ceSae: spliced.ce, ceZero: ab.zero.ce, ceMean: ab.mean.ce, klSae: spliced.kl, klZero: ab.zero.kl, klMean: ab.mean.kl });
        if (checkNow) {
          const withErr = await errorTermSplice(xT, xHat, keep, d);
          errTerm[i] = await replaced(s.hook, withErr).logits!.readThenDispose((out) => maxAbsDiff(out as Float32Array, clean0!));
        }
        xT.dispose();
      }
    } else {
      const rClean = await take(clean.rewards!);
      for (let i = 0; i < saes.length; i++) {
        const { s, x, xT, xHat } = await encodeAndCount(i);
        const rSae = await take(replaced(s.hook, spliceRows(x, xHat, keep, d)).rewards!);
        // numLabels = 1 for a reward model: the reward of row b is rSae[b].
        const L = rClean.length / B;
        const c = Float32Array.from({ length: B }, (_, b) => rClean[b * L]!);
        const r = Float32Array.from({ length: B }, (_, b) => rSae[b * L]!);
        rew[i]!.addSequences(c, r);
        if (o.pairs) for (let b = 0; b + 1 < B; b += 2) rew[i]!.addPair(c[b]!, c[b + 1]!, r[b]!, r[b + 1]!);
        if (bi === 0 && (o.checkErrorTerm ?? true)) {
          const out = await take(replaced(s.hook, await errorTermSplice(xT, xHat, keep, d)).rewards!);
          errTerm[i] = maxAbsDiff(out, rClean);
        }
        xT.dispose();
      }
    }
    o.onProgress?.(bi + 1, batches);
  }

  return {
    head,
    windows: windows.length,
    contextSize: T,
    tokens,
    saes: saes.map((s, i) => {
      const metrics: SaeMetrics = { ...recon[i]!.result(), ...firing[i]!.result() };
      if (head === 'lm') Object.assign(metrics, lm[i]!.result());
      else Object.assign(metrics, rew[i]!.result());
      return {
        label: s.label, path: s.path ?? null, hook: s.hook, architecture: s.cfg.architecture, dIn: s.cfg.dIn, dSae: s.cfg.dSae, cfg: s.cfg, metrics,
        checks: { error_term_max_abs_diff: errTerm[i]! },
        log10Frequencies: firing[i]!.log10AliveFrequencies(),
        ceIncreaseByPosition: head === 'lm' ? lm[i]!.ceIncreaseByPosition() : [],
      };
    }),
  };
}

/**
 * The error-term splice x̂ + (x − x̂), computed with the device's f32 ops as attribution will (the
 * "detach" is moot without gradients): in exact arithmetic it is x, so the output must equal the
 * clean output up to rounding. Only the evaluated rows are replaced, as for the SAE splice.
 */
async function errorTermSplice(xT: Tensor, xHat: Float32Array, keep: ArrayLike<number>, d: number): Promise<Float32Array> {
  const xHatT = xT.device.fromArray(xHat, xT.shape);
  const err = sub(xT, xHatT);
  const sum = add(xHatT, err);
  const v = await take(sum);
  xHatT.dispose();
  err.dispose();
  return spliceRows((await xT.read()) as Float32Array, v, keep, d);
}
