// The cfg.json saelab writes for an SAE folder (the SAELens 6 layout; why it looks as it does:
// saelensCompat.ts, which reads it back). Separate from the reader because making local model and
// dataset paths portable (runSource.ts) needs Node's file system, and the reader runs in a browser.

import { SAELAB_VERSION } from '../version.js';
import { portableRunMetadata } from './runSource.js';
import { SAELENS_FORMAT_VERSION, type SaeRunMetadata } from './saelensCompat.js';
import type { SaeConfig } from './types.js';

/** What saveSae puts in cfg.json besides the config. */
export interface CfgJsonOptions {
  metadata?: SaeRunMetadata;
  /** The factor folded into the weights (cfg.normalizeActivations = expected_average_only_in). */
  foldedNormScalingFactor?: number;
  /** cfg.json `device` (a torch device string; default "cpu"). */
  device?: string;
}

/** The cfg.json object of an SAE whose weights are written folded (see the top of this file). */
export function saeCfgJson(cfg: SaeConfig, opts: CfgJsonOptions = {}): Record<string, unknown> {
  if (cfg.architecture === 'jumprelu') throw new Error('saveSae: saelab writes the architectures it trains (standard, topk, batchtopk)');
  const json: Record<string, unknown> = {
    architecture: cfg.architecture === 'batchtopk' ? 'jumprelu' : cfg.architecture,
    d_in: cfg.dIn,
    d_sae: cfg.dSae,
    dtype: 'float32',
    device: opts.device ?? 'cpu',
    apply_b_dec_to_input: cfg.applyBDecToInput,
    normalize_activations: 'none',
    reshape_activations: 'none',
  };
  if (cfg.architecture === 'topk') {
    json.k = cfg.k;
    json.rescale_acts_by_decoder_norm = false;
  }
  const saelab: Record<string, unknown> = { architecture: cfg.architecture, decoder_unit_norm: cfg.decoderUnitNorm, seed: cfg.seed };
  if (cfg.normalizeActivations === 'expected_average_only_in') {
    const s = opts.foldedNormScalingFactor;
    if (!(typeof s === 'number' && s > 0 && Number.isFinite(s))) throw new Error('saveSae: normalize_activations is expected_average_only_in but no normScalingFactor was given');
    saelab.folded_norm_scaling_factor = s;
  }
  if (cfg.k !== undefined) saelab.k = cfg.k;
  if (cfg.l1Coefficient !== undefined) saelab.l1_coefficient = cfg.l1Coefficient;
  if (cfg.auxK !== undefined) saelab.auxk = cfg.auxK;
  if (cfg.auxKCoefficient !== undefined) saelab.auxk_coefficient = cfg.auxKCoefficient;
  if (cfg.deadTokensThreshold !== undefined) saelab.dead_tokens_threshold = cfg.deadTokensThreshold;
  json.metadata = {
    model_name: null, hook_name: null, hook_layer: null, context_size: null, dataset_path: null, prepend_bos: null, exclude_special_tokens: null,
    ...portableRunMetadata(opts.metadata ?? {}),
    // Not trained by SAELens: null, as SAELens's own converters of other libraries' SAEs write.
    sae_lens_training_version: null,
    sae_lens_version: SAELENS_FORMAT_VERSION,
    saelab_version: SAELAB_VERSION,
  };
  json.saelab = saelab;
  return json;
}
