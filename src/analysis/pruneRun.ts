// `saelab prune` as a library function: is an SAE better pruned to a lower L0 (drop its most
// frequent latents) or retrained with a larger L1? Counts firings of the SAE on held-out windows,
// builds one pruned copy per target L0 (pruneSae.ts), and evaluates them together with any
// comparison SAEs (e.g. one `saelab train --l1s …` run) in one evalSaes pass: L0, CE loss
// recovered, KL, CE increase, per SAE, on the same tokens.

import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Device } from '../compute/device.js';
import type { Tensor } from '../compute/tensor.js';
import { lmWindows, loadSpec } from '../eval/evalRun.js';
import { batchOf, evalSaes, keptRows, reconstruct, type EvalSaeSpec } from '../eval/evalSae.js';
import type { PackedWindow } from '../data/packTokens.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import type { LoadOptions } from '../model/loadStore.js';
import { openModel } from '../model/openModel.js';
import type { Transformer } from '../model/transformer.js';
import { loadSae, type LoadedSae } from '../sae/saeFiles.js';
import { saeModelSpec } from '../sae/runSource.js';
import { defaultData, defaultModel } from '../sae/trainRun.js';
import { PerturbError } from './perturbation.js';
import { maskedSae, pruneForL0 } from './pruneSae.js';

export interface PruneRunOptions {
  device: Device;
  sae: string;
  /** Target L0s. */
  l0: number[];
  /** The hook of every SAE here; default: each SAE's metadata.hook_name. */
  hook?: string;
  /** SAEs of the same hook to compare with (e.g. trained with larger L1 coefficients). */
  compare?: string[];
  model?: string;
  data?: string;
  tokens: number;
  /** Stream tokens of the data to skip first (text the SAEs trained on), as `saelab eval --skip-tokens`. */
  skipTokens?: number;
  contextSize?: number;
  batchSize?: number;
  out: string;
  download?: boolean;
  /** How the model's weights are held (--model-dtype, --stream); default float32 in memory. */
  modelLoad?: LoadOptions;
  onProgress?: (done: number, total: number) => void;
  /** Draw the loss-recovered-vs-L0 plot (report/prunePlot.ts); omitted: JSON only. */
  plot?: (rows: PruneRow[]) => string;
}

/** One evaluated SAE: a pruned copy of the base, or a comparison SAE. */
export interface PruneRow {
  strategy: 'pruned' | 'compare';
  label: string;
  targetL0: number | null;
  removed: number | null;
  l0: number;
  ce_loss_recovered: number | null;
  kl_sae: number | null;
  ce_increase: number | null;
}

export interface PruneRunReport {
  model: string;
  data: string;
  hook: string;
  tokens: number;
  /** The unpruned SAE's own L0 on these tokens. */
  baseL0: number;
  rows: PruneRow[];
  json: string;
  plot: string | null;
  seconds: number;
}

/** Firing counts [dSae] of an SAE at its hook over the kept positions of `windows`. */
export async function firingCounts(model: Transformer, s: EvalSaeSpec, windows: PackedWindow[], batchSize: number): Promise<{ counts: Float64Array; tokens: number }> {
  const d = model.config.dModel;
  const counts = new Float64Array(s.cfg.dSae);
  let tokens = 0;
  for (let i = 0; i < windows.length; i += batchSize) {
    const { ids, keep, B, T } = batchOf(windows.slice(i, i + batchSize));
    const r = model.forward(ids, [B, T], { keep: [s.hook], stopAt: s.hook });
    const act = r.activations.get(s.hook)!;
    const x = (await act.read()) as Float32Array;
    act.dispose();
    const packed = keptRows(x, keep, d);
    const n = packed.length / d;
    const xt = model.device.fromArray(packed, [n, d]);
    const { f } = await reconstruct(s, xt);
    xt.dispose();
    const m = s.cfg.dSae;
    for (let t = 0; t < n; t++) for (let j = 0; j < m; j++) if (f[t * m + j]! > 0) counts[j]!++;
    tokens += n;
  }
  return { counts, tokens };
}

