// How far an SAE spliced in at its hook moves the residual stream at later layers: for each later
// hook h, the relative squared error Σ_t ‖a_h,spliced,t − a_h,clean,t‖² / Σ_t ‖a_h,clean,t‖² (the
// same ratio as the `e2e+ds` training term of docs/training.md, here over held-out windows), and
// the FVU about the mean and the cosine of ReconstructionAccumulator (metricsSpec.ts). Braun et al.
// 2024 report this per downstream layer: e2e SAEs match the output but not the intermediate
// activations. The first row is the SAE's own hook (x̂ against x). Splicing follows evalSae.ts:
// only evaluated positions (not BOS, not padding) are replaced, and only they are counted.
// Per batch: one clean forward stopping at the last hook needed, then one spliced forward per SAE.

import type { PackedWindow } from '../data/packTokens.js';
import type { ModelConfig } from '../model/config.js';
import { parseHook } from '../model/hooks.js';
import type { Transformer } from '../model/transformer.js';
import { EvalError } from './errors.js';
import { batchOf, checkSaeFitsModel, reconstruct, spliceRows, type EvalSaeSpec } from './evalSae.js';
import { ReconstructionAccumulator } from './metricsSpec.js';

/** One hook's numbers for one SAE. */
export interface DownstreamErrorRow {
  hook: string;
  /** Σ‖spliced − clean‖² / Σ‖clean‖² over evaluated tokens (0 = unchanged, 1 = as far as zeroing it). */
  relative_error: number;
  /** Σ‖spliced − clean‖² / Σ‖clean − mean‖² (docs/metrics.md's `fvu`, with the spliced run as x̂). */
  fvu: number;
  /** Mean per-token cosine of spliced and clean (docs/metrics.md's `cosine`). */
  cosine: number;
  /** Mean per-token Σ_j (spliced − clean)², model units. */
  mse: number;
}

export interface DownstreamErrorResult {
  label: string;
  hook: string;
  /** The SAE's own hook first, then each downstream hook in forward order. */
  rows: DownstreamErrorRow[];
  tokens: number;
}

/** Every `blocks.L.hook_resid_post` that comes after `hook` in the forward (Braun et al.'s downstream layers). */
export function laterResidualHooks(hook: string, cfg: ModelConfig): string[] {
  const at = parseHook(hook, cfg).order;
  const out: string[] = [];
  for (let l = 0; l < cfg.nLayers; l++) {
    const name = `blocks.${l}.hook_resid_post`;
    if (parseHook(name, cfg).order > at) out.push(name);
  }
  return out;
}

/** Per-hook accumulator: the metricsSpec reconstruction numbers plus the energy of the clean side. */
class HookError {
  readonly recon: ReconstructionAccumulator;
  sqErr = 0;
  energy = 0;
  constructor(readonly d: number) {
    this.recon = new ReconstructionAccumulator(d);
  }
  add(clean: Float32Array, spliced: Float32Array, keep: Uint8Array): void {
    this.recon.add(clean, spliced, new Float32Array(0), 0, keep);
    const d = this.d;
    for (let t = 0; t < keep.length; t++) {
      if (!keep[t]) continue;
      for (let j = 0; j < d; j++) {
        const a = clean[t * d + j]!;
        const e = spliced[t * d + j]! - a;
        this.sqErr += e * e;
        this.energy += a * a;
      }
    }
  }
  row(hook: string): DownstreamErrorRow {
    const r = this.recon.result();
    return { hook, relative_error: this.energy > 0 ? this.sqErr / this.energy : NaN, fvu: r.fvu, cosine: r.cosine, mse: r.mse };
  }
}

/**
 * Downstream reconstruction error of SAEs spliced into `model` on `windows`. `hooks`: the downstream
 * hooks for every SAE, or `hooksOf` per SAE (each must come after the SAE's hook); default: each
 * SAE's laterResidualHooks.
 */
export async function downstreamErrors(o: { model: Transformer; saes: EvalSaeSpec[]; windows: PackedWindow[]; hooks?: string[]; hooksOf?: (s: EvalSaeSpec) => string[]; batchSize?: number; onProgress?: (done: number, total: number) => void }): Promise<DownstreamErrorResult[]> {
  const { model, saes, windows } = o;
  const cfg = model.config;
  if (saes.length === 0) throw new EvalError('no SAE to evaluate');
  if (windows.length === 0) throw new EvalError('no evaluation windows: the data gave zero tokens');
  const order = (h: string) => parseHook(h, cfg).order;
  const plans = saes.map((s) => {
    checkSaeFitsModel(model, s);
    const down = o.hooksOf?.(s) ?? o.hooks ?? laterResidualHooks(s.hook, cfg);
    for (const h of down) if (order(h) <= order(s.hook)) throw new EvalError(`${s.label}: downstream hook ${h} does not come after the SAE's hook ${s.hook}`);
    const hooks = [s.hook, ...down.filter((h) => h !== s.hook)].sort((a, b) => order(a) - order(b));
    return { s, hooks, acc: hooks.map(() => new HookError(cfg.dModel)) };
  });
  const all = [...new Set(plans.flatMap((p) => p.hooks))];
  const last = (hs: string[]) => hs.reduce((a, b) => (order(b) > order(a) ? b : a));
  const batchSize = Math.max(1, Math.floor(o.batchSize ?? 8));
  const d = cfg.dModel;
  const dev = model.device;
  const batches = Math.ceil(windows.length / batchSize);
  let tokens = 0;
  for (let bi = 0; bi < batches; bi++) {
    const { ids, keep, B, T } = batchOf(windows.slice(bi * batchSize, (bi + 1) * batchSize));
    for (const k of keep) tokens += k;
    const clean = model.forward(ids, [B, T], { keep: all, stopAt: last(all) });
    const cleanHost = new Map<string, Float32Array>();
    for (const h of all) {
      const t = clean.activations.get(h)!;
      cleanHost.set(h, ((await t.read()) as Float32Array).slice());
      t.dispose();
    }
    for (const p of plans) {
      const x = cleanHost.get(p.s.hook)!;
      const xT = dev.fromArray(x, [B * T, d]);
      const { xHat } = await reconstruct(p.s, xT);
      xT.dispose();
      const spliced = spliceRows(x, xHat, keep, d);
      const r = model.forward(ids, [B, T], { hooks: { [p.s.hook]: () => dev.fromArray(spliced, [B, T, d]) }, keep: p.hooks, stopAt: last(p.hooks) });
      for (let i = 0; i < p.hooks.length; i++) {
        const t = r.activations.get(p.hooks[i]!)!;
        p.acc[i]!.add(cleanHost.get(p.hooks[i]!)!, (await t.read()) as Float32Array, keep);
        t.dispose();
      }
    }
    o.onProgress?.(bi + 1, batches);
  }
  return plans.map((p) => ({ label: p.s.label, hook: p.s.hook, rows: p.hooks.map((h, i) => p.acc[i]!.row(h)), tokens }));
}
