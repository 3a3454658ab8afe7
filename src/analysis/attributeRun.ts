// `saelab attribute` as a library function: open the reward model and the SAEs (each at the hook
// its cfg.json names, and only on the model it was trained on), then either attribute a pair set
// (rewardPairSet.ts) or two completions (rewardTwo.ts), write attribution.json and the plots into
// `out` (report/ draws them; the caller passes the drawing functions in, since analysis/ sits below
// report/), and record the run in the workspace database (rewardDb.ts).

import { saeModelSpec } from '../sae/runSource.js';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Device } from '../compute/device.js';
import type { Tensor } from '../compute/tensor.js';
import { loadSpec } from '../eval/evalRun.js';
import { EvalError } from '../eval/errors.js';
import { loadPairRecords, parsePairsSpec } from '../eval/pairData.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { openWorkspaceDb, workspaceDbPath } from '../io/workspaceDb.js';
import type { LoadOptions } from '../model/loadStore.js';
import { openModel } from '../model/openModel.js';
import type { Transformer } from '../model/transformer.js';
import type { LoadedSae } from '../sae/saeFiles.js';
import type { AttributionSae } from './rewardAttribution.js';
import { insertAttributionRun, type AttributionDbFeature } from './rewardDb.js';
import { attributePairSet, type PairSetOptions, type PairSetReport } from './rewardPairSet.js';
import { attributeTwo, type TwoReport } from './rewardTwo.js';

export interface AttributeRunOptions {
  device: Device;
  /** SAE folders (SAELens, sparsify or dictionary_learning); each names its hook in cfg.json. */
  saes: string[];
  /** Reward model; default: the first SAE's metadata.model_name. */
  model?: string;
  /** Pair ranges `FILE[:start-end]` (one split each); or the two-completion fields below. */
  pairs?: string[];
  prompt?: string;
  a?: string;
  b?: string;
  baseline?: string;
  /** Label the report as a counterfactual edit (a = original, b = edited). */
  edit?: boolean;
  /** Use SAEs whose metadata names another model (same width). */
  anyModel?: boolean;
  top?: number;
  batchPairs?: number;
  exactTop?: number;
  exactRandom?: number;
  exactPairs?: number;
  highFrequency?: number;
  duplicateCosine?: number;
  seed?: number;
  out: string;
  /** Workspace database; default `<folder of the first SAE>/saelab.db`; null: none. */
  db?: string | null;
  download?: boolean;
  /** How the model's weights are held (--model-dtype, --stream); default float32 in memory. */
  modelLoad?: LoadOptions;
  onProgress?: (done: number, total: number) => void;
  plots?: AttributePlots;
}

/** The drawing functions (report/rewardPlots.ts): file name → SVG text. */
export interface AttributePlots {
  pairs: (r: PairSetReport) => Record<string, string>;
  two: (r: TwoReport, edit: boolean) => Record<string, string>;
}

/** What attribution.json and the workspace DB hold of a run (the web UI reads it back). */
export interface AttributionReport {
  mode: 'pairs' | 'two';
  edit: boolean;
  model: string;
  saes: { label: string; hook: string; path: string }[];
  pairs?: PairSetReport;
  two?: TwoReport;
}

export interface AttributeRunReport extends AttributionReport {
  seconds: number;
  json: string;
  plots: string[];
  db: string | null;
  runId: number | null;
}

