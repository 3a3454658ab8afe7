// `saelab inspect PATH`: list the tensors of a safetensors file, an HF model folder or an SAE folder
// (name, dtype, shape), with the metadata or the SAE's cfg.json summary — the first look at any SAE
// or model file.

import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { openHfFolder } from '../../io/hfFolder.js';
import { SafetensorsFile } from '../../io/safetensors.js';
import { UsageError } from '../errors.js';
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

function count(ts: TensorRow[]): number {
  return ts.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
}

/** Register `saelab inspect`. */
export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('list the tensors (name, dtype, shape) and metadata of a .safetensors file, an HF model folder or an SAE folder (with its cfg.json summary)')
    .argument('<path>', 'a .safetensors file, a model folder (config.json + model.safetensors or shards) or an SAE folder (cfg.json + safetensors)')
    .option('--json', 'print JSON')
    .action(async (path: string, o: { json?: boolean }) => {
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
