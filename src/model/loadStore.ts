// Loading an HF folder's weights into a WeightStore: pick the storage dtype (`--model-dtype`, auto = the
// file's), check every tensor's presence and shape from the headers, decide from the memory plan
// whether the model is resident, streamed a block at a time, or refused (one line with the numbers)
// — all before a byte of weights is read — then read the blocks one at a time onto the device.

import type { Device } from '../compute/device.js';
import type { WebGpuDevice } from '../compute/webgpu/gpuDevice.js';
import type { Dtype } from '../io/dtypes.js';
import type { HfWeights } from '../io/hfFolder.js';
import { SyncTensorReader } from '../io/tensorReaderSync.js';
import type { ModelConfig } from './config.js';
import { ModelError } from './errors.js';
import { parseHook } from './hooks.js';
import { checkHfTensors, familyLoader, prefetchingLoader } from './loadWeights.js';
import { formatBytes, memoryAvailable, weightBytes } from './memoryPlan.js';
import { weightDtypeBytes, weightDtypeOfFile, type WeightDtype, type WeightDtypeRequest } from './weightDtype.js';
import { expectedShapes, listWeights } from './weights.js';
import { WeightStore } from './weightStore.js';

/** How to load a model's weights. */
export interface LoadOptions {
  /** Storage dtype of the matrices (default float32; auto: the file's own). */
  dtype?: WeightDtypeRequest;
  /** true: stream blocks from disk; false: resident or refuse; auto (default): stream only when resident does not fit. */
  stream?: boolean | 'auto';
  /** Bytes the weights may take (default: memoryAvailable()); the CPU's limit only. */
  memoryLimit?: number;
  /** Load only blocks [0, n): for work that stops at a hook in block n − 1 or earlier. */
  layers?: number;
  /** Load only the blocks a forward to the last of these hooks needs (overrides `layers`). */
  upToHooks?: readonly string[];
  /** Told one line when streaming is chosen because the resident weights do not fit. */
  note?: (line: string) => void;
}

/** Blocks [0, n) that a forward stopping after the last of `hooks` runs. */
export function blocksNeeded(cfg: ModelConfig, hooks: readonly string[]): number {
  let n = 0;
  for (const h of hooks) {
    let p;
    try {
      p = parseHook(h, cfg);
    } catch {
      return cfg.nLayers; // a pattern or a bad name: load everything, and let the forward's checks speak
    }
    // A block's input (hook_resid_pre) is the previous block's output: block L itself is not needed.
    n = Math.max(n, p.layer === null ? cfg.nLayers : p.kind === 'hook_resid_pre' ? p.layer : p.layer + 1);
  }
  return n;
}

/** The dtype most of a folder's weight bytes are stored in. */
export function fileDtype(weights: HfWeights): Dtype {
  const bytes = new Map<Dtype, number>();
  for (const n of weights.names()) {
    const i = weights.info(n);
    bytes.set(i.dtype, (bytes.get(i.dtype) ?? 0) + i.byteLength);
  }
  let best: Dtype = 'F32';
  for (const [d, b] of bytes) if (b > (bytes.get(best) ?? 0)) best = d;
  return best;
}

/** The storage dtype a request resolves to for this folder. */
export function resolveDtype(req: WeightDtypeRequest, weights: HfWeights): WeightDtype {
  return req === 'auto' ? weightDtypeOfFile(fileDtype(weights)) : req;
}

