// SAE folders. We write the SAELens 6 layout, so that SAELens's `SAE.load_from_disk` gives our
// encode/decode (the cfg.json mapping and why it looks as it does: saelensCompat.ts):
//   cfg.json                  architecture (standard, topk, or jumprelu for BatchTopK), d_in, d_sae,
//                             dtype, device, apply_b_dec_to_input, normalize_activations "none"
//                             (any input scaling is folded into the weights), reshape_activations,
//                             k and rescale_acts_by_decoder_norm (topk), metadata {sae_lens_version,
//                             model_name, hook_name, ...}, and our training settings under `saelab`
//   sae_weights.safetensors   W_enc [d_in, d_sae], W_dec [d_sae, d_in], b_enc [d_sae], b_dec [d_in],
//                             threshold [d_sae] (BatchTopK's θ, repeated: SAELens's jumprelu)
//   sparsity.safetensors      sparsity [d_sae] = log10(firing frequency + 1e-10), as SAELens
// The folder is built under a temporary name next to the target, fsynced, then renamed into place,
// so the final path never holds a half-written folder. `loadSae` reads SAELens folders, sparsify
// folders (cfg.json + sae.safetensors, see importSparsify.ts) and dictionary_learning exports, and
// refuses non-finite weights in any of them (readChecked, the one place tensors are read).

import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Device } from '../compute/device.js';
import type { Tensor } from '../compute/tensor.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import type { FileProblemError } from '../io/errors.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { writeSafetensors, type TensorToWrite } from '../io/safetensorsWrite.js';
import { importDictionaryLearning, importSparsify } from './importSparsify.js';
import { createSae } from './initSae.js';
import { cfgFromSaeLens, foldDecoderNorms, foldNormScaling, saeCfgJson, type HostSaeWeights, type SaeRunMetadata } from './saelensCompat.js';
import { SaeFileError } from './saeFileError.js';
import type { SaeConfig, SaeModel, SaeParams } from './types.js';

export { SaeFileError } from './saeFileError.js';
export { cfgFromSaeLens, posInt, saeCfgJson, type SaeRunMetadata } from './saelensCompat.js';

export const SAE_CFG_FILE = 'cfg.json';
export const SAE_WEIGHTS_FILE = 'sae_weights.safetensors';
export const SAE_SPARSITY_FILE = 'sparsity.safetensors';

/** What a folder holds besides the parameters. */
export interface SaveSaeOptions {
  /** Where the inputs came from; local model and dataset paths are made portable (runSource.ts). */
  metadata?: SaeRunMetadata;
  /** The `expected_average_only_in` factor s (required when cfg.normalizeActivations says so): folded into the written weights. */
  normScalingFactor?: number;
  /** [dSae] fraction of tokens on which each latent fired; written as log10 to sparsity.safetensors. */
  firingFrequency?: Float32Array;
  /** cfg.json `device` (a torch device string; default "cpu"). */
  device?: string;
}

/** An SAE read from disk. Its weights take raw activations: any input scaling is folded in. */
export interface LoadedSae {
  format: 'saelens' | 'sparsify' | 'dictionary_learning';
  cfg: SaeConfig;
  params: SaeParams;
  model: SaeModel;
  metadata: SaeRunMetadata;
  /** Never set by loadSae (it folds the factor into the weights); kept for callers that build a LoadedSae themselves. */
  normScalingFactor?: number;
  /** The input scaling the SAE was trained with, now folded into its weights (for the record). */
  foldedNormScalingFactor?: number;
  /** [dSae] log10 firing frequency, when the folder has it. */
  sparsity?: Float32Array;
}

// ---- writing ---------------------------------------------------------------------------------

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

/** A host array as an f32 safetensors entry. */
function f32Entry(data: Float32Array, shape: readonly number[]): TensorToWrite {
  return { dtype: 'F32', shape: [...shape], data };
}

