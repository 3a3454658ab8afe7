// "Text → features" computed in the reader's browser from a static site's model-data folder
// (written by report/siteModel.ts): the model, tokenizer and SAE are loaded by the same code as in
// Node, through URL byte sources (io/urlByteSource.ts: Range requests, the Cache API), and the answer
// is report/dashboardText.ts's textFeatures with the server's options, so both answers match.
// WebGPU where the browser has it (auto: on a hardware adapter only), else the pure TypeScript CPU
// path; `backend` and `reason` say which and why. scripts/bundleBrowser.mjs bundles this file.

import { cpu } from '../compute/cpu/cpuDevice.js';
import type { Device } from '../compute/device.js';
import { findWebGpuAdapter, openWebGpu } from '../compute/webgpu/openGpu.js';
import type { WebGpuDevice } from '../compute/webgpu/gpuDevice.js';
import { urlFolder, type UrlFile, type WeightCache } from '../io/urlByteSource.js';
import { loadTokenizer } from '../model/tokenizers/loadTokenizer.js';
import { Transformer } from '../model/transformer.js';
import { TEXT_FEATURES_OPTIONS, textFeatures, type TextFeatures } from '../report/dashboardText.js';
import type { SiteManifest } from '../report/siteModel.js';
import { loadSaeLens } from '../sae/saeRead.js';

export type { TextFeatures } from '../report/dashboardText.js';

/** The Cache API store of fetched files (keyed by URL + sha256). */
export const WEIGHT_CACHE = 'saelab-weights-v1';

/** What openLocalFeatures gives: the backend it chose and why, and text → features. */
export interface LocalFeatures {
  backend: 'webgpu' | 'cpu';
  reason: string;
  /** Features per token of `text` (one call at a time; later calls wait). */
  run(text: string): Promise<TextFeatures>;
  /** Free the model and SAE (and the GPU device). */
  dispose(): void;
}

/** Options of openLocalFeatures. */
export interface LocalFeaturesOptions {
  /** auto (default): WebGPU on a hardware adapter, else the CPU; webgpu: any adapter, else an error; cpu. */
  device?: 'auto' | 'webgpu' | 'cpu';
  /** Bytes obtained so far (network or cache) of `total`, and the file the last ones belong to. */
  onProgress?: (loaded: number, total: number, file: string) => void;
}

/** An error the page can show as it is (the message is one line, saying what failed and where). */
export class LocalFeaturesError extends Error {
  override name = 'LocalFeaturesError';
}

/** Open the model-data folder at `base` (its URL) for text → features in this page. */
export async function openLocalFeatures(base: string, opts: LocalFeaturesOptions = {}): Promise<LocalFeatures> {
  const baseUrl = new URL(base.endsWith('/') ? base : `${base}/`, globalThis.location?.href).href;
  const manifest = await readManifest(baseUrl);
  const { device, backend, reason, gpu } = await pickDevice(opts.device ?? 'auto');
  const cache = await openCache();
  const total = manifest.downloadBytes;
  let loaded = 0;
  const onBytes = (n: number, file: string) => {
    loaded += n;
    opts.onProgress?.(Math.min(loaded, total), total, file);
  };
  const folder = (sub: 'model' | 'sae', files: UrlFile[]) => urlFolder(new URL(`${sub}/`, baseUrl).href, files, { cache, onBytes: (n, f) => onBytes(n, `${sub}/${f}`) });
  const modelFolder = folder('model', manifest.model.files);
  let model: Transformer | null = null;
  try {
    const lost = gpu ? watchLoss(gpu) : null;
    const load = async () => {
      model = await Transformer.load(modelFolder, device);
      const tok = await loadTokenizer(modelFolder);
      const sae = await loadSaeLens(folder('sae', manifest.sae.files), device);
      return { model, tok, sae };
    };
    const l = await (lost ? Promise.race([load(), lost.promise]) : load());
    const hook = manifest.hook;
    let queue: Promise<unknown> = Promise.resolve();
    let disposed = false;
    const run = (text: string): Promise<TextFeatures> => {
      const job = queue.then(async () => {
        if (disposed) throw new LocalFeaturesError('text → features was disposed');
        const work = textFeatures(l.model, l.tok, l.sae, hook, text, { contextSize: l.model.config.nCtx, ...TEXT_FEATURES_OPTIONS });
        return lost ? Promise.race([work, lost.promise]) : work;
      });
      queue = job.catch(() => undefined);
      return job;
    };
    return {
      backend,
      reason,
      run,
      dispose() {
        if (disposed) return;
        disposed = true;
        l.model.dispose();
        for (const p of Object.values(l.sae.params)) p?.dispose();
        if (gpu) gpu.destroy();
      },
    };
  } catch (e) {
    (model as Transformer | null)?.dispose();
    if (gpu) gpu.destroy();
    throw e instanceof LocalFeaturesError ? e : new LocalFeaturesError(oneLine(e), { cause: e });
  }
}

