// SAE folders. We write the SAELens layout (SAELens 6, as `SAE.save_model` writes it):
//   cfg.json                  architecture, d_in, d_sae, dtype, device, apply_b_dec_to_input,
//                             normalize_activations, reshape_activations, k (topk/batchtopk),
//                             norm_scaling_factor (expected_average_only_in), metadata {...},
//                             and our training settings under `saelab` (SAELens ignores unknown keys)
//   sae_weights.safetensors   W_enc [d_in, d_sae], W_dec [d_sae, d_in], b_enc [d_sae], b_dec [d_in],
//                             threshold [1] (batchtopk)
//   sparsity.safetensors      sparsity [d_sae] = log10(firing frequency + 1e-10), as SAELens
// The folder is built under a temporary name next to the target, fsynced, then renamed into place,
// so the final path never holds a half-written folder. `loadSae` reads SAELens folders, sparsify
// folders (cfg.json + sae.safetensors, see importSparsify.ts) and dictionary_learning exports.

import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Device } from '../compute/device.js';
import type { Tensor } from '../compute/tensor.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { FileProblemError } from '../io/errors.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { writeSafetensors, type TensorToWrite } from '../io/safetensorsWrite.js';
import { SAELAB_VERSION } from '../version.js';
import { importDictionaryLearning, importSparsify } from './importSparsify.js';
import { createSae } from './initSae.js';
import { NORM_SCALING_FACTOR_KEY } from './normalize.js';
import type { ActivationNormalization, SaeArchitecture, SaeConfig, SaeModel, SaeParams } from './types.js';

/** A malformed or unsupported SAE folder: one line naming the file and the problem. */
export class SaeFileError extends FileProblemError {
  override name = 'SaeFileError';
}

export const SAE_CFG_FILE = 'cfg.json';
export const SAE_WEIGHTS_FILE = 'sae_weights.safetensors';
export const SAE_SPARSITY_FILE = 'sparsity.safetensors';

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

/** What a folder holds besides the parameters. */
export interface SaveSaeOptions {
  metadata?: SaeRunMetadata;
  /** The `expected_average_only_in` factor (required when cfg.normalizeActivations says so). */
  normScalingFactor?: number;
  /** [dSae] fraction of tokens on which each latent fired; written as log10 to sparsity.safetensors. */
  firingFrequency?: Float32Array;
  /** cfg.json `device` (a torch device string; default "cpu"). */
  device?: string;
}

/** An SAE read from disk. */
export interface LoadedSae {
  format: 'saelens' | 'sparsify' | 'dictionary_learning';
  cfg: SaeConfig;
  params: SaeParams;
  model: SaeModel;
  metadata: SaeRunMetadata;
  normScalingFactor?: number;
  /** [dSae] log10 firing frequency, when the folder has it. */
  sparsity?: Float32Array;
}

// ---- writing ---------------------------------------------------------------------------------

/** The cfg.json object of an SAE (SAELens keys; our training settings under `saelab`). */
export function saeCfgJson(cfg: SaeConfig, opts: SaveSaeOptions = {}): Record<string, unknown> {
  const json: Record<string, unknown> = {
    architecture: cfg.architecture,
    d_in: cfg.dIn,
    d_sae: cfg.dSae,
    dtype: 'float32',
    device: opts.device ?? 'cpu',
    apply_b_dec_to_input: cfg.applyBDecToInput,
    normalize_activations: cfg.normalizeActivations,
    reshape_activations: 'none',
  };
  if (cfg.k !== undefined) json.k = cfg.k;
  if (cfg.normalizeActivations === 'expected_average_only_in') {
    if (!(typeof opts.normScalingFactor === 'number' && opts.normScalingFactor > 0)) {
      throw new Error('saveSae: normalize_activations is expected_average_only_in but no normScalingFactor was given');
    }
    json[NORM_SCALING_FACTOR_KEY] = opts.normScalingFactor;
  }
  json.metadata = {
    model_name: null, hook_name: null, hook_layer: null, context_size: null, dataset_path: null, prepend_bos: null, exclude_special_tokens: null,
    ...opts.metadata,
    saelab_version: SAELAB_VERSION,
  };
  const saelab: Record<string, unknown> = { decoder_unit_norm: cfg.decoderUnitNorm, seed: cfg.seed };
  if (cfg.l1Coefficient !== undefined) saelab.l1_coefficient = cfg.l1Coefficient;
  if (cfg.auxK !== undefined) saelab.auxk = cfg.auxK;
  if (cfg.auxKCoefficient !== undefined) saelab.auxk_coefficient = cfg.auxKCoefficient;
  if (cfg.deadTokensThreshold !== undefined) saelab.dead_tokens_threshold = cfg.deadTokensThreshold;
  json.saelab = saelab;
  return json;
}

