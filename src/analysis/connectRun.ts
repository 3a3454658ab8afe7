// `saelab connect` as a library function: load the earlier and the later SAE (refusing SAEs of
// different models and hooks in the wrong order), open the model, read evaluation windows, find the
// edges (connectFeatures.ts), write connect.json and record the top-k edges per later feature in the
// workspace database (connectDb.ts). A checkpoint in the out folder every 30 s; `resume` continues it.

import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Device } from '../compute/device.js';
import { lmWindows } from '../eval/evalRun.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { checkWorkspaceDb, openWorkspaceDb, workspaceDbPath } from '../io/workspaceDb.js';
import type { LoadOptions } from '../model/loadStore.js';
import { openModel } from '../model/openModel.js';
import type { Transformer } from '../model/transformer.js';
import { saeModelSpec } from '../sae/runSource.js';
import { defaultData, defaultModel } from '../sae/trainRun.js';
import { insertConnectRun } from './connectDb.js';
import { checkConnectSetup, connectFeatures, type ConnectReport, type ConnectSae, type ConnectState } from './connectFeatures.js';
import { hasRunCheckpoint, keyMismatch, readRunCheckpoint, removeRunCheckpoint, writeRunCheckpoint } from './runCheckpoint.js';
import { GradientsError } from './gradientsRun.js';
import { disposeLoaded, loadSaeFolders, type LoadedSpec } from './runInputs.js';

export interface ConnectRunOptions {
  device: Device;
  /** [earlier, later] SAE folders. */
  saes: string[];
  model?: string;
  data?: string;
  tokens: number;
  skipTokens?: number;
  contextSize?: number;
  batchSize?: number;
  features?: number[];
  topFeatures?: number;
  topK?: number;
  checkEdges?: number;
  out: string;
  /** Workspace database; default `<folder of the earlier SAE>/saelab.db`; null: record nothing. */
  db?: string | null;
  download?: boolean;
  /** How the model's weights are held (--model-dtype, --stream); default float32 in memory. */
  modelLoad?: LoadOptions;
  onProgress?: (done: number, total: number) => void;
  /** Continue from `<out>/connect.checkpoint` (same settings); without it an existing checkpoint is refused. */
  resume?: boolean;
  /** Seconds between checkpoints (default 30; 0: after every batch). */
  checkpointSeconds?: number;
}

/** A connect checkpoint's header (runCheckpoint.ts); the arrays are each feature's edge sums, then the first batch's edges in `first` order. */
interface ConnectCheckpoint {
  key: Record<string, unknown>;
  batches: number;
  tokens: number;
  features: number[];
  /** Per feature: error, bias, excluded, fires, activation. */
  scalars: number[][];
  first: number[];
}
const MAGIC = 'SLCC';

/** The state as a checkpoint header and arrays. */
function toCheckpoint(key: Record<string, unknown>, s: ConnectState): { header: ConnectCheckpoint; arrays: Float64Array[] } {
  return {
    header: { key, batches: s.batches, tokens: s.tokens, features: s.features, scalars: s.acc.map((a) => [a.error, a.bias, a.excluded, a.fires, a.activation]), first: s.first.map(([j]) => j) },
    arrays: [...s.acc.map((a) => a.edge), ...s.first.map(([, e]) => e)],
  };
}

/** A checkpoint back as the state (sizes checked against the early SAE's width). */
function fromCheckpoint(h: ConnectCheckpoint, arrays: Float64Array[], m1: number, bad: (why: string) => Error): ConnectState {
  const nf = h.features.length;
  if (arrays.length !== nf + h.first.length || arrays.some((a) => a.length !== m1)) throw bad('its arrays do not fit the earlier SAE');
  return {
    batches: h.batches, tokens: h.tokens, features: h.features,
    acc: h.features.map((_, k) => {
      const [error, bias, excluded, fires, activation] = h.scalars[k]!;
      return { edge: arrays[k]!, error: error!, bias: bias!, excluded: excluded!, fires: fires!, activation: activation! };
    }),
    first: h.first.map((j, k) => [j, arrays[nf + k]!]),
  };
}

export interface ConnectRunReport extends ConnectReport {
  model: string;
  data: string;
  contextSize: number;
  seconds: number;
  json: string;
  db: string | null;
  runId: number | null;
}

/** A loaded SAE folder as a ConnectSae (host copies of its weights). */
async function connectSae(l: LoadedSpec): Promise<ConnectSae> {
  const p = l.loaded.params;
  const s: ConnectSae = {
    label: l.spec.label, path: l.spec.path!, hook: l.spec.hook, cfg: l.spec.cfg, model: l.spec.model,
    wDec: ((await p.W_dec.read()) as Float32Array).slice(), wEnc: ((await p.W_enc.read()) as Float32Array).slice(), bDec: ((await p.b_dec.read()) as Float32Array).slice(),
  };
  if (l.spec.normScalingFactor !== undefined) s.normScalingFactor = l.spec.normScalingFactor;
  return s;
}

