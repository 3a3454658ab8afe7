// The transformer: config + canonical weights on one device, and a forward with TransformerLens hook
// points. Numerics are raw HF (no weight folding, no centering); the goldens in
// ../shared/assets/fixtures hold it to HF's outputs.
//
//   x = embed[ids] · embedScale (+ pos_embed[t])         → blocks.0.hook_resid_pre
//   x = block_L(x) for each layer (block.ts)             → blocks.L.hook_*
//   h = final norm(x)                                    → ln_final.hook_normalized
//   LM:          logits [B, T, V] = h · unembed (or h · embedᵀ when tied) (+ unembed_b),
//                then c·tanh(logits/c) under final soft-capping (Gemma-2)
//   classifier:  rewards [B, numLabels] = h[b, last non-pad token] · score

import type { Device } from '../compute/device.js';
import { add, addInPlace, scale } from '../compute/ops/elementwise.js';
import { softcap } from '../compute/ops/softcap.js';
import { embeddingGather } from '../compute/ops/embedding.js';
import { matmul } from '../compute/ops/matmul.js';
import { crossEntropy } from '../compute/ops/crossEntropy.js';
import { Tensor } from '../compute/tensor.js';
import type { ByteFolder } from '../io/byteSource.js';
import { localPathKind } from '../io/fileByteSource.js';
import { openHfFolder } from '../io/hfFolder.js';
import { blockCacheTensors, blockForward, norm, type BlockCache, type BlockContext, type NormCache } from './block.js';
import { parseHfConfig, type ModelConfig } from './config.js';
import { ModelError } from './errors.js';
import { hookNames, parseHook, type HookFn, type HookPoint } from './hooks.js';
import { loadLlama2c } from './llama2c.js';
import { loadWeightStore, type LoadOptions } from './loadStore.js';
import { countParameters, expectedShapes, mapWeights, uploadWeights, type ModelWeights } from './weights.js';
import { WeightStore } from './weightStore.js';

export interface ForwardOptions {
  /** Functions by hook name: read (return nothing), replace (return a tensor), add (return add(x, delta)). */
  hooks?: Record<string, HookFn>;
  /** Stop right after this hook: no logits or rewards (its value is in `activations` if kept). */
  stopAt?: string;
  /** Hook names whose values (after any hook function) to return in `activations`. */
  keep?: readonly string[];
  /** Keep what a backward needs (`ForwardResult.cache`). */
  grad?: boolean;
  /**
   * Resume a forward at block `layer` from this value of `blocks.{layer}.hook_resid_pre` [B, T, d]
   * (e.g. kept from a clean forward of the same ids): the layers before it are skipped, and hooks
   * before it cannot run. The tensor stays the caller's (never freed here, even if a hook replaces it);
   * a backward from such a run stops at hooks in `layer` or later.
   */
  startAt?: { layer: number; resid: Tensor };
}

/** What the backward reads, from one forward with `grad: true`. Dispose it when done. */
export interface ForwardCache {
  B: number;
  T: number;
  /** Token ids [B, T] i32 on the model's device, and on the host. */
  ids: Tensor;
  idsHost: Int32Array;
  /** The forward's output (the same tensor as ForwardResult.logits / rewards: not freed by dispose). */
  logits: Tensor | null;
  rewards: Tensor | null;
  blocks: BlockCache[];
  lnFinal: NormCache;
  /** Classifier: the flat row (b·T + t) of the token each reward was read at, [B] i32. */
  pooledRows: Tensor | null;
  /** Classifier: the final-norm output at those rows [B, dModel]. */
  pooled: Tensor | null;
  dispose(): void;
}

export interface ForwardResult {
  /** [B, T, vocab] for an LM (absent with stopAt). */
  logits?: Tensor;
  /** [B, numLabels] for a sequence classifier (absent with stopAt). */
  rewards?: Tensor;
  /** The kept hook values, by name. The caller owns them. */
  activations: Map<string, Tensor>;
  /** With `grad: true` and no stopAt. */
  cache?: ForwardCache;
}

