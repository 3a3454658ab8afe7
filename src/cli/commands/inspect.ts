// `saelab inspect PATH`: list the tensors of a safetensors file, an HF model folder or an SAE folder
// (name, dtype, shape), with the metadata or the SAE's cfg.json summary — the first look at any SAE
// or model file. With --memory, a model folder's memory needs (weights per dtype, activations) and what fits here.

import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { openHfFolder } from '../../io/hfFolder.js';
import { SafetensorsFile } from '../../io/safetensors.js';
import type { WebGpuDevice } from '../../compute/webgpu/gpuDevice.js';
import { parseHfConfig } from '../../model/config.js';
import { resolveDtype } from '../../model/loadStore.js';
import { formatBytes, largestTensor, memoryAvailable, memoryReport, type MemoryReport } from '../../model/memoryPlan.js';
import { openDeviceFromFlag } from '../deviceOption.js';
import { UsageError } from '../errors.js';
import { intFlag } from '../flags.js';
import { loadOptionsFromFlags, modelDtypeOption } from '../modelLoadOptions.js';
import { emit, table } from '../output.js';

interface TensorRow {
  name: string;
  dtype: string;
  shape: number[];
  file?: string;
}

export interface InspectReport {
  path: string;
  kind: 'safetensors' | 'hf-folder' | 'sae-folder';
  /** safetensors: its header metadata; hf-folder: { config }; sae-folder: { cfg } (cfg.json as is). */
  metadata: Record<string, unknown>;
  /** sae-folder: the cfg.json facts people look for first (absent ones left out). */
  summary?: Record<string, unknown>;
  tensors: TensorRow[];
  parameters: number;
}

/** The tensors of every safetensors file in `dir` (file names kept). */
async function folderTensors(dir: string): Promise<TensorRow[]> {
  const rows: TensorRow[] = [];
  for (const name of (await readdir(dir)).filter((f) => f.endsWith('.safetensors')).sort()) {
    const f = await SafetensorsFile.open(join(dir, name));
    try {
      for (const n of f.names()) {
        const i = f.info(n);
        rows.push({ name: n, dtype: i.dtype, shape: [...i.shape], file: name });
      }
    } finally {
      await f.close();
    }
  }
  return rows;
}

/** The headline facts of an SAE's cfg.json (SAELens keys, and saelab's own under `saelab`). */
export function saeSummary(cfg: Record<string, unknown>): Record<string, unknown> {
  const meta = (cfg.metadata ?? {}) as Record<string, unknown>;
  const own = (cfg.saelab ?? {}) as Record<string, unknown>;
  const pick: Record<string, unknown> = {
    architecture: cfg.architecture, d_in: cfg.d_in, d_sae: cfg.d_sae, k: cfg.k, l1_coefficient: own.l1_coefficient, seed: own.seed,
    normalize_activations: cfg.normalize_activations, model: meta.model_name, hook: meta.hook_name, context_size: meta.context_size,
    dataset: meta.dataset_path, training_tokens: meta.training_tokens, training_stream_tokens: meta.training_stream_tokens,
  };
  return Object.fromEntries(Object.entries(pick).filter(([, v]) => v !== undefined && v !== null));
}

