// `saelab perturb` as a library function: open the model, expand the hook list, load SAEs, read
// evaluation windows from the data, run the sweep (perturbSweep.ts) and write the report: a JSON
// table and one SVG per hook plus the layer-robustness plot (report/ draws them; the caller
// passes the drawing functions in, since analysis/ sits below report/).

import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Device } from '../compute/device.js';
import { lmWindows } from '../eval/evalRun.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { parseHook } from '../model/hooks.js';
import type { Transformer } from '../model/transformer.js';
import { defaultData } from '../sae/trainRun.js';
import { logSpaced, PerturbError } from './perturbation.js';
import { perturbSweep, type HookPerturbResult, type PerturbPlan, type PerturbReport } from './perturbSweep.js';
import { disposeLoaded, loadSaeFolders, openRunModel, type LoadedSpec } from './runInputs.js';
import type { LoadOptions } from '../model/loadStore.js';

/** The hook kinds `all` expands to, per layer. */
export const PERTURB_HOOK_KINDS = ['hook_resid_pre', 'hook_attn_out', 'hook_mlp_out'] as const;

/** Default sweep: 1 − cos from 1e-4 to 0.5, 9 log-spaced points. */
export const DEFAULT_TARGETS = logSpaced(1e-4, 0.5, 9);

export interface PerturbRunOptions {
  device: Device;
  model?: string;
  data?: string;
  /** Hook names; `all` = resid_pre, attn_out and mlp_out of every layer; `blocks.*.hook_x` = hook_x of every layer. */
  hooks: string[];
  saes?: string[];
  tokens: number;
  /** Stream tokens of the data to skip first (text the SAEs trained on), as `saelab eval --skip-tokens`. */
  skipTokens?: number;
  contextSize?: number;
  batchSize?: number;
  seed?: number;
  targets?: number[];
  normRatio?: number;
  reference?: number;
  out: string;
  download?: boolean;
  /** How the model's weights are held (--model-dtype, --stream); default float32 in memory. */
  modelLoad?: LoadOptions;
  /** Called once before the first forward with the work ahead. */
  onPlan?: (plan: PerturbPlan) => void;
  /** Called after every model forward (done, total forwards). */
  onProgress?: (done: number, total: number) => void;
  /** Draw the plots (report/perturbPlot.ts); omitted: JSON only. */
  plots?: { curve: (h: HookPerturbResult) => string; robustness: (r: PerturbReport) => string };
}

export interface PerturbRunReport extends PerturbReport {
  model: string;
  data: string;
  contextSize: number;
  seconds: number;
  json: string;
  plots: string[];
}

/** Expand `all` and `blocks.*.` patterns into hook names (validated against the model), in order, without repeats. */
export function expandHooks(model: Transformer, hooks: readonly string[]): string[] {
  const out: string[] = [];
  const L = model.config.nLayers;
  for (const h of hooks) {
    const names = h === 'all' ? Array.from({ length: L }, (_, l) => PERTURB_HOOK_KINDS.map((k) => `blocks.${l}.${k}`)).flat()
      : h.startsWith('blocks.*.') ? Array.from({ length: L }, (_, l) => `blocks.${l}.${h.slice('blocks.*.'.length)}`)
      : [h];
    for (const n of names) {
      parseHook(n, model.config);
      if (!out.includes(n)) out.push(n);
    }
  }
  return out;
}

/** Run `saelab perturb` (see the file comment). */
export async function perturbRun(o: PerturbRunOptions): Promise<PerturbRunReport> {
  const t0 = performance.now();
  if (!(Number.isInteger(o.tokens) && o.tokens > 0)) throw new PerturbError(`--tokens must be a positive number of tokens (got ${o.tokens})`);
  if (o.hooks.length === 0) throw new PerturbError('--hooks: give at least one hook (or all)');
  const loaded: LoadedSpec[] = [];
  let model: Transformer | null = null;
  try {
    await loadSaeFolders(o.saes ?? [], o.device, loaded);
    const opened = await openRunModel(o.model, loaded, o.device, o.download ?? false, o.modelLoad);
    const spec = opened.spec;
    model = opened.model;
    const hooks = expandHooks(model, o.hooks);
    for (const l of loaded) if (!hooks.includes(l.spec.hook)) throw new PerturbError(`${l.spec.path}: the SAE is for ${l.spec.hook}, which is not among --hooks (${hooks.join(', ')})`);
    const data = o.data ?? defaultData();
    if (!data) throw new PerturbError('no --data given and the shared corpus is not here: pass --data FILE_OR_FOLDER');
    const dataPath = resolve(data);
    if (!existsSync(dataPath)) throw new PerturbError(`--data ${dataPath}: no such file or folder`);
    const contextSize = o.contextSize ?? Math.min(64, model.config.nCtx);
    if (contextSize < 2 || contextSize > model.config.nCtx) throw new PerturbError(`--context-size must be in [2, ${model.config.nCtx}] (got ${contextSize})`);
    const windows = await lmWindows(dataPath, opened.tokenizer, { contextSize, prependBos: true, tokens: o.tokens, skip: o.skipTokens ?? 0, textField: 'text' });
    const report = await perturbSweep({
      model, hooks, windows, oneMinusCos: o.targets ?? DEFAULT_TARGETS, normRatio: o.normRatio, saes: loaded.map((l) => l.spec),
      seed: o.seed, batchSize: o.batchSize, reference: o.reference, onPlan: o.onPlan, onProgress: o.onProgress,
    });
    const out = resolve(o.out);
    await mkdir(out, { recursive: true });
    const plots: string[] = [];
    if (o.plots) {
      for (const h of report.hooks) {
        const p = join(out, `perturb-${h.hook.replace(/[^A-Za-z0-9_.-]+/g, '_')}.svg`);
        await writeFileAtomic(p, o.plots.curve(h));
        plots.push(p);
      }
      const p = join(out, 'perturb-robustness.svg');
      await writeFileAtomic(p, o.plots.robustness(report));
      plots.push(p);
    }
    const full: PerturbRunReport = { model: existsSync(spec) ? resolve(spec) : spec, data: dataPath, contextSize, ...report, seconds: (performance.now() - t0) / 1000, json: join(out, 'perturb.json'), plots };
    await writeFileAtomic(full.json, JSON.stringify(full, null, 2) + '\n');
    return full;
  } finally {
    model?.dispose();
    disposeLoaded(loaded);
  }
}
