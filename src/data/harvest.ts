// Harvest activations: run the model over packed windows, batch by batch, and hand each hook's
// rows — one per kept (not excluded) position, in window order — to a consumer. One forward serves
// every hook: all are kept, and the forward stops right after the last of them in layer order.
// Rows are numbered from the start of the window stream, so a caller can ask for rows
// [startRow, maxRows) and resume where it stopped; batches wholly before startRow are skipped
// without a forward, and batch boundaries never move, so resumed rows equal uninterrupted ones.

import type { Transformer } from '../model/transformer.js';
import { parseHook } from '../model/hooks.js';
import { DataError } from './errors.js';
import { keptCount, type PackedWindow } from './packTokens.js';

/** What a consumer gets with each batch of rows. */
export interface BatchInfo {
  /** The batch's index in the window stream (batches of `batchSize` windows). */
  batch: number;
  /** Token ids of the rows, [n]. */
  ids: Int32Array;
  /** Row number (from the stream's start) of the first row. */
  firstRow: number;
}

export interface HarvestOptions {
  /** Hook names (each must exist in the model). */
  hooks: readonly string[];
  /** Windows per forward. */
  batchSize: number;
  /** Receives each hook's rows [n, dModel] (row-major) for a batch; awaited before the next forward. */
  onBatch(hook: string, rows: Float32Array, info: BatchInfo): void | Promise<void>;
  /** Skip rows before this one (resume). Default 0. */
  startRow?: number;
  /** Stop once this many rows (counted from the stream's start) are harvested. Default: the whole stream. */
  maxRows?: number;
}

export interface HarvestStats {
  /** Rows handed to onBatch per hook. */
  rows: number;
  /** Windows read from the stream (including skipped ones). */
  windows: number;
  /** Forward passes run. */
  forwards: number;
  /** Token positions forwarded. */
  tokensForwarded: number;
  seconds: number;
}

/** The hooks in forward order, checked, and the one to stop at. */
export function planHooks(model: Transformer, hooks: readonly string[]): { hooks: string[]; stopAt: string } {
  if (hooks.length === 0) throw new DataError('no hooks to harvest: name at least one (e.g. blocks.0.hook_resid_pre)');
  if (new Set(hooks).size !== hooks.length) throw new DataError(`hooks named twice: ${hooks.join(', ')}`);
  const points = hooks.map((h) => parseHook(h, model.config));
  const last = points.reduce((a, b) => (b.order > a.order ? b : a));
  return { hooks: [...hooks], stopAt: last.name };
}

/** Run `model` over `windows` and feed `onBatch` with every hook's kept rows (see the file comment). */
export async function harvestActivations(model: Transformer, windows: AsyncIterable<PackedWindow> | Iterable<PackedWindow>, opts: HarvestOptions): Promise<HarvestStats> {
  const { hooks, stopAt } = planHooks(model, opts.hooks);
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new DataError(`batch size must be a positive integer (got ${opts.batchSize})`);
  const startRow = opts.startRow ?? 0;
  const maxRows = opts.maxRows ?? Infinity;
  const d = model.config.dModel;
  const t0 = performance.now();
  const stats: HarvestStats = { rows: 0, windows: 0, forwards: 0, tokensForwarded: 0, seconds: 0 };
  let rowAt = 0; // stream row number of the next batch's first kept position
  let batchIndex = 0;
  let batch: PackedWindow[] = [];
  if (startRow >= maxRows) return stats;

  const run = async (): Promise<void> => {
    const kept = batch.reduce((s, w) => s + keptCount(w), 0);
    const first = rowAt;
    rowAt += kept;
    const b = batchIndex++;
    const ws = batch;
    batch = [];
    if (rowAt <= startRow || kept === 0) return; // wholly before the resume point: no forward needed
    const T = ws[0]!.ids.length;
    const ids = new Int32Array(ws.length * T);
    ws.forEach((w, i) => {
      if (w.ids.length !== T) throw new DataError(`windows of different lengths in one batch (${T} and ${w.ids.length})`);
      ids.set(w.ids, i * T);
    });
    const res = model.forward(ids, [ws.length, T], { keep: hooks, stopAt });
    stats.forwards++;
    stats.tokensForwarded += ids.length;
    // Rows wanted from this batch: [lo, hi) of its kept positions.
    const lo = Math.max(0, startRow - first);
    const hi = Math.min(kept, maxRows - first);
    const rowIds = new Int32Array(hi - lo);
    const positions = new Int32Array(hi - lo); // flat b·T + t of each row
    let k = 0;
    let n = 0;
    for (let i = 0; i < ids.length && n < hi - lo; i++) {
      if (ws[Math.floor(i / T)]!.exclude[i % T]) continue;
      if (k++ < lo) continue;
      positions[n] = i;
      rowIds[n++] = ids[i]!;
    }
    try {
      for (const h of hooks) {
        const t = res.activations.get(h)!;
        const all = (await t.read()) as Float32Array;
        const rows = new Float32Array(n * d);
        for (let r = 0; r < n; r++) rows.set(all.subarray(positions[r]! * d, (positions[r]! + 1) * d), r * d);
        await opts.onBatch(h, rows, { batch: b, ids: rowIds, firstRow: first + lo });
      }
    } finally {
      for (const t of res.activations.values()) t.dispose();
    }
    stats.rows += n;
  };

  for await (const w of windows) {
    if (rowAt >= maxRows) break;
    stats.windows++;
    batch.push(w);
    if (batch.length === opts.batchSize) await run();
  }
  if (batch.length > 0 && rowAt < maxRows) await run();
  stats.seconds = (performance.now() - t0) / 1000;
  return stats;
}
