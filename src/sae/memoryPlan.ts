// The memory a training run needs, checked against the device before any work, so a too-wide SAE
// is one line saying what fits instead of "Invalid typed array length" or "Array buffer allocation
// failed" after the model has loaded. The estimate, per SAE of d_in d and d_sae n, batch B (f32):
//   params P = 2·d·n + n + d (W_enc, W_dec, b_enc, b_dec); Adam m and v and the gradients: 3·P more;
//   dead-latent counters: 2·n; batch buffers: pre-activations, latents and their gradient [B, n]
//   plus input, reconstruction and its gradient [B, d].
// Every SAE keeps its own params and state; the batch buffers live while one SAE steps and are
// reused by the next of the same width (the buffer pools keep each size they saw), so they count
// once per distinct width.

import { freemem } from 'node:os';
import type { Device } from '../compute/device.js';
import type { SaeConfig } from './types.js';

/** A run that cannot fit in the device's memory (exit 2, one line saying what fits). */
export class MemoryPlanError extends Error {
  override name = 'MemoryPlanError';
}

/** Longest typed array this Node allows (elements); past it: "Invalid typed array length". */
export const MAX_TYPED_ARRAY_LENGTH = 2 ** 32;

/** Bytes one SAE of `cfg` needs to train on batches of `batchSize` rows (see the file comment), and its largest tensor's elements. */
export function saeTrainBytes(cfg: Pick<SaeConfig, 'dIn' | 'dSae'>, batchSize: number): { state: number; batch: number; largest: number } {
  const d = cfg.dIn;
  const n = cfg.dSae;
  const params = 2 * d * n + n + d;
  return { state: 4 * (4 * params + 2 * n), batch: 4 * (3 * batchSize * n + 3 * batchSize * d), largest: Math.max(d * n, batchSize * n) };
}

/** The whole run's need: every SAE's state and batch buffers. */
export function trainMemoryNeed(cfgs: readonly Pick<SaeConfig, 'dIn' | 'dSae'>[], batchSize: number): { bytes: number; stateBytes: number; batchBytes: number; largestElements: number } {
  let stateBytes = 0;
  let batchBytes = 0;
  let largestElements = 0;
  const widths = new Set<number>();
  for (const c of cfgs) {
    const b = saeTrainBytes(c, batchSize);
    stateBytes += b.state;
    if (!widths.has(c.dSae)) batchBytes += b.batch;
    widths.add(c.dSae);
    largestElements = Math.max(largestElements, b.largest);
  }
  return { bytes: stateBytes + batchBytes, stateBytes, batchBytes, largestElements };
}

/** What a device offers: bytes in all (null: unknown) and bytes in one tensor. */
export interface MemoryBudget {
  bytes: number | null;
  tensorBytes: number;
  /** Where the numbers come from, for the message. */
  source: string;
  tensorSource: string;
}

/** Parse a byte count like `80G`, `512M` or `1e10`; null when unparsable. */
export function parseBytes(s: string): number | null {
  const m = /^\s*([\d.]+(?:e\d+)?)\s*([kmgt]?)i?b?\s*$/i.exec(s);
  if (!m) return null;
  const v = Number(m[1]) * 1024 ** ' kmgt'.indexOf((m[2] || ' ').toLowerCase());
  return Number.isFinite(v) && v > 0 ? v : null;
}

/**
 * The budget of `device`: on CPU the free memory (os.freemem, which is Linux's MemAvailable) and
 * the longest typed array; on WebGPU the adapter's maxBufferSize per tensor and, since WebGPU does
 * not tell a GPU's memory, the budget in SAELAB_GPU_MEMORY (e.g. `80G`) when it is set.
 */
export function deviceBudget(device: Device, env: NodeJS.ProcessEnv = process.env): MemoryBudget {
  if (device.kind === 'cpu') return { bytes: freemem(), tensorBytes: 4 * MAX_TYPED_ARRAY_LENGTH, source: 'the free memory of this machine', tensorSource: "Node's longest typed array" };
  const limits = (device as { limits?: { maxBufferSize?: number } }).limits;
  const tensorBytes = limits?.maxBufferSize ?? 256 * 2 ** 20; // WebGPU's guaranteed minimum
  const budget = env.SAELAB_GPU_MEMORY ? parseBytes(env.SAELAB_GPU_MEMORY) : null;
  return { bytes: budget, tensorBytes, source: 'SAELAB_GPU_MEMORY', tensorSource: "this GPU's maxBufferSize" };
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(b < 2 ** 30 ? 3 : 1)} GiB`;

/**
 * Refuse a run whose SAEs (`cfgs`, all of one d_in) cannot fit `budget`: one line with the need, the
 * budget and the widest d_sae that would fit with the same number of SAEs and batch size.
 */
export function checkTrainMemory(cfgs: readonly Pick<SaeConfig, 'dIn' | 'dSae'>[], batchSize: number, budget: MemoryBudget): void {
  if (cfgs.length === 0) return;
  const need = trainMemoryNeed(cfgs, batchSize);
  const overTensor = 4 * need.largestElements > budget.tensorBytes;
  const overTotal = budget.bytes !== null && need.bytes > budget.bytes;
  if (!overTensor && !overTotal) return;
  // The widest equal width that fits, by bisection (the need grows with d_sae).
  const dIn = cfgs[0]!.dIn;
  const fits = (n: number) => {
    const all = trainMemoryNeed(cfgs.map(() => ({ dIn, dSae: n })), batchSize);
    return 4 * all.largestElements <= budget.tensorBytes && (budget.bytes === null || all.bytes <= budget.bytes);
  };
  let lo = 0;
  let hi = Math.max(...cfgs.map((c) => c.dSae));
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  const widest = Math.max(...cfgs.map((c) => c.dSae));
  const what = `${cfgs.length} SAE(s) up to d_sae ${widest} at batch ${batchSize}`;
  const hint = lo > 0 ? `at most d_sae ${lo} fits with these ${cfgs.length} SAE(s), or use fewer seeds/widths or a smaller --batch-size` : 'use fewer seeds/widths or a smaller --batch-size';
  if (overTensor) {
    throw new MemoryPlanError(`${what} need a tensor of ${gib(4 * need.largestElements)}, over the ${gib(budget.tensorBytes)} of ${budget.tensorSource}: ${hint}`);
  }
  throw new MemoryPlanError(`${what} need about ${gib(need.bytes)} (params + Adam ${gib(need.stateBytes)}, batch buffers ${gib(need.batchBytes)}) but ${budget.source} is ${gib(budget.bytes!)}: ${hint}`);
}