/** Run `saelab prune` (see the file comment). */
export async function pruneRun(o: PruneRunOptions): Promise<PruneRunReport> {
  const t0 = performance.now();
  if (o.l0.length === 0) throw new PerturbError('--l0: give at least one target L0');
  if (!(Number.isInteger(o.tokens) && o.tokens > 0)) throw new PerturbError(`--tokens must be a positive number of tokens (got ${o.tokens})`);
  const loaded: { spec: EvalSaeSpec; loaded: LoadedSae }[] = [];
  const masks: Tensor[] = [];
  let model: Transformer | null = null;
  try {
    const base = await loadSpec(o.sae, o.device, o.hook);
    loaded.push(base);
    for (const dir of o.compare ?? []) {
      const c = await loadSpec(dir, o.device, o.hook);
      if (c.spec.hook !== base.spec.hook) throw new PerturbError(`${dir}: the SAE is for ${c.spec.hook}, the pruned one for ${base.spec.hook}: compare SAEs of one hook`);
      loaded.push(c);
    }
    const spec = o.model ?? saeModelSpec(base.loaded.metadata) ?? defaultModel();
    const opened = await openModel(spec, o.device, { download: o.download ?? false, needTokenizer: true, load: o.modelLoad });
    model = opened.model;
    const data = o.data ?? defaultData();
    if (!data) throw new PerturbError('no --data given and the shared corpus is not here: pass --data FILE_OR_FOLDER');
    const dataPath = resolve(data);
    if (!existsSync(dataPath)) throw new PerturbError(`--data ${dataPath}: no such file or folder`);
    const contextSize = o.contextSize ?? Math.min(128, model.config.nCtx);
    const windows = await lmWindows(dataPath, opened.tokenizer!, { contextSize, prependBos: true, tokens: o.tokens, skip: o.skipTokens ?? 0, textField: 'text' });
    const batchSize = o.batchSize ?? 8;
    const { counts, tokens } = await firingCounts(model, base.spec, windows, batchSize);
    const choices = o.l0.map((x) => pruneForL0(counts, tokens, x));
    const specs: EvalSaeSpec[] = choices.map((c) => {
      const mask = o.device.fromArray(c.mask, [c.mask.length]);
      masks.push(mask);
      return { ...base.spec, label: `${base.spec.label} pruned to L0 ≤ ${c.targetL0}`, model: maskedSae(base.spec.model, mask) };
    });
    const report = await evalSaes({ model, saes: [...specs, ...loaded.slice(1).map((l) => l.spec)], windows, batchSize, onProgress: o.onProgress, checkErrorTerm: false });
    const rows: PruneRow[] = report.saes.map((r, i) => ({
      strategy: i < choices.length ? 'pruned' : 'compare',
      label: r.label,
      targetL0: i < choices.length ? choices[i]!.targetL0 : null,
      removed: i < choices.length ? choices[i]!.removed : null,
      l0: r.metrics.l0,
      ce_loss_recovered: r.metrics.ce_loss_recovered ?? null,
      kl_sae: r.metrics.kl_sae ?? null,
      ce_increase: r.metrics.ce_increase ?? null,
    }));
    const out = resolve(o.out);
    await mkdir(out, { recursive: true });
    let plot: string | null = null;
    if (o.plot) {
      plot = join(out, 'prune-loss-recovered.svg');
      await writeFileAtomic(plot, o.plot(rows));
    }
    let baseCount = 0;
    for (const c of counts) baseCount += c;
    const full: PruneRunReport = {
      model: existsSync(spec) ? resolve(spec) : spec, data: dataPath, hook: base.spec.hook, tokens, baseL0: baseCount / tokens, rows, json: join(out, 'prune.json'), plot,
      seconds: (performance.now() - t0) / 1000,
    };
    await writeFileAtomic(full.json, JSON.stringify(full, null, 2) + '\n');
    return full;
  } finally {
    model?.dispose();
    for (const m of masks) m.dispose();
    for (const l of loaded) for (const p of Object.values(l.loaded.params) as (Tensor | undefined)[]) p?.dispose();
  }
}
