// The cfg.json of an SAE folder ⇄ our SaeConfig, written so that SAELens 6 (checked against 6.18.0:
// SAE.load_from_disk, handle_config_defaulting and SAEConfig.from_dict in sae_lens/saes/sae.py and
// sae_lens/loading/pretrained_sae_loaders.py) loads it with our encode/decode:
// - metadata.sae_lens_version ≥ 6: older or missing versions take SAELens's pre-6.0 path, which
//   rebuilds metadata from top-level keys only and so drops hook_name, model_name, context_size.
// - No input scaling at inference: SAELens's load_from_disk ignores norm_scaling_factor, so the
//   factor s is folded into the weights (W_enc·s, W_dec/s, b_dec/s, as its trainer's
//   fold_activation_norm_scaling_factor) and `normalize_activations` is "none"; s is kept under
//   `saelab.folded_norm_scaling_factor` for the record.
// - BatchTopK is a training-only class there; inference folders are `jumprelu` with `threshold`
//   [d_sae] (the one θ repeated), f = ReLU(pre)·[pre > θ]. `saelab.architecture` / `saelab.k` say
//   it was BatchTopK so that we load it back as such.
// - TopK says rescale_acts_by_decoder_norm: false (our TopK ranks raw pre-activations).
// Reading also accepts what older saelab versions wrote (expected_average_only_in with
// norm_scaling_factor, batchtopk with threshold [1]) and SAELens TopK folders that rescale by
// decoder norms: both are folded into the weights on load, so every consumer sees plain weights.

// The writing side, saeCfgJson, is in saelensCfgJson.ts (it makes local paths portable with Node's
// file system; this reading side also runs in a browser).

import { NORM_SCALING_FACTOR_KEY } from './normalize.js';
import { SaeFileError } from './saeFileError.js';
import type { SaeArchitecture, SaeConfig } from './types.js';

/** The SAELens version whose folder format we write (metadata.sae_lens_version). */
export const SAELENS_FORMAT_VERSION = '6.18.0';

/** Where the activations came from (SAELens `metadata`; extra keys are kept). */
export interface SaeRunMetadata {
  model_name?: string | null;
  hook_name?: string | null;
  hook_layer?: number | null;
  context_size?: number | null;
  dataset_path?: string | null;
  prepend_bos?: boolean | null;
  exclude_special_tokens?: boolean | number[] | null;
  [key: string]: unknown;
}

/** Host copies of an SAE's tensors, SAELens layout (W_enc [dIn, dSae], W_dec [dSae, dIn]). */
export interface HostSaeWeights {
  W_enc: Float32Array;
  b_enc: Float32Array;
  W_dec: Float32Array;
  b_dec: Float32Array;
  threshold?: Float32Array;
}

/**
 * Fold an input scaling s into the weights: the result encodes raw x as the original encodes s·x,
 * and decodes to 1/s of the original's reconstruction (pre-activations, so thresholds, unchanged).
 */
export function foldNormScaling(w: HostSaeWeights, s: number): HostSaeWeights {
  const out: HostSaeWeights = {
    W_enc: Float32Array.from(w.W_enc, (v) => v * s),
    b_enc: w.b_enc.slice(),
    W_dec: Float32Array.from(w.W_dec, (v) => v / s),
    b_dec: Float32Array.from(w.b_dec, (v) => v / s),
  };
  if (w.threshold) out.threshold = w.threshold.slice();
  return out;
}

/**
 * Fold decoder row norms n_i into the encoder (W_enc[:, i]·n_i, b_enc_i·n_i, W_dec[i]/n_i): what a
 * SAELens TopK with rescale_acts_by_decoder_norm computes, as a plain TopK. Zero rows stay as they are.
 */
export function foldDecoderNorms(w: HostSaeWeights, dIn: number, dSae: number): HostSaeWeights {
  const out: HostSaeWeights = { W_enc: w.W_enc.slice(), b_enc: w.b_enc.slice(), W_dec: w.W_dec.slice(), b_dec: w.b_dec.slice() };
  for (let i = 0; i < dSae; i++) {
    let s = 0;
    for (let j = 0; j < dIn; j++) s += w.W_dec[i * dIn + j]! ** 2;
    const n = Math.sqrt(s);
    if (!(n > 0)) continue;
    for (let j = 0; j < dIn; j++) {
      out.W_dec[i * dIn + j] = w.W_dec[i * dIn + j]! / n;
      out.W_enc[j * dSae + i] = w.W_enc[j * dSae + i]! * n;
    }
    out.b_enc[i] = w.b_enc[i]! * n;
  }
  return out;
}

/** How the tensors of a folder must be turned into our parameters. */
export interface ParsedSaeCfg {
  /** The config of the SAE as loaded (normalizeActivations is always 'none': scaling is folded). */
  cfg: SaeConfig;
  metadata: SaeRunMetadata;
  /** Fold this input scaling into the weights on load (older saelab folders). */
  foldNormScaling?: number;
  /** The factor already folded into the stored weights, for the record. */
  foldedNormScalingFactor?: number;
  /** Fold decoder norms into the encoder on load (SAELens TopK rescale_acts_by_decoder_norm). */
  foldDecoderNorms: boolean;
  /** jumprelu that saelab trained as BatchTopK: load as batchtopk when every threshold is equal. */
  batchTopkK?: number;
}

const ARCHITECTURES: readonly string[] = ['standard', 'topk', 'batchtopk', 'jumprelu'];
const DTYPES = ['float32', 'torch.float32', 'float16', 'torch.float16', 'bfloat16', 'torch.bfloat16'];

