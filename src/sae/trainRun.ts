// `saelab train` as a library function: several SAEs (the cross product of seeds × widths × ks or
// × L1 coefficients) trained from ONE activation stream, then saved as SAELens folders.
//
//   text corpus → tokenize + pack → model forward (harvest one hook) → shuffle buffer → batches
//   (or: an activation store's seeded shuffled batches)
//   → × norm_scaling_factor (expected_average_only_in: E‖x‖² = d_in, estimated on the first batches)
//   → trainSaes (every batch to every SAE) → checkpoints, train-log.jsonl, workspace SQLite
//   → DIR/<arch>-k<k>-s<seed> | DIR/standard-l1_<l1>-s<seed> (cfg.json, weights, sparsity);
//     with several widths: DIR/<arch>-k<k>-d<d_sae>-s<seed> | DIR/standard-l1_<l1>-d<d_sae>-s<seed>
//
// Resume: the batch stream is a deterministic function of the options (corpus order, packing, the
// model's forward, a seeded shuffle buffer), so a resumed run rebuilds it from the start and the
// trainer skips the batches the checkpoint already consumed. The price is that a resume re-runs the
// model forward (and shuffle) over every token trained before the kill — no SAE steps, but the same
// harvest time; training from an activation store (`store`) skips by re-reading shards instead.
// The normalisation factor and b_dec's sample come from the same first batches, so they are
// recomputed identically too (on CPU bit for bit; on a GPU as far as its forward is deterministic).

