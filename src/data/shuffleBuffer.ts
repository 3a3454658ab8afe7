// A streaming shuffle buffer for training straight from harvested activations, without disk: rows
// go in as they are harvested, and once the buffer is half full each batch comes out as rows drawn
// uniformly at random from it (SAELens' mixing buffer plays this role). Rows from neighbouring
// tokens of one document are strongly correlated; drawing from a buffer of many batches breaks that
// up. The draws come from a seeded Rng, so the same rows and seed give the same batches.

import { Rng } from '../compute/random.js';
import { DataError } from './errors.js';

export interface ShuffleBufferOptions {
  /** Row width. */
  dIn: number;
  /** Rows the buffer holds (at least 2 × batchSize). */
  capacity: number;
  /** Rows per batch out. */
  batchSize: number;
  seed: number;
}

/** A fixed-size buffer of rows that gives out random batches (see the file comment). */
export class ShuffleBuffer {
  private readonly data: Float32Array;
  private count = 0;
  private readonly rng: Rng;
  readonly dIn: number;
  readonly capacity: number;
  readonly batchSize: number;

  constructor(opts: ShuffleBufferOptions) {
    const { dIn, capacity, batchSize } = opts;
    if (!(Number.isInteger(dIn) && dIn > 0)) throw new DataError(`shuffle buffer: dIn must be a positive integer (got ${dIn})`);
    if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new DataError(`shuffle buffer: batch size must be a positive integer (got ${batchSize})`);
    if (!(Number.isInteger(capacity) && capacity >= 2 * batchSize)) throw new DataError(`shuffle buffer: capacity must be an integer ≥ 2 × batch size = ${2 * batchSize} (got ${capacity})`);
    this.dIn = dIn;
    this.capacity = capacity;
    this.batchSize = batchSize;
    this.data = new Float32Array(capacity * dIn);
    this.rng = new Rng(opts.seed);
  }

  /** Rows held now. */
  get size(): number {
    return this.count;
  }

  /** Add rows [n, dIn]; yields every batch that becomes ready (consume them before pushing again). */
  *push(rows: Float32Array): Generator<Float32Array> {
    const d = this.dIn;
    if (rows.length % d !== 0) throw new DataError(`shuffle buffer: ${rows.length} values are not whole rows of ${d}`);
    const n = rows.length / d;
    let done = 0;
    while (done < n) {
      const take = Math.min(n - done, this.capacity - this.count);
      this.data.set(rows.subarray(done * d, (done + take) * d), this.count * d);
      this.count += take;
      done += take;
      // Keep it at least half full: every row out is drawn from ≥ capacity/2 rows.
      while (this.count - this.batchSize >= this.capacity / 2) yield this.take(this.batchSize);
    }
  }

  /** The rest, shuffled, in batches (the last one may be short): the end of the stream. */
  *flush(): Generator<Float32Array> {
    while (this.count > 0) yield this.take(Math.min(this.batchSize, this.count));
  }

  /** `n` rows drawn without replacement (each hole filled with the last row). */
  private take(n: number): Float32Array {
    const d = this.dIn;
    const out = new Float32Array(n * d);
    for (let r = 0; r < n; r++) {
      const i = this.rng.int(this.count);
      out.set(this.data.subarray(i * d, (i + 1) * d), r * d);
      const last = --this.count;
      if (i !== last) this.data.copyWithin(i * d, last * d, (last + 1) * d);
    }
    return out;
  }
}

/** Shuffle a stream of row chunks into batches through a ShuffleBuffer. */
export async function* shuffledBatches(chunks: AsyncIterable<Float32Array> | Iterable<Float32Array>, opts: ShuffleBufferOptions): AsyncGenerator<Float32Array> {
  const buf = new ShuffleBuffer(opts);
  for await (const c of chunks) yield* buf.push(c);
  yield* buf.flush();
}
