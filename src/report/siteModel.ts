// The model-data folder a static site's "text → features" page loads in the browser
// (src/browser/localFeatures.ts): only what the page needs, every JSON free of local paths.
//   manifest.json   format, hook, the text → features options, per folder its files (path, size,
//                   sha256: the browser's cache key and integrity check), the f32 bytes it will hold
//   model/          config.json, model.safetensors or the index + its shards, the tokenizer files
//   sae/            cfg.json, sae_weights.safetensors
// A model too large for a browser is refused (see MAX_BROWSER_F32_BYTES). The folder is built under
// a temporary name and renamed into place, so outDir never holds a half-written export.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { HfWeights, readHfConfig, SINGLE_WEIGHTS, WEIGHTS_INDEX } from '../io/hfFolder.js';
import { localPathKind } from '../io/fileByteSource.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { parseHfConfig } from '../model/config.js';
import { ModelError } from '../model/errors.js';
import { hookNames } from '../model/hooks.js';
import { cfgFromSaeLens } from '../sae/saelensCompat.js';
import { SAE_CFG_FILE, SAE_WEIGHTS_FILE } from '../sae/saeRead.js';
import { writeFolderAtomic } from '../sae/saeFiles.js';
import { TEXT_FEATURES_OPTIONS } from './dashboardText.js';

/**
 * The largest model + SAE a page may load, counted as f32 parameter bytes: 1 GiB. The page holds the
 * downloaded bytes, their f32 copy and the device's copy (about three times this at the peak), and a
 * 64-bit desktop browser gives one tab about 4 GiB (much less on phones). GPT-2 small (124M
 * parameters, 0.5 GB in f32) fits; Pythia-410M (1.6 GB) does not.
 */
export const MAX_BROWSER_F32_BYTES = 1 << 30;

/** The tokenizer files a model folder may carry (copied when present). */
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'added_tokens.json', 'vocab.json', 'merges.txt'];

/** One file of the export, as manifest.json lists it (path relative to its folder). */
export interface SiteFile {
  path: string;
  size: number;
  sha256: string;
}

/** manifest.json. */
export interface SiteManifest {
  format: 'saelab-site-model';
  version: 1;
  hook: string;
  /** What textFeatures is called with (the server's text → features options). */
  textFeatures: { contextSize: number; perToken: number; maxFeatures: number };
  model: { name: string; family: string; nLayers: number; dModel: number; nCtx: number; vocabSize: number; parameters: number; files: SiteFile[] };
  sae: { architecture: string; dIn: number; dSae: number; files: SiteFile[] };
  /** f32 bytes of model + SAE parameters (what the page holds per copy). */
  f32Bytes: number;
  /** Bytes to download (every file of both folders). */
  downloadBytes: number;
}

/** Whether a string looks like an absolute local path (POSIX, Windows drive or UNC). */
function isAbsolutePath(s: string): boolean {
  return s.startsWith('/') || /^[A-Za-z]:[\\/]/.test(s) || s.startsWith('\\\\') || s.startsWith('~/');
}

/** `v` with every absolute path string replaced by null; `changed` says whether there was one. */
function withoutPaths(v: unknown, changed: { any: boolean }): unknown {
  if (typeof v === 'string') return isAbsolutePath(v) ? ((changed.any = true), null) : v;
  if (Array.isArray(v)) return v.map((x) => withoutPaths(x, changed));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withoutPaths(x, changed)]));
  return v;
}

/** Copy `from` to `to`: JSON without absolute paths (rewritten only when it had some), other files byte for byte. */
async function copyForSite(from: string, to: string): Promise<void> {
  if (!from.endsWith('.json')) return copyFile(from, to);
  const text = await readFile(from, 'utf8');
  const changed = { any: false };
  const clean = withoutPaths(JSON.parse(text), changed);
  if (changed.any) await writeFile(to, `${JSON.stringify(clean, null, 2)}\n`);
  else await copyFile(from, to);
}

/** Size and hex sha256 of a file, read in chunks. */
async function describeFile(path: string, rel: string): Promise<SiteFile> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).byteLength;
  }
  return { path: rel, size, sha256: h.digest('hex') };
}

/** Parameter count of safetensors files (every tensor). */
function numelOf(files: { names(): string[]; info(n: string): { numel: number } }[]): number {
  let n = 0;
  for (const f of files) for (const name of f.names()) n += f.info(name).numel;
  return n;
}

