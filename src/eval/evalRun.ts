// `saelab eval` as a library function: open the model, load the SAE folders, read held-out windows
// from the data (skipping `skipTokens` stream tokens first), evaluate every SAE in one pass
// (evalSae.ts) and record the result in the workspace database (evalDb.ts). Plots are drawn by
// the caller (report/ sits above eval/).
//
// A reward model (classifier head) is evaluated on preference pairs (JSONL {chosen, rejected},
// optionally .gz): each text is tokenized, its last `contextSize` tokens kept (the reward is read at
// the end), and padded on the right; padding is excluded from the metrics.

import { existsSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Device } from '../compute/device.js';
import { packTokens, skipStreamTokens, type PackedWindow } from '../data/packTokens.js';
import { readDocuments } from '../data/textSource.js';
import { checkWorkspaceDb, openWorkspaceDb, workspaceDbPath } from '../io/workspaceDb.js';
import type { LoadOptions } from '../model/loadStore.js';
import { openModel } from '../model/openModel.js';
import type { Tokenizer } from '../model/tokenizers/index.js';
import type { Transformer } from '../model/transformer.js';
import { saeModelSpec } from '../sae/runSource.js';
import { loadSae, type LoadedSae } from '../sae/saeFiles.js';
import { defaultData, defaultModel } from '../sae/trainRun.js';
import type { Tensor } from '../compute/tensor.js';
import { insertEvalRun } from './evalDb.js';
import { checkSaeFitsModel, EVAL_BATCH_SIZE, evalSaes, type EvalReport, type EvalSaeSpec, type SaeEvalResult } from './evalSae.js';
import { downstreamErrors, type DownstreamErrorRow } from './downstreamError.js';
import { downstreamHooks } from '../sae/e2eObjective.js';
import { EvalError } from './errors.js';
import { readPairTexts, rewardWindow } from '../data/preferencePairs.js';

export interface EvalRunOptions {
  device: Device;
  /** SAE folders (SAELens, sparsify or dictionary_learning). */
  saes: string[];
  /** Model spec; default: the first SAE's model when it is on this machine (saeModelSpec), else the shared gpt2-corpus-tiny. */
  model?: string;
  /** Text corpus (LM) or preference pairs JSONL (reward model); default: the shared corpus. */
  data?: string;
  /** Hook for every SAE; default: each SAE's metadata.hook_name. */
  hook?: string;
  /** Evaluated tokens wanted (whole windows: at least this many). */
  tokens: number;
  /** Stream tokens to skip before the evaluation windows (text the SAEs trained on). */
  skipTokens?: number;
  /** Tokens per window; default: the first SAE's metadata.context_size, else 128 (at most the model's context). */
  contextSize?: number;
  batchSize?: number;
  denseThreshold?: number;
  prependBos?: boolean;
  textField?: string;
  /** Workspace database; default `<folder of the first SAE>/saelab.db`; null: record nothing. */
  db?: string | null;
  download?: boolean;
  /** How the model's weights are held (--model-dtype, --stream); default float32 in memory. */
  modelLoad?: LoadOptions;
  /**
   * Also the reconstruction error at later residual hooks with each SAE spliced in (`--downstream`:
   * all, next, next:N, or hook names; see e2e training's terms): metrics `downstream_*:<hook>`.
   */
  downstream?: string;
  onProgress?: (batchesDone: number, batches: number) => void;
}

/** An SAE's result with its downstream rows (the SAE's own hook first) when asked for. */
export type EvalRunSae = SaeEvalResult & { downstream?: DownstreamErrorRow[] };

export interface EvalRunReport extends Omit<EvalReport, 'saes'> {
  saes: EvalRunSae[];
  model: string;
  data: string;
  skipTokens: number;
  seconds: number;
  db: string | null;
  runId: number | null;
}

/** Load an SAE folder and fix its hook (the flag, else its metadata), as an EvalSaeSpec. */
export async function loadSpec(dir: string, device: Device, hookFlag: string | undefined): Promise<{ spec: EvalSaeSpec; loaded: LoadedSae }> {
  const loaded = await loadSae(dir, device);
  const hook = hookFlag ?? (typeof loaded.metadata.hook_name === 'string' ? loaded.metadata.hook_name : undefined);
  if (!hook) throw new EvalError(`${dir}: the SAE's cfg.json names no hook (metadata.hook_name): pass --hook (eval, prune) or add metadata.hook_name to cfg.json`);
  const spec: EvalSaeSpec = { label: basename(dir), path: dir, cfg: loaded.cfg, model: loaded.model, hook };
  if (loaded.normScalingFactor !== undefined) spec.normScalingFactor = loaded.normScalingFactor;
  return { spec, loaded };
}

