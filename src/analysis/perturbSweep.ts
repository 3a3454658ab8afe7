// How much a model's output moves when one hook's activation is perturbed, against how far the
// activation moved: KL(P_clean ‖ P_perturbed) and the CE increase per token, for random
// perturbations swept over 1 − cos (matched construction, perturbation.ts), for SAE
// reconstructions spliced in, and for random perturbations matched to each SAE token by token
// (same cos and norm ratio as its x̂). One clean forward per batch serves every hook; each point
// is one more forward. Positions marked `exclude` (BOS, padding) are neither perturbed nor counted.

import { crossEntropy } from '../compute/ops/crossEntropy.js';
import { klDivergence } from '../compute/ops/klDivergence.js';
import { Rng } from '../compute/random.js';
import type { Tensor } from '../compute/tensor.js';
import type { PackedWindow } from '../data/packTokens.js';
import { parseHook } from '../model/hooks.js';
import { nextTokenTargets, type Transformer } from '../model/transformer.js';
import { batchOf, checkSaeFitsModel, keptRows, reconstruct, spliceRows, type EvalSaeSpec } from '../eval/evalSae.js';
import { checkNormRatio, cosineAndNormRatio, matchedPerturbation, PerturbError } from './perturbation.js';

export interface PerturbOptions {
  model: Transformer;
  hooks: string[];
  /** Windows of one length. */
  windows: PackedWindow[];
  /** The swept targets, as 1 − cos (each in [0, 2)). */
  oneMinusCos: number[];
  /** ‖x'‖/‖x‖ of the swept perturbations (default 1). */
  normRatio?: number;
  /** SAEs to place on the curves (each at its own hook, which must be among `hooks`). */
  saes?: EvalSaeSpec[];
  seed?: number;
  /** Windows per forward (default 8). */
  batchSize?: number;
  /** Where to read the robustness summary: KL at this 1 − cos (default 0.01), interpolated. */
  reference?: number;
  /** Called once before the first forward with the work ahead. */
  onPlan?: (plan: PerturbPlan) => void;
  /** Called after every model forward: `done` of `total` forwards (a batch takes plan.forwardsPerBatch). */
  onProgress?: (done: number, total: number) => void;
}

/** The cost of a sweep, known before it runs. */
export interface PerturbPlan {
  hooks: number;
  targets: number;
  saes: number;
  batches: number;
  /** 1 clean + hooks × targets + 2 per SAE (its splice and its matched random twin). */
  forwardsPerBatch: number;
  forwards: number;
  /** Tokens in one forward (windows per batch × window length; the last batch may be smaller). */
  tokensPerForward: number;
}

/** Mean and quantiles over tokens. */
export interface Spread {
  mean: number;
  q10: number;
  q50: number;
  q90: number;
}

export interface CurvePoint {
  oneMinusCos: number;
  kl: Spread;
  /** Mean over tokens of CE_perturbed − CE_clean (nats). */
  ceIncrease: number;
}

export interface SaePoint {
  label: string;
  /** Mean over tokens of 1 − cos(x, x̂) and of ‖x̂‖/‖x‖. */
  oneMinusCos: number;
  normRatio: number;
  kl: Spread;
  ceIncrease: number;
  /** A random perturbation with each token's own cos and norm ratio. */
  randomMatched: { kl: Spread; ceIncrease: number };
}

export interface HookPerturbResult {
  hook: string;
  curve: CurvePoint[];
  saes: SaePoint[];
  /** Mean KL at `reference` 1 − cos, log-log interpolated on the curve (null outside it). */
  klAtReference: number | null;
}

export interface PerturbReport {
  tokens: number;
  windows: number;
  seed: number;
  normRatio: number;
  reference: number;
  hooks: HookPerturbResult[];
}

/** Per-token KL and CE of one series, gathered over batches. */
class Series {
  kl: number[] = [];
  ce: number[] = [];
  add(kl: Float32Array, ce: Float32Array, cleanCe: Float32Array, klMask: Uint8Array, ceMask: Uint8Array): void {
    for (let i = 0; i < kl.length; i++) {
      if (klMask[i]) this.kl.push(kl[i]!);
      if (ceMask[i]) this.ce.push(ce[i]! - cleanCe[i]!);
    }
  }
  spread(): Spread {
    return spreadOf(this.kl);
  }
  ceIncrease(): number {
    return mean(this.ce);
  }
}

function mean(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return xs.length ? s / xs.length : NaN;
}

