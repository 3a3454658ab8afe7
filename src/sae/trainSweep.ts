// The SAEs of a training sweep (seeds × widths × ks or L1 coefficients) and their folder names.

import { TrainRunError } from './trainOptions.js';
import type { SaeArchitecture, SaeConfig } from './types.js';

/**
 * The SAE configs of a sweep, in (seed, d_sae, k | l1) order: seed-major, as saved. The widths are
 * `dSaes` when given, else the single `dSae`.
 */
export function sweepConfigs(o: { arch: SaeArchitecture; dIn: number; dSae?: number; dSaes?: number[]; seeds: number[]; ks: number[]; l1s: number[]; decoderUnitNorm: boolean; normalize: boolean; deadTokensThreshold?: number }): SaeConfig[] {
  const widths = o.dSaes ?? (o.dSae !== undefined ? [o.dSae] : []);
  if (widths.length === 0) throw new TrainRunError('sweepConfigs: no d_sae given (dSae or dSaes)');
  const out: SaeConfig[] = [];
  for (const seed of o.seeds) {
    const variants = o.arch === 'standard' ? o.l1s.map((l1) => ({ l1Coefficient: l1 })) : o.ks.map((k) => ({ k }));
    for (const dSae of widths) {
      for (const v of variants) {
        const cfg: SaeConfig = {
          architecture: o.arch, dIn: o.dIn, dSae, applyBDecToInput: true, decoderUnitNorm: o.decoderUnitNorm,
          normalizeActivations: o.normalize ? 'expected_average_only_in' : 'none', seed, ...v,
        };
        if (o.deadTokensThreshold !== undefined) cfg.deadTokensThreshold = o.deadTokensThreshold;
        out.push(cfg);
      }
    }
  }
  return out;
}

/**
 * The folder name of an SAE of a sweep: `<arch>-k<k>-s<seed>` or `standard-l1_<l1>-s<seed>` (the `_` keeps L1 = 2 from reading as 12); with
 * `withWidth` (a sweep over several widths) the width goes before the seed: `topk-k32-d6144-s0`.
 */
export function saeFolderName(cfg: SaeConfig, withWidth = false): string {
  const v = cfg.architecture === 'standard' ? `l1_${cfg.l1Coefficient}` : `k${cfg.k}`;
  const d = withWidth ? `-d${cfg.dSae}` : '';
  return `${cfg.architecture}-${v}${d}-s${cfg.seed}`;
}
