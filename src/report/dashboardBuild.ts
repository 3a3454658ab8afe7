// `saelab dashboard` as a library function: one pass of the model over N tokens of a corpus, the
// SAE's feature activations at its hook, per-feature statistics (dashboardStats.ts), then the
// weight-only parts (dashboardLogits.ts), written to the workspace database (io/dashboardDb.ts).
//
//   corpus → tokenize + pack (the SAE's context size, BOS per window) → batches of windows
//   → model forward, stopping at the hook → × norm_scaling_factor → SAE encode → f [rows, dSae]
//   → DashboardStats.add (top-k heaps, reservoirs, histograms, density)
//   → checkpoint every `checkpointEvery` windows (resume: skip the windows it counted, no forward)
//   → logit effects + decoder neighbours → one row per feature in dashboard_features
//
// BOS (and other special tokens) are not counted as firings, as in SAE training: their
// activations are outliers that carry no text. They still show in contexts.

import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Device } from '../compute/device.js';
import { scale } from '../compute/ops/elementwise.js';
import type { Tensor } from '../compute/tensor.js';
import { DataError } from '../data/errors.js';
import { packTokens, type PackedWindow } from '../data/packTokens.js';
import { readDocuments } from '../data/textSource.js';
import { DashboardDb, type ExampleJson, type FeatureData } from '../io/dashboardDb.js';
import { checkWorkspaceDb, openWorkspaceDb, WORKSPACE_DB_FILE, type WorkspaceDb } from '../io/workspaceDb.js';
import { parseHook } from '../model/hooks.js';
import { openModel } from '../model/openModel.js';
import { tokenPieces, type Tokenizer } from '../model/tokenizers/index.js';
import type { Transformer } from '../model/transformer.js';
import { saeDatasetPath, saeModelSpec } from '../sae/runSource.js';
import { loadSae, type LoadedSae } from '../sae/saeFiles.js';
import { defaultData, defaultModel } from '../sae/trainRun.js';
import { readDashboardCheckpoint, removeDashboardCheckpoint, writeDashboardCheckpoint } from './dashboardCheckpoint.js';
import { decoderNeighbours, logitEffects, type RowTop } from './dashboardLogits.js';
import { DashboardStats, HIST_LOG10_MIN, HIST_LOG10_STEP, quantileGroups, type FeatureExample } from './dashboardStats.js';

/** Bad options for a dashboard pass. Named 'UsageError' so the CLI prints its line and exits 2 (report does not import cli/). */
export class DashboardError extends Error {
  override name = 'UsageError';
}

export interface DashboardOptions {
  device: Device;
  /** The SAE folder. */
  sae: string;
  /** Model spec; default the SAE's cfg.json metadata.model_name, else the shared gpt2-corpus-tiny. */
  model?: string;
  /** Corpus; default the SAE's metadata.dataset_path, else the shared corpus. */
  data?: string;
  /** Tokens to run over (whole windows: rounded up). */
  tokens: number;
  /** Workspace database; default the saelab.db beside (or in) the SAE folder. */
  db?: string;
  /** Hook; default the SAE's metadata.hook_name. */
  hook?: string;
  /** Tokens per window; default the SAE's metadata.context_size, else 128. */
  contextSize?: number;
  /** Windows per model forward. */
  batchSize?: number;
  topK?: number;
  /** Context tokens on each side of a firing token. */
  window?: number;
  reservoir?: number;
  quantileGroups?: number;
  perGroup?: number;
  /** Boosted / suppressed tokens per feature. */
  logitK?: number;
  neighbours?: number;
  seed?: number;
  /** Continue the newest unfinished dashboard of this SAE with the same options. */
  resume?: boolean;
  /** Windows between checkpoints. */
  checkpointEvery?: number;
  textField?: string;
  /** Stop the pass early (the checkpoint is kept, status stays 'running'). */
  signal?: AbortSignal;
}

export const DASHBOARD_DEFAULTS = {
  contextSize: 128,
  batchSize: 8,
  topK: 20,
  window: 10,
  reservoir: 32,
  quantileGroups: 5,
  perGroup: 3,
  logitK: 10,
  neighbours: 8,
  seed: 0,
  checkpointEvery: 512,
} as const;

/** Progress of the weight-only phases after the pass (rows = features). */
export interface DashboardWeightsProgress {
  phase: 'logit effects' | 'neighbours';
  done: number;
  total: number;
}

export interface DashboardProgress {
  windows: number;
  totalWindows: number;
  tokens: number;
  tokensPerSecond: number;
}

