// `saelab harvest`: run a model over a text corpus and store the activations of chosen hooks as an
// on-disk activation store (shards + manifest). Re-running the same command resumes a killed
// harvest after its last complete shard; different options for an existing store are an error.

import { rmdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Device } from '../../compute/device.js';
import { checkOutputDir } from '../../io/outputPaths.js';
import { acquireOutputLock } from '../../io/outputLock.js';
import type { Command } from 'commander';
import { writeActivationStore, type WriteStoreResult } from '../../data/activationStore.js';
import { packSettings, packTokens } from '../../data/packTokens.js';
import type { StoreDtype } from '../../data/storeManifest.js';
import { readDocuments } from '../../data/textSource.js';
import { deviceOption, openDeviceFromFlag } from '../deviceOption.js';
import { UsageError } from '../errors.js';
import { intFlag, countFlag, choice, listOption, anyString } from '../flags.js';
import { emit } from '../output.js';
import { checkHooks, checkModelSpec, checkPath } from '../inputChecks.js';
import { loadOptionsFromFlags, modelDtypeOption, streamOption } from '../modelLoadOptions.js';
import { startProgress } from '../progress.js';
import { openModel, type OpenedModel } from '../../model/openModel.js';

export interface HarvestRequest {
  hooks: string[];
  data: string;
  tokens: number;
  out: string;
  contextSize: number;
  dtype: StoreDtype;
  batchSize: number;
  shardTokens?: number;
  textField: string;
  docSeparator: string | null;
  prependBos: boolean;
  separator: 'eos' | 'bos' | 'none';
  excludeSpecial: boolean;
  excludeFirst: boolean;
  quiet?: boolean;
}

export interface HarvestReport {
  out: string;
  model: string;
  hooks: string[];
  rows: number;
  targetRows: number;
  shards: number;
  bytes: number;
  resumedFromRows: number;
  /** The corpus ran out before --tokens rows. */
  exhausted: boolean;
  seconds: number;
  /** Rows harvested by this run per second (unit: tokens/s). */
  tokensPerSecond: number;
}

/** Harvest `req` with an opened model (which needs its tokenizer) into req.out. */
export async function runHarvest(opened: OpenedModel, req: HarvestRequest): Promise<HarvestReport> {
  const tok = opened.tokenizer!;
  const { model } = opened;
  if (req.contextSize > model.config.nCtx) throw new UsageError(`--context-size ${req.contextSize} is longer than the model's context of ${model.config.nCtx} tokens`);
  const packing = packSettings({ contextSize: req.contextSize, prependBos: req.prependBos, separator: req.separator, excludeSpecial: req.excludeSpecial, excludeFirst: req.excludeFirst }, tok);
  const dataset = { path: resolve(req.data), textField: req.textField, docSeparator: req.docSeparator };
  const docs = readDocuments(dataset.path, { textField: req.textField, docSeparator: req.docSeparator });
  const bar = startProgress('harvest', req.tokens, { unit: 'tokens', quiet: req.quiet, fields: ['tokens_s', 'shards'] });
  const t0 = performance.now();
  let r: WriteStoreResult;
  try {
    r = await writeActivationStore({
      dir: resolve(req.out), runner: model, windows: packTokens(docs, tok, packing),
      model: resolve(opened.path), hooks: req.hooks, dtype: req.dtype, packing, dataset,
      targetRows: req.tokens, batchSize: req.batchSize, shardRows: req.shardTokens,
      onProgress: (p) => {
        const s = (performance.now() - t0) / 1000;
        bar.update(p.rows, { tokens_s: s > 0 ? Math.round((p.rows - p.resumedFromRows) / s) : '-', shards: p.shards });
      },
    });
  } finally {
    bar.stop();
  }
  const seconds = (performance.now() - t0) / 1000;
  const m = r.manifest;
  const fresh = m.totalRows - r.resumedFromRows;
  return {
    out: resolve(req.out), model: m.model, hooks: m.hooks, rows: m.totalRows, targetRows: m.targetRows, shards: m.shards.length,
    bytes: m.shards.reduce((s, e) => s + e.bytes, 0), resumedFromRows: r.resumedFromRows, exhausted: r.exhausted,
    seconds, tokensPerSecond: seconds > 0 ? fresh / seconds : 0,
  };
}

/** `--doc-separator`: backslash escapes (\n, \t, \\) so a blank line can be given as "\n\n"; 'none' for one document per file. */
function separatorFlag(s: string): string | null {
  if (s === 'none' || s === '') return null;
  return s.replace(/\\(n|t|r|\\)/g, (_m, c: string) => ({ n: '\n', t: '\t', r: '\r', '\\': '\\' })[c]!);
}