/** Write the model-data folder for `hook` of the model at `modelDir` and the SAELens SAE at `saeDir` (see the file comment); refuses a model too large for a browser. */
export async function writeSiteModel(modelDir: string, saeDir: string, hook: string, outDir: string, opts: { maxF32Bytes?: number } = {}): Promise<{ files: string[]; bytes: number }> {
  const limit = opts.maxF32Bytes ?? MAX_BROWSER_F32_BYTES;
  if ((await localPathKind(modelDir)) !== 'dir') throw new ModelError(`${modelDir}: the site needs a Hugging Face model folder (config.json + safetensors)`);
  const rawConfig = await readHfConfig(modelDir);
  const config = parseHfConfig(rawConfig, join(modelDir, 'config.json'));
  if (!hookNames(config).includes(hook)) throw new ModelError(`${hook}: not a hook of ${modelDir} (e.g. blocks.0.hook_resid_pre … ${hookNames(config).at(-1)})`);
  if (!(await localPathKind(join(saeDir, SAE_WEIGHTS_FILE)))) throw new ModelError(`${saeDir}: the site reads SAELens folders (${SAE_CFG_FILE} + ${SAE_WEIGHTS_FILE})`);
  const saeJson = JSON.parse(await readFile(join(saeDir, SAE_CFG_FILE), 'utf8')) as Record<string, unknown>;
  const { cfg: saeCfg, metadata } = cfgFromSaeLens(saeJson, join(saeDir, SAE_CFG_FILE));
  if (saeCfg.dIn !== config.dModel) throw new ModelError(`${saeDir}: the SAE's d_in is ${saeCfg.dIn}, but ${hook} of the model has ${config.dModel} dimensions`);
  if (typeof metadata.hook_name === 'string' && metadata.hook_name !== hook) throw new ModelError(`${saeDir}: the SAE was trained at ${metadata.hook_name}, not ${hook}`);

  // Weights: what HfWeights opens (one file, or the index and its shards).
  const weights = await HfWeights.open(modelDir);
  const weightFiles = weights.files().map((p) => basename(p));
  await weights.close();
  const modelFiles = ['config.json', ...(weightFiles.length === 1 && weightFiles[0] === SINGLE_WEIGHTS ? [] : [WEIGHTS_INDEX]), ...weightFiles];
  for (const t of TOKENIZER_FILES) if ((await localPathKind(join(modelDir, t))) === 'file') modelFiles.push(t);

  const opened = await Promise.all([...weightFiles.map((f) => SafetensorsFile.open(join(modelDir, f))), SafetensorsFile.open(join(saeDir, SAE_WEIGHTS_FILE))]);
  const modelParams = numelOf(opened.slice(0, -1));
  const f32Bytes = 4 * numelOf(opened);
  await Promise.all(opened.map((f) => f.close()));
  if (f32Bytes > limit) {
    const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;
    throw new ModelError(`${modelDir}: the model and SAE hold ${mb(f32Bytes)} of f32 parameters, over the ${mb(limit)} a browser page can load (it keeps the download, an f32 copy and the device's copy: about 3× that in one tab); GPT-2 small (124M parameters) is about the largest that fits`);
  }

  const manifest: SiteManifest = {
    format: 'saelab-site-model',
    version: 1,
    hook,
    textFeatures: { contextSize: config.nCtx, ...TEXT_FEATURES_OPTIONS },
    model: { name: basename(modelDir), family: config.family, nLayers: config.nLayers, dModel: config.dModel, nCtx: config.nCtx, vocabSize: config.vocabSize, parameters: modelParams, files: [] },
    sae: { architecture: saeCfg.architecture, dIn: saeCfg.dIn, dSae: saeCfg.dSae, files: [] },
    f32Bytes,
    downloadBytes: 0,
  };
  await writeFolderAtomic(outDir, async (tmp) => {
    for (const [sub, from, names, list] of [['model', modelDir, modelFiles, manifest.model.files], ['sae', saeDir, [SAE_CFG_FILE, SAE_WEIGHTS_FILE], manifest.sae.files]] as const) {
      await mkdir(join(tmp, sub));
      for (const name of names) {
        await copyForSite(join(from, name), join(tmp, sub, name));
        list.push(await describeFile(join(tmp, sub, name), name));
      }
    }
    manifest.downloadBytes = [...manifest.model.files, ...manifest.sae.files].reduce((s, f) => s + f.size, 0);
    await writeFile(join(tmp, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  });
  const files = ['manifest.json', ...manifest.model.files.map((f) => `model/${f.path}`), ...manifest.sae.files.map((f) => `sae/${f.path}`)];
  const manifestSize = (await readFile(join(outDir, 'manifest.json'))).byteLength;
  return { files, bytes: manifest.downloadBytes + manifestSize };
}