import { access, mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { constants, existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { packageRoot } from '../compute/packageRoot.js';
import type { Device } from '../compute/device.js';
import { addInPlace } from '../compute/ops/elementwise.js';
import type { Tensor } from '../compute/tensor.js';
import { ActivationStoreReader } from '../data/activationStoreReader.js';
import { DataError } from '../data/errors.js';
import { harvestActivations, planHooks } from '../data/harvest.js';
import { packSettings, packTokens, type PackSettings } from '../data/packTokens.js';
import { ShuffleBuffer } from '../data/shuffleBuffer.js';
import { readDocuments } from '../data/textSource.js';
import { parseHook } from '../model/hooks.js';
import { openModel } from '../model/openModel.js';
import type { Tokenizer } from '../model/tokenizers/index.js';
import { Transformer } from '../model/transformer.js';
import { openWorkspaceDb, workspaceDbPath, type WorkspaceDb } from '../io/workspaceDb.js';
import { SAELAB_VERSION } from '../version.js';
import { latestCheckpoint, readCheckpointState } from './checkpoint.js';
import { initSae } from './initSae.js';
import { saveSae, type SaeRunMetadata } from './saeFiles.js';
import type { LrDecay } from './schedule.js';
import { trainSaes } from './trainer.js';
import type { TrainLogRow } from './trainLog.js';
import type { SaeArchitecture, SaeConfig, SaeModel, SaeStepContext, SaeStepResult } from './types.js';

/** Bad options for a training run. Named 'UsageError' so the CLI prints its one line and exits 2 (the sae layer does not import cli/). */
export class TrainRunError extends Error {
  override name = 'UsageError';
}

/** The folder of the tiny shared model, relative to a repo root. */
const TINY_MODEL = join('..', 'shared', 'assets', 'models', 'gpt2-corpus-tiny');
const SHARED_CORPUS = join('..', 'shared', 'assets', 'corpora', 'mixed-public-domain.txt.xz');

/** Everything a run needs; see TRAIN_DEFAULTS for what an absent field means. */
export interface TrainRunOptions {
  /** Compute device (the caller owns it). */
  device: Device;
  /** Model spec (folder, .bin, hub id); default: the shared gpt2-corpus-tiny when present, else `gpt2`. */
  model?: string;
  /** Hook to train on; default blocks.⌊nLayers/2⌋.hook_resid_pre (blocks.3 for gpt2-corpus-tiny). */
  hook?: string;
  /** Corpus file or folder; default: the shared corpus when present. Ignored with `store`. */
  data?: string;
  /** Train from this activation store instead of streaming from the model. */
  store?: string;
  arch: SaeArchitecture;
  /** TopK/BatchTopK k values (one SAE per value per seed); `k` is the single-value form. */
  ks?: number[];
  k?: number;
  /** standard: L1 coefficients (one SAE per value per seed); `l1` is the single-value form. */
  l1s?: number[];
  l1?: number;
  seeds?: number[];
  /** Latents per SAE; `dSaes` sweeps several widths (one SAE per width per k/l1 per seed). Give one or the other. */
  dSae?: number;
  dSaes?: number[];
  /** Tokens to train on (rounded down to whole batches). */
  tokens: number;
  batchSize?: number;
  lr?: number;
  /** LR decay at the end (default linear over the last 20% of steps). */
  lrDecay?: LrDecay;
  lrWarmupSteps?: number;
  contextSize?: number;
  /** Windows per model forward while streaming. */
  harvestBatchSize?: number;
  /** Shuffle-buffer capacity in batches (default 8: rows come out of a pool of ≥ 4 batches). */
  bufferBatches?: number;
  /** Seed of the shuffle buffer (and store shard order); independent of the SAE seeds so they all see one stream. */
  dataSeed?: number;
  bDecInit?: 'zeros' | 'mean' | 'geometric_median';
  /** Rows used for the geometric median / mean of b_dec (from the first batches). */
  bDecSampleRows?: number;
  /** Tokens the normalisation factor is estimated on (the first batches). */
  normTokens?: number;
  /** Scale inputs to E‖x‖² = d_in (default true). */
  normalize?: boolean;
  /** Default: on for topk/batchtopk, off for standard (see TRAIN_DEFAULTS). */
  decoderUnitNorm?: boolean;
  deadTokensThreshold?: number;
  gradClip?: number;
  /** Output folder. */
  out: string;
  /** Workspace database file; default `<out>/saelab.db`. */
  db?: string;
  resume?: boolean;
  /** Checkpoint every this many tokens (rounded to whole steps). */
  checkpointEvery?: number;
  keepCheckpoints?: number;
  /** Log every this many steps. */
  logEvery?: number;
  /** sparsity.safetensors counts firings over the last this many tokens. */
  sparsityTokens?: number;
  /** JSON text-field / document separator of the corpus. */
  textField?: string;
  docSeparator?: string | null;
  prependBos?: boolean;
  /** Allow a hub download of the model (default: only when the model was defaulted to `gpt2`). */
  download?: boolean;
}

/** Defaults, and why. */
export const TRAIN_DEFAULTS = {
  dSaeMultiple: 32, // d_sae = 32·d_in (6144 for d_in 192), a common SAELens expansion factor
  k: 32,
  l1: 5,
  seeds: [0],
  batchSize: 4096, // SAELens' train_batch_size_tokens
  lr: 3e-4,
  contextSize: 128,
  harvestBatchSize: 8,
  bufferBatches: 8,
  dataSeed: 1234,
  bDecInit: 'geometric_median' as const, // SAELens' b_dec_init_method for standard SAEs: a robust centre of the data
  bDecSampleRows: 4096,
  normTokens: 32_768,
  checkpointEvery: 2_000_000,
  keepCheckpoints: 2,
  logEvery: 10,
  sparsityTokens: 1_000_000,
  // Decoder rows unit norm: on for topk/batchtopk (Gao et al.: it fixes the scale ambiguity
  // between latents and decoder rows, which nothing else pins down when L0 is fixed); off for
  // standard, whose L1 is already weighted by ‖W_dec[i]‖ (Anthropic's April 2024 recipe, SAELens'
  // `standard`), so shrinking rows buys nothing.
  decoderUnitNorm: (arch: SaeArchitecture) => arch !== 'standard',
} as const;

/** What onProgress gets after every step. */
export interface TrainProgress {
  step: number;
  totalSteps: number;
  tokens: number;
  totalTokens: number;
  /** Tokens per second since the run (or resume) started, harvest included. */
  tokensPerSecond: number;
  /** Means over the SAEs of the last logged row (undefined before the first log). */
  loss?: number;
  l0?: number;
  deadFraction?: number;
}

/** One trained SAE. */
export interface TrainedSaeReport {
  index: number;
  path: string;
  architecture: SaeArchitecture;
  seed: number;
  dSae: number;
  k?: number;
  l1Coefficient?: number;
  loss: number | null;
  mse: number | null;
  l0: number | null;
  deadFraction: number | null;
}

export interface TrainRunReport {
  out: string;
  model: string;
  hook: string;
  dIn: number;
  /** The width of the SAEs (the first of `dSaes` when several were swept). */
  dSae: number;
  /** Every width swept, in order. */
  dSaes: number[];
  source: 'stream' | 'store';
  steps: number;
  totalSteps: number;
  tokens: number;
  normScalingFactor: number | null;
  /** The step a resume started from (0 for a fresh run). */
  resumedFromStep: number;
  aborted: boolean;
  seconds: number;
  /** Tokens trained by this invocation per second of harvest + training (a resume's replay included; model loading not) (unit: tokens/s). */
  tokensPerSecond: number;
  db: string;
  runId: number;
  logFile: string;
  saes: TrainedSaeReport[];
}

/** `rel` under the current directory or the package root, whichever exists first. */
function sharedAsset(rel: string): string | null {
  const roots = [process.cwd(), packageRoot()].filter((r): r is string => r !== null);
  for (const r of roots) {
    const p = resolve(r, rel);
    if (existsSync(p)) return p;
  }
  return null;
}

/** The default model: the shared gpt2-corpus-tiny when present, else the hub's `gpt2`. */
export function defaultModel(): string {
  return sharedAsset(TINY_MODEL) ?? 'gpt2';
}

/** The default corpus: the shared mixed-public-domain corpus, or null. */
export function defaultData(): string | null {
  return sharedAsset(SHARED_CORPUS);
}

/** The default hook for a model of `nLayers` blocks: the residual stream entering the middle block. */
export function defaultHook(nLayers: number): string {
  return `blocks.${Math.floor(nLayers / 2)}.hook_resid_pre`;
}

/**
 * The SAE configs of a sweep, in (seed, d_sae, k | l1) order: seed-major, as saved. The widths are
 * `dSaes` when given, else the single `dSae`.
 */
export function sweepConfigs(o: { arch: SaeArchitecture; dIn: number; dSae?: number; dSaes?: number[]; seeds: number[]; ks: number[]; l1s: number[]; decoderUnitNorm: boolean; normalize: boolean; deadTokensThreshold?: number }): SaeConfig[] {
  const widths = o.dSaes ?? (o.dSae !== undefined ? [o.dSae] : []);
  if (widths.length === 0) throw new TrainRunError('sweepConfigs: no d_sae given (dSae or dSaes)');
  const out: SaeConfig[] = [];
  for (const seed of o.seeds) {
    const variants = o.arch === 'standard' ? o.l1s.map((l1) => ({ l1Coefficient: l1 })) : o.ks.map((k) => ({ k }));
    for (const dSae of widths) {
      for (const v of variants) {
        const cfg: SaeConfig = {
          architecture: o.arch, dIn: o.dIn, dSae, applyBDecToInput: true, decoderUnitNorm: o.decoderUnitNorm,
          normalizeActivations: o.normalize ? 'expected_average_only_in' : 'none', seed, ...v,
        };
        if (o.deadTokensThreshold !== undefined) cfg.deadTokensThreshold = o.deadTokensThreshold;
        out.push(cfg);
      }
    }
  }
  return out;
}

/**
 * The folder name of an SAE of a sweep: `<arch>-k<k>-s<seed>` or `standard-l1_<l1>-s<seed>` (the `_`
 * keeps L1 = 2 from reading as L1 = 12); with
 * `withWidth` (a sweep over several widths) the width goes before the seed: `topk-k32-d6144-s0`.
 */
export function saeFolderName(cfg: SaeConfig, withWidth = false): string {
  const v = cfg.architecture === 'standard' ? `l1_${cfg.l1Coefficient}` : `k${cfg.k}`;
  const d = withWidth ? `-d${cfg.dSae}` : '';
  return `${cfg.architecture}-${v}${d}-s${cfg.seed}`;
}

/** The first non-finite value of a host array, as [index, value], or null. */
function firstNonFinite(a: Float32Array): [number, number] | null {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return [i, a[i]!];
  return null;
}

/**
 * Turn a callback producer (`run(emit)`, which awaits each emit) into an async iterator: the
 * producer runs at most one item ahead, an error in it surfaces in the consumer, and a consumer
 * that stops early makes the pending emit throw so the producer unwinds.
 */
async function* pullFrom<T>(run: (emit: (v: T) => Promise<void>) => Promise<unknown>): AsyncGenerator<T> {
  const STOP = Symbol('stop');
  const queue: T[] = [];
  let done = false;
  let failure: { e: unknown } | null = null;
  let stopped = false;
  let wakeConsumer: (() => void) | null = null;
  let wakeProducer: (() => void) | null = null;
  const poke = () => {
    const w = wakeConsumer;
    wakeConsumer = null;
    w?.();
  };
  const emit = async (v: T): Promise<void> => {
    if (stopped) throw STOP;
    queue.push(v);
    poke();
    await new Promise<void>((r) => (wakeProducer = r));
    if (stopped) throw STOP;
  };
  const finished = run(emit).then(
    () => void (done = true),
    (e) => {
      if (e !== STOP) failure = { e };
      done = true;
    },
  ).finally(poke);
  try {
    for (;;) {
      if (queue.length > 0) {
        const v = queue.shift()!;
        const w = wakeProducer as (() => void) | null;
        wakeProducer = null;
        w?.();
        yield v;
        continue;
      }
      if (failure) throw (failure as { e: unknown }).e;
      if (done) return;
      await new Promise<void>((r) => (wakeConsumer = r));
    }
  } finally {
    stopped = true;
    const w = wakeProducer as (() => void) | null;
    wakeProducer = null;
    w?.();
    await finished;
  }
}

/** Pass windows through, counting them into `read.windows` (how much of the corpus training read). */
async function* countWindows<T>(windows: AsyncIterable<T>, read: { windows: number }): AsyncGenerator<T> {
  for await (const w of windows) (read.windows++, yield w);
}

/** Host batches [≤ batchSize, dIn] from the model over the corpus, through a seeded shuffle buffer; the corpus repeats when it runs out. */
async function* streamBatches(model: Transformer, tok: Tokenizer, o: { data: string; hook: string; packing: PackSettings; harvestBatchSize: number; batchSize: number; bufferBatches: number; seed: number; textField: string; docSeparator: string | null; read: { windows: number } }): AsyncGenerator<Float32Array> {
  const dIn = model.config.dModel;
  const buf = new ShuffleBuffer({ dIn, capacity: Math.max(2, o.bufferBatches) * o.batchSize, batchSize: o.batchSize, seed: o.seed });
  for (;;) {
    let rowsThisPass = 0;
    const chunks = pullFrom<Float32Array>((emit) => {
      const docs = readDocuments(o.data, { textField: o.textField, docSeparator: o.docSeparator });
      return harvestActivations(model, countWindows(packTokens(docs, tok, o.packing), o.read), {
        hooks: [o.hook], batchSize: o.harvestBatchSize,
        onBatch: (_h, rows) => emit(rows),
      });
    });
    for await (const rows of chunks) {
      rowsThisPass += rows.length / dIn;
      yield* buf.push(rows);
    }
    // A pass without a single row would loop forever: the corpus is shorter than one window.
    if (rowsThisPass === 0) throw new DataError(`${o.data}: the corpus gives no ${o.packing.contextSize}-token window (too short or empty); use more text or a smaller --context-size`);
  }
}

/** Parse a list like "0,1,2" of numbers (a TrainRunError naming `what` otherwise). */
export function parseNumberList(s: string, what: string, integer = true): number[] {
  const parts = s.split(',').map((p) => p.trim()).filter((p) => p !== '');
  const xs = parts.map(Number);
  if (xs.length === 0 || xs.some((x) => !Number.isFinite(x) || (integer && !Number.isInteger(x)))) throw new TrainRunError(`${what} must be a comma-separated list of ${integer ? 'integers' : 'numbers'} (got '${s}')`);
  return xs;
}

/** Create `out` and check it can be written (before any work), as a one-line TrainRunError; returns the folders it created. */
async function checkWritable(out: string): Promise<string[]> {
  try {
    // Check the nearest existing ancestor first: Node's recursive mkdir can spin forever under a
    // read-only pseudo file system such as /proc instead of failing.
    // So the folders are made one by one, top down, each mkdir failing plainly.
    const missing: string[] = [];
    let at = out;
    while (!existsSync(at) && dirname(at) !== at) (missing.unshift(at), (at = dirname(at)));
    if (!statSync(at).isDirectory()) throw Object.assign(new Error(`${at} is not a folder`), { code: 'ENOTDIR' });
    await access(at, constants.W_OK);
    for (const dir of missing) await mkdir(dir);
    await access(out, constants.W_OK);
    return missing;
    const probe = join(out, `.saelab-write-test.${process.pid}`);
    await writeFile(probe, '');
    await rm(probe, { force: true });
  } catch (e) {
    throw new TrainRunError(`--out ${out}: cannot write there (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Train a sweep of SAEs on one activation stream and save them (see the file comment). */
export async function trainRun(opts: TrainRunOptions, ctl: { onProgress?: (p: TrainProgress) => void; onNote?: (line: string) => void; signal?: AbortSignal } = {}): Promise<TrainRunReport> {
  const D = TRAIN_DEFAULTS;
  const t0 = performance.now();
  const arch = opts.arch;
  if (!['standard', 'topk', 'batchtopk'].includes(arch)) throw new TrainRunError(`--arch must be topk, standard or batchtopk (got '${arch}')`);
  const seeds = opts.seeds ?? [...D.seeds];
  const ks = opts.ks ?? [opts.k ?? D.k];
  const l1s = opts.l1s ?? [opts.l1 ?? D.l1];
  const batchSize = opts.batchSize ?? D.batchSize;
  const lr = opts.lr ?? D.lr;
  const contextSize = opts.contextSize ?? D.contextSize;
  const posInt = (v: number, name: string) => {
    if (!(Number.isSafeInteger(v) && v > 0)) throw new TrainRunError(`${name} must be a positive integer (got ${v})`);
  };
  posInt(batchSize, '--batch-size');
  posInt(opts.tokens, '--tokens');
  if (seeds.length === 0 || new Set(seeds).size !== seeds.length || seeds.some((s) => !Number.isSafeInteger(s) || s < 0)) throw new TrainRunError(`--seeds must be distinct non-negative integers (got ${seeds.join(',')})`);
  if (arch !== 'standard') ks.forEach((k) => posInt(k, '--k'));
  if (arch === 'standard' && l1s.some((x) => !(Number.isFinite(x) && x >= 0))) throw new TrainRunError(`--l1 must be a non-negative number (got ${l1s.join(',')})`);
  if (!(lr > 0 && Number.isFinite(lr))) throw new TrainRunError(`--lr must be a positive number (got ${lr})`);
  if (opts.dSae !== undefined && opts.dSaes !== undefined) throw new TrainRunError('give --d-sae (one width) or --d-saes (several), not both');
  if (opts.dSaes !== undefined) {
    if (opts.dSaes.length === 0) throw new TrainRunError('--d-saes must list at least one width');
    opts.dSaes.forEach((d) => posInt(d, '--d-saes'));
    if (new Set(opts.dSaes).size !== opts.dSaes.length) throw new TrainRunError(`--d-saes must be distinct (got ${opts.dSaes.join(',')})`);
  }
  const totalSteps = Math.floor(opts.tokens / batchSize);
  if (totalSteps < 1) throw new TrainRunError(`--tokens ${opts.tokens} is less than one batch of ${batchSize}`);
  const out = resolve(opts.out);

  // ---- the source: open the model (or store), check the hook, before anything is written ----
  let model: Transformer | null = null;
  let tok: Tokenizer | null = null;
  let store: ActivationStoreReader | null = null;
  let hook: string;
  let dIn: number;
  let metadata: SaeRunMetadata;
  let packing: PackSettings | null = null;
  let dataPath: string | null = null;
  let modelName: string;
  try {
    if (opts.store) {
      store = await ActivationStoreReader.open(resolve(opts.store));
      const m = store.manifest;
      hook = opts.hook ?? m.hooks[0]!;
      dIn = store.dIn(hook);
      modelName = m.model;
      const layer = /^blocks\.(\d+)\./.exec(hook);
      metadata = { model_name: m.model, hook_name: hook, hook_layer: layer ? Number(layer[1]) : null, context_size: m.packing.contextSize, dataset_path: m.dataset.path, prepend_bos: m.packing.prependBos, exclude_special_tokens: m.packing.excludeSpecial, activation_store: resolve(opts.store) };
    } else {
      const spec = opts.model ?? defaultModel();
      const download = opts.download ?? (opts.model === undefined && spec === 'gpt2');
      modelName = existsSync(spec) ? resolve(spec) : spec;
      dataPath = opts.data ?? defaultData();
      if (!dataPath) throw new TrainRunError('no --data given and the shared corpus ../shared/assets/corpora/mixed-public-domain.txt.xz is not here: pass --data FILE_OR_FOLDER');
      dataPath = resolve(dataPath);
      if (!existsSync(dataPath)) throw new DataError(`${dataPath}: no such file or folder`);
      const opened = await openModel(spec, opts.device, { download, needTokenizer: true });
      model = opened.model;
      tok = opened.tokenizer!;
      hook = opts.hook ?? defaultHook(model.config.nLayers);
      const point = parseHook(hook, model.config); // unknown hook: a ModelError with "did you mean"
      planHooks(model, [hook]);
      dIn = model.config.dModel;
      if (contextSize > model.config.nCtx) throw new TrainRunError(`--context-size ${contextSize} is longer than the model's context of ${model.config.nCtx} tokens`);
      packing = packSettings({ contextSize, prependBos: opts.prependBos ?? true }, tok);
      metadata = { model_name: modelName, hook_name: hook, hook_layer: point.layer, context_size: contextSize, dataset_path: dataPath, prepend_bos: packing.prependBos, exclude_special_tokens: packing.excludeSpecial };
    }
  } catch (e) {
    model?.dispose();
    throw e;
  }
  metadata.saelab_version = SAELAB_VERSION;

  const dSaes = opts.dSaes ?? [opts.dSae ?? D.dSaeMultiple * dIn];
  const dSae = dSaes[0]!;
  const dSaeFlag = opts.dSaes !== undefined ? '--d-saes' : '--d-sae';
  let createdDirs: string[] = [];
  try {
    for (const d of dSaes) posInt(d, dSaeFlag);
    if (arch !== 'standard') for (const d of dSaes) for (const k of ks) if (k > d) throw new TrainRunError(`--k ${k} is larger than ${dSaeFlag === '--d-sae' ? '--d-sae' : '--d-saes width'} ${d}`);
    createdDirs = await checkWritable(out);
  } catch (e) {
    model?.dispose();
    throw e;
  }

  const cfgs = sweepConfigs({
    arch, dIn, dSaes, seeds, ks, l1s, normalize: opts.normalize ?? true,
    decoderUnitNorm: opts.decoderUnitNorm ?? D.decoderUnitNorm(arch), deadTokensThreshold: opts.deadTokensThreshold,
  });
  const names = cfgs.map((c) => saeFolderName(c, dSaes.length > 1));
  if (new Set(names).size !== names.length) throw new TrainRunError(`two SAEs of the sweep would share a folder (${names.join(', ')}): make --ks/--l1s/--seeds/--d-saes distinct`);

  // ---- one deterministic batch stream (host arrays), its first batches also fixing scale and b_dec ----
  const dataSeed = opts.dataSeed ?? D.dataSeed;
  const streamRead = { windows: 0 };
  const hostBatches = (): AsyncGenerator<Float32Array> => {
    if (store) {
      const epochs = Math.max(1, Math.ceil((totalSteps * batchSize) / Math.max(1, store.totalRows)));
      return store.batches({ hook, batchSize, seed: dataSeed, epochs });
    }
    return streamBatches(model!, tok!, {
      data: dataPath!, hook, packing: packing!, harvestBatchSize: opts.harvestBatchSize ?? D.harvestBatchSize, batchSize,
      bufferBatches: opts.bufferBatches ?? D.bufferBatches, seed: dataSeed, textField: opts.textField ?? 'text', docSeparator: opts.docSeparator === undefined ? '<|endoftext|>' : opts.docSeparator, read: streamRead,
    });
  };
  const source = hostBatches();
  const prefix: Float32Array[] = [];
  const normSteps = Math.max(1, Math.min(totalSteps, Math.ceil((opts.normTokens ?? D.normTokens) / batchSize)));
  let stepOfPrefix = 0;
  const checkFinite = (b: Float32Array, step: number) => {
    const bad = firstNonFinite(b);
    if (bad) throw new DataError(`non-finite activation (${bad[1]}) in the batch of step ${step + 1}, row ${Math.floor(bad[0] / dIn)}, at hook ${hook}: training stopped (checkpoints in ${join(out, 'checkpoints')} are intact)`);
  };
  let db: WorkspaceDb | null = null;
  let runId = -1;
  let status: 'done' | 'failed' | 'aborted' = 'failed';
  const tData = performance.now(); // throughput counts harvest + training, not model loading
  try {
    while (prefix.length < normSteps) {
      const r = await source.next();
      if (r.done) break;
      checkFinite(r.value, stepOfPrefix++);
      prefix.push(r.value);
    }
    if (prefix.length === 0) throw new DataError('the activation source gave no rows');
    let factor = 1;
    if (opts.normalize ?? true) {
      let s = 0;
      let n = 0;
      for (const b of prefix) {
        for (let i = 0; i < b.length; i++) s += b[i]! * b[i]!;
        n += b.length / dIn;
      }
      if (!(s > 0)) throw new DataError(`the activations at ${hook} are all zero on the first ${n} tokens: nothing to normalise or train on`);
      factor = Math.sqrt(dIn / (s / n));
    }
    const scaleHost = (b: Float32Array): Float32Array => {
      if (factor === 1) return b;
      const o = new Float32Array(b.length);
      for (let i = 0; i < b.length; i++) o[i] = b[i]! * factor;
      return o;
    };

    // b_dec's sample: the first rows of the (normalised) first batches, the same for every SAE.
    const bDecInit = opts.bDecInit ?? D.bDecInit;
    let sample: Tensor | undefined;
    if (bDecInit !== 'zeros') {
      const want = opts.bDecSampleRows ?? D.bDecSampleRows;
      const rows: Float32Array[] = [];
      let have = 0;
      for (const b of prefix) {
        if (have >= want) break;
        const take = Math.min(want - have, b.length / dIn);
        rows.push(scaleHost(b.subarray(0, take * dIn)));
        have += take;
      }
      const all = new Float32Array(have * dIn);
      let at = 0;
      for (const r of rows) (all.set(r, at), (at += r.length));
      sample = opts.device.fromArray(all, [have, dIn]);
    }
    const saes: SaeModel[] = [];
    for (const cfg of cfgs) saes.push(await initSae(cfg, opts.device, { bDecInit, sample }));
    sample?.dispose();

    // The stream the trainer reads: the prefix, then the rest of the same source, normalised and on the device.
    let step = 0;
    async function* deviceBatches(): AsyncGenerator<Tensor> {
      for (const b of prefix.splice(0)) yield opts.device.fromArray(scaleHost(b), [b.length / dIn, dIn]);
      for (let s = normSteps; ; s++) {
        const r = await source.next();
        if (r.done) return;
        checkFinite(r.value, s);
        yield opts.device.fromArray(scaleHost(r.value), [r.value.length / dIn, dIn]);
      }
    }

    // ---- checkpoints, log, workspace database ----
    const checkpointDir = join(out, 'checkpoints');
    const logFile = join(out, 'train-log.jsonl');
    const dbPath = resolve(opts.db ?? workspaceDbPath(out));
    const logEvery = Math.max(1, Math.floor(opts.logEvery ?? D.logEvery));
    // Checkpoints fall on logged steps (a multiple of logEvery), so a non-finite loss is caught by
    // onLog before a checkpoint could store the broken weights.
    const ckSteps = Math.max(1, Math.round((opts.checkpointEvery ?? D.checkpointEvery) / batchSize / logEvery)) * logEvery;
    let resumedFromStep = 0;
    let resumedTokens = 0;
    let priorRun: { runId?: number } | null = null;
    const latest = await latestCheckpoint(checkpointDir);
    // A fresh run over old checkpoints would later resume from the wrong run's weights.
    if (latest && !opts.resume) throw new TrainRunError(`${checkpointDir} holds checkpoints of an earlier run: pass --resume to continue it, or choose a new --out`);
    if (opts.resume) {
      if (latest) {
        const st = await readCheckpointState(latest);
        if (st.saes.length !== cfgs.length) throw new TrainRunError(`--resume: the checkpoint in ${checkpointDir} has ${st.saes.length} SAEs, this run trains ${cfgs.length}; use the same sweep options`);
        if (st.totalSteps !== totalSteps) throw new TrainRunError(`--resume: the checkpoint was made for ${st.totalSteps} steps, this run has ${totalSteps}; use the same --tokens and --batch-size`);
        if (st.step >= totalSteps) throw new TrainRunError(`--resume: the run in ${out} already finished (step ${st.step} of ${totalSteps}); its SAEs are in ${out}`);
        resumedFromStep = st.step;
        resumedTokens = st.tokens;
        priorRun = (st.batchState ?? null) as { runId?: number } | null;
      }
    }
    db = openWorkspaceDb(dbPath);
    const runConfig = { ...opts, device: opts.device.kind, out, hook, model: modelName, dIn, dSae, dSaes, totalSteps, normScalingFactor: factor, saelabVersion: SAELAB_VERSION };
    const reuse = priorRun?.runId !== undefined ? db.getRun(priorRun.runId) : null;
    let saeIds: number[];
    if (reuse && reuse.kind === 'train' && db.listSaes(reuse.id).length === cfgs.length) {
      runId = reuse.id;
      db.setRunStatus(runId, 'running');
      saeIds = db.listSaes(runId).map((s) => s.id);
    } else {
      runId = db.insertRun({ kind: 'train', config: runConfig, name: `${arch} ${hook}` });
      saeIds = cfgs.map((cfg, i) => db!.insertSae({ runId, saeIndex: i, architecture: cfg.architecture, dIn, dSae: cfg.dSae, hook, model: modelName, cfg }));
    }

    // Firing counts over the last sparsityTokens tokens; the trainer keeps them in its checkpoints, so
    // a resumed run's sparsity covers the whole window.
    const sparsitySteps = Math.max(1, Math.min(totalSteps, Math.ceil((opts.sparsityTokens ?? D.sparsityTokens) / batchSize)));
    const countFrom = totalSteps - sparsitySteps;

    let lastRows: TrainLogRow[] = [];
    const tStart = performance.now();
    const res = await trainSaes({
      saes, batches: deviceBatches(), totalSteps, lr, gradClip: opts.gradClip, countFiringFrom: countFrom,
      schedule: { decay: opts.lrDecay ?? 'linear', warmupSteps: opts.lrWarmupSteps ?? 0, l1WarmupSteps: arch === 'standard' ? Math.floor(totalSteps * 0.05) : 0 },
      deadTokensThreshold: opts.deadTokensThreshold, logEvery, logFile,
      checkpointEvery: ckSteps, checkpointDir, keepCheckpoints: opts.keepCheckpoints ?? D.keepCheckpoints, resume: !!opts.resume,
      checkpointOnAbort: true, batchState: () => ({ runId }), signal: ctl.signal,
      onLog: (row) => {
        if (!Number.isFinite(row.loss)) {
          throw new DataError(`non-finite loss (${row.loss}) at step ${row.step} for SAE ${names[row.saeIndex]} at hook ${hook}: training stopped, the last checkpoint in ${checkpointDir} is intact (try a lower --lr)`);
        }
        db!.insertTrainLogRows(saeIds, [row]);
        lastRows = lastRows.filter((r) => r.saeIndex !== row.saeIndex).concat(row);
      },
      onStep: (s, tokens) => {
        const secs = (performance.now() - tStart) / 1000;
        const mean = (k: 'loss' | 'l0' | 'deadFraction') => (lastRows.length ? lastRows.reduce((a, r) => a + r[k], 0) / lastRows.length : undefined);
        ctl.onProgress?.({ step: s, totalSteps, tokens, totalTokens: totalSteps * batchSize, tokensPerSecond: secs > 0 ? (tokens - resumedTokens) / secs : 0, loss: mean('loss'), l0: mean('l0'), deadFraction: mean('deadFraction') });
      },
    });

    const seconds = (performance.now() - t0) / 1000;
    const dataSeconds = (performance.now() - tData) / 1000;
    const trainedTokens = res.tokens - resumedTokens;
    const report: TrainRunReport = {
      out, model: modelName, hook, dIn, dSae, dSaes, source: store ? 'store' : 'stream', steps: res.step, totalSteps, tokens: res.tokens,
      normScalingFactor: (opts.normalize ?? true) ? factor : null, resumedFromStep, aborted: res.aborted, seconds,
      tokensPerSecond: dataSeconds > 0 ? trainedTokens / dataSeconds : 0, db: dbPath, runId, logFile, saes: [],
    };
    if (res.aborted) {
      status = 'aborted';
      return report;
    }
    // How much of dataset_path training read (stream tokens, read-ahead included): eval skips it by default.
    metadata.training_tokens = res.tokens;
    if (!store) metadata.training_stream_tokens = streamRead.windows * (packing!.contextSize - (packing!.prependBos ? 1 : 0));
    for (let i = 0; i < cfgs.length; i++) {
      const cfg = cfgs[i]!;
      const counts = (await res.states[i]!.firedCount.read()) as Float32Array;
      const freq = Float32Array.from(counts, (c) => (res.firingTokens > 0 ? c / res.firingTokens : 0));
      const path = join(out, names[i]!);
      await saveSae(path, cfg, saes[i]!.params, { metadata, normScalingFactor: cfg.normalizeActivations === 'expected_average_only_in' ? factor : undefined, firingFrequency: freq, device: opts.device.kind === 'webgpu' ? 'cuda' : 'cpu' });
      db.setSaePath(saeIds[i]!, path);
      const row = res.lastRows.find((r) => r.saeIndex === i) ?? lastRows.find((r) => r.saeIndex === i);
      const rep: TrainedSaeReport = { index: i, path, architecture: cfg.architecture, seed: cfg.seed, dSae: cfg.dSae, loss: row?.loss ?? null, mse: row?.mse ?? null, l0: row?.l0 ?? null, deadFraction: row?.deadFraction ?? null };
      if (cfg.k !== undefined) rep.k = cfg.k;
      if (cfg.l1Coefficient !== undefined) rep.l1Coefficient = cfg.l1Coefficient;
      report.saes.push(rep);
    }
    for (const st of res.states) for (const t of [st.tokensSinceFired, st.firedCount, ...Object.values(st.m), ...Object.values(st.v)]) t.dispose();
    for (const s of saes) for (const p of Object.values(s.params) as (Tensor | undefined)[]) p?.dispose();
    status = 'done';
    return report;
  } catch (e) {
    // A run that failed before writing anything leaves no empty --out folder behind.
    if (!db) for (const d of [...createdDirs].reverse()) await rmdir(d).catch(() => undefined);
    throw e;
  } finally {
    await source.return(undefined).catch(() => undefined);
    if (db) {
      if (runId >= 0) db.setRunStatus(runId, status);
      db.close();
    }
    model?.dispose();
  }
}