/** Read `weights` for `cfg` into a store on `device` as `opts` say (ModelError for a model that cannot fit). */
export async function loadWeightStore(weights: HfWeights, cfg: ModelConfig, device: Device, source: string, opts: LoadOptions = {}): Promise<WeightStore> {
  const dtype = resolveDtype(opts.dtype ?? 'float32', weights);
  const nLayers = opts.upToHooks && opts.upToHooks.length > 0 ? blocksNeeded(cfg, opts.upToHooks) : opts.layers ?? cfg.nLayers;
  if (!(Number.isInteger(nLayers) && nLayers >= 0 && nLayers <= cfg.nLayers)) throw new ModelError(`${source}: cannot load ${nLayers} blocks of a ${cfg.nLayers}-layer model`);
  checkHfTensors(weights, cfg, source);
  const stream = decideStreaming(cfg, device, dtype, nLayers, source, opts);
  if (!stream) {
    // Resident: each part's bytes read (asynchronously: any HfWeights will do), converted, put on the device.
    const parts = prefetchingLoader(weights, cfg, source, dtype);
    return WeightStore.resident(parts, nLayers, device, dtype);
  }
  // Streamed: the forward is synchronous, so blocks are read through file descriptors (Node only).
  const reader = new SyncTensorReader(weights);
  try {
    const loader = familyLoader(reader, cfg, source, dtype);
    return WeightStore.streaming(loader.top(), loader, reader, nLayers, device, dtype);
  } catch (e) {
    reader.close();
    throw e;
  }
}

/** Whether to stream, from the memory plan; throws the one-line refusal when neither way fits. */
function decideStreaming(cfg: ModelConfig, device: Device, dtype: WeightDtype, nLayers: number, source: string, opts: LoadOptions): boolean {
  if (device.kind !== 'cpu') {
    checkGpuBuffers(cfg, device as WebGpuDevice, dtype, source);
    return opts.stream === true;
  }
  const wb = weightBytes(cfg, dtype);
  const resident = wb.top + wb.perLayer * nLayers + wb.scratch;
  const avail = opts.memoryLimit !== undefined ? { bytes: opts.memoryLimit, from: 'the memory limit' } : memoryAvailable();
  const mode = opts.stream ?? 'auto';
  if (mode === true) {
    if (wb.streaming > avail.bytes) throw refusal(source, `streamed a block at a time needs ${formatBytes(wb.streaming)} (top weights ${formatBytes(wb.top)} + one block ${formatBytes(wb.perLayer + wb.scratch)})`, dtype, avail);
    return true;
  }
  if (resident <= avail.bytes) return false;
  const residentWhy = `needs ${formatBytes(resident)} for its weights in ${dtype}${nLayers < cfg.nLayers ? ` (${nLayers} of ${cfg.nLayers} blocks)` : ''}`;
  if (mode === false) throw refusal(source, `${residentWhy}; streaming would need ${formatBytes(wb.streaming)}: use --stream${dtype === 'float32' ? ' or --model-dtype bfloat16' : ''}`, dtype, avail);
  if (wb.streaming > avail.bytes) throw refusal(source, `${residentWhy}, and ${formatBytes(wb.streaming)} even streamed a block at a time`, dtype, avail);
  opts.note?.(`note: ${source} ${residentWhy} and ${avail.from} is ${formatBytes(avail.bytes)}: streaming its blocks from disk (slower${dtype === 'float32' ? '; --model-dtype bfloat16 halves the weights' : ''})`);
  return true;
}

function refusal(source: string, why: string, dtype: WeightDtype, avail: { bytes: number; from: string }): ModelError {
  const hint = dtype === 'float32' && !why.includes('--model-dtype') ? ' (--model-dtype bfloat16 halves the matrices)' : '';
  return new ModelError(`${source}: does not fit: ${why}; ${avail.from} is ${formatBytes(avail.bytes)}${hint}`);
}

/** Every weight, and its f32 widening, must fit one GPU buffer. */
function checkGpuBuffers(cfg: ModelConfig, dev: WebGpuDevice, dtype: WeightDtype, source: string): void {
  const max = dev.limits.maxBufferSize;
  for (const [name, s] of listWeights(expectedShapes(cfg))) {
    if (!s) continue;
    const n = s.reduce((a, b) => a * b, 1);
    const widened = n * 4;
    if (widened > max) {
      const stored = n * (s.length < 2 ? 4 : weightDtypeBytes(dtype));
      throw new ModelError(`${source}: tensor ${name} [${s}] is ${formatBytes(stored)} in ${dtype} and ${formatBytes(widened)} widened to f32, over this GPU's maxBufferSize of ${formatBytes(max)}: use --device cpu`);
    }
  }
}