/** Load SAE folders for attribution: specs with host copies of W_dec and b_dec; SAEs from another model are refused. */
export async function loadAttributionSaes(dirs: string[], device: Device, modelPath: string | null, anyModel: boolean): Promise<{ saes: AttributionSae[]; loaded: LoadedSae[] }> {
  const saes: AttributionSae[] = [];
  const loaded: LoadedSae[] = [];
  for (const dir of dirs) {
    const { spec, loaded: l } = await loadSpec(dir, device, undefined);
    loaded.push(l);
    const named = saeModelSpec(l.metadata); // its model's local folder when it is here
    if (modelPath && !anyModel && named !== undefined && existsSync(named) && resolve(named) !== resolve(modelPath)) {
      throw new EvalError(`${dir}: this SAE was trained on ${named}, not on ${modelPath} (pass --any-model to use it anyway)`);
    }
    const wDec = ((await l.params.W_dec.read()) as Float32Array).slice();
    const bDec = ((await l.params.b_dec.read()) as Float32Array).slice();
    const s: AttributionSae = { label: spec.label, hook: spec.hook, cfg: spec.cfg, model: spec.model, wDec, bDec, path: dir };
    if (spec.normScalingFactor !== undefined) s.normScalingFactor = spec.normScalingFactor;
    if (l.sparsity) s.sparsity = l.sparsity;
    saes.push(s);
  }
  // Folder names label the SAEs; two with one name get their parent's too (L3/topk-k32-s0).
  const relabel = (next: (s: AttributionSae) => string) => {
    const dup = saes.map((s) => saes.filter((q) => q.label === s.label).length > 1);
    saes.forEach((s, i) => dup[i] && (s.label = next(s)));
  };
  relabel((s) => `${basename(dirname(s.path!))}/${basename(s.path!)}`);
  relabel((s) => s.path!);
  return { saes, loaded };
}

