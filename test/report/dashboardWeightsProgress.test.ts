// The weight-only phases of a dashboard (logit effects, neighbours) report progress per chunk of
// features, from 0 to all of them, so the CLI can draw a bar over the ~50 s they take on a CPU.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import { decoderNeighbours, logitEffects } from '../../src/report/dashboardLogits.js';

test('logitEffects and decoderNeighbours count their rows up to dSae', async () => {
  const dSae = 23;
  const dIn = 4;
  const V = 11;
  const rng = new Rng(5);
  const wDec = rng.normalArray(dSae * dIn, 1);
  const seen: number[] = [];
  await logitEffects(cpu, wDec, dSae, dIn, cpu.fromArray(rng.normalArray(dIn * V, 1), [dIn, V]), false, 3, 8, (done) => seen.push(done));
  assert.deepEqual(seen, [0, 8, 16, 23]);
  const nn: number[] = [];
  await decoderNeighbours(cpu, wDec, dSae, dIn, 2, 10, (done) => nn.push(done));
  assert.deepEqual(nn, [0, 10, 20, 23]);
});