/**
 * Write an SAELens folder (cfg.json, sae_weights.safetensors, sparsity.safetensors when given)
 * atomically. `params` are left as they are: the input scaling is folded into written copies.
 */
export async function saveSae(dir: string, cfg: SaeConfig, params: SaeParams, opts: SaveSaeOptions = {}): Promise<void> {
  const scaled = cfg.normalizeActivations === 'expected_average_only_in';
  const json = saeCfgJson(cfg, { metadata: opts.metadata, device: opts.device, ...(scaled ? { foldedNormScalingFactor: opts.normScalingFactor } : {}) });
  const read = async (t: Tensor) => (await t.read()) as Float32Array;
  let w: HostSaeWeights = { W_enc: await read(params.W_enc), b_enc: await read(params.b_enc), W_dec: await read(params.W_dec), b_dec: await read(params.b_dec) };
  if (scaled) w = foldNormScaling(w, opts.normScalingFactor!);
  const { dIn, dSae } = cfg;
  const tensors: Record<string, TensorToWrite> = {
    W_enc: f32Entry(w.W_enc, [dIn, dSae]),
    W_dec: f32Entry(w.W_dec, [dSae, dIn]),
    b_enc: f32Entry(w.b_enc, [dSae]),
    b_dec: f32Entry(w.b_dec, [dIn]),
  };
  if (cfg.architecture === 'batchtopk') {
    if (!params.threshold || params.threshold.numel !== 1) throw new Error('saveSae: a batchtopk SAE needs threshold [1]');
    tensors.threshold = f32Entry(new Float32Array(dSae).fill((await read(params.threshold))[0]!), [dSae]);
  }
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

/** Open a safetensors file, turning its errors into SaeFileError. */
export async function openWeights(path: string): Promise<SafetensorsFile> {
  try {
    return await SafetensorsFile.open(path);
  } catch (e) {
    throw new SaeFileError(path, (e as FileProblemError).problem ?? (e as Error).message, { cause: e });
  }
}

/** Where the first non-finite entry of `v` (shape `shape`) is, e.g. "row 3, column 5 is NaN", or null. */
export function firstNonFinite(v: Float32Array, shape: readonly number[]): string | null {
  for (let i = 0; i < v.length; i++) {
    if (Number.isFinite(v[i]!)) continue;
    const where = shape.length === 2 ? `row ${Math.floor(i / shape[1]!)}, column ${i % shape[1]!}` : shape.length === 1 ? `entry ${i}` : `element ${i}`;
    return `${where} is ${v[i]}`;
  }
  return null;
}

/** Read tensor `name` as f32, refusing non-finite values (NaN/Inf weights would give junk results that look like results). */
export async function readFinite(f: SafetensorsFile, name: string): Promise<Float32Array> {
  if (!f.has(name)) throw new SaeFileError(f.path, `missing tensor ${JSON.stringify(name)} (it has ${f.names().join(', ') || 'none'})`);
  const v = await f.readF32(name);
  const bad = firstNonFinite(v, f.info(name).shape);
  if (bad) throw new SaeFileError(f.path, `tensor ${name} ${bad}: the SAE's weights must be finite`);
  return v;
}

/** Read tensor `name` as finite f32, checking its shape (the message names both shapes, and says when it is the transpose). */
export async function readChecked(f: SafetensorsFile, name: string, shape: readonly number[], what = name): Promise<Float32Array> {
  if (!f.has(name)) throw new SaeFileError(f.path, `missing tensor ${JSON.stringify(name)} (it has ${f.names().join(', ') || 'none'})`);
  const got = f.info(name).shape;
  const same = got.length === shape.length && got.every((d, i) => d === shape[i]);
  if (!same) {
    const transposed = got.length === 2 && shape.length === 2 && got[0] === shape[1] && got[1] === shape[0];
    throw new SaeFileError(f.path, `${what} has shape [${got.join(', ')}], expected [${shape.join(', ')}]${transposed ? ' (it is stored transposed)' : ''}`);
  }
  return readFinite(f, name);
}

/** Whether every entry of `v` equals the first. */
function allEqual(v: Float32Array): boolean {
  return v.every((x) => x === v[0]);
}

/** Read an SAELens folder; input scaling and TopK decoder-norm rescaling are folded into the weights. */
async function loadSaeLens(dir: string, device: Device): Promise<LoadedSae> {
  const cfgPath = join(dir, SAE_CFG_FILE);
  const parsed = cfgFromSaeLens(await readJsonObject(cfgPath), cfgPath);
  const { cfg, metadata } = parsed;
  const { dIn, dSae } = cfg;
  const f = await openWeights(join(dir, SAE_WEIGHTS_FILE));
  let w: HostSaeWeights;
  try {
    w = {
      W_enc: await readChecked(f, 'W_enc', [dIn, dSae]),
      b_enc: await readChecked(f, 'b_enc', [dSae]),
      W_dec: await readChecked(f, 'W_dec', [dSae, dIn]),
      b_dec: await readChecked(f, 'b_dec', [dIn]),
    };
    if (cfg.architecture === 'jumprelu') {
      w.threshold = await readChecked(f, 'threshold', [dSae]);
    } else if (cfg.architecture === 'batchtopk') {
      // Older saelab folders: θ [1].
      if (!f.has('threshold')) throw new SaeFileError(f.path, 'architecture batchtopk needs a threshold tensor');
      const numel = f.info('threshold').numel;
      if (numel !== 1) throw new SaeFileError(f.path, `threshold has ${numel} entries; a batchtopk folder has one (SAELens folders say jumprelu with [d_sae])`);
      w.threshold = await readFinite(f, 'threshold');
    } else if (f.has('threshold')) {
      throw new SaeFileError(f.path, `architecture ${cfg.architecture} has no threshold, but the file has one (SAELens would refuse it too)`);
    }
  } finally {
    await f.close();
  }
  if (parsed.foldNormScaling !== undefined) w = foldNormScaling(w, parsed.foldNormScaling);
  if (parsed.foldDecoderNorms) w = foldDecoderNorms(w, dIn, dSae);
  if (parsed.batchTopkK !== undefined && allEqual(w.threshold!)) {
    cfg.architecture = 'batchtopk';
    cfg.k = parsed.batchTopkK;
    w.threshold = w.threshold!.subarray(0, 1).slice();
  }
  const params: SaeParams = {
    W_enc: device.fromArray(w.W_enc, [dIn, dSae]),
    b_enc: device.fromArray(w.b_enc, [dSae]),
    W_dec: device.fromArray(w.W_dec, [dSae, dIn]),
    b_dec: device.fromArray(w.b_dec, [dIn]),
  };
  if (w.threshold) params.threshold = device.fromArray(w.threshold, [w.threshold.length]);
  const out: LoadedSae = { format: 'saelens', cfg, params, model: createSae(cfg, params), metadata };
  if (parsed.foldedNormScalingFactor !== undefined) out.foldedNormScalingFactor = parsed.foldedNormScalingFactor;
  const sp = join(dir, SAE_SPARSITY_FILE);
  if (await exists(sp)) {
    const s = await openWeights(sp);
    try {
      // log10 of a zero frequency is −Inf in SAELens files: only NaN is refused here.
      if (!s.has('sparsity')) throw new SaeFileError(s.path, 'missing tensor "sparsity"');
      const shape = s.info('sparsity').shape;
      if (!(shape.length === 1 && shape[0] === dSae)) throw new SaeFileError(s.path, `sparsity has shape [${shape.join(', ')}], expected [${dSae}]`);
      const v = await s.readF32('sparsity');
      const nan = v.findIndex((x) => Number.isNaN(x));
      if (nan >= 0) throw new SaeFileError(s.path, `tensor sparsity entry ${nan} is NaN`);
      out.sparsity = v;
    } finally {
      await s.close();
    }
  }
  return out;
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