/** Mean and the 10/50/90% quantiles (nearest rank on the sorted values). */
export function spreadOf(xs: readonly number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]! : NaN);
  return { mean: mean(xs), q10: q(0.1), q50: q(0.5), q90: q(0.9) };
}

/** y at x on the polyline through (xs, ys), interpolated in log-log space; null outside or at a non-positive value. */
export function logLogInterpolate(xs: readonly number[], ys: readonly number[], x: number): number | null {
  for (let i = 0; i + 1 < xs.length; i++) {
    const [x0, x1, y0, y1] = [xs[i]!, xs[i + 1]!, ys[i]!, ys[i + 1]!];
    if (x >= Math.min(x0, x1) && x <= Math.max(x0, x1)) {
      if (!(x0 > 0 && x1 > 0 && y0 > 0 && y1 > 0)) return null;
      if (x0 === x1) return y0;
      const a = (Math.log(x) - Math.log(x0)) / (Math.log(x1) - Math.log(x0));
      return Math.exp(Math.log(y0) + a * (Math.log(y1) - Math.log(y0)));
    }
  }
  return null;
}

/** Run the sweep (see the file comment). */
export async function perturbSweep(o: PerturbOptions): Promise<PerturbReport> {
  const { model } = o;
  const d = model.config.dModel;
  const normRatio = o.normRatio ?? 1;
  checkNormRatio(normRatio, '--norm-ratio');
  for (const t of o.oneMinusCos) if (!(t >= 0 && t < 2)) throw new PerturbError(`1 − cos targets must be in [0, 2), i.e. cos in (−1, 1] (got ${t})`);
  if (o.hooks.length === 0) throw new PerturbError('no hook to perturb');
  for (const h of o.hooks) parseHook(h, model.config);
  const saes = o.saes ?? [];
  for (const s of saes) {
    checkSaeFitsModel(model, s);
    if (!o.hooks.includes(s.hook)) throw new PerturbError(`${s.label}: its hook ${s.hook} is not among the perturbed hooks (${o.hooks.join(', ')})`);
  }
  if (o.windows.length === 0) throw new PerturbError('zero windows to evaluate');
  if (model.config.head !== 'lm') throw new PerturbError('perturb needs a causal LM (KL over next-token distributions); this model is a sequence classifier');
  const T = o.windows[0]!.ids.length;
  const seed = o.seed ?? 0;
  const batch = Math.max(1, o.batchSize ?? 8);
  const reference = o.reference ?? 0.01;

  const curves = o.hooks.map(() => o.oneMinusCos.map(() => new Series()));
  const saeSeries = saes.map(() => ({ sae: new Series(), random: new Series(), cos: [] as number[], ratio: [] as number[] }));
  // One generator per (hook, target) and per SAE, so a point's draws do not depend on the others.
  const rngs = o.hooks.map((_, h) => o.oneMinusCos.map((_, j) => new Rng(seed * 1_000_003 + h * 10_007 + j + 1)));
  const saeRngs = saes.map((_, i) => new Rng(seed * 1_000_003 + 7_000_000 + i));
  let tokens = 0;
  const batches = Math.ceil(o.windows.length / batch);
  const forwardsPerBatch = 1 + o.hooks.length * o.oneMinusCos.length + 2 * saes.length;
  const forwards = batches * forwardsPerBatch;
  o.onPlan?.({ hooks: o.hooks.length, targets: o.oneMinusCos.length, saes: saes.length, batches, forwardsPerBatch, forwards, tokensPerForward: Math.min(batch, o.windows.length) * T });
  let forwardsDone = 0;
  const forwarded = () => o.onProgress?.(++forwardsDone, forwards);

  for (let b0 = 0; b0 < o.windows.length; b0 += batch) {
    const { ids, keep, B } = batchOf(o.windows.slice(b0, b0 + batch));
    // CE at position t predicts token t + 1: counted where t is kept and a next token exists.
    const targetsHost = nextTokenTargets(ids, B, T);
    const ceMask = Uint8Array.from(keep, (k, i) => (k && targetsHost[i]! >= 0 ? 1 : 0));
    for (const k of keep) tokens += k;
    const dev = model.device;
    const targets = dev.fromArray(targetsHost, [B * T]);
    const clean = model.forward(ids, [B, T], { keep: o.hooks });
    const V = model.config.vocabSize;
    const cleanLogits = clean.logits!.reshape([B * T, V]);
    const cleanCe = await readAndDispose(crossEntropy(cleanLogits, targets));
    forwarded();
    const acts = new Map<string, Float32Array>();
    for (const [name, t] of clean.activations) {
      acts.set(name, ((await t.read()) as Float32Array).slice());
      t.dispose();
    }
    /** Forward with `hook` replaced by the host rows `value`; adds its per-token KL and CE to `into`. */
    const measure = async (hook: string, value: Float32Array, into: Series) => {
      const r = model.forward(ids, [B, T], { hooks: { [hook]: () => dev.fromArray(value, [B, T, d]) } });
      const logits = r.logits!.reshape([B * T, V]);
      const kl = await readAndDispose(klDivergence(cleanLogits, logits));
      const ce = await readAndDispose(crossEntropy(logits, targets));
      r.logits!.dispose();
      into.add(kl, ce, cleanCe, keep, ceMask);
      forwarded();
    };
    for (let h = 0; h < o.hooks.length; h++) {
      const hook = o.hooks[h]!;
      const x = acts.get(hook)!;
      for (let j = 0; j < o.oneMinusCos.length; j++) {
        await measure(hook, matchedPerturbation(x, d, 1 - o.oneMinusCos[j]!, normRatio, rngs[h]![j]!, keep), curves[h]![j]!);
      }
    }
    for (let i = 0; i < saes.length; i++) {
      const s = saes[i]!;
      const x = acts.get(s.hook)!;
      const rows = keptRows(x, keep, d);
      const xt = dev.fromArray(rows, [rows.length / d, d]);
      const { xHat } = await reconstruct(s, xt);
      xt.dispose();
      const spliced = spliceRows(x, expandRows(xHat, keep, d), keep, d);
      const { cos, ratio } = cosineAndNormRatio(rows, xHat, d);
      const st = saeSeries[i]!;
      for (let t = 0; t < cos.length; t++) (st.cos.push(cos[t]!), st.ratio.push(ratio[t]!));
      await measure(s.hook, spliced, st.sae);
      // Match each kept token's cos (clamped into the construction's domain) and norm ratio.
      const cAll = new Float64Array(B * T).fill(1);
      const rAll = new Float64Array(B * T).fill(1);
      for (let t = 0, k = 0; t < B * T; t++) {
        if (!keep[t]) continue;
        cAll[t] = Math.max(-1 + 1e-7, Math.min(1, cos[k]!));
        rAll[t] = ratio[k]! > 0 && Number.isFinite(ratio[k]!) ? ratio[k]! : 1e-12;
        k++;
      }
      await measure(s.hook, matchedPerturbation(x, d, cAll, rAll, saeRngs[i]!, keep), st.random);
    }
    clean.logits!.dispose();
    targets.dispose();
  }

  const hooks: HookPerturbResult[] = o.hooks.map((hook, h) => {
    const curve = o.oneMinusCos.map((t, j) => ({ oneMinusCos: t, kl: curves[h]![j]!.spread(), ceIncrease: curves[h]![j]!.ceIncrease() }));
    const pts = saes.flatMap((s, i) => {
      if (s.hook !== hook) return [];
      const st = saeSeries[i]!;
      return [{
        label: s.label,
        oneMinusCos: mean(st.cos.map((c) => 1 - c)),
        normRatio: mean(st.ratio),
        kl: st.sae.spread(),
        ceIncrease: st.sae.ceIncrease(),
        randomMatched: { kl: st.random.spread(), ceIncrease: st.random.ceIncrease() },
      }];
    });
    const order = curve.map((_, j) => j).sort((a, b) => curve[a]!.oneMinusCos - curve[b]!.oneMinusCos);
    const klAtReference = logLogInterpolate(order.map((j) => curve[j]!.oneMinusCos), order.map((j) => curve[j]!.kl.mean), reference);
    return { hook, curve, saes: pts, klAtReference };
  });
  return { tokens, windows: o.windows.length, seed, normRatio, reference, hooks };
}

async function readAndDispose(t: Tensor): Promise<Float32Array> {
  const v = ((await t.read()) as Float32Array).slice();
  t.dispose();
  return v;
}

/** Packed kept rows back to [keep.length, d] (zeros at the others). */
function expandRows(rows: Float32Array, keep: Uint8Array, d: number): Float32Array {
  const out = new Float32Array(keep.length * d);
  for (let t = 0, r = 0; t < keep.length; t++) if (keep[t]) out.set(rows.subarray(d * r, d * ++r), t * d);
  return out;
}