/** Evaluation windows of an LM: packed windows after `skip` stream tokens, until `tokens` evaluated tokens. */
export async function lmWindows(data: string, tok: Tokenizer, o: { contextSize: number; prependBos: boolean; tokens: number; skip: number; textField: string }): Promise<PackedWindow[]> {
  const out: PackedWindow[] = [];
  let kept = 0;
  const body = o.contextSize - (o.prependBos ? 1 : 0);
  const docs = readDocuments(data, { textField: o.textField, docSeparator: '<|endoftext|>' });
  for await (const w of skipStreamTokens(packTokens(docs, tok, { contextSize: o.contextSize, prependBos: o.prependBos }), o.skip, body)) {
    out.push(w);
    for (let t = 0; t < w.exclude.length; t++) if (!w.exclude[t]) kept++;
    if (kept >= o.tokens) break;
  }
  if (out.length === 0) throw new EvalError(`${data}: zero evaluation tokens (the data has no ${o.contextSize}-token window${o.skip > 0 ? ` after skipping ${o.skip} tokens` : ''})`);
  return out;
}

/** A reward model's windows: (chosen, rejected) per pair, last contextSize tokens, right-padded; until `tokens` evaluated tokens. */
async function rewardWindows(data: string, tok: Tokenizer, model: Transformer, o: { contextSize: number; tokens: number; skip: number }): Promise<PackedWindow[]> {
  const pad = model.config.padTokenId ?? tok.eosId;
  if (pad === null) throw new EvalError('the reward model has no pad token id and the tokenizer no EOS: cannot pad pairs');
  const out: PackedWindow[] = [];
  let kept = 0;
  let skipped = 0;
  for await (const p of readPairTexts(data)) {
    if (skipped < o.skip) {
      skipped++;
      continue;
    }
    const a = rewardWindow(tok, p.chosen, o.contextSize, pad);
    const b = rewardWindow(tok, p.rejected, o.contextSize, pad);
    if (!a || !b) continue; // an empty text has no token to read a reward at
    out.push(a, b);
    for (const w of [a, b]) for (let t = 0; t < w.exclude.length; t++) if (!w.exclude[t]) kept++;
    if (kept >= o.tokens) break;
  }
  if (out.length === 0) throw new EvalError(`${data}: zero evaluation tokens (no preference pair${o.skip > 0 ? ` after skipping ${o.skip}` : ''})`);
  return out;
}