/** fsync a directory (best effort where the platform refuses). */
async function syncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r').catch(() => null);
  if (!h) return;
  await h.sync().catch(() => undefined);
  await h.close();
}

/** Build a folder with `fill(tempDir)` and rename it to `dir` (replacing an existing one): never half-written at `dir`. */
export async function writeFolderAtomic(dir: string, fill: (tempDir: string) => Promise<void>): Promise<void> {
  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  const tag = `${process.pid}.${randomBytes(6).toString('hex')}`;
  const temp = join(parent, `.${basename(dir)}.${tag}.tmp`);
  await mkdir(temp);
  try {
    await fill(temp);
    await syncDir(temp);
    const exists = await stat(dir).then(() => true, () => false);
    if (exists) {
      const old = join(parent, `.${basename(dir)}.${tag}.old`);
      await rename(dir, old);
      await rename(temp, dir);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(temp, dir);
    }
    await syncDir(parent);
  } catch (e) {
    await rm(temp, { recursive: true, force: true });
    throw e;
  }
}

/** A tensor's f32 values as a safetensors entry. */
async function f32Entry(t: Tensor, shape: readonly number[] = t.shape): Promise<TensorToWrite> {
  return { dtype: 'F32', shape: [...shape], data: (await t.read()) as Float32Array };
}

/** Write an SAELens folder (cfg.json, sae_weights.safetensors, sparsity.safetensors when given) atomically. */
export async function saveSae(dir: string, cfg: SaeConfig, params: SaeParams, opts: SaveSaeOptions = {}): Promise<void> {
  const json = saeCfgJson(cfg, opts);
  const tensors: Record<string, TensorToWrite> = {
    W_enc: await f32Entry(params.W_enc),
    W_dec: await f32Entry(params.W_dec),
    b_enc: await f32Entry(params.b_enc),
    b_dec: await f32Entry(params.b_dec),
  };
  if (params.threshold) tensors.threshold = await f32Entry(params.threshold);
  await writeFolderAtomic(dir, async (tmp) => {
    await writeFileAtomic(join(tmp, SAE_CFG_FILE), `${JSON.stringify(json, null, 2)}\n`);
    await writeSafetensors(join(tmp, SAE_WEIGHTS_FILE), tensors);
    if (opts.firingFrequency) {
      const f = opts.firingFrequency;
      if (f.length !== cfg.dSae) throw new Error(`saveSae: firingFrequency has ${f.length} entries, expected d_sae = ${cfg.dSae}`);
      const log = Float32Array.from(f, (v) => Math.log10(v + 1e-10));
      await writeSafetensors(join(tmp, SAE_SPARSITY_FILE), { sparsity: { dtype: 'F32', shape: [cfg.dSae], data: log } });
    }
  });
}

// ---- reading ---------------------------------------------------------------------------------

