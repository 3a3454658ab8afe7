// Between the activation source and the trainer: the first batches fix the normalisation factor
// (E‖x‖² = d_in, SAELens' expected_average_only_in) and b_dec's sample; then every batch, scaled,
// goes to the device. Non-finite activations stop the run with the step and row that held them.

import { join } from 'node:path';
import type { Device } from '../compute/device.js';
import type { Tensor } from '../compute/tensor.js';
import { DataError } from '../data/errors.js';

/** The first non-finite value of a host array, as [index, value], or null. */
function firstNonFinite(a: Float32Array): [number, number] | null {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return [i, a[i]!];
  return null;
}

/** The scaled device batches of a run, and what its first batches fixed. */
export interface TrainBatches {
  /** The normalisation factor (1 when normalisation is off). */
  factor: number;
  /** b_dec's sample [rows, dIn] on the device (normalised), or undefined for `zeros`; the caller disposes it. */
  bDecSample: Tensor | undefined;
  /** The device batches [≤ batchSize, dIn], scaled: the first batches, then the rest of the source. */
  batches: AsyncGenerator<Tensor>;
}

/**
 * Read the first `normSteps` host batches of `source`, estimate the normalisation factor on them
 * (when `normalize`), take b_dec's sample from their first rows (unless `bDecInit` is 'zeros'), and
 * return the stream the trainer reads. A given `factor` (a warm start's) is used instead of the
 * estimate. `out` only names the checkpoint folder in error messages.
 */
export async function prepareTrainBatches(source: AsyncGenerator<Float32Array>, o: { device: Device; dIn: number; hook: string; out: string; normSteps: number; normalize: boolean; bDecInit: 'zeros' | 'mean' | 'geometric_median'; bDecSampleRows: number; factor?: number }): Promise<TrainBatches> {
  const { device, dIn, hook } = o;
  const checkFinite = (b: Float32Array, step: number) => {
    const bad = firstNonFinite(b);
    if (bad) throw new DataError(`non-finite activation (${bad[1]}) in the batch of step ${step + 1}, row ${Math.floor(bad[0] / dIn)}, at hook ${hook}: training stopped (checkpoints in ${join(o.out, 'checkpoints')} are intact)`);
  };
  const prefix: Float32Array[] = [];
  let stepOfPrefix = 0;
  while (prefix.length < o.normSteps) {
    const r = await source.next();
    if (r.done) break;
    checkFinite(r.value, stepOfPrefix++);
    prefix.push(r.value);
  }
  if (prefix.length === 0) throw new DataError('the activation source gave no rows');
  let factor = o.factor ?? 1;
  if (o.normalize && o.factor === undefined) {
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
    const out = new Float32Array(b.length);
    for (let i = 0; i < b.length; i++) out[i] = b[i]! * factor;
    return out;
  };

  // b_dec's sample: the first rows of the (normalised) first batches, the same for every SAE.
  let bDecSample: Tensor | undefined;
  if (o.bDecInit !== 'zeros') {
    const want = o.bDecSampleRows;
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
    bDecSample = device.fromArray(all, [have, dIn]);
  }

  // The stream the trainer reads: the prefix, then the rest of the same source, normalised and on the device.
  const normSteps = o.normSteps;
  async function* deviceBatches(): AsyncGenerator<Tensor> {
    for (const b of prefix.splice(0)) yield device.fromArray(scaleHost(b), [b.length / dIn, dIn]);
    for (let s = normSteps; ; s++) {
      const r = await source.next();
      if (r.done) return;
      checkFinite(r.value, s);
      yield device.fromArray(scaleHost(r.value), [r.value.length / dIn, dIn]);
    }
  }
  return { factor, bDecSample, batches: deviceBatches() };
}