export interface DashboardReport {
  dashboardId: number;
  db: string;
  sae: string;
  model: string;
  hook: string;
  data: string;
  dSae: number;
  /** Windows forwarded in total (a resume's earlier ones included). */
  windows: number;
  /** Tokens counted (special tokens excluded). */
  tokens: number;
  resumedFromWindow: number;
  aborted: boolean;
  /** Forward + SAE + statistics, this invocation. */
  passSeconds: number;
  /** Of passSeconds: the model forward and SAE encode (with the read back to the host). */
  encodeSeconds: number;
  /** Of passSeconds: DashboardStats.add (heaps, reservoirs, histograms). */
  statsSeconds: number;
  /** Logit effects and neighbours. */
  weightsSeconds: number;
  writeSeconds: number;
  seconds: number;
  /** Features that fired at least once. */
  aliveFeatures: number;
}

/** Find the workspace database of an SAE folder: <sae>/saelab.db or <parent>/saelab.db. */
function defaultDb(saeDir: string): string | null {
  for (const d of [saeDir, dirname(saeDir)]) if (existsSync(join(d, WORKSPACE_DB_FILE))) return join(d, WORKSPACE_DB_FILE);
  return null;
}

/** Token strings by id, decoded once each. */
function tokenText(tok: Tokenizer): (id: number) => string {
  const cache = new Map<number, string>();
  return (id) => {
    let s = cache.get(id);
    if (s === undefined) {
      s = id >= 0 && id < tok.vocabSize ? tok.decode([id]) : `<${id}>`;
      cache.set(id, s);
    }
    return s;
  };
}

/** An example as stored: the context inside its window only, token strings (tokenPieces: a split character shown whole), activations rounded to 4 significant digits. */
function exampleJson(e: FeatureExample, W: number, tok: Tokenizer, text: (id: number) => string): ExampleJson {
  const ids: number[] = [];
  const acts: number[] = [];
  let at = 0;
  for (let c = 0; c < e.ids.length; c++) {
    if (e.ids[c]! < 0) continue;
    if (c === W) at = ids.length;
    ids.push(e.ids[c]!);
    acts.push(Number(e.acts[c]!.toPrecision(4)));
  }
  return { act: Number(e.act.toPrecision(6)), token: e.token, at, tokens: tokenPieces(tok, ids, text), acts };
}

