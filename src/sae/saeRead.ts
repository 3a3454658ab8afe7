// Reading an SAELens folder (cfg.json, sae_weights.safetensors, sparsity.safetensors when present)
// through a ByteFolder, so the same code reads a local folder (saeFiles.ts's loadSae) and one served
// over HTTP in a browser. Tensors are read here only, refusing NaN/Inf (readChecked). No Node
// built-ins here.

import type { Device } from '../compute/device.js';
import type { ByteFolder } from '../io/byteSource.js';
import type { FileProblemError } from '../io/errors.js';
import { SafetensorsReader } from '../io/safetensorsReader.js';
import { createSae } from './initSae.js';
import { cfgFromSaeLens, foldDecoderNorms, foldNormScaling, type HostSaeWeights, type SaeRunMetadata } from './saelensCompat.js';
import { SaeFileError } from './saeFileError.js';
import type { SaeConfig, SaeModel, SaeParams } from './types.js';

export const SAE_CFG_FILE = 'cfg.json';
export const SAE_WEIGHTS_FILE = 'sae_weights.safetensors';
export const SAE_SPARSITY_FILE = 'sparsity.safetensors';

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

/** Parse a JSON object file of a folder or throw SaeFileError. */
export async function readFolderJson(folder: ByteFolder, rel: string): Promise<Record<string, unknown>> {
  const path = folder.label(rel);
  let text: string;
  try {
    text = new TextDecoder().decode(await folder.readBytes(rel));
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

/** Open a safetensors file of a folder, turning its errors into SaeFileError. */
export async function openFolderWeights(folder: ByteFolder, rel: string): Promise<SafetensorsReader> {
  const path = folder.label(rel);
  try {
    return await SafetensorsReader.fromSource(await folder.open(rel));
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
export async function readFinite(f: SafetensorsReader, name: string): Promise<Float32Array> {
  if (!f.has(name)) throw new SaeFileError(f.path, `missing tensor ${JSON.stringify(name)} (it has ${f.names().join(', ') || 'none'})`);
  const v = await f.readF32(name);
  const bad = firstNonFinite(v, f.info(name).shape);
  if (bad) throw new SaeFileError(f.path, `tensor ${name} ${bad}: the SAE's weights must be finite`);
  return v;
}

/** Read tensor `name` as finite f32, checking its shape (the message names both shapes, and says when it is the transpose). */
export async function readChecked(f: SafetensorsReader, name: string, shape: readonly number[], what = name): Promise<Float32Array> {
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

/** Read an SAELens folder (local or by URL); input scaling and TopK decoder-norm rescaling are folded into the weights. */
export async function loadSaeLens(folder: ByteFolder, device: Device): Promise<LoadedSae> {
  const cfgPath = folder.label(SAE_CFG_FILE);
  const parsed = cfgFromSaeLens(await readFolderJson(folder, SAE_CFG_FILE), cfgPath);
  const { cfg, metadata } = parsed;
  const { dIn, dSae } = cfg;
  const f = await openFolderWeights(folder, SAE_WEIGHTS_FILE);
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
  if (await folder.has(SAE_SPARSITY_FILE)) {
    const s = await openFolderWeights(folder, SAE_SPARSITY_FILE);
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