/** Whether a path exists. */
export async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** Parse a JSON object file or throw SaeFileError. */
export async function readJsonObject(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new SaeFileError(path, `cannot read: ${(e as Error).message}`, { cause: e });
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new SaeFileError(path, `invalid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SaeFileError(path, 'expected a JSON object');
  return v as Record<string, unknown>;
}

/** A positive integer field of a config or SaeFileError. */
export function posInt(json: Record<string, unknown>, key: string, file: string): number {
  const v = json[key];
  if (!(typeof v === 'number' && Number.isInteger(v) && v > 0)) throw new SaeFileError(file, `${key} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

/** Open a safetensors file, turning its errors into SaeFileError. */
export async function openWeights(path: string): Promise<SafetensorsFile> {
  try {
    return await SafetensorsFile.open(path);
  } catch (e) {
    throw new SaeFileError(path, (e as FileProblemError).problem ?? (e as Error).message, { cause: e });
  }
}

/** Read tensor `name` as f32, checking its shape (the message names both shapes, and says when it is the transpose). */
export async function readChecked(f: SafetensorsFile, name: string, shape: readonly number[], what = name): Promise<Float32Array> {
  if (!f.has(name)) throw new SaeFileError(f.path, `missing tensor ${JSON.stringify(name)} (it has ${f.names().join(', ') || 'none'})`);
  const got = f.info(name).shape;
  const same = got.length === shape.length && got.every((d, i) => d === shape[i]);
  if (!same) {
    const transposed = got.length === 2 && shape.length === 2 && got[0] === shape[1] && got[1] === shape[0];
    throw new SaeFileError(f.path, `${what} has shape [${got.join(', ')}], expected [${shape.join(', ')}]${transposed ? ' (it is stored transposed)' : ''}`);
  }
  return f.readF32(name);
}

const ARCHITECTURES: readonly SaeArchitecture[] = ['standard', 'topk', 'batchtopk'];

/** Our SaeConfig from an SAELens cfg.json object. */
export function cfgFromSaeLens(json: Record<string, unknown>, file: string): { cfg: SaeConfig; metadata: SaeRunMetadata; normScalingFactor?: number } {
  const arch = json.architecture ?? 'standard';
  if (!ARCHITECTURES.includes(arch as SaeArchitecture)) throw new SaeFileError(file, `unsupported architecture ${JSON.stringify(arch)} (supported: ${ARCHITECTURES.join(', ')})`);
  const norm = json.normalize_activations ?? 'none';
  if (norm !== 'none' && norm !== 'expected_average_only_in') throw new SaeFileError(file, `unsupported normalize_activations ${JSON.stringify(norm)}`);
  if (json.dtype !== undefined && !['float32', 'torch.float32', 'float16', 'torch.float16', 'bfloat16', 'torch.bfloat16'].includes(String(json.dtype))) {
    throw new SaeFileError(file, `unsupported dtype ${JSON.stringify(json.dtype)}`);
  }
  const saelab = (typeof json.saelab === 'object' && json.saelab !== null ? json.saelab : {}) as Record<string, unknown>;
  const cfg: SaeConfig = {
    architecture: arch as SaeArchitecture,
    dIn: posInt(json, 'd_in', file),
    dSae: posInt(json, 'd_sae', file),
    applyBDecToInput: json.apply_b_dec_to_input === undefined ? true : Boolean(json.apply_b_dec_to_input),
    decoderUnitNorm: typeof saelab.decoder_unit_norm === 'boolean' ? saelab.decoder_unit_norm : arch !== 'standard',
    normalizeActivations: norm as ActivationNormalization,
    seed: typeof saelab.seed === 'number' ? saelab.seed : 0,
  };
  if (arch !== 'standard') {
    const k = json.k;
    if (!(typeof k === 'number' && k > 0 && k <= cfg.dSae)) throw new SaeFileError(file, `architecture ${arch} needs k in (0, d_sae], got ${JSON.stringify(k)}`);
    cfg.k = k;
  } else if (typeof json.k === 'number') cfg.k = json.k;
  if (typeof saelab.l1_coefficient === 'number') cfg.l1Coefficient = saelab.l1_coefficient;
  if (typeof saelab.auxk === 'number') cfg.auxK = saelab.auxk;
  if (typeof saelab.auxk_coefficient === 'number') cfg.auxKCoefficient = saelab.auxk_coefficient;
  if (typeof saelab.dead_tokens_threshold === 'number') cfg.deadTokensThreshold = saelab.dead_tokens_threshold;
  const meta = json.metadata ?? json.meta ?? {};
  const metadata = (typeof meta === 'object' && meta !== null ? meta : {}) as SaeRunMetadata;
  const out: { cfg: SaeConfig; metadata: SaeRunMetadata; normScalingFactor?: number } = { cfg, metadata };
  const factor = json[NORM_SCALING_FACTOR_KEY];
  if (factor !== undefined && factor !== null) {
    if (!(typeof factor === 'number' && factor > 0 && Number.isFinite(factor))) throw new SaeFileError(file, `${NORM_SCALING_FACTOR_KEY} must be a positive number, got ${JSON.stringify(factor)}`);
    out.normScalingFactor = factor;
  } else if (norm === 'expected_average_only_in') {
    throw new SaeFileError(file, `normalize_activations is expected_average_only_in but ${NORM_SCALING_FACTOR_KEY} is missing`);
  }
  return out;
}

/** Read an SAELens folder. */
async function loadSaeLens(dir: string, device: Device): Promise<LoadedSae> {
  const cfgPath = join(dir, SAE_CFG_FILE);
  const { cfg, metadata, normScalingFactor } = cfgFromSaeLens(await readJsonObject(cfgPath), cfgPath);
  const { dIn, dSae } = cfg;
  const f = await openWeights(join(dir, SAE_WEIGHTS_FILE));
  try {
    const params: SaeParams = {
      W_enc: device.fromArray(await readChecked(f, 'W_enc', [dIn, dSae]), [dIn, dSae]),
      b_enc: device.fromArray(await readChecked(f, 'b_enc', [dSae]), [dSae]),
      W_dec: device.fromArray(await readChecked(f, 'W_dec', [dSae, dIn]), [dSae, dIn]),
      b_dec: device.fromArray(await readChecked(f, 'b_dec', [dIn]), [dIn]),
    };
    if (f.has('threshold')) {
      const numel = f.info('threshold').numel;
      if (numel !== 1) throw new SaeFileError(f.path, `threshold has ${numel} entries; only a single (BatchTopK) threshold is supported`);
      params.threshold = device.fromArray(await f.readF32('threshold'), [1]);
    } else if (cfg.architecture === 'batchtopk') {
      throw new SaeFileError(f.path, 'architecture batchtopk needs a threshold tensor');
    }
    const out: LoadedSae = { format: 'saelens', cfg, params, model: createSae(cfg, params), metadata };
    if (normScalingFactor !== undefined) out.normScalingFactor = normScalingFactor;
    const sp = join(dir, SAE_SPARSITY_FILE);
    if (await exists(sp)) {
      const s = await openWeights(sp);
      try {
        out.sparsity = await readChecked(s, 'sparsity', [dSae]);
      } finally {
        await s.close();
      }
    }
    return out;
  } finally {
    await f.close();
  }
}

/** Read an SAE folder of any supported layout (SAELens, sparsify, dictionary_learning export). */
export async function loadSae(dir: string, device: Device): Promise<LoadedSae> {
  const st = await stat(dir).catch(() => null);
  if (!st) throw new SaeFileError(dir, 'no such folder');
  if (!st.isDirectory()) throw new SaeFileError(dir, 'not a folder');
  if (await exists(join(dir, SAE_WEIGHTS_FILE))) return loadSaeLens(dir, device);
  if (await exists(join(dir, 'sae.safetensors'))) return importSparsify(dir, device);
  if (await exists(join(dir, 'ae.safetensors'))) return importDictionaryLearning(dir, device);
  if (await exists(join(dir, 'ae.pt'))) {
    throw new SaeFileError(join(dir, 'ae.pt'), 'a torch pickle cannot be read; convert it with: python -c "import torch, safetensors.torch as s; s.save_file({k: v.contiguous() for k, v in torch.load(\'ae.pt\').items()}, \'ae.safetensors\')"');
  }
  throw new SaeFileError(dir, `not an SAE folder (no ${SAE_WEIGHTS_FILE}, sae.safetensors or ae.safetensors)`);
}
