// The training log: one JSON object per line (JSONL), one line per SAE per logged step, appended and
// flushed as it is written so that a crash loses at most the rows being written. On resume, rows
// past the checkpoint's step are dropped first, so the file reads as one uninterrupted run.

import { appendFile, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../io/atomicWrite.js';

/** One logged row (numbers are means over the step's batch; lr after the schedule). */
export interface TrainLogRow {
  /** Steps completed (1 after the first update). */
  step: number;
  /** Tokens consumed so far (every SAE sees the same tokens). */
  tokens: number;
  saeIndex: number;
  loss: number;
  mse: number;
  l1?: number;
  auxK?: number;
  l0: number;
  /** Fraction of latents not fired for deadTokensThreshold tokens. */
  deadFraction: number;
  lr: number;
  /** Throughput since the previous log row (wall clock, all SAEs together). */
  tokensPerSecond: number;
  /** Global gradient norm before clipping. */
  gradNorm?: number;
  /** An end-to-end objective's own terms (`kl`, `ds:<hook>`, …), each before its coefficient. */
  terms?: Record<string, number>;
}

/** Append rows to a JSONL file (one write per call; the file is closed, hence flushed, after it). */
export async function appendTrainLog(path: string, rows: readonly TrainLogRow[]): Promise<void> {
  if (rows.length === 0) return;
  await appendFile(path, rows.map((r) => JSON.stringify(r) + '\n').join(''), 'utf8');
}

/** Read every row of a JSONL training log (a torn last line, from a crash mid-write, is skipped). */
export async function readTrainLog(path: string): Promise<TrainLogRow[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const rows: TrainLogRow[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      rows.push(JSON.parse(line) as TrainLogRow);
    } catch {
      // a partial line from an interrupted append
    }
  }
  return rows;
}

/** Drop rows with step > `step` and any torn line (atomically rewriting the file); a missing file stays missing. */
export async function truncateTrainLog(path: string, step: number): Promise<void> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  const keep = (await readTrainLog(path)).filter((r) => r.step <= step);
  const out = keep.map((r) => JSON.stringify(r) + '\n').join('');
  // Rewrite only when something changes, e.g. a torn last line that a later append would extend.
  if (out !== text) await writeFileAtomic(path, out);
}
