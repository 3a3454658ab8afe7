// Connections between the features of an earlier and a later SAE (attribution patching through the
// blocks in between). At the early hook x₁ = Σ_i f₁ᵢ dᵢ/s₁ + b₁/s₁ + e₁ (dᵢ = W_dec₁ row i, s₁ its
// input scale, e₁ the error term). For a later feature j, its activation summed over the tokens where
// it fires, F_j = Σ_{t: f₂ⱼ[t]>0} f₂ⱼ[t], has gradient W_enc₂[:, j]·s₂ at those tokens of the late hook
// (every architecture here: f = act(W_encᵀ(x·s − b) + b_enc), with act's slope 1 where it fires), and
// one backward through the blocks in between (model/backward.ts backwardBetween) gives g = dF_j/dx₁
// at every position. The edge from early feature i (and from the error node) is then
//   edge(i → j) = Σ_s (f₁ᵢ[s]/s₁) (g[s]·dᵢ)      edge(error → j) = Σ_s g[s]·e₁[s]
// (positions s excluded from the metrics, e.g. BOS, are summed into `excluded` as g·x₁). The
// strongest edges are checked against exact ablation: remove f₁ᵢdᵢ/s₁ at every position, rerun the
// blocks, and measure the drop of Σ_t f₂ⱼ over the same batch.

import type { Tensor } from '../compute/tensor.js';
import type { PackedWindow } from '../data/packTokens.js';
import { batchOf, reconstruct } from '../eval/evalSae.js';
import { backwardBetween } from '../model/backward.js';
import { parseHook } from '../model/hooks.js';
import type { Transformer } from '../model/transformer.js';
import type { SaeConfig, SaeModel } from '../sae/types.js';
import { GradientsError } from './gradientsRun.js';

/** One SAE at its hook with host copies of its weights (model units come from dividing by the scale). */
export interface ConnectSae {
  label: string;
  path?: string;
  hook: string;
  cfg: SaeConfig;
  model: SaeModel;
  normScalingFactor?: number;
  /** W_dec [dSae, dIn], W_enc [dIn, dSae], b_dec [dIn]. */
  wDec: Float32Array;
  wEnc: Float32Array;
  bDec: Float32Array;
}

export interface ConnectOptions {
  model: Transformer;
  early: ConnectSae;
  late: ConnectSae;
  windows: PackedWindow[];
  /** Later features to attribute; default: the `topFeatures` with the largest total activation. */
  features?: number[];
  topFeatures?: number;
  /** Edges kept per later feature (default 10). */
  topK?: number;
  /** Strongest edges checked by exact ablation on the first batch (default 8). */
  checkEdges?: number;
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
  /** Continue from a saved state of the same run (connectRun checks that it is). */
  resumeFrom?: ConnectState;
  /** Receives the state after a batch, at most every `checkpointSeconds` (default 30; 0: every batch); awaited. */
  onCheckpoint?: (s: ConnectState) => Promise<void>;
  checkpointSeconds?: number;
}

/** Per later feature, what the batches so far have summed. */
export interface FeatureAccumulator {
  /** [m₁] Σ edge per early feature. */
  edge: Float64Array;
  error: number;
  bias: number;
  excluded: number;
  fires: number;
  activation: number;
}

/** A connect pass part way: batches done, tokens counted, the attributed features and their sums, the first batch's edges (for the ablation checks). */
export interface ConnectState {
  batches: number;
  tokens: number;
  features: number[];
  /** In `features` order. */
  acc: FeatureAccumulator[];
  first: [number, Float64Array][];
}

/** One edge into a later feature; `source` −1 is the early SAE's error term. */
export interface FeatureEdge {
  source: number;
  /** Σ over tokens of the linear attribution. */
  attribution: number;
  /** attribution / tokens where the later feature fired. */
  perFiring: number;
}

