// Importers for SAEs trained by other libraries, mapped onto the SAELens layout:
// - sparsify (EleutherAI): cfg.json {d_in, num_latents | expansion_factor, k, ...} + sae.safetensors
//   with encoder.weight [n, d_in] (torch Linear: W_enc is its transpose), encoder.bias [n],
//   W_dec [n, d_in], b_dec [d_in]. Encoding is TopK of ReLU((x − b_dec)·W_enc + b_enc): our `topk`.
// - dictionary_learning (saprmarks): `ae.pt` is a torch pickle of the state dict, which we do not
//   unpickle. Convert it once with
//     python -c "import torch, safetensors.torch as s; s.save_file({k: v.contiguous() for k, v in torch.load('ae.pt').items()}, 'ae.safetensors')"
//   and load the folder (ae.safetensors + the optional config.json written beside ae.pt): encoder.weight
//   [d_sae, d_in], encoder.bias [d_sae], decoder.weight [d_in, d_sae] (both transposed to SAELens),
//   bias or b_dec = b_dec [d_in], and for TopK/BatchTopK `k` and `threshold` (scalars).
// Tensors are read through saeFiles.ts's readChecked / readFinite, which refuse NaN and Inf.

import { join } from 'node:path';
import type { Device } from '../compute/device.js';
import { createSae } from './initSae.js';
import { exists, openWeights, posInt, readChecked, readFinite, readJsonObject, SaeFileError, type LoadedSae } from './saeFiles.js';
import type { SaeArchitecture, SaeConfig, SaeParams } from './types.js';

/** [rows, cols] row-major → its transpose [cols, rows]. */
export function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c]!;
  return t;
}

/** Read a sparsify folder (cfg.json + sae.safetensors) as a TopK SAE. */
export async function importSparsify(dir: string, device: Device): Promise<LoadedSae> {
  const cfgPath = join(dir, 'cfg.json');
  const json = await readJsonObject(cfgPath);
  const dIn = posInt(json, 'd_in', cfgPath);
  const k = posInt(json, 'k', cfgPath);
  if (json.skip_connection === true) throw new SaeFileError(cfgPath, 'skip_connection SAEs (W_skip) are not supported');
  if (json.activation !== undefined && json.activation !== 'topk') throw new SaeFileError(cfgPath, `unsupported activation ${JSON.stringify(json.activation)}`);
  const numLatents = typeof json.num_latents === 'number' && json.num_latents > 0 ? json.num_latents : posInt(json, 'expansion_factor', cfgPath) * dIn;
  if (k > numLatents) throw new SaeFileError(cfgPath, `k ${k} exceeds the ${numLatents} latents`);
  const f = await openWeights(join(dir, 'sae.safetensors'));
  try {
    const enc = await readChecked(f, 'encoder.weight', [numLatents, dIn]);
    const params: SaeParams = {
      W_enc: device.fromArray(transpose(enc, numLatents, dIn), [dIn, numLatents]),
      b_enc: device.fromArray(await readChecked(f, 'encoder.bias', [numLatents]), [numLatents]),
      W_dec: device.fromArray(await readChecked(f, 'W_dec', [numLatents, dIn]), [numLatents, dIn]),
      b_dec: device.fromArray(await readChecked(f, 'b_dec', [dIn]), [dIn]),
    };
    const cfg: SaeConfig = {
      architecture: 'topk', dIn, dSae: numLatents, k, applyBDecToInput: true,
      decoderUnitNorm: json.normalize_decoder !== false, normalizeActivations: 'none', seed: 0,
    };
    return { format: 'sparsify', cfg, params, model: createSae(cfg, params), metadata: { source: 'sparsify' } };
  } finally {
    await f.close();
  }
}

