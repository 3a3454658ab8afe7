// `--init-from DIR`: every SAE of a run starts from one existing SAE folder (e.g. a local SAE to be
// fine-tuned end to end). The folder must match the run (architecture, d_in, d_sae, hook), and its
// normalisation factor is kept so its weights mean what they meant; cfg.json records the lineage.

import { resolve } from 'node:path';
import type { Device } from '../compute/device.js';
import { loadSae } from './saeFiles.js';
import { foldNormScaling } from './saelensCompat.js';
import { TrainRunError } from './trainOptions.js';
import type { SaeConfig, SaeParams } from './types.js';

/** The starting point of a warm start, checked against the run. */
export interface WarmStart {
  dir: string;
  /** Its normalisation factor, when it normalises inputs. */
  factor?: number;
  /** What cfg.json's metadata records as `init_from`. */
  lineage: Record<string, unknown>;
  /** A fresh copy of its parameters for one SAE of the run. */
  params(device: Device): Promise<SaeParams>;
}

/** Open `dir` and check it fits every config of the run (a TrainRunError naming the mismatch). */
export async function openWarmStart(dir: string, cfgs: readonly SaeConfig[], hook: string, device: Device): Promise<WarmStart> {
  const abs = resolve(dir);
  // Training is deterministic after the initialisation, so seeds that only differ in it would train
  // identical copies: refuse rather than spend the compute (ks or l1s may still differ).
  const seeds = [...new Set(cfgs.map((c) => c.seed))];
  if (seeds.length > 1) throw new TrainRunError(`--init-from starts every SAE from one folder, so --seeds ${seeds.join(',')} would train identical copies; give one seed`);
  const first = await loadSae(abs, device).catch((e: Error) => {
    throw new TrainRunError(`--init-from ${abs}: ${e.message}`);
  });
  const c = first.cfg;
  // Folders hold their input scaling s folded into the weights (SAELens layout); a run that
  // normalises trains unfolded weights on s·x, so the warm start unfolds them and keeps s.
  const folded = first.foldedNormScalingFactor;
  const normalizes = folded !== undefined || c.normalizeActivations !== 'none';
  const scaling = folded !== undefined ? 'expected_average_only_in' : c.normalizeActivations;
  const dispose = () => Object.values(first.params).forEach((t) => t?.dispose());
  try {
    const hookOf = first.metadata.hook_name;
    if (hookOf && hookOf !== hook) throw new TrainRunError(`--init-from ${abs}: its SAE was trained at ${hookOf}, this run trains at ${hook}`);
    for (const cfg of cfgs) {
      if (c.architecture !== cfg.architecture) throw new TrainRunError(`--init-from ${abs}: a ${c.architecture} SAE, this run trains ${cfg.architecture} (--arch)`);
      if (c.dIn !== cfg.dIn) throw new TrainRunError(`--init-from ${abs}: d_in ${c.dIn}, the hook ${hook} has ${cfg.dIn}`);
      if (c.dSae !== cfg.dSae) throw new TrainRunError(`--init-from ${abs}: d_sae ${c.dSae}, this run trains d_sae ${cfg.dSae} (--d-sae)`);
      if (normalizes !== (cfg.normalizeActivations !== 'none')) throw new TrainRunError(`--init-from ${abs}: normalize_activations ${scaling}, this run uses ${cfg.normalizeActivations}${normalizes ? '' : ' (--no-normalize to match)'}`);
    }
  } finally {
    dispose();
  }
  const objective = (first.metadata.training_objective as { loss?: string } | undefined)?.loss ?? 'local';
  const out: WarmStart = {
    dir: abs,
    lineage: { path: abs, architecture: c.architecture, objective, ...(first.metadata.init_from ? { init_from: first.metadata.init_from } : {}) },
    params: async (dev) => {
      const p = (await loadSae(abs, dev)).params;
      if (folded === undefined) return p;
      const host = { W_enc: await p.W_enc.read(), b_enc: await p.b_enc.read(), W_dec: await p.W_dec.read(), b_dec: await p.b_dec.read() } as Record<'W_enc' | 'b_enc' | 'W_dec' | 'b_dec', Float32Array>;
      const u = foldNormScaling(host, 1 / folded);
      const shapes = { W_enc: p.W_enc.shape, b_enc: p.b_enc.shape, W_dec: p.W_dec.shape, b_dec: p.b_dec.shape };
      for (const k of ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const) p[k].dispose();
      return { ...p, W_enc: dev.fromArray(u.W_enc, shapes.W_enc), b_enc: dev.fromArray(u.b_enc, shapes.b_enc), W_dec: dev.fromArray(u.W_dec, shapes.W_dec), b_dec: dev.fromArray(u.b_dec, shapes.b_dec) };
    },
  };
  if (folded !== undefined) out.factor = folded;
  return out;
}
