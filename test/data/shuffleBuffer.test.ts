// The streaming shuffle buffer: the same seed gives the same batches, every row comes out exactly
// once, batches start once the buffer is half full, and rows are mixed (not in input order).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataError } from '../../src/data/errors.js';
import { ShuffleBuffer, shuffledBatches } from '../../src/data/shuffleBuffer.js';

const D = 3;
/** Rows whose first value is the row number. */
function rows(from: number, n: number): Float32Array {
  const a = new Float32Array(n * D);
  for (let i = 0; i < n; i++) a.set([from + i, -(from + i), 0.5], i * D);
  return a;
}
const firsts = (b: Float32Array) => Array.from({ length: b.length / D }, (_, i) => b[i * D]!);

async function run(seed: number, chunks = 10, chunkRows = 17): Promise<number[][]> {
  const input = Array.from({ length: chunks }, (_, i) => rows(i * chunkRows, chunkRows));
  const out: number[][] = [];
  for await (const b of shuffledBatches(input, { dIn: D, capacity: 64, batchSize: 8, seed })) {
    for (let i = 0; i < b.length / D; i++) assert.deepEqual([b[i * D + 1], b[i * D + 2]], [-b[i * D]!, 0.5], 'rows stay whole');
    out.push(firsts(b));
  }
  return out;
}

test('deterministic by seed; different seeds differ; every row exactly once', async () => {
  const a = await run(1);
  assert.deepEqual(await run(1), a);
  assert.notDeepEqual(await run(2), a);
  const all = a.flat().sort((x, y) => x - y);
  assert.deepEqual(all, Array.from({ length: 170 }, (_, i) => i));
  assert.ok(a.slice(0, -1).every((b) => b.length === 8), 'full batches but the last');
  assert.equal(a.at(-1)!.length, 170 % 8 || 8);
});

test('batches start once half full, and mix rows from far apart', () => {
  const buf = new ShuffleBuffer({ dIn: D, capacity: 64, batchSize: 8, seed: 3 });
  assert.equal([...buf.push(rows(0, 39))].length, 0, 'below half + one batch: nothing yet');
  const first = [...buf.push(rows(39, 1))];
  assert.equal(first.length, 1);
  assert.equal(buf.size, 32);
  // A chunk bigger than the buffer goes through in pieces.
  const many = [...buf.push(rows(40, 200))];
  assert.equal(many.length, 25);
  assert.equal(buf.size, 32);
  const order = [...first, ...many].flatMap(firsts);
  const inversions = order.slice(1).filter((x, i) => x < order[i]!).length;
  assert.ok(inversions > order.length / 4, `shuffled (${inversions} descents in ${order.length})`);
});

test('bad settings are DataErrors', () => {
  assert.throws(() => new ShuffleBuffer({ dIn: 4, capacity: 10, batchSize: 8, seed: 0 }), DataError);
  assert.throws(() => new ShuffleBuffer({ dIn: 0, capacity: 10, batchSize: 2, seed: 0 }), DataError);
  const b = new ShuffleBuffer({ dIn: 4, capacity: 16, batchSize: 2, seed: 0 });
  assert.throws(() => [...b.push(new Float32Array(6))], /not whole rows/);
});
