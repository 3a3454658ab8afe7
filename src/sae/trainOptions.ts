// The options of `saelab train` as a library call: their types and defaults, the reports a run
// returns, and the checks that turn bad options into one-line usage errors before anything opens.

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { packageRoot } from '../compute/packageRoot.js';
import type { Device } from '../compute/device.js';
import type { LrDecay } from './schedule.js';
import type { SaeArchitecture } from './types.js';
import type { LoadOptions } from '../model/loadStore.js';

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
  /**
   * Hook to train on; default blocks.⌊nLayers/2⌋.hook_resid_pre (blocks.3 for gpt2-corpus-tiny). A
   * comma list (e2e / e2e+ds only) splices one SAE per hook in together and trains them jointly.
   */
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
  /** Shuffle-buffer capacity in batches, streaming or from a store (default 32: rows come out of a pool of ≥ 16 batches). */
  bufferBatches?: number;
  /** --store: rows per chunk of the store's random chunk order (default STORE_CHUNK_ROWS). */
  storeChunkRows?: number;
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
  /** Norm of every encoder column at initialisation (default: initDefaults in initSae.ts, per architecture). */
  encoderScale?: number;
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
  /** How the model's weights are held (--model-dtype, --stream); default float32 in memory. */
  modelLoad?: LoadOptions;
  /** The objective (docs/training.md): local (default), e2e, e2e+ds, reward (reward models; --data is a JSONL of preference pairs). */
  loss?: TrainLoss;
  /** e2e: weight of KL(P_clean ‖ P_spliced) (default 1). */
  klCoefficient?: number;
  /** e2e: weight of the MSE at the hook mixed in (default 0; local training's and reward's is 1). */
  localCoefficient?: number;
  /** e2e+ds: `all` (default), `next`, `next:N`, or hook names separated by commas. */
  downstream?: string;
  /** e2e+ds: one weight for every downstream term, or one per term (default 1). */
  downstreamCoefficients?: number[];
  /** reward: λ, the weight of the reward term (default 1). */
  rewardCoefficient?: number;
  /** reward: preserve each pair's reward difference r(chosen) − r(rejected) instead of each reward. */
  rewardDifference?: boolean;
  /** Start every SAE from this SAE folder (same architecture, d_in, d_sae and hook) instead of a fresh init. */
  initFrom?: string;
}

/** The training objectives of `saelab train --loss`. */
export type TrainLoss = 'local' | 'e2e' | 'e2e+ds' | 'reward';
export const TRAIN_LOSSES: readonly TrainLoss[] = ['local', 'e2e', 'e2e+ds', 'reward'];

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
  bufferBatches: 32, // 131,072 rows at batch 4,096 (96 MiB at d_in 192): with --store within 0.5 % of a full permutation (docs/training.md)
  dataSeed: 1234,
  bDecInit: 'geometric_median' as const, // SAELens' b_dec_init_method for standard SAEs: a robust centre of the data
  bDecSampleRows: 4096,
  normTokens: 32_768,
  checkpointEvery: 2_000_000,
  keepCheckpoints: 2,
  logEvery: 10,
  sparsityTokens: 1_000_000,
  klCoefficient: 1, // e2e: KL in nats at weight 1, as Braun et al.
  localCoefficient: 0, // e2e: no MSE at the hook unless asked (e2e_sae's e2e has none)
  rewardLocalCoefficient: 1, // reward: local training plus the reward term
  rewardCoefficient: 1,
  downstreamCoefficient: 1, // e2e+ds: each relative downstream error at weight 1
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
  /** e2e objectives: KL(P_clean ‖ P_spliced) in nats, mean over the SAEs of the last logged row. */
  kl?: number;
  l0?: number;
  deadFraction?: number;
}