export class Transformer {
  private constructor(
    readonly config: ModelConfig,
    /** Where the weights live (resident f32 or 16-bit, or streamed from disk) and how blocks get them. */
    readonly store: WeightStore,
    readonly device: Device,
    /** Where it was loaded from. */
    readonly source: string,
  ) {}

  /**
   * Every weight as resident f32 tensors (what the backward and weight analyses read); a ModelError
   * for a model loaded in 16 bits or streamed.
   */
  get weights(): ModelWeights {
    const w = this.store.f32();
    if (!w) throw new ModelError(`${this.source}: this needs the weights resident in float32, and the model was loaded ${this.store.streaming ? 'streaming from disk' : `in ${this.store.dtype}`}: load it with --model-dtype float32${this.store.streaming ? ' without --stream' : ''}`);
    return w;
  }

  /** Load an HF model folder (a local path, or a ByteFolder such as a URL in a browser), or a llama2.c `.bin` checkpoint, onto `device` (dtype, streaming: LoadOptions). */
  static async load(dirOrBin: string | ByteFolder, device: Device, opts: LoadOptions = {}): Promise<Transformer> {
    if (typeof dirOrBin === 'string') {
      const kind = await localPathKind(dirOrBin);
      if (kind === null) throw new ModelError(`${dirOrBin}: no such model folder or file`);
      if (kind === 'file') {
        if (!dirOrBin.endsWith('.bin')) throw new ModelError(`${dirOrBin}: a model is an HF folder (config.json + safetensors) or a llama2.c .bin checkpoint`);
        if (opts.dtype !== undefined && opts.dtype !== 'float32' && opts.dtype !== 'auto') throw new ModelError(`${dirOrBin}: a llama2.c checkpoint loads in float32 only (got --model-dtype ${opts.dtype})`);
        const { config, weights } = await loadLlama2c(dirOrBin);
        return new Transformer(config, WeightStore.fromDevice(uploadWeights(weights, device), device), device, dirOrBin);
      }
    }
    const folder = await openHfFolder(dirOrBin);
    const source = folder.dir;
    try {
      const config = parseHfConfig(folder.config, `${source}/config.json`);
      checkDeviceSupports(config, device, 0, source);
      const store = await loadWeightStore(folder.weights, config, device, source, opts);
      return new Transformer(config, store, device, source);
    } finally {
      await folder.close();
    }
  }

  /** A model from weights already on a device (tests, conversions). */
  static fromWeights(config: ModelConfig, weights: ModelWeights, device: Device, source = '<weights>'): Transformer {
    return new Transformer(config, WeightStore.fromDevice(weights, device), device, source);
  }

  /** Every hook name, in forward order. */
  hookNames(): string[] {
    return hookNames(this.config);
  }

  /** Parameter count (a tied unembedding once). */
  parameterCount(): number {
    return countParameters(mapWeights(expectedShapes(this.config) as ModelWeights<number[]>, (shape) => ({ shape })));
  }

  /** Free the weights on the device. */
  dispose(): void {
    this.store.dispose();
  }