export interface LateFeatureEdges {
  feature: number;
  /** Tokens where it fired, and its summed activation there. */
  fires: number;
  activation: number;
  /** Top-k edges by |attribution| (early features and the error node). */
  edges: FeatureEdge[];
  error: number;
  /** Σ g·b_dec₁/s₁ and the excluded positions' Σ g·x₁. */
  bias: number;
  excluded: number;
}

/** A linear edge against exact ablation of its source on the first batch. */
export interface AblationCheck {
  source: number;
  target: number;
  linear: number;
  exact: number;
}

export interface ConnectReport {
  early: { label: string; hook: string; dSae: number };
  late: { label: string; hook: string; dSae: number };
  tokens: number;
  batches: number;
  features: LateFeatureEdges[];
  checks: AblationCheck[];
}

/** Check the pair of SAEs against the model: hooks exist, in order, the later one on the residual stream; d_in fits. */
export function checkConnectSetup(model: Transformer, early: Pick<ConnectSae, 'hook' | 'cfg' | 'label'>, late: Pick<ConnectSae, 'hook' | 'cfg' | 'label'>): void {
  const a = parseHook(early.hook, model.config);
  const b = parseHook(late.hook, model.config);
  for (const s of [early, late]) if (s.cfg.dIn !== model.config.dModel) throw new GradientsError(`${s.label}: the SAE's d_in is ${s.cfg.dIn} but the model's d_model is ${model.config.dModel}: it was trained on another model`);
  if (a.order >= b.order) throw new GradientsError(`the --sae folders are in the wrong order: the earlier ${early.label} is at ${early.hook}, which does not come before the later ${late.label} at ${late.hook}`);
  if (b.kind !== 'hook_resid_pre' && b.kind !== 'hook_resid_post') throw new GradientsError(`${late.label}: the later SAE is at ${late.hook}; connect needs it on the residual stream (hook_resid_pre or hook_resid_post)`);
}

/** Rows of f [N, m] as sparse lists: offsets [N+1] into (ids, vals). */
function sparseRows(f: Float32Array, N: number, m: number): { off: Int32Array; ids: Int32Array; vals: Float32Array } {
  const off = new Int32Array(N + 1);
  const ids: number[] = [];
  const vals: number[] = [];
  for (let r = 0; r < N; r++) {
    for (let i = 0; i < m; i++) {
      const v = f[r * m + i]!;
      if (v !== 0) {
        ids.push(i);
        vals.push(v);
      }
    }
    off[r + 1] = ids.length;
  }
  return { off, ids: Int32Array.from(ids), vals: Float32Array.from(vals) };
}

/** The late SAE's latents for the activations of its hook (host [N, m₂]). */
async function lateCode(s: ConnectSae, x: Tensor): Promise<Float32Array> {
  return (await reconstruct(s, x)).f;
}

/** Total activation per later feature over the kept tokens of all windows (a forward stopping at the late hook). */
async function lateTotals(model: Transformer, late: ConnectSae, windows: PackedWindow[], bs: number): Promise<Float64Array> {
  const m = late.cfg.dSae;
  const tot = new Float64Array(m);
  for (let w = 0; w < windows.length; w += bs) {
    const { ids, keep, B, T } = batchOf(windows.slice(w, w + bs));
    const r = model.forward(ids, [B, T], { keep: [late.hook], stopAt: late.hook });
    const x = r.activations.get(late.hook)!;
    const f = await lateCode(late, x);
    x.dispose();
    for (let t = 0; t < B * T; t++) if (keep[t]) for (let j = 0; j < m; j++) tot[j] += f[t * m + j]!;
  }
  return tot;
}

