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
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Device } from '../compute/device.js';
import type { Tensor } from '../compute/tensor.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { localFolder } from '../io/fileByteSource.js';
import type { SafetensorsReader } from '../io/safetensors.js';
import { writeSafetensors, type TensorToWrite } from '../io/safetensorsWrite.js';
import { importDictionaryLearning, importSparsify } from './importSparsify.js';
import { saeCfgJson } from './saelensCfgJson.js';
import { foldNormScaling, type HostSaeWeights, type SaeRunMetadata } from './saelensCompat.js';
import { loadSaeLens, openFolderWeights, readFolderJson, SAE_CFG_FILE, SAE_SPARSITY_FILE, SAE_WEIGHTS_FILE, type LoadedSae } from './saeRead.js';
import { SaeFileError } from './saeFileError.js';
import type { SaeConfig, SaeParams } from './types.js';

export { SaeFileError } from './saeFileError.js';
export { firstNonFinite, loadSaeLens, readChecked, readFinite, SAE_CFG_FILE, SAE_SPARSITY_FILE, SAE_WEIGHTS_FILE, type LoadedSae } from './saeRead.js';
export { cfgFromSaeLens, posInt, type SaeRunMetadata } from './saelensCompat.js';
export { saeCfgJson } from './saelensCfgJson.js';


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
  return readFolderJson(localFolder(dirname(path)), basename(path));
}

/** Open a safetensors file, turning its errors into SaeFileError. */
export async function openWeights(path: string): Promise<SafetensorsReader> {
  return openFolderWeights(localFolder(dirname(path)), basename(path));
}

/** Read an SAE folder of any supported layout (SAELens, sparsify, dictionary_learning export). */
export async function loadSae(dir: string, device: Device): Promise<LoadedSae> {
  const st = await stat(dir).catch(() => null);
  if (!st) throw new SaeFileError(dir, 'no such folder');
  if (!st.isDirectory()) throw new SaeFileError(dir, 'not a folder');
  if (await exists(join(dir, SAE_WEIGHTS_FILE))) return loadSaeLens(localFolder(dir), device);
  if (await exists(join(dir, 'sae.safetensors'))) return importSparsify(dir, device);
  if (await exists(join(dir, 'ae.safetensors'))) return importDictionaryLearning(dir, device);
  if (await exists(join(dir, 'ae.pt'))) {
    throw new SaeFileError(join(dir, 'ae.pt'), 'a torch pickle cannot be read; convert it with: python -c "import torch, safetensors.torch as s; s.save_file({k: v.contiguous() for k, v in torch.load(\'ae.pt\').items()}, \'ae.safetensors\')"');
  }
  throw new SaeFileError(dir, `not an SAE folder (no ${SAE_WEIGHTS_FILE}, sae.safetensors or ae.safetensors)`);
}