/** Parse an SAELens cfg.json object (`file` names it in errors). */
export function cfgFromSaeLens(json: Record<string, unknown>, file: string): ParsedSaeCfg {
  const arch = json.architecture ?? 'standard';
  if (typeof arch !== 'string' || !ARCHITECTURES.includes(arch)) throw new SaeFileError(file, `unsupported architecture ${JSON.stringify(arch)} (supported: ${ARCHITECTURES.join(', ')})`);
  let norm = json.normalize_activations ?? 'none';
  if (norm === false) norm = 'none'; // SAELens < 6 wrote a boolean
  if (norm === true) norm = 'expected_average_only_in';
  if (norm !== 'none' && norm !== 'expected_average_only_in') throw new SaeFileError(file, `unsupported normalize_activations ${JSON.stringify(norm)} (supported: none, expected_average_only_in)`);
  if (json.dtype !== undefined && !DTYPES.includes(String(json.dtype))) throw new SaeFileError(file, `unsupported dtype ${JSON.stringify(json.dtype)}`);
  if (json.reshape_activations !== undefined && json.reshape_activations !== 'none') throw new SaeFileError(file, `unsupported reshape_activations ${JSON.stringify(json.reshape_activations)} (hook_z SAEs are not supported)`);
  const saelab = (typeof json.saelab === 'object' && json.saelab !== null ? json.saelab : {}) as Record<string, unknown>;
  const dIn = posInt(json, 'd_in', file);
  const dSae = posInt(json, 'd_sae', file);
  const cfg: SaeConfig = {
    architecture: arch as SaeArchitecture, dIn, dSae,
    applyBDecToInput: json.apply_b_dec_to_input === undefined ? true : Boolean(json.apply_b_dec_to_input),
    decoderUnitNorm: typeof saelab.decoder_unit_norm === 'boolean' ? saelab.decoder_unit_norm : arch === 'topk' || arch === 'batchtopk',
    normalizeActivations: 'none',
    seed: typeof saelab.seed === 'number' ? saelab.seed : 0,
  };
  const out: ParsedSaeCfg = { cfg, metadata: {}, foldDecoderNorms: false };
  if (arch === 'topk' || arch === 'batchtopk') {
    const k = json.k ?? saelab.k;
    if (!(typeof k === 'number' && k > 0 && k <= dSae)) throw new SaeFileError(file, `architecture ${arch} needs k in (0, d_sae], got ${JSON.stringify(k)}`);
    cfg.k = k;
    out.foldDecoderNorms = arch === 'topk' && json.rescale_acts_by_decoder_norm === true;
  } else if (arch === 'jumprelu' && saelab.architecture === 'batchtopk') {
    const k = saelab.k;
    if (!(typeof k === 'number' && k > 0 && k <= dSae)) throw new SaeFileError(file, `saelab.k must be in (0, d_sae] for a BatchTopK SAE, got ${JSON.stringify(k)}`);
    out.batchTopkK = k;
  }
  if (typeof saelab.l1_coefficient === 'number') cfg.l1Coefficient = saelab.l1_coefficient;
  if (typeof saelab.auxk === 'number') cfg.auxK = saelab.auxk;
  if (typeof saelab.auxk_coefficient === 'number') cfg.auxKCoefficient = saelab.auxk_coefficient;
  if (typeof saelab.dead_tokens_threshold === 'number') cfg.deadTokensThreshold = saelab.dead_tokens_threshold;
  // SAELens < 6 folders (e.g. gpt2-small-res-jb on the hub) keep these at the top level, some under older names (the newer name wins).
  const legacy = Object.fromEntries(
    ([['model_name', 'model_name'], ['hook_name', 'hook_point'], ['hook_name', 'hook_name'], ['hook_layer', 'hook_point_layer'], ['hook_layer', 'hook_layer'], ['context_size', 'context_size'], ['dataset_path', 'dataset_path'], ['prepend_bos', 'prepend_bos']] as const)
      .filter(([, k]) => json[k] !== undefined && json[k] !== null)
      .map(([to, k]) => [to, json[k]]),
  );
  const meta = json.metadata ?? json.meta ?? legacy;
  out.metadata = (typeof meta === 'object' && meta !== null ? meta : {}) as SaeRunMetadata;
  const folded = saelab.folded_norm_scaling_factor;
  if (typeof folded === 'number') out.foldedNormScalingFactor = folded;
  if (norm === 'expected_average_only_in') {
    const factor = json[NORM_SCALING_FACTOR_KEY];
    if (factor === undefined || factor === null) {
      throw new SaeFileError(file, `normalize_activations is expected_average_only_in but ${NORM_SCALING_FACTOR_KEY} is missing (add the factor to cfg.json, or fold it into the weights and set "none")`);
    }
    if (!(typeof factor === 'number' && factor > 0 && Number.isFinite(factor))) throw new SaeFileError(file, `${NORM_SCALING_FACTOR_KEY} must be a positive number, got ${JSON.stringify(factor)}`);
    out.foldNormScaling = factor;
    out.foldedNormScalingFactor = factor;
  }
  return out;
}

/** A positive integer field of a config or SaeFileError. */
export function posInt(json: Record<string, unknown>, key: string, file: string): number {
  const v = json[key];
  if (!(typeof v === 'number' && Number.isInteger(v) && v > 0)) throw new SaeFileError(file, `${key} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}