/** The first line of an error's message. */
function oneLine(e: unknown): string {
  return ((e as Error)?.message ?? String(e)).split('\n')[0]!;
}

/** manifest.json at `baseUrl`, checked for the fields the page reads. */
async function readManifest(baseUrl: string): Promise<SiteManifest> {
  const url = new URL('manifest.json', baseUrl).href;
  let r: Response;
  try {
    r = await fetch(url, { cache: 'no-cache', signal: AbortSignal.timeout(60_000) });
  } catch (e) {
    throw new LocalFeaturesError(`${url}: download failed (${oneLine(e)})`, { cause: e });
  }
  if (!r.ok) throw new LocalFeaturesError(`${url}: HTTP ${r.status}${r.statusText ? ` ${r.statusText}` : ''}`);
  let m: SiteManifest;
  try {
    m = (await r.json()) as SiteManifest;
  } catch (e) {
    throw new LocalFeaturesError(`${url}: not JSON (${oneLine(e)})`, { cause: e });
  }
  if (m?.format !== 'saelab-site-model' || m.version !== 1 || typeof m.hook !== 'string' || !Array.isArray(m.model?.files) || !Array.isArray(m.sae?.files)) {
    throw new LocalFeaturesError(`${url}: not a saelab model-data manifest (version 1)`);
  }
  return m;
}

/** The Cache API store, or null where the page has none (an insecure context). */
async function openCache(): Promise<WeightCache | null> {
  const c = (globalThis as { caches?: CacheStorage }).caches;
  if (!c) return null;
  try {
    const cache = await c.open(WEIGHT_CACHE);
    return { match: (k) => cache.match(k), put: (k, r) => cache.put(k, r) };
  } catch {
    return null;
  }
}

/** The device for `want`, with the backend's name and why it was chosen. */
async function pickDevice(want: 'auto' | 'webgpu' | 'cpu'): Promise<{ device: Device; backend: 'webgpu' | 'cpu'; reason: string; gpu: WebGpuDevice | null }> {
  const onCpu = (why: string) => ({ device: cpu as Device, backend: 'cpu' as const, reason: `pure TypeScript; ${why}`, gpu: null });
  if (want === 'cpu') return onCpu('asked for');
  const found = await findWebGpuAdapter();
  if (!found.ok) {
    if (want === 'webgpu') throw new LocalFeaturesError(`WebGPU is not available here: ${found.reason}`);
    return onCpu(`no WebGPU (${found.reason})`);
  }
  if (want === 'auto' && found.found.software) return onCpu(`WebGPU's adapter is software (${found.found.software}), slower than the CPU path`);
  const opened = await openWebGpu({}, found.found);
  if (!opened.ok) {
    if (want === 'webgpu') throw new LocalFeaturesError(`WebGPU did not open: ${opened.reason}`);
    return onCpu(`WebGPU did not open (${opened.reason})`);
  }
  return { device: opened.device, backend: 'webgpu', reason: `WebGPU on ${found.found.name}`, gpu: opened.device };
}

/** A promise that rejects when the GPU device is lost, so no run waits forever on a dead device. */
function watchLoss(gpu: WebGpuDevice): { promise: Promise<never> } {
  const promise = gpu.gpu.lost.then((info) => {
    throw new LocalFeaturesError(`the WebGPU device was lost (${info.reason}${info.message ? `: ${info.message}` : ''}); open again with device 'cpu'`);
  });
  promise.catch(() => undefined); // observed by the runs that race it
  return { promise };
}