/** The architecture named by dictionary_learning's config.json (trainer.dict_class), if any. */
function dictClassArchitecture(json: Record<string, unknown> | null, file: string): SaeArchitecture | null {
  const trainer = json?.trainer as Record<string, unknown> | undefined;
  const cls = trainer?.dict_class;
  if (cls === undefined) return null;
  if (cls === 'AutoEncoder') return 'standard';
  if (cls === 'AutoEncoderTopK') return 'topk';
  if (cls === 'BatchTopKSAE') return 'batchtopk';
  throw new SaeFileError(file, `unsupported dict_class ${JSON.stringify(cls)} (supported: AutoEncoder, AutoEncoderTopK, BatchTopKSAE)`);
}

/** Read a dictionary_learning safetensors export (ae.safetensors, optional config.json). */
export async function importDictionaryLearning(dir: string, device: Device): Promise<LoadedSae> {
  const cfgPath = join(dir, 'config.json');
  const json = (await exists(cfgPath)) ? await readJsonObject(cfgPath) : null;
  const f = await openWeights(join(dir, 'ae.safetensors'));
  try {
    if (!f.has('encoder.weight')) throw new SaeFileError(f.path, 'missing tensor "encoder.weight"');
    const encShape = f.info('encoder.weight').shape;
    if (encShape.length !== 2) throw new SaeFileError(f.path, `encoder.weight must be 2-D [d_sae, d_in], got [${encShape.join(', ')}]`);
    const [dSae, dIn] = [encShape[0]!, encShape[1]!];
    const trainer = (json?.trainer ?? {}) as Record<string, unknown>;
    if (typeof trainer.dict_size === 'number' && trainer.dict_size !== dSae) throw new SaeFileError(f.path, `encoder.weight has ${dSae} rows but config.json dict_size is ${trainer.dict_size}`);
    if (typeof trainer.activation_dim === 'number' && trainer.activation_dim !== dIn) {
      throw new SaeFileError(f.path, `encoder.weight has shape [${dSae}, ${dIn}] but config.json activation_dim is ${trainer.activation_dim} (expected [d_sae, d_in])`);
    }
    const hasK = f.has('k');
    const arch = dictClassArchitecture(json, cfgPath) ?? (hasK ? (f.has('threshold') ? 'batchtopk' : 'topk') : 'standard');
    const biasName = f.has('bias') ? 'bias' : 'b_dec';
    const dec = await readChecked(f, 'decoder.weight', [dIn, dSae]);
    const params: SaeParams = {
      W_enc: device.fromArray(transpose(await readChecked(f, 'encoder.weight', [dSae, dIn]), dSae, dIn), [dIn, dSae]),
      b_enc: device.fromArray(await readChecked(f, 'encoder.bias', [dSae]), [dSae]),
      W_dec: device.fromArray(transpose(dec, dIn, dSae), [dSae, dIn]),
      b_dec: device.fromArray(await readChecked(f, biasName, [dIn]), [dIn]),
    };
    const cfg: SaeConfig = { architecture: arch, dIn, dSae, applyBDecToInput: true, decoderUnitNorm: arch !== 'standard', normalizeActivations: 'none', seed: 0 };
    if (arch !== 'standard') {
      const kv = hasK ? (await readFinite(f, 'k'))[0] : trainer.k;
      if (!(typeof kv === 'number' && kv > 0 && kv <= dSae)) throw new SaeFileError(f.path, `architecture ${arch} needs k in (0, ${dSae}], got ${JSON.stringify(kv)}`);
      cfg.k = kv;
    }
    if (arch === 'batchtopk') {
      if (!f.has('threshold') || f.info('threshold').numel !== 1) throw new SaeFileError(f.path, 'BatchTopKSAE needs a scalar threshold tensor');
      params.threshold = device.fromArray(await readFinite(f, 'threshold'), [1]);
    }
    const metadata: LoadedSae['metadata'] = { source: 'dictionary_learning' };
    if (typeof trainer.lm_name === 'string') metadata.model_name = trainer.lm_name;
    if (typeof trainer.layer === 'number') metadata.hook_layer = trainer.layer;
    if (typeof trainer.submodule_name === 'string') metadata.hook_name = trainer.submodule_name;
    return { format: 'dictionary_learning', cfg, params, model: createSae(cfg, params), metadata };
  } finally {
    await f.close();
  }
}