/** Edges from early to later features (see the file comment). */
export async function connectFeatures(o: ConnectOptions): Promise<ConnectReport> {
  const { model, early, late, windows } = o;
  checkConnectSetup(model, early, late);
  const d = model.config.dModel;
  const m1 = early.cfg.dSae;
  const m2 = late.cfg.dSae;
  const bs = o.batchSize ?? 8;
  const batches = Math.ceil(windows.length / bs);
  let features = o.features;
  const r0 = o.resumeFrom;
  if (r0) features = r0.features;
  else if (features) {
    for (const j of features) if (!(Number.isInteger(j) && j >= 0 && j < m2)) throw new GradientsError(`--features: ${j} is not a latent of ${late.label} (0…${m2 - 1})`);
  } else {
    const tot = await lateTotals(model, late, windows, bs);
    features = Array.from({ length: m2 }, (_, j) => j).filter((j) => tot[j]! > 0).sort((a, b) => tot[b]! - tot[a]! || a - b).slice(0, o.topFeatures ?? 64);
  }
  const s1 = early.normScalingFactor ?? 1;
  const s2 = late.normScalingFactor ?? 1;
  const acc = new Map<number, FeatureAccumulator>(features.map((j, k) => [j, r0 ? r0.acc[k]! : { edge: new Float64Array(m1), error: 0, bias: 0, excluded: 0, fires: 0, activation: 0 }]));
  const first = new Map<number, Float64Array>(r0 ? r0.first : []);
  let tokens = r0 ? r0.tokens : 0;
  const dev = model.device;
  const every = (o.checkpointSeconds ?? 30) * 1000;
  let lastSave = performance.now();
  for (let b = r0 ? r0.batches : 0; b < batches; b++) {
    const w = b * bs;
    const { ids, keep, B, T } = batchOf(windows.slice(w, w + bs));
    const N = B * T;
    for (const k of keep) tokens += k;
    const fwd = model.forward(ids, [B, T], { grad: true, keep: [early.hook, late.hook] });
    try {
      const x1T = fwd.activations.get(early.hook)!;
      const x1 = ((await x1T.read()) as Float32Array).slice();
      const r1 = await reconstruct(early, x1T);
      const f2 = await lateCode(late, fwd.activations.get(late.hook)!);
      const sp = sparseRows(r1.f, N, m1);
      const dLate = new Float32Array(N * d);
      for (const j of features) {
        const a = acc.get(j)!;
        dLate.fill(0);
        let any = false;
        for (let t = 0; t < N; t++) {
          const v = f2[t * m2 + j]!;
          if (!keep[t] || v <= 0) continue;
          any = true;
          a.fires++;
          a.activation += v;
          for (let q = 0; q < d; q++) dLate[t * d + q] = late.wEnc[q * m2 + j]! * s2;
        }
        if (!any) continue;
        const gT = dev.fromArray(dLate, [B, T, d]);
        const g1T = backwardBetween(model, fwd.cache!, late.hook, gT, early.hook);
        const g = (await g1T.read()) as Float32Array;
        gT.dispose();
        const edgeFirst = w === 0 ? new Float64Array(m1) : null;
        for (let s = 0; s < N; s++) {
          const gs = g.subarray(s * d, (s + 1) * d);
          if (!keep[s]) {
            let e = 0;
            for (let q = 0; q < d; q++) e += gs[q]! * x1[s * d + q]!;
            a.excluded += e;
            continue;
          }
          let err = 0;
          let bias = 0;
          for (let q = 0; q < d; q++) {
            err += gs[q]! * (x1[s * d + q]! - r1.xHat[s * d + q]!);
            bias += gs[q]! * early.bDec[q]!;
          }
          a.error += err;
          a.bias += bias / s1;
          for (let p = sp.off[s]!; p < sp.off[s + 1]!; p++) {
            const i = sp.ids[p]!;
            let dot = 0;
            for (let q = 0; q < d; q++) dot += gs[q]! * early.wDec[i * d + q]!;
            const v = (sp.vals[p]! / s1) * dot;
            a.edge[i] += v;
            if (edgeFirst) edgeFirst[i] += v;
          }
        }
        g1T.dispose();
        if (edgeFirst) first.set(j, edgeFirst);
      }
    } finally {
      fwd.cache!.dispose();
      fwd.logits?.dispose();
      fwd.rewards?.dispose();
      for (const t of fwd.activations.values()) t.dispose();
    }
    if (o.onCheckpoint && b + 1 < batches && performance.now() - lastSave >= every) {
      await o.onCheckpoint({ batches: b + 1, tokens, features, acc: features.map((j) => acc.get(j)!), first: [...first.entries()] });
      lastSave = performance.now();
    }
    o.onProgress?.(b + 1, batches);
  }

  const topK = o.topK ?? 10;
  const out: LateFeatureEdges[] = features.map((j) => {
    const a = acc.get(j)!;
    const cands: FeatureEdge[] = [];
    const per = (v: number) => (a.fires > 0 ? v / a.fires : 0);
    for (let i = 0; i < m1; i++) if (a.edge[i] !== 0) cands.push({ source: i, attribution: a.edge[i]!, perFiring: per(a.edge[i]!) });
    cands.push({ source: -1, attribution: a.error, perFiring: per(a.error) });
    cands.sort((p, q) => Math.abs(q.attribution) - Math.abs(p.attribution) || p.source - q.source);
    return { feature: j, fires: a.fires, activation: a.activation, edges: cands.slice(0, topK), error: a.error, bias: a.bias, excluded: a.excluded };
  });
  const checks = await ablationChecks(o, first, o.checkEdges ?? 8);
  return { early: { label: early.label, hook: early.hook, dSae: m1 }, late: { label: late.label, hook: late.hook, dSae: m2 }, tokens, batches, features: out, checks };
}