  /** Check token ids [B, T]: the shape, the context length and the vocabulary. */
  checkInput(ids: Int32Array, shape: readonly [number, number]): void {
    const [B, T] = shape;
    if (!(Number.isInteger(B) && Number.isInteger(T) && B > 0 && T > 0)) throw new ModelError(`input shape [${shape}] must be [batch, tokens], both positive integers`);
    if (ids.length !== B * T) throw new ModelError(`input of ${ids.length} token ids does not fill shape [${B}, ${T}]`);
    if (T > this.config.nCtx) throw new ModelError(`input of ${T} tokens is longer than the model's context of ${this.config.nCtx} tokens`);
    const V = this.config.vocabSize;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!(id >= 0 && id < V)) throw new ModelError(`token id ${id} (row ${Math.floor(i / T)}, position ${i % T}) is outside the model's vocabulary [0, ${V})`);
    }
  }

  /** Run the model on token ids [B, T] (row-major). */
  forward(ids: Int32Array, shape: readonly [number, number], opts: ForwardOptions = {}): ForwardResult {
    const cfg = this.config;
    const w = this.store;
    const dev = this.device;
    this.checkInput(ids, shape);
    const [B, T] = shape;
    checkDeviceSupports(cfg, dev, T, this.source);
    const run = new ForwardRun(cfg, opts);

    const idsT = dev.fromArray(ids, [B, T]);
    const start = opts.startAt;
    if (start) this.checkStart(start, B, T, opts);
    let x = start ? start.resid : w.embedRows(idsT);
    if (!start && cfg.embedScale !== 1) {
      const scaled = scale(x, cfg.embedScale);
      x.dispose();
      x = scaled;
    }
    if (start) run.borrow(start.resid);
    else if (w.posEmbed) {
      const pos = dev.fromArray(Int32Array.from({ length: T }, (_, t) => t), [T]);
      const posRows = embeddingGather(w.posEmbed, pos);
      const sum = add(x, posRows);
      for (const t of [x, posRows, pos]) t.dispose();
      x = sum;
    }

    // By layer (no entries before startAt's layer).
    const blocks: BlockCache[] = [];
    const free = (): ForwardResult => {
      idsT.dispose();
      blocks.forEach((c) => run.release(...blockCacheTensors(c)));
      return { activations: run.activations };
    };
    for (let l = start?.layer ?? 0; l < cfg.nLayers; l++) {
      // Stopping at this block's input needs none of its weights: a streamed or partly loaded model never reads them.
      const pre = `blocks.${l}.hook_resid_pre`;
      if (run.stopsAt(pre)) {
        run.release(run.hook(pre, x));
        return free();
      }
      const lw = w.layer(l);
      const r = blockForward(cfg, lw, l, x, run);
      w.releaseLayer(l, lw);
      if (!r) return free();
      if (r.cache) blocks[l] = r.cache;
      x = r.out;
    }

    const lnFinal = norm(x, w.lnFinal, cfg.normEps);
    const h = run.hook('ln_final.hook_normalized', lnFinal.y);
    lnFinal.y = h; // the unembedding's input, after any hook
    if (run.stopped) {
      run.release(x, h, lnFinal.mean, lnFinal.rstd);
      return free();
    }

    const result: ForwardResult = { activations: run.activations };
    let pooledRows: Tensor | null = null;
    let pooled: Tensor | null = null;
    if (cfg.head === 'lm') {
      let logits = w.withUnembed((W, transB) => matmul(h, W, { transB }));
      if (w.unembedBias) addInPlace(logits, w.unembedBias);
      if (cfg.finalSoftcap !== null) {
        const capped = softcap(logits, cfg.finalSoftcap);
        logits.dispose();
        logits = capped;
      }
      result.logits = logits;
    } else {
      // HF: the score at the last non-pad token of each row (the last position when a row has no pad).
      const rows = Int32Array.from({ length: B }, (_, b) => b * T + lastNonPad(ids.subarray(b * T, (b + 1) * T), cfg.padTokenId));
      pooledRows = dev.fromArray(rows, [B]);
      pooled = embeddingGather(h.reshape([B * T, cfg.dModel]), pooledRows);
      result.rewards = matmul(pooled, w.score!);
      if (!opts.grad) {
        pooledRows.dispose();
        pooled.dispose();
      }
    }
    if (!opts.grad) run.release(x, h, lnFinal.mean, lnFinal.rstd);
    if (opts.grad) {
      const cache: ForwardCache = {
        B, T, ids: idsT, idsHost: ids.slice(), logits: result.logits ?? null, rewards: result.rewards ?? null, blocks, lnFinal, pooledRows, pooled,
        dispose: () => {
          idsT.dispose();
          blocks.forEach((c) => run.release(...blockCacheTensors(c)));
          run.release(x, h, lnFinal.mean, lnFinal.rstd, pooledRows, pooled);
        },
      };
      result.cache = cache;
    } else {
      idsT.dispose();
    }
    return result;
  }

  /** startAt's checks: a block of this model, a [B, T, d] tensor on its device, no hook or kept name before it. */
  private checkStart(start: NonNullable<ForwardOptions['startAt']>, B: number, T: number, opts: ForwardOptions): void {
    const cfg = this.config;
    const { layer, resid } = start;
    if (!(Number.isInteger(layer) && layer >= 0 && layer < cfg.nLayers)) throw new ModelError(`startAt layer ${layer} is not a block of this ${cfg.nLayers}-layer model`);
    if (resid.device !== this.device) throw new ModelError(`startAt: the residual is on ${resid.device.kind}, the model runs on ${this.device.kind}`);
    if (resid.shape.length !== 3 || resid.shape[0] !== B || resid.shape[1] !== T || resid.shape[2] !== cfg.dModel) throw new ModelError(`startAt: residual of shape [${resid.shape}], expected [${B}, ${T}, ${cfg.dModel}]`);
    const first = parseHook(`blocks.${layer}.hook_resid_pre`, cfg).order;
    for (const name of [...Object.keys(opts.hooks ?? {}), ...(opts.keep ?? [])]) {
      if (parseHook(name, cfg).order < first) throw new ModelError(`"${name}" comes before startAt (blocks.${layer}.hook_resid_pre): it would never run`);
    }
  }

  /** Greedy decoding: `steps` argmax tokens after `prompt` (one row), re-running the whole prefix each step. */
  async greedy(prompt: Int32Array, steps: number): Promise<Int32Array> {
    const out = Array.from(prompt);
    for (let s = 0; s < steps && out.length < this.config.nCtx; s++) {
      const T = out.length;
      const { logits } = this.forward(Int32Array.from(out), [1, T]);
      const all = (await logits!.read()) as Float32Array;
      logits!.dispose();
      const V = this.config.vocabSize;
      const last = all.subarray((T - 1) * V, T * V);
      let best = 0;
      for (let j = 1; j < V; j++) if (last[j]! > last[best]!) best = j;
      out.push(best);
    }
    return Int32Array.from(out);
  }

  /** Mean next-token cross-entropy (nats) of an LM on ids [B, T], as HF's `loss` with labels = ids. */
  async nextTokenLoss(ids: Int32Array, shape: readonly [number, number]): Promise<number> {
    const { logits } = this.forward(ids, shape);
    if (!logits) throw new ModelError('nextTokenLoss needs a causal LM (this model is a sequence classifier)');
    const loss = await meanNextTokenCE(logits, ids, shape);
    logits.dispose();
    return loss;
  }
}