/** Run an attribution (see the file comment). */
export async function attributeRun(o: AttributeRunOptions): Promise<AttributeRunReport> {
  const t0 = performance.now();
  if (o.saes.length === 0) throw new EvalError('no --sae given');
  const two = o.a !== undefined || o.b !== undefined;
  if (two && o.pairs?.length) throw new EvalError('give --pairs (a pair set) or --a/--b (two completions), not both');
  if (!two && !o.pairs?.length) throw new EvalError('give --pairs FILE[:start-end] or --a TEXT --b TEXT');
  if (two && (o.a === undefined || o.b === undefined)) throw new EvalError('two completions need both --a and --b');
  if (!two && (o.baseline !== undefined || o.edit)) throw new EvalError('--baseline and --edit go with --a/--b');
  const dirs = o.saes.map((d) => resolve(d));
  for (const d of dirs) if (!existsSync(d)) throw new EvalError(`--sae ${d}: no such folder`);
  let model: Transformer | null = null;
  let loaded: LoadedSae[] = [];
  try {
    // The model: the flag, else the first SAE's metadata.
    let spec = o.model;
    if (!spec) {
      const first = await loadSpec(dirs[0]!, o.device, undefined);
      for (const p of Object.values(first.loaded.params) as (Tensor | undefined)[]) p?.dispose();
      const named = saeModelSpec(first.loaded.metadata);
      if (named === undefined) throw new EvalError(`${dirs[0]}: the SAE's cfg.json names no model that is here (metadata.model_name ${JSON.stringify(first.loaded.metadata.model_name)}): pass --model`);
      spec = named;
    }
    const opened = await openModel(spec, o.device, { download: o.download ?? false, needTokenizer: true, load: o.modelLoad });
    model = opened.model;
    const tok = opened.tokenizer!;
    const r = await loadAttributionSaes(dirs, o.device, opened.path, o.anyModel ?? false);
    loaded = r.loaded;
    const saes = r.saes;
    const modelName = existsSync(spec) ? resolve(spec) : spec;
    const outDir = resolve(o.out);
    await mkdir(outDir, { recursive: true });

    let pairs: PairSetReport | undefined;
    let twoR: TwoReport | undefined;
    let config: Record<string, unknown>;
    if (two) {
      twoR = await attributeTwo({ model, tokenizer: tok, saes, prompt: o.prompt ?? '', a: o.a!, b: o.b!, baseline: o.baseline, exactTop: o.exactTop, highFrequency: o.highFrequency });
      config = { mode: 'two', edit: o.edit ?? false, prompt: o.prompt ?? '', a: o.a, b: o.b, baseline: o.baseline ?? null };
    } else {
      const splits = [];
      for (const s of o.pairs!) {
        const range = parsePairsSpec(s);
        range.file = resolve(range.file);
        if (!existsSync(range.file)) throw new EvalError(`--pairs ${s}: no such file`);
        splits.push({ label: s, pairs: await loadPairRecords(range) });
      }
      const po: PairSetOptions = {
        model, tokenizer: tok, saes, splits, batchPairs: o.batchPairs, top: o.top, exactTop: o.exactTop, exactRandom: o.exactRandom, exactPairs: o.exactPairs,
        highFrequency: o.highFrequency, duplicateCosine: o.duplicateCosine, seed: o.seed, onProgress: o.onProgress,
      };
      pairs = await attributePairSet(po);
      config = { mode: 'pairs', pairs: o.pairs, top: o.top ?? 30, exactTop: o.exactTop ?? 8, exactRandom: o.exactRandom ?? 8, exactPairs: o.exactPairs ?? 16, seed: o.seed ?? 0 };
    }
    config = { ...config, model: modelName, saes: dirs, device: o.device.kind };
    const mode = two ? 'two' : 'pairs';
    const report: AttributionReport & { config: unknown } = { mode, edit: o.edit ?? false, model: modelName, saes: saes.map((s) => ({ label: s.label, hook: s.hook, path: s.path! })), config, pairs, two: twoR };
    const json = join(outDir, 'attribution.json');
    const plots: string[] = [];
    const svgs = o.plots ? (two ? o.plots.two(twoR!, o.edit ?? false) : o.plots.pairs(pairs!)) : {};
    for (const [name, svg] of Object.entries(svgs)) {
      const f = join(outDir, name);
      await writeFileAtomic(f, svg);
      plots.push(f);
    }
    await writeFileAtomic(json, JSON.stringify(report, null, 1) + '\n');

    let dbPath: string | null = null;
    let runId: number | null = null;
    if (o.db !== null) {
      dbPath = resolve(o.db ?? workspaceDbPath(dirname(dirs[0]!)));
      const db = openWorkspaceDb(dbPath);
      try {
        runId = insertAttributionRun(db, {
          model: modelName, mode, config, report,
          saes: saes.map((s, k) => ({ path: s.path ?? null, label: s.label, architecture: s.cfg.architecture, dIn: s.cfg.dIn, dSae: s.cfg.dSae, hook: s.hook, cfg: s.cfg, features: dbFeatures(pairs, twoR, k) })),
        }).runId;
      } finally {
        db.close();
      }
    }
    return { mode, edit: o.edit ?? false, model: modelName, saes: report.saes, pairs, two: twoR, seconds: (performance.now() - t0) / 1000, json, plots, db: dbPath, runId };
  } finally {
    model?.dispose();
    for (const l of loaded) for (const p of Object.values(l.params) as (Tensor | undefined)[]) p?.dispose();
  }
}

/** The stored feature rows of SAE k. */
function dbFeatures(pairs: PairSetReport | undefined, two: TwoReport | undefined, k: number): AttributionDbFeature[] {
  if (pairs) {
    return pairs.saes[k]!.top.map((f) => {
      const dup = f.nearest.find((n) => n.duplicate);
      return { feature: f.feature, effect: f.meanEffect, absEffect: f.meanAbsEffect, signConsistency: f.signConsistency, firingFrequency: f.firingFrequency, highFrequency: f.highFrequency, duplicateOf: dup ? `${dup.sae}:${dup.feature}@${dup.cosine.toFixed(3)}` : null };
    });
  }
  return two!.saes[k]!.features.slice(0, 100).map((f) => ({ feature: f.feature, effect: f.effect, absEffect: Math.abs(f.effect), signConsistency: null, firingFrequency: f.firingFrequency ?? null, highFrequency: f.highFrequency ?? false, duplicateOf: null }));
}
