// Exact ablation of SAE features in a reward model: remove feature i's decoder contribution
// f_i[t] d_i / s from the hook's activation at the completion's tokens and keep everything else
// (the rest of the reconstruction, b_dec and the error term), then run the model on. The exact
// effect of i on a row's reward is reward(clean) − reward(ablated). Removing every feature at once
// leaves b_dec/s + e: the error-term-only reward (completeness check). One clean forward stops at
// the hook; the ablations of many features run as the rows of one batch.

import type { Transformer } from '../model/transformer.js';
import { reconstruct } from '../eval/evalSae.js';
import { completionRows, padIdOf, padRows, type AttributionRow, type AttributionSae } from './rewardAttribution.js';

/** A row's clean hook activation and the SAE's code on its completion tokens. */
export interface RowCode {
  row: AttributionRow;
  /** The hook's activation [len, d] of the row (unpadded). */
  x: Float32Array;
  /** Latents [completion tokens, dSae] (dense). */
  f: Float32Array;
  reward: number;
}

/** Clean forward of rows to the SAE's hook (and on to the reward) plus the SAE's code of each completion. */
export async function rowCodes(model: Transformer, sae: AttributionSae, rows: readonly AttributionRow[]): Promise<RowCode[]> {
  const d = model.config.dModel;
  const B = rows.length;
  const { ids, T } = padRows(rows, padIdOf(model));
  const r = model.forward(ids, [B, T], { keep: [sae.hook] });
  const xT = r.activations.get(sae.hook)!;
  const x = ((await xT.read()) as Float32Array).slice();
  xT.dispose();
  const rewards = ((await r.rewards!.read()) as Float32Array).slice();
  r.rewards!.dispose();
  const L = rewards.length / B;
  const cr = completionRows(x, rows, T, d);
  const packed = model.device.fromArray(cr.packed, [cr.offsets.at(-1)!, d]);
  const { f } = await reconstruct(sae, packed);
  packed.dispose();
  const m = sae.cfg.dSae;
  return rows.map((row, b) => ({
    row,
    x: x.slice(b * T * d, (b * T + row.ids.length) * d),
    f: f.slice(cr.offsets[b]! * m, cr.offsets[b + 1]! * m),
    reward: rewards[b * L]!,
  }));
}

/** An ablation: which row, and the features to remove from its completion (all at once). */
export interface Ablation {
  row: number;
  features: readonly number[] | 'all';
}

/** The hook activation of a row with the listed features' decoder contributions removed on the completion. */
export function ablatedActivation(sae: AttributionSae, c: RowCode, features: readonly number[] | 'all', d: number): Float32Array {
  const x = c.x.slice();
  const m = sae.cfg.dSae;
  const inv = 1 / (sae.normScalingFactor ?? 1);
  const nTok = c.row.ids.length - c.row.start;
  for (let t = 0; t < nTok; t++) {
    const at = (c.row.start + t) * d;
    const fr = c.f.subarray(t * m, (t + 1) * m);
    const remove = (i: number) => {
      const v = fr[i]!;
      if (v === 0) return;
      const o = i * d;
      for (let j = 0; j < d; j++) x[at + j] -= v * sae.wDec[o + j]! * inv;
    };
    if (features === 'all') for (let i = 0; i < m; i++) remove(i);
    else for (const i of features) remove(i);
  }
  return x;
}

/** Rewards of the model with each ablation applied (batched, `batch` rows per forward). */
export async function ablatedRewards(model: Transformer, sae: AttributionSae, codes: readonly RowCode[], ablations: readonly Ablation[], batch = 32): Promise<Float64Array> {
  const d = model.config.dModel;
  const out = new Float64Array(ablations.length);
  const pad = padIdOf(model);
  for (let a0 = 0; a0 < ablations.length; a0 += batch) {
    const part = ablations.slice(a0, a0 + batch);
    const rows = part.map((a) => codes[a.row]!.row);
    const { ids, T } = padRows(rows, pad);
    const B = rows.length;
    const h = new Float32Array(B * T * d);
    part.forEach((a, b) => h.set(ablatedActivation(sae, codes[a.row]!, a.features, d), b * T * d));
    // Padded positions keep zeros: they come after every real token, so a causal model never reads them for a reward.
    const r = model.forward(ids, [B, T], { hooks: { [sae.hook]: (x) => x.device.fromArray(h, [B, T, d]) } });
    const rw = (await r.rewards!.read()) as Float32Array;
    const L = rw.length / B;
    for (let b = 0; b < B; b++) out[a0 + b] = rw[b * L]!;
    r.rewards!.dispose();
  }
  return out;
}