/**
 * Refuse, as a ModelError before any work, what the WebGPU kernels do not implement yet: attention
 * soft-capping, and a sliding window shorter than the input (T tokens; 0 at load: soft-capping only).
 */
export function checkDeviceSupports(cfg: ModelConfig, device: Device, T: number, source: string): void {
  if (device.kind === 'cpu') return;
  if (cfg.attnSoftcap !== null) throw new ModelError(`${source}: ${cfg.family}'s attention logit soft-capping runs on the CPU only for now: use --device cpu`);
  const windows = cfg.attnWindows.filter((w): w is number => w !== null);
  if (windows.length > 0 && T > Math.min(...windows)) {
    throw new ModelError(`${source}: an input of ${T} tokens is longer than the sliding window of ${Math.min(...windows)}, which runs on the CPU only for now: use --device cpu or at most ${Math.min(...windows)} tokens`);
  }
}

/** Targets for next-token prediction: ids shifted left by one per row, −1 (ignored) at each row's end. */
export function nextTokenTargets(ids: Int32Array, B: number, T: number): Int32Array {
  const t = new Int32Array(B * T).fill(-1);
  for (let b = 0; b < B; b++) for (let i = 0; i + 1 < T; i++) t[b * T + i] = ids[b * T + i + 1]!;
  return t;
}

