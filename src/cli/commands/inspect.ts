// `saelab inspect PATH`: list the tensors of a safetensors file or an HF model folder (name, dtype,
// shape), with the metadata — the first look at any SAE or model file.

import { stat } from 'node:fs/promises';
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

/** Describe a safetensors file or model folder: its tensors and metadata. */
export async function inspectPath(path: string): Promise<{ path: string; kind: 'safetensors' | 'hf-folder'; metadata: Record<string, unknown>; tensors: TensorRow[]; parameters: number }> {
  const st = await stat(path).catch(() => null);
  if (!st) throw new UsageError(`${path}: no such file or folder`);
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
    .description('list the tensors (name, dtype, shape) and metadata of a .safetensors file or an HF model folder')
    .argument('<path>', 'a .safetensors file or a folder with config.json and model.safetensors (or shards)')
    .option('--json', 'print JSON')
    .action(async (path: string, o: { json?: boolean }) => {
      const r = await inspectPath(path);
      emit(!!o.json, r, () => {
        console.log(`${r.path} (${r.kind}): ${r.tensors.length} tensors, ${r.parameters.toLocaleString('en-US')} parameters`);
        console.log(table(['name', 'dtype', 'shape'], r.tensors.map((t) => [t.name, t.dtype, `[${t.shape.join(', ')}]`])));
        if (r.kind === 'safetensors' && Object.keys(r.metadata).length) console.log(`metadata: ${JSON.stringify(r.metadata)}`);
      });
    });
}