/** Register `saelab harvest`. */
export function registerHarvest(program: Command): void {
  program
    .command('harvest')
    .description('run a model over a text corpus and store hook activations on disk (sharded, checksummed, resumable: re-run to continue)')
    .requiredOption('--model <model>', 'an HF model folder (with its tokenizer), a llama2.c .bin, or a hub id in the HF cache')
    .addOption(listOption('--hooks <names>', 'hook names, e.g. blocks.3.hook_resid_post,blocks.4.hook_resid_post (one forward serves all)', anyString).makeOptionMandatory())
    .requiredOption('--data <path>', 'a corpus file or folder: .txt/.md (split on --doc-separator) or .jsonl/.json lines, each optionally .gz/.xz')
    .requiredOption('--tokens <n>', 'activation rows (kept token positions) to store, e.g. 1e6 or 2M', countFlag('--tokens'))
    .requiredOption('--out <dir>', 'the store folder (created; an existing store there is resumed)')
    .option('--context-size <n>', 'tokens per window', intFlag('--context-size', 2), 128)
    .option('--dtype <dtype>', 'f32 or bf16 (half the disk, ~3 significant digits)', choice('--dtype', ['f32', 'bf16'] as const), 'f32')
    .option('--batch-size <n>', 'windows per forward pass (a resume must use the same)', intFlag('--batch-size', 1), 8)
    .option('--shard-tokens <n>', 'rows per shard (default: about 64 MiB per shard)', intFlag('--shard-tokens', 1))
    .option('--text-field <name>', 'the field holding the text in JSON lines', 'text')
    .option('--doc-separator <s>', 'split plain text into documents on this string (escapes \\n \\t; "none": one document per file)', separatorFlag, '<|endoftext|>')
    .option('--no-prepend-bos', 'do not start each window with BOS (default: start with BOS, as SAELens)')
    .option('--separator <tok>', 'token between documents: eos, bos or none', choice('--separator', ['eos', 'bos', 'none'] as const), 'eos')
    .option('--keep-special', 'keep BOS/EOS/PAD positions in the store (default: excluded)')
    .option('--exclude-first', 'also exclude position 0 of every window')
    .option('--download', 'download the model from the hub when it is not local or cached')
    .addOption(deviceOption())
    .addOption(modelDtypeOption())
    .addOption(streamOption())
    .option('--json', 'print JSON')
    .action(async (o: {
      model: string; hooks: string[]; data: string; tokens: number; out: string; contextSize: number; dtype: StoreDtype; batchSize: number;
      shardTokens?: number; textField: string; docSeparator: string | null; prependBos: boolean; separator: 'eos' | 'bos' | 'none';
      keepSpecial?: boolean; excludeFirst?: boolean; download?: boolean; device: string; json?: boolean; modelDtype: string; stream?: boolean;
    }) => {
      const note = (line: string) => process.stderr.write(`${line}\n`);
      const hooks = o.hooks;
      checkPath('--data', o.data);
      // Only the blocks up to the last hook are read: a forward to a hook needs no later layer.
      const load = { ...loadOptionsFromFlags(o), upToHooks: hooks };
      checkHooks(await checkModelSpec(o.model, o.download), hooks);
      // The store folder: writable, and ours alone while we write (a second harvest into it is refused).
      const { dir, created } = checkOutputDir(o.out, '--out');
      const lock = acquireOutputLock(dir, 'saelab harvest', note);
      let device: Device | null = null;
      let opened: OpenedModel | null = null;
      let ok = false;
      try {
        device = await openDeviceFromFlag(o.device, !!o.json);
        opened = await openModel(o.model, device, { download: o.download, needTokenizer: true, note, load });
        const r = await runHarvest(opened, {
          hooks, data: o.data, tokens: o.tokens, out: o.out, contextSize: o.contextSize, dtype: o.dtype, batchSize: o.batchSize,
          shardTokens: o.shardTokens, textField: o.textField, docSeparator: o.docSeparator, prependBos: o.prependBos, separator: o.separator,
          excludeSpecial: !o.keepSpecial, excludeFirst: !!o.excludeFirst, quiet: !!o.json,
        });
        emit(!!o.json, r, () => {
          const resumed = r.resumedFromRows > 0 ? ` (resumed after ${r.resumedFromRows.toLocaleString('en-US')})` : '';
          console.log(`${r.out}: ${r.rows.toLocaleString('en-US')} rows × ${r.hooks.length} hook(s) in ${r.shards} shard(s), ${(r.bytes / 2 ** 20).toFixed(1)} MiB${resumed}`);
          console.log(`${r.seconds.toFixed(1)} s, ${Math.round(r.tokensPerSecond).toLocaleString('en-US')} tokens/s`);
          if (r.exhausted) console.log(`note: the corpus ran out after ${r.rows.toLocaleString('en-US')} of ${r.targetRows.toLocaleString('en-US')} rows`);
        });
        ok = true;
      } finally {
        opened?.model.dispose();
        device?.destroy();
        lock.release();
        // A harvest that failed before writing anything leaves no empty folder behind.
        if (!ok) for (const d of [...created].reverse()) await rmdir(d).catch(() => undefined);
      }
    });
}