/** Exact ablation of the strongest first-batch edges: drop of Σ_t f₂ⱼ when f₁ᵢdᵢ/s₁ is removed at every position. */
async function ablationChecks(o: ConnectOptions, first: Map<number, Float64Array>, count: number): Promise<AblationCheck[]> {
  if (count <= 0 || first.size === 0) return [];
  const { model, early, late } = o;
  const d = model.config.dModel;
  const m1 = early.cfg.dSae;
  const m2 = late.cfg.dSae;
  const s1 = early.normScalingFactor ?? 1;
  const edges: { source: number; target: number; linear: number }[] = [];
  for (const [j, e] of first) for (let i = 0; i < m1; i++) if (e[i] !== 0) edges.push({ source: i, target: j, linear: e[i]! });
  edges.sort((p, q) => Math.abs(q.linear) - Math.abs(p.linear) || p.target - q.target || p.source - q.source);
  const pick = edges.slice(0, count);
  const { ids, keep, B, T } = batchOf(o.windows.slice(0, o.batchSize ?? 8));
  const N = B * T;
  const sumLate = async (hooks: Record<string, (x: Tensor) => Tensor | void>) => {
    const r = model.forward(ids, [B, T], { hooks, keep: [late.hook], stopAt: late.hook });
    const x = r.activations.get(late.hook)!;
    const f = await lateCode(late, x);
    x.dispose();
    return f;
  };
  let f1: Float32Array | null = null;
  const clean = await sumLate({});
  const x1 = await (async () => {
    const r = model.forward(ids, [B, T], { keep: [early.hook], stopAt: early.hook });
    const t = r.activations.get(early.hook)!;
    const host = ((await t.read()) as Float32Array).slice();
    f1 = (await reconstruct(early, t)).f;
    t.dispose();
    return host;
  })();
  const total = (f: Float32Array, j: number) => {
    let s = 0;
    for (let t = 0; t < N; t++) if (keep[t]) s += f[t * m2 + j]!;
    return s;
  };
  const out: AblationCheck[] = [];
  for (const e of pick) {
    const ablated = x1.slice();
    for (let s = 0; s < N; s++) {
      const v = f1![s * m1 + e.source]!;
      if (v === 0 || !keep[s]) continue; // excluded positions were not attributed to features
      for (let q = 0; q < d; q++) ablated[s * d + q] -= (v / s1) * early.wDec[e.source * d + q]!;
    }
    const f = await sumLate({ [early.hook]: (x: Tensor) => model.device.fromArray(ablated, x.shape) });
    out.push({ source: e.source, target: e.target, linear: e.linear, exact: total(clean, e.target) - total(f, e.target) });
  }
  return out;
}
