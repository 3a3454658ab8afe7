// Stage 1 of `saelab train`: where the activations come from. Either the model streaming over a
// text corpus (tokenize + pack → forward harvesting one hook → seeded shuffle buffer) or an
// activation store's seeded shuffled batches; both give host batches [≤ batchSize, dIn] in a
// deterministic order, which is what makes a resume replay the same stream.

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Device } from '../compute/device.js';
import { ActivationStoreReader } from '../data/activationStoreReader.js';
import { DataError } from '../data/errors.js';
import { harvestActivations, planHooks } from '../data/harvest.js';
import { packSettings, packTokens, type PackedWindow, type PackSettings } from '../data/packTokens.js';
import { ShuffleBuffer } from '../data/shuffleBuffer.js';
import { readDocuments } from '../data/textSource.js';
import { parseHook } from '../model/hooks.js';
import { openModel } from '../model/openModel.js';
import type { Tokenizer } from '../model/tokenizers/index.js';
import { Transformer } from '../model/transformer.js';
import { SAELAB_VERSION } from '../version.js';
import type { SaeRunMetadata } from './saeFiles.js';
import { defaultData, defaultHook, defaultModel, parseHookList, TRAIN_DEFAULTS, TrainRunError, type TrainRunOptions } from './trainOptions.js';

/**
 * Turn a callback producer (`run(emit)`, which awaits each emit) into an async iterator: the
 * producer runs at most one item ahead, an error in it surfaces in the consumer, and a consumer
 * that stops early makes the pending emit throw so the producer unwinds.
 */