/** One trained SAE. */
export interface TrainedSaeReport {
  index: number;
  path: string;
  /** The SAE's hook (a joint run's SAEs sit at several). */
  hook: string;
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
  /** The (first) hook; `hooks` lists every hook of a joint run. */
  hook: string;
  hooks: string[];
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

/** Parse a list like "0,1,2" of numbers (a TrainRunError naming `what` otherwise). */
export function parseNumberList(s: string, what: string, integer = true): number[] {
  const parts = s.split(',').map((p) => p.trim()).filter((p) => p !== '');
  const xs = parts.map(Number);
  if (xs.length === 0 || xs.some((x) => !Number.isFinite(x) || (integer && !Number.isInteger(x)))) throw new TrainRunError(`${what} must be a comma-separated list of ${integer ? 'integers' : 'numbers'} (got '${s}')`);
  return xs;
}



/** The hooks of `--hook` (a comma list: several hooks are trained jointly), or null when absent; a TrainRunError for an empty name or a hook named twice. */
export function parseHookList(hook: string | undefined): string[] | null {
  if (hook === undefined) return null;
  const hooks = hook.split(',').map((h) => h.trim());
  if (hooks.some((h) => h === '')) throw new TrainRunError(`--hook '${hook}': an empty hook name (give hook names separated by commas)`);
  const twice = hooks.find((h, i) => hooks.indexOf(h) !== i);
  if (twice !== undefined) throw new TrainRunError(`--hook lists ${twice} twice`);
  return hooks;
}

/** The options every stage needs, defaulted and checked (shape of `resolveTrainOptions`' result). */
export interface ResolvedTrainOptions {
  arch: SaeArchitecture;
  seeds: number[];
  ks: number[];
  l1s: number[];
  batchSize: number;
  lr: number;
  contextSize: number;
  /** Whole batches in `tokens`. */
  totalSteps: number;
  loss: TrainLoss;
  /** The absolute output folder. */
  out: string;
}

/** A positive safe integer, else a TrainRunError naming the flag. */
export function checkPositiveInt(v: number, name: string): void {
  if (!(Number.isSafeInteger(v) && v > 0)) throw new TrainRunError(`${name} must be a positive integer (got ${v})`);
}

/** Default and check the options that need no model (a TrainRunError on the first bad one). */
export function resolveTrainOptions(opts: TrainRunOptions): ResolvedTrainOptions {
  const D = TRAIN_DEFAULTS;
  const arch = opts.arch;
  if (!['standard', 'topk', 'batchtopk'].includes(arch)) throw new TrainRunError(`--arch must be topk, standard or batchtopk (got '${arch}')`);
  const seeds = opts.seeds ?? [...D.seeds];
  const ks = opts.ks ?? [opts.k ?? D.k];
  const l1s = opts.l1s ?? [opts.l1 ?? D.l1];
  const batchSize = opts.batchSize ?? D.batchSize;
  const lr = opts.lr ?? D.lr;
  const contextSize = opts.contextSize ?? D.contextSize;
  const posInt = checkPositiveInt;
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
  const loss = opts.loss ?? 'local';
  if (!TRAIN_LOSSES.includes(loss)) throw new TrainRunError(`--loss must be one of ${TRAIN_LOSSES.join(', ')} (got '${loss}')`);
  if (loss === 'local') {
    for (const [v, flag] of [[opts.klCoefficient, '--kl-coefficient'], [opts.localCoefficient, '--local-coefficient'], [opts.downstream, '--downstream'], [opts.downstreamCoefficients, '--downstream-coefficients']] as const) {
      if (v !== undefined) throw new TrainRunError(`${flag} goes with --loss e2e or e2e+ds (this run's loss is local)`);
    }
  }
  if (loss !== 'reward' && (opts.rewardCoefficient !== undefined || opts.rewardDifference !== undefined)) throw new TrainRunError('--reward-coefficient and --reward-difference go with --loss reward');
  if (loss === 'reward' && (opts.klCoefficient !== undefined || opts.downstream !== undefined || opts.downstreamCoefficients !== undefined)) throw new TrainRunError('--kl-coefficient and --downstream go with --loss e2e / e2e+ds, not reward');
  if (loss === 'reward' && opts.data === undefined && !opts.store) throw new TrainRunError('--loss reward needs --data: a JSONL file of preference pairs ({chosen, rejected} or {prompt, chosen, rejected})');
  if (opts.rewardCoefficient !== undefined && !(Number.isFinite(opts.rewardCoefficient) && opts.rewardCoefficient >= 0)) throw new TrainRunError(`--reward-coefficient must be a non-negative number (got ${opts.rewardCoefficient})`);
  if (loss === 'e2e' && (opts.downstream !== undefined || opts.downstreamCoefficients !== undefined)) throw new TrainRunError('--downstream goes with --loss e2e+ds, not e2e');
  if (loss !== 'local' && opts.store) throw new TrainRunError(`--loss ${loss} runs the model on tokens: train from --data, not an activation --store`);
  for (const [v, flag] of [[opts.klCoefficient, '--kl-coefficient'], [opts.localCoefficient, '--local-coefficient']] as const) {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new TrainRunError(`${flag} must be a non-negative number (got ${v})`);
  }
  if (opts.downstreamCoefficients?.some((v) => !(Number.isFinite(v) && v >= 0))) throw new TrainRunError(`--downstream-coefficients must be non-negative numbers (got ${opts.downstreamCoefficients.join(',')})`);
  const hooks = parseHookList(opts.hook);
  if (hooks && hooks.length > 1) {
    if (loss !== 'e2e' && loss !== 'e2e+ds') throw new TrainRunError(`--hook lists ${hooks.length} hooks, which are trained jointly end to end: use --loss e2e or e2e+ds (--loss ${loss} takes one hook)`);
    if (opts.initFrom !== undefined) throw new TrainRunError(`--init-from takes one hook's SAE folder; this run trains SAEs at ${hooks.length} hooks jointly (warm starts take one --hook)`);
  }
  const totalSteps = Math.floor(opts.tokens / batchSize);
  if (totalSteps < 1) throw new TrainRunError(`--tokens ${opts.tokens} is less than one batch of ${batchSize}`);
  return { arch, seeds, ks, l1s, batchSize, lr, contextSize, totalSteps, loss, out: resolve(opts.out) };
}