/** Run an evaluation (see the file comment). */
export async function evalRun(o: EvalRunOptions): Promise<EvalRunReport> {
  const t0 = performance.now();
  if (o.saes.length === 0) throw new EvalError('no --sae given');
  if (!(Number.isInteger(o.tokens) && o.tokens > 0)) throw new EvalError(`--tokens must be a positive number of evaluation tokens (got ${o.tokens})`);
  const dirs = o.saes.map((d) => resolve(d));
  const loaded: { spec: EvalSaeSpec; loaded: LoadedSae }[] = [];
  let model: Transformer | null = null;
  try {
    for (const d of dirs) loaded.push(await loadSpec(d, o.device, o.hook));
    // The database is written after the whole evaluation: check it can be, first.
    if (o.db !== null) checkWorkspaceDb(resolve(o.db ?? workspaceDbPath(dirname(dirs[0]!))));
    // Folder names label the SAEs; two with one name (L2/topk-k16-s0, L4/topk-k16-s0) get their parent's too.
    for (const l of loaded) if (loaded.filter((m) => m.spec.label === l.spec.label).length > 1) l.spec.label = `${basename(dirname(l.spec.path!))}/${basename(l.spec.path!)}`;
    const meta = loaded[0]!.loaded.metadata;
    const spec = o.model ?? saeModelSpec(meta) ?? defaultModel();
    const opened = await openModel(spec, o.device, { download: o.download ?? false, needTokenizer: true, load: o.modelLoad });
    model = opened.model;
    const tok = opened.tokenizer!;
    // Check every SAE against the model before reading any data: a wrong SAE fails fast.
    for (const l of loaded) checkSaeFitsModel(model, l.spec);
    const downstreamOf = new Map<EvalSaeSpec, string[]>();
    if (o.downstream !== undefined) {
      for (const l of loaded) {
        try {
          downstreamOf.set(l.spec, downstreamHooks(o.downstream, l.spec.hook, model));
        } catch (e) {
          throw new EvalError(`${l.spec.label}: ${(e as Error).message}`);
        }
      }
    }
    const head = model.config.head;
    const data = o.data ?? defaultData();
    if (!data) throw new EvalError('no --data given and the shared corpus ../shared/assets/corpora/mixed-public-domain.txt.xz is not here: pass --data FILE_OR_FOLDER');
    const dataPath = resolve(data);
    if (!existsSync(dataPath)) throw new EvalError(`--data ${dataPath}: no such file or folder`);
    const metaCtx = typeof meta.context_size === 'number' ? meta.context_size : 128;
    const contextSize = o.contextSize ?? Math.min(metaCtx, model.config.nCtx);
    if (contextSize > model.config.nCtx) throw new EvalError(`--context-size ${contextSize} is longer than the model's context of ${model.config.nCtx} tokens`);
    if (contextSize < 2) throw new EvalError(`--context-size must be at least 2 (got ${contextSize})`);
    const skip = o.skipTokens ?? 0;
    const windows = head === 'lm'
      ? await lmWindows(dataPath, tok, { contextSize, prependBos: o.prependBos ?? true, tokens: o.tokens, skip, textField: o.textField ?? 'text' })
      : await rewardWindows(dataPath, tok, model, { contextSize, tokens: o.tokens, skip });
    const report: Omit<EvalReport, 'saes'> & { saes: EvalRunSae[] } = await evalSaes({ model, saes: loaded.map((l) => l.spec), windows, pairs: head !== 'lm', batchSize: o.batchSize, denseThreshold: o.denseThreshold, onProgress: o.onProgress });
    if (o.downstream !== undefined) {
      const down = await downstreamErrors({ model, saes: loaded.map((l) => l.spec), windows, hooksOf: (s) => downstreamOf.get(s)!, batchSize: o.batchSize });
      down.forEach((d, i) => (report.saes[i]!.downstream = d.rows));
    }

    const modelName = existsSync(spec) ? resolve(spec) : spec;
    let dbPath: string | null = null;
    let runId: number | null = null;
    if (o.db !== null) {
      dbPath = resolve(o.db ?? workspaceDbPath(dirname(dirs[0]!)));
      const db = openWorkspaceDb(dbPath);
      try {
        const config = { saes: dirs, model: modelName, data: dataPath, hook: o.hook ?? null, downstream: o.downstream ?? null, tokens: o.tokens, evaluatedTokens: report.tokens, windows: report.windows, skipTokens: skip, contextSize, batchSize: o.batchSize ?? EVAL_BATCH_SIZE, device: o.device.kind };
        runId = insertEvalRun(db, {
          model: modelName, config,
          saes: report.saes.map((s) => ({ path: s.path, label: s.label, architecture: s.architecture, dIn: s.dIn, dSae: s.dSae, hook: s.hook, cfg: s.cfg, metrics: { ...(s.metrics as unknown as Record<string, number>), error_term_max_abs_diff: s.checks.error_term_max_abs_diff, ...downstreamMetrics(s.downstream) } })),
        }).runId;
      } finally {
        db.close();
      }
    }
    return { ...report, model: modelName, data: dataPath, skipTokens: skip, seconds: (performance.now() - t0) / 1000, db: dbPath, runId };
  } finally {
    model?.dispose();
    for (const l of loaded) for (const p of Object.values(l.loaded.params) as (Tensor | undefined)[]) p?.dispose();
  }
}

/** The downstream rows as metrics: `downstream_relative_error:<hook>` and `downstream_fvu:<hook>` per later hook (docs/metrics.md). */
export function downstreamMetrics(rows: DownstreamErrorRow[] | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of (rows ?? []).slice(1)) {
    out[`downstream_relative_error:${r.hook}`] = r.relative_error;
    out[`downstream_fvu:${r.hook}`] = r.fvu;
  }
  return out;
}