export async function* pullFrom<T>(run: (emit: (v: T) => Promise<void>) => Promise<unknown>): AsyncGenerator<T> {
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
export async function* streamBatches(model: Transformer, tok: Tokenizer, o: { data: string; hook: string; packing: PackSettings; harvestBatchSize: number; batchSize: number; bufferBatches: number; seed: number; textField: string; docSeparator: string | null; onFirstPass?: (rows: number) => void; read?: { windows: number } }): AsyncGenerator<Float32Array> {
  const dIn = model.config.dModel;
  const buf = new ShuffleBuffer({ dIn, capacity: Math.max(2, o.bufferBatches) * o.batchSize, batchSize: o.batchSize, seed: o.seed });
  let pass = 0;
  for (;;) {
    let rowsThisPass = 0;
    const chunks = pullFrom<Float32Array>((emit) => {
      const docs = readDocuments(o.data, { textField: o.textField, docSeparator: o.docSeparator });
      const windows = packTokens(docs, tok, o.packing);
      return harvestActivations(model, o.read ? countWindows(windows, o.read) : windows, {
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
    if (pass++ === 0) o.onFirstPass?.(rowsThisPass);
  }
}


/** The line saying a source of `rows` tokens is read about `need / rows` times over to give `need` tokens. */
export function repeatNote(what: string, rows: number, need: number): string {
  return `saelab: note: ${what} gives ${rows.toLocaleString('en-US')} tokens, so --tokens ${need.toLocaleString('en-US')} reads it ${(need / rows).toFixed(1)} times over (every SAE sees the same text repeatedly); use a larger corpus for more distinct tokens`;
}

/** An opened activation source: the model (or store), the hook, and its deterministic batch stream. */
export interface ActivationSource {
  kind: 'stream' | 'store';
  /** The model when streaming (the caller disposes it through `dispose`), else null. */
  model: Transformer | null;
  tokenizer: Tokenizer | null;
  store: ActivationStoreReader | null;
  /** The (first) hook; `hooks` lists every hook of a joint run (one SAE per hook, spliced in together). */
  hook: string;
  hooks: string[];
  dIn: number;
  /** The model's name as cfg.json records it (an absolute folder, or a hub id). */
  modelName: string;
  /** The SAELens metadata of the SAEs trained on this source. */
  metadata: SaeRunMetadata;
  /** A fresh host batch stream from the start (seeded by `dataSeed`); it covers at least `totalSteps` batches. */
  hostBatches(o: { totalSteps: number; batchSize: number; dataSeed: number; note?: (line: string) => void }): AsyncGenerator<Float32Array>;
  /** Streaming only: the corpus' packed windows in order, the corpus repeating when it runs out (end-to-end objectives read tokens, not activations). */
  tokenWindows?: () => AsyncGenerator<PackedWindow>;
  /** Corpus tokens the stream has read so far (read-ahead included; eval skips them), or null for a store. */
  streamTokensRead(): number | null;
  /** Free the model (idempotent). */
  dispose(): void;
}

/**
 * Open the model (or store) of a training run and check its hook and context, before anything is
 * written; a failure frees what was opened.
 */
export async function openActivationSource(opts: TrainRunOptions, device: Device, contextSize: number): Promise<ActivationSource> {
  const D = TRAIN_DEFAULTS;
  let model: Transformer | null = null;
  try {
    if (opts.store) {
      const store = await ActivationStoreReader.open(resolve(opts.store));
      const m = store.manifest;
      const hook = opts.hook ?? m.hooks[0]!;
      const dIn = store.dIn(hook);
      const layer = /^blocks\.(\d+)\./.exec(hook);
      const metadata: SaeRunMetadata = { model_name: m.model, hook_name: hook, hook_layer: layer ? Number(layer[1]) : null, context_size: m.packing.contextSize, dataset_path: m.dataset.path, prepend_bos: m.packing.prependBos, exclude_special_tokens: m.packing.excludeSpecial, activation_store: resolve(opts.store) };
      metadata.saelab_version = SAELAB_VERSION;
      return {
        kind: 'store', model: null, tokenizer: null, store, hook, hooks: [hook], dIn, modelName: m.model, metadata,
        hostBatches: ({ totalSteps, batchSize, dataSeed, note }) => {
          const epochs = Math.max(1, Math.ceil((totalSteps * batchSize) / Math.max(1, store.totalRows)));
          if (epochs > 1) note?.(repeatNote(`the store ${resolve(opts.store!)}`, store.totalRows, totalSteps * batchSize));
          return store.batches({ hook, batchSize, seed: dataSeed, epochs, bufferRows: Math.max(2, opts.bufferBatches ?? D.bufferBatches) * batchSize, chunkRows: opts.storeChunkRows });
        },
        streamTokensRead: () => null,
        dispose: () => undefined,
      };
    }
    const spec = opts.model ?? defaultModel();
    const download = opts.download ?? (opts.model === undefined && spec === 'gpt2');
    const modelName = existsSync(spec) ? resolve(spec) : spec;
    let dataPath = opts.data ?? defaultData();
    if (!dataPath) throw new TrainRunError('no --data given and the shared corpus ../shared/assets/corpora/mixed-public-domain.txt.xz is not here: pass --data FILE_OR_FOLDER');
    dataPath = resolve(dataPath);
    if (!existsSync(dataPath)) throw new DataError(`${dataPath}: no such file or folder`);
    const opened = await openModel(spec, device, { download, needTokenizer: true, load: opts.modelLoad });
    model = opened.model;
    const tok = opened.tokenizer!;
    const hooks = parseHookList(opts.hook) ?? [defaultHook(model.config.nLayers)];
    const hook = hooks[0]!;
    const point = parseHook(hook, model.config); // unknown hook: a ModelError with "did you mean"
    planHooks(model, hooks);
    const dIn = model.config.dModel;
    if (contextSize > model.config.nCtx) throw new TrainRunError(`--context-size ${contextSize} is longer than the model's context of ${model.config.nCtx} tokens`);
    const packing = packSettings({ contextSize, prependBos: opts.prependBos ?? true }, tok);
    const metadata: SaeRunMetadata = { model_name: modelName, hook_name: hook, hook_layer: point.layer, context_size: contextSize, dataset_path: dataPath, prepend_bos: packing.prependBos, exclude_special_tokens: packing.excludeSpecial };
    metadata.saelab_version = SAELAB_VERSION;
    const m = model;
    const data = dataPath;
    let disposed = false;
    const read = { windows: 0 };
    return {
      kind: 'stream', model: m, tokenizer: tok, store: null, hook, hooks, dIn, modelName, metadata,
      hostBatches: ({ totalSteps, batchSize, dataSeed, note }) => streamBatches(m, tok, {
        data, hook, packing, harvestBatchSize: opts.harvestBatchSize ?? D.harvestBatchSize, batchSize,
        bufferBatches: opts.bufferBatches ?? D.bufferBatches, seed: dataSeed, textField: opts.textField ?? 'text', docSeparator: opts.docSeparator === undefined ? '<|endoftext|>' : opts.docSeparator,
        // The corpus's length is known when its first pass ends: say then when it will repeat.
        onFirstPass: (rows) => {
          if (rows < totalSteps * batchSize) note?.(repeatNote(`the corpus ${data}`, rows, totalSteps * batchSize));
        },
        read,
      }),
      tokenWindows: () => countWindows(repeatWindows(data, tok, packing, opts.textField ?? 'text', opts.docSeparator === undefined ? '<|endoftext|>' : opts.docSeparator), read),
      streamTokensRead: () => read.windows * (packing.contextSize - (packing.prependBos ? 1 : 0)),
      dispose: () => {
        if (!disposed) m.dispose();
        disposed = true;
      },
    };
  } catch (e) {
    model?.dispose();
    throw e;
  }
}

/** The corpus' packed windows, pass after pass (a corpus without one full window is a DataError). */
async function* repeatWindows(data: string, tok: Tokenizer, packing: PackSettings, textField: string, docSeparator: string | null): AsyncGenerator<PackedWindow> {
  for (;;) {
    let n = 0;
    for await (const w of packTokens(readDocuments(data, { textField, docSeparator }), tok, packing)) {
      n++;
      yield w;
    }
    if (n === 0) throw new DataError(`${data}: the corpus gives no ${packing.contextSize}-token window (too short or empty); use more text or a smaller --context-size`);
  }
}