/** Run `saelab connect` (see the file comment). */
export async function connectRun(o: ConnectRunOptions): Promise<ConnectRunReport> {
  const t0 = performance.now();
  if (o.saes.length !== 2) throw new GradientsError(`connect needs exactly two --sae folders, the earlier then the later (got ${o.saes.length})`);
  if (!(Number.isInteger(o.tokens) && o.tokens > 0)) throw new GradientsError(`--tokens must be a positive number of tokens (got ${o.tokens})`);
  const loaded: LoadedSpec[] = [];
  let model: Transformer | null = null;
  try {
    await loadSaeFolders(o.saes, o.device, loaded);
    const [ea, la] = loaded as [(typeof loaded)[0], (typeof loaded)[0]];
    const me = ea.loaded.metadata.model_name;
    const ml = la.loaded.metadata.model_name;
    if (typeof me === 'string' && typeof ml === 'string' && me !== ml) throw new GradientsError(`the SAEs come from different models: ${ea.spec.path} from ${me}, ${la.spec.path} from ${ml}`);
    if (ea.spec.cfg.dIn !== la.spec.cfg.dIn) throw new GradientsError(`the SAEs come from different models: d_in ${ea.spec.cfg.dIn} (${ea.spec.path}) vs ${la.spec.cfg.dIn} (${la.spec.path})`);
    if (ea.spec.label === la.spec.label) {
      ea.spec.label = `${basename(dirname(ea.spec.path!))}/${ea.spec.label}`;
      la.spec.label = `${basename(dirname(la.spec.path!))}/${la.spec.label}`;
    }
    const dbPath = o.db === null ? null : resolve(o.db ?? workspaceDbPath(dirname(ea.spec.path!)));
    if (dbPath) checkWorkspaceDb(dbPath);
    const spec = o.model ?? saeModelSpec(ea.loaded.metadata) ?? defaultModel();
    const opened = await openModel(spec, o.device, { download: o.download ?? false, needTokenizer: true, load: o.modelLoad });
    model = opened.model;
    if (model.config.head !== 'lm') throw new GradientsError(`${model.source}: connect reads text windows of a causal LM; this is a reward model`);
    checkConnectSetup(model, ea.spec, la.spec);
    const data = o.data ?? defaultData();
    if (!data) throw new GradientsError('no --data given and the shared corpus is not here: pass --data FILE_OR_FOLDER');
    const dataPath = resolve(data);
    if (!existsSync(dataPath)) throw new GradientsError(`--data ${dataPath}: no such file or folder`);
    const contextSize = o.contextSize ?? Math.min(64, model.config.nCtx);
    if (contextSize < 2 || contextSize > model.config.nCtx) throw new GradientsError(`--context-size must be in [2, ${model.config.nCtx}] (got ${contextSize})`);
    const windows = await lmWindows(dataPath, opened.tokenizer!, { contextSize, prependBos: true, tokens: o.tokens, skip: o.skipTokens ?? 0, textField: 'text' });
    const early = await connectSae(ea);
    const late = await connectSae(la);
    const out = resolve(o.out);
    await mkdir(out, { recursive: true });
    // Resume: the settings that shape the sums must match the checkpoint's.
    const ckpt = join(out, 'connect.checkpoint');
    const key = { model: existsSync(spec) ? resolve(spec) : spec, data: dataPath, saes: o.saes.map((d) => resolve(d)), tokens: o.tokens, skipTokens: o.skipTokens ?? 0, contextSize, batchSize: o.batchSize ?? 8, features: o.features ?? null, topFeatures: o.topFeatures ?? 64, windows: windows.length };
    let resumeFrom: ConnectState | undefined;
    if (hasRunCheckpoint(ckpt)) {
      if (!o.resume) throw new GradientsError(`${ckpt}: an unfinished run's checkpoint is here: pass --resume to continue it, or delete it to start afresh`);
      const bad = (why: string) => new GradientsError(`${ckpt}: ${why}; delete it to start afresh`);
      const { header, arrays } = await readRunCheckpoint<ConnectCheckpoint>(ckpt, MAGIC, bad);
      const differs = keyMismatch(header.key, key);
      if (differs) throw new GradientsError(`--resume: the checkpoint in ${out} was made with ${differs}`);
      resumeFrom = fromCheckpoint(header, arrays, early.cfg.dSae, bad);
    }
    const report = await connectFeatures({
      model, early, late, windows, features: o.features, topFeatures: o.topFeatures, topK: o.topK, checkEdges: o.checkEdges, batchSize: o.batchSize, onProgress: o.onProgress,
      resumeFrom, checkpointSeconds: o.checkpointSeconds, onCheckpoint: async (s) => {
        const c = toCheckpoint(key, s);
        await writeRunCheckpoint(ckpt, MAGIC, c.header as unknown as ConnectCheckpoint & Record<string, unknown>, c.arrays);
      },
    });
    const modelName = existsSync(spec) ? resolve(spec) : spec;
    let runId: number | null = null;
    if (dbPath) {
      const db = openWorkspaceDb(dbPath);
      try {
        const row = (s: ConnectSae) => ({ path: s.path ?? null, label: s.label, architecture: s.cfg.architecture, dIn: s.cfg.dIn, dSae: s.cfg.dSae, hook: s.hook, cfg: s.cfg });
        runId = insertConnectRun(db, { model: modelName, config: { saes: o.saes.map((d) => resolve(d)), data: dataPath, tokens: o.tokens, contextSize, features: o.features ?? null, topFeatures: o.topFeatures ?? 64, topK: o.topK ?? 10 }, early: row(early), late: row(late), features: report.features }).runId;
      } finally {
        db.close();
      }
    }
    const full: ConnectRunReport = { model: modelName, data: dataPath, contextSize, ...report, seconds: (performance.now() - t0) / 1000, json: join(out, 'connect.json'), db: dbPath, runId };
    await writeFileAtomic(full.json, JSON.stringify(full, null, 2) + '\n');
    await removeRunCheckpoint(ckpt);
    return full;
  } finally {
    model?.dispose();
    disposeLoaded(loaded);
  }
}