/** Mean next-token cross-entropy of logits [B, T, V] against ids [B, T], over the B·(T−1) predicted tokens. */
export async function meanNextTokenCE(logits: Tensor, ids: Int32Array, shape: readonly [number, number]): Promise<number> {
  const [B, T] = shape;
  if (T < 2) throw new ModelError('a next-token loss needs at least 2 tokens per row');
  const targets = logits.device.fromArray(nextTokenTargets(ids, B, T), [B, T]);
  const losses = crossEntropy(logits, targets, -1);
  const v = (await losses.read()) as Float32Array;
  targets.dispose();
  losses.dispose();
  let s = 0;
  for (const x of v) s += x;
  return s / (B * (T - 1));
}

/** HF's pooling index: the last position whose id is not the pad id (the last position if none is, or no pad id). */
export function lastNonPad(row: Int32Array, padId: number | null): number {
  if (padId === null) return row.length - 1;
  for (let t = row.length - 1; t >= 0; t--) if (row[t] !== padId) return t;
  return 0; // an all-pad row: HF's argmax over zeros picks position 0
}

/** The state of one forward pass: hooks, kept activations, where to stop. */
class ForwardRun implements BlockContext {
  readonly activations = new Map<string, Tensor>();
  readonly grad: boolean;
  private readonly hooks: Record<string, HookFn>;
  private readonly keep: Set<string>;
  private readonly stopAtName: string | null;
  private readonly kept = new Set<Tensor>();
  stopped = false;

  constructor(cfg: ModelConfig, opts: ForwardOptions) {
    this.hooks = opts.hooks ?? {};
    this.grad = opts.grad ?? false;
    const stop: HookPoint | null = opts.stopAt !== undefined ? parseHook(opts.stopAt, cfg) : null;
    for (const name of Object.keys(this.hooks)) {
      const p = parseHook(name, cfg);
      if (stop && p.order > stop.order) throw new ModelError(`hook "${name}" comes after stopAt "${stop.name}": it would never run`);
    }
    this.keep = new Set(opts.keep ?? []);
    for (const name of this.keep) {
      const p = parseHook(name, cfg);
      if (stop && p.order > stop.order) throw new ModelError(`keep "${name}" comes after stopAt "${stop.name}": it would never be computed`);
    }
    if (stop && this.grad) throw new ModelError('grad and stopAt do not go together: a backward needs the whole forward');
    this.stopAtName = stop?.name ?? null;
  }

  hook(name: string, x: Tensor): Tensor {
    let v = x;
    const fn = this.hooks[name];
    if (fn) {
      const r = fn(x, name);
      if (r !== undefined && r !== x) {
        if (!(r instanceof Tensor)) throw new ModelError(`hook "${name}" returned ${typeof r}: return nothing (read) or a Tensor (replace)`);
        if (r.device !== x.device) throw new ModelError(`hook "${name}" returned a tensor on ${r.device.kind}, the model runs on ${x.device.kind}`);
        if (r.dtype !== 'f32' || r.shape.length !== x.shape.length || r.shape.some((s, i) => s !== x.shape[i])) {
          throw new ModelError(`hook "${name}" returned ${r.dtype}[${r.shape}], expected f32[${x.shape}]`);
        }
        this.release(x);
        v = r;
      }
    }
    if (this.keep.has(name)) {
      this.activations.set(name, v);
      this.kept.add(v);
    }
    if (name === this.stopAtName) this.stopped = true;
    return v;
  }

  /** Whether the forward stops right after hook `name`. */
  stopsAt(name: string): boolean {
    return this.stopAtName === name;
  }

  /** A tensor the caller owns (startAt's residual): never freed by this run. */
  borrow(t: Tensor): void {
    this.kept.add(t);
  }

  release(...ts: (Tensor | null | undefined)[]): void {
    for (const t of ts) if (t && !this.kept.has(t)) t.dispose();
  }
}