/** Describe a safetensors file, a model folder or an SAE folder: its tensors and metadata. */
export async function inspectPath(path: string): Promise<InspectReport> {
  const st = await stat(path).catch(() => null);
  if (!st) throw new UsageError(`${path}: no such file or folder`);
  // An SAE folder: cfg.json with safetensors beside it and no model config.json (SAELens, sparsify).
  if (st.isDirectory() && existsSync(join(path, 'cfg.json')) && !existsSync(join(path, 'config.json'))) {
    let cfg: Record<string, unknown>;
    try {
      cfg = JSON.parse(await readFile(join(path, 'cfg.json'), 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new UsageError(`${join(path, 'cfg.json')}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
    }
    const tensors = await folderTensors(path);
    if (tensors.length === 0) throw new UsageError(`${path}: an SAE cfg.json but no .safetensors weights beside it`);
    return { path, kind: 'sae-folder', metadata: { cfg }, summary: saeSummary(cfg), tensors, parameters: count(tensors.filter((t) => t.file !== 'sparsity.safetensors')) };
  }
  if (st.isDirectory()) {
    const folder = await openHfFolder(path);
    try {
      const tensors = folder.weights.names().map((n) => {
        const i = folder.weights.info(n);
        return { name: n, dtype: i.dtype, shape: [...i.shape], file: i.file };
      });
      return { path, kind: 'hf-folder', metadata: { config: folder.config }, tensors, parameters: count(tensors) };
    } finally {
      await folder.close();
    }
  }
  const f = await SafetensorsFile.open(path);
  try {
    const tensors = f.names().map((n) => {
      const i = f.info(n);
      return { name: n, dtype: i.dtype, shape: [...i.shape] };
    });
    return { path, kind: 'safetensors', metadata: { ...(f.metadata ?? {}) }, tensors, parameters: count(tensors) };
  } finally {
    await f.close();
  }
}

/** The memory a model folder needs in `dtype` and what fits here (nothing loaded but the headers); `device` adds the GPU's limits. */
export async function inspectMemory(path: string, o: { modelDtype?: string; device?: string; contextSize: number; batchSize: number }): Promise<MemoryReport> {
  const st = await stat(path).catch(() => null);
  if (!st?.isDirectory() || !existsSync(join(path, 'config.json'))) throw new UsageError(`--memory: ${path} is not an HF model folder (config.json + safetensors)`);
  const { dtype: req } = loadOptionsFromFlags({ modelDtype: o.modelDtype });
  const folder = await openHfFolder(path);
  try {
    const cfg = parseHfConfig(folder.config, join(path, 'config.json'));
    const fileBytes: Record<string, number> = {};
    for (const n of folder.weights.names()) {
      const i = folder.weights.info(n);
      fileBytes[i.dtype] = (fileBytes[i.dtype] ?? 0) + i.byteLength;
    }
    const r = memoryReport(path, cfg, resolveDtype(req ?? 'float32', folder.weights), fileBytes, memoryAvailable(), { contextSize: o.contextSize, batchSize: o.batchSize });
    if (o.device !== undefined && o.device !== 'cpu') {
      const dev = await openDeviceFromFlag(o.device, true);
      try {
        if (dev.kind === 'webgpu') {
          const lim = (dev as WebGpuDevice).limits;
          const big = largestTensor(cfg);
          r.gpu = { adapter: dev.describe(), maxBufferSize: lim.maxBufferSize, maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize, largestTensor: big, fits: big.bytesF32 <= lim.maxBufferSize };
        }
      } finally {
        dev.destroy();
      }
    }
    return r;
  } finally {
    await folder.close();
  }
}

function printMemory(r: MemoryReport): void {
  const f = formatBytes;
  console.log(`${r.model}: ${r.parameters.toLocaleString('en-US')} parameters; files ${Object.entries(r.fileBytes).map(([d, b]) => `${f(b)} ${d}`).join(', ')}`);
  console.log(table(['dtype', 'weights', 'per block', 'top (embeddings, heads)', 'f32 scratch', 'streaming needs'], (['float32', 'bfloat16', 'float16'] as const).map((d) => {
    const w = r.weights[d];
    return [d + (d === r.dtype ? ' *' : ''), f(w.total), f(w.perLayer), f(w.top), f(w.scratch), f(w.streaming)];
  })));
  const a = r.activations;
  console.log(`activations (f32): ${f(a.perTokenToHook)}/token to a hook, ${f(a.perTokenToLogits)}/token to the logits; a batch of ${a.batchSize} × ${a.contextSize} tokens: ${f(a.perBatchToHook)} to a hook, ${f(a.perBatchToLogits)} to the logits`);
  console.log(`this machine: ${r.cpu.from} ${f(r.cpu.available)}: ${r.cpu.verdict}`);
  if (r.gpu) {
    console.log(`${r.gpu.adapter}: maxBufferSize ${f(r.gpu.maxBufferSize)}, maxStorageBufferBindingSize ${f(r.gpu.maxStorageBufferBindingSize)}; largest tensor ${r.gpu.largestTensor.name} is ${f(r.gpu.largestTensor.bytesF32)} in f32: ${r.gpu.fits ? 'fits one buffer' : 'over maxBufferSize: use --device cpu'}`);
  }
}

function count(ts: TensorRow[]): number {
  return ts.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
}

/** Register `saelab inspect`. */
export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('list the tensors (name, dtype, shape) and metadata of a .safetensors file, an HF model folder or an SAE folder (with its cfg.json summary)')
    .argument('<path>', 'a .safetensors file, a model folder (config.json + model.safetensors or shards) or an SAE folder (cfg.json + safetensors)')
    .option('--memory', 'for a model folder: the memory its weights and activations need, and what fits on this machine (nothing is loaded)')
    .addOption(modelDtypeOption())
    .option('--device <kind>', 'with --memory: also report this device\'s buffer limits (webgpu)')
    .option('--context-size <n>', 'with --memory: tokens per window for the activation estimate', intFlag('--context-size', 1), 128)
    .option('--batch-size <n>', 'with --memory: windows per forward for the activation estimate', intFlag('--batch-size', 1), 8)
    .option('--json', 'print JSON')
    .action(async (path: string, o: { json?: boolean; memory?: boolean; modelDtype: string; device?: string; contextSize: number; batchSize: number }) => {
      if (o.memory) {
        const m = await inspectMemory(path, o);
        emit(!!o.json, m, () => printMemory(m));
        return;
      }
      const r = await inspectPath(path);
      emit(!!o.json, r, () => {
        console.log(`${r.path} (${r.kind}): ${r.tensors.length} tensors, ${r.parameters.toLocaleString('en-US')} parameters`);
        if (r.summary) for (const [k, v] of Object.entries(r.summary)) console.log(`  ${k}: ${typeof v === 'number' ? v.toLocaleString('en-US') : String(v)}`);
        const files = r.kind === 'sae-folder';
        console.log(table(['name', 'dtype', 'shape', ...(files ? ['file'] : [])], r.tensors.map((t) => [t.name, t.dtype, `[${t.shape.join(', ')}]`, ...(files ? [t.file ?? ''] : [])])));
        if (r.kind === 'safetensors' && Object.keys(r.metadata).length) console.log(`metadata: ${JSON.stringify(r.metadata)}`);
      });
    });
}