/** Build (or resume) the feature dashboard of an SAE (see the file comment). */
export async function buildDashboard(o: DashboardOptions, ctl: { onProgress?: (p: DashboardProgress) => void; onWeightsProgress?: (p: DashboardWeightsProgress) => void; onNote?: (line: string) => void } = {}): Promise<DashboardReport> {
  const t0 = performance.now();
  const D = DASHBOARD_DEFAULTS;
  if (!(Number.isSafeInteger(o.tokens) && o.tokens > 0)) throw new DashboardError(`--tokens must be a positive integer (got ${o.tokens})`);
  const saeDir = resolve(o.sae);
  if (!existsSync(saeDir)) throw new DashboardError(`--sae ${o.sae}: no such folder`);
  const dbPath = o.db ? resolve(o.db) : defaultDb(saeDir);
  if (!dbPath) throw new DashboardError(`--sae ${o.sae}: no ${WORKSPACE_DB_FILE} in the SAE folder or its parent; pass --db FILE (the workspace database to write to)`);
  checkWorkspaceDb(dbPath);

  let sae: LoadedSae | null = null;
  let model: Transformer | null = null;
  let ws: WorkspaceDb | null = null;
  let dashboardId = -1;
  let finished = false;
  try {
    sae = await loadSae(saeDir, o.device);
    const meta = sae.metadata;
    const hook = o.hook ?? (typeof meta.hook_name === 'string' ? meta.hook_name : null);
    if (!hook) throw new DashboardError(`--sae ${o.sae}: cfg.json metadata names no hook_name; pass --hook`);
    const modelSpec = o.model ?? saeModelSpec(meta) ?? defaultModel();
    const data = o.data ?? saeDatasetPath(meta) ?? defaultData();
    if (!data) throw new DashboardError('no --data given, the SAE names no readable dataset_path and the shared corpus is not here: pass --data FILE_OR_FOLDER');
    const dataPath = resolve(data);
    if (!existsSync(dataPath)) throw new DataError(`${dataPath}: no such file or folder`);
    const T = o.contextSize ?? (typeof meta.context_size === 'number' ? meta.context_size : D.contextSize);
    const B = o.batchSize ?? D.batchSize;
    for (const [k, v] of Object.entries({ '--context-size': T, '--batch-size': B, '--top-k': o.topK ?? 1, '--reservoir': o.reservoir ?? 1, '--checkpoint-every': o.checkpointEvery ?? 1 })) {
      if (!(Number.isSafeInteger(v) && v > 0)) throw new DashboardError(`${k} must be a positive integer (got ${v})`);
    }
    const opened = await openModel(modelSpec, o.device, { needTokenizer: true });
    model = opened.model;
    const tok = opened.tokenizer!;
    parseHook(hook, model.config); // unknown hook: a ModelError with "did you mean"
    if (model.config.dModel !== sae.cfg.dIn) throw new DashboardError(`the SAE reads d_in ${sae.cfg.dIn} but ${hook} of ${modelSpec} has width ${model.config.dModel}`);
    if (T > model.config.nCtx) throw new DashboardError(`--context-size ${T} is longer than the model's context of ${model.config.nCtx}`);
    const dSae = sae.cfg.dSae;
    const statsOpts = { dSae, topK: o.topK ?? D.topK, window: o.window ?? D.window, reservoir: o.reservoir ?? D.reservoir, seed: o.seed ?? D.seed };
    if (!(Number.isInteger(statsOpts.window) && statsOpts.window >= 0 && statsOpts.window < T)) throw new DashboardError(`--window must be an integer in [0, ${T}) (got ${statsOpts.window})`);
    const totalWindows = Math.ceil(o.tokens / T);
    const config = { ...statsOpts, tokens: o.tokens, contextSize: T, batchSize: B, quantileGroups: o.quantileGroups ?? D.quantileGroups, perGroup: o.perGroup ?? D.perGroup, logitK: o.logitK ?? D.logitK, neighbours: o.neighbours ?? D.neighbours, textField: o.textField ?? 'text' };

    ws = openWorkspaceDb(dbPath);
    const dash = new DashboardDb(ws);
    const saeRow = ws.db.prepare('SELECT id FROM saes WHERE path = ? ORDER BY id DESC').get(saeDir) as { id: number } | undefined;
    const ckDir = join(dirname(dbPath), 'dashboards');
    let stats: DashboardStats | null = null;
    let startWindow = 0;
    const prior = o.resume ? dash.findResumable(saeDir, config) : null;
    if (prior) {
      dashboardId = prior.id;
      const ck = join(ckDir, `${prior.id}.state`);
      if (existsSync(ck)) {
        const c = await readDashboardCheckpoint(ck);
        stats = new DashboardStats(c.options, c.state);
        startWindow = c.windows;
      }
      dash.setStatus(dashboardId, 'running');
      ctl.onNote?.(`resuming dashboard ${dashboardId} at window ${startWindow} of ${totalWindows}`);
    } else {
      if (o.resume) ctl.onNote?.(`note: no unfinished dashboard of ${saeDir} with these options: starting afresh`);
      dashboardId = dash.insertDashboard({ saeId: saeRow?.id ?? null, saePath: saeDir, model: opened.path, hook, data: dataPath, dSae, config });
    }
    stats ??= new DashboardStats(statsOpts);
    const ckPath = join(ckDir, `${dashboardId}.state`);
    const every = o.checkpointEvery ?? D.checkpointEvery;

    // ---- the pass ----
    const tPass = performance.now();
    let windows = 0;
    let batch: PackedWindow[] = [];
    let sinceCheckpoint = 0;
    let aborted = false;
    let encodeMs = 0;
    let statsMs = 0;
    const factor = sae.normScalingFactor;
    const runBatch = async (): Promise<void> => {
      const n = batch.length;
      const ids = new Int32Array(n * T);
      const exclude = new Uint8Array(n * T);
      batch.forEach((w, i) => (ids.set(w.ids, i * T), exclude.set(w.exclude, i * T)));
      const first = (windows - n) * T;
      batch = [];
      const t1 = performance.now();
      const res = model!.forward(ids, [n, T], { keep: [hook], stopAt: hook });
      const h = res.activations.get(hook)!;
      const x = h.reshape([n * T, sae!.cfg.dIn]);
      let xs: Tensor = x;
      if (factor !== undefined && sae!.cfg.normalizeActivations === 'expected_average_only_in') xs = scale(x, factor);
      const f = sae!.model.encode(xs);
      const fh = (await f.read()) as Float32Array;
      f.dispose();
      if (xs !== x) xs.dispose();
      for (const t of res.activations.values()) t.dispose();
      const t2 = performance.now();
      stats!.add(fh, ids, exclude, T, first);
      encodeMs += t2 - t1;
      statsMs += performance.now() - t2;
    };
    const docs = readDocuments(dataPath, { textField: config.textField });
    for await (const w of packTokens(docs, tok, { contextSize: T })) {
      if (windows >= totalWindows) break;
      windows++;
      if (windows <= startWindow) continue; // counted before the checkpoint: no forward
      batch.push(w);
      if (batch.length === B) {
        await runBatch();
        sinceCheckpoint += B;
        const secs = (performance.now() - tPass) / 1000;
        ctl.onProgress?.({ windows, totalWindows, tokens: stats.tokens, tokensPerSecond: secs > 0 ? ((windows - startWindow) * T) / secs : 0 });
        if (windows < totalWindows && sinceCheckpoint >= every) {
          await mkdir(ckDir, { recursive: true });
          await writeDashboardCheckpoint(ckPath, { windows, options: statsOpts, state: stats.s });
          sinceCheckpoint = 0;
        }
        if (o.signal?.aborted) {
          aborted = true;
          break;
        }
      }
    }
    if (!aborted && batch.length > 0) await runBatch();
    const passSeconds = (performance.now() - tPass) / 1000;
    if (windows === 0) throw new DataError(`${dataPath}: the corpus gives no ${T}-token window (too short or empty)`);
    const report: DashboardReport = {
      dashboardId, db: dbPath, sae: saeDir, model: opened.path, hook, data: dataPath, dSae, windows, tokens: stats.tokens, resumedFromWindow: startWindow, aborted,
      passSeconds, encodeSeconds: encodeMs / 1000, statsSeconds: statsMs / 1000, weightsSeconds: 0, writeSeconds: 0, seconds: 0, aliveFeatures: 0,
    };
    if (aborted) {
      await mkdir(ckDir, { recursive: true });
      await writeDashboardCheckpoint(ckPath, { windows, options: statsOpts, state: stats.s });
      report.seconds = (performance.now() - t0) / 1000;
      dash.setStatus(dashboardId, 'aborted', stats.tokens); // --resume continues it
      finished = true;
      return report;
    }
    if (windows < totalWindows) ctl.onNote?.(`note: the corpus ran out after ${windows} windows (${windows * T} tokens) of the ${totalWindows} asked for`);

    // ---- weight-only parts ----
    const tW = performance.now();
    const wDec = (await sae.params.W_dec.read()) as Float32Array;
    const w = model.weights;
    const tied = w.unembed === null;
    const weightsProgress = (phase: DashboardWeightsProgress['phase']) => (done: number) => ctl.onWeightsProgress?.({ phase, done, total: dSae });
    const { boosted, suppressed } = await logitEffects(o.device, wDec, dSae, sae.cfg.dIn, w.unembed ?? w.embed, tied, config.logitK, undefined, weightsProgress('logit effects'));
    const neigh = await decoderNeighbours(o.device, wDec, dSae, sae.cfg.dIn, config.neighbours, undefined, weightsProgress('neighbours'));
    const weightsSeconds = (performance.now() - tW) / 1000;

    // ---- rows ----
    const tWrite = performance.now();
    const text = tokenText(tok);
    const logits = (r: RowTop, i: number) => Array.from({ length: r.k }, (_, j) => ({ id: r.ids[i * r.k + j]!, token: text(r.ids[i * r.k + j]!), value: Number(r.values[i * r.k + j]!.toPrecision(5)) }));
    const CHUNK = 512;
    let alive = 0;
    for (let i0 = 0; i0 < dSae; i0 += CHUNK) {
      const rows = [];
      for (let i = i0; i < Math.min(dSae, i0 + CHUNK); i++) {
        const s = stats.summary(i);
        if (s.fires > 0) alive++;
        const data: FeatureData = {
          hist: Array.from(s.hist), histLog10Min: HIST_LOG10_MIN, histLog10Step: HIST_LOG10_STEP,
          top: s.top.map((e) => exampleJson(e, statsOpts.window, tok, text)),
          quantiles: quantileGroups(s.samples, config.quantileGroups, config.perGroup).map((g) => ({ from: g.from, to: g.to, examples: g.examples.map((e) => exampleJson(e, statsOpts.window, tok, text)) })),
          boosted: logits(boosted, i), suppressed: logits(suppressed, i),
          neighbours: Array.from({ length: neigh.k }, (_, j) => ({ feature: neigh.ids[i * neigh.k + j]!, cosine: Number(neigh.values[i * neigh.k + j]!.toPrecision(4)) })),
        };
        rows.push({ feature: i, fires: s.fires, density: s.density, maxAct: s.maxAct, meanAct: s.meanAct, data });
      }
      dash.writeFeatures(dashboardId, rows);
    }
    dash.setStatus(dashboardId, 'done', stats.tokens);
    await removeDashboardCheckpoint(ckPath);
    finished = true;
    report.weightsSeconds = weightsSeconds;
    report.writeSeconds = (performance.now() - tWrite) / 1000;
    report.aliveFeatures = alive;
    report.seconds = (performance.now() - t0) / 1000;
    return report;
  } finally {
    if (ws) {
      if (!finished && dashboardId >= 0) new DashboardDb(ws).setStatus(dashboardId, 'failed');
      ws.close();
    }
    model?.dispose();
    if (sae) for (const p of Object.values(sae.params) as (Tensor | undefined)[]) p?.dispose();
  }
}
