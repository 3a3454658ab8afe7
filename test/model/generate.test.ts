// Generation: the sampler (greedy ties, temperature, top-k, seeds), streaming text that never cuts
// a character in half, and generate() on the real stories260K against the model's own greedy path.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import { generate, lastTokenLogits, sampleToken, textStream } from '../../src/model/generate.js';
import { loadTokenizer } from '../../src/model/tokenizers/index.js';
import { Transformer } from '../../src/model/transformer.js';
import { ASSETS, needsAsset } from '../io/assets.js';

test('temperature 0 is argmax, ties to the lower id; top-k 1 is argmax at any temperature', () => {
  const rng = new Rng(0);
  assert.equal(sampleToken([0.5, 2, -1, 2, 1.9], { temperature: 0 }, rng), 1);
  for (let i = 0; i < 50; i++) assert.equal(sampleToken([0.5, 1.9, -1, 2, 1.95], { temperature: 5, topK: 1 }, rng), 3);
});

test('sampling draws from softmax(logits / T) over the top k', () => {
  const count = (logits: number[], temperature: number, topK: number | undefined, n: number): number[] => {
    const rng = new Rng(123);
    const c = logits.map(() => 0);
    for (let i = 0; i < n; i++) c[sampleToken(logits, { temperature, topK }, rng)]!++;
    return c.map((x) => x / n);
  };
  const n = 20000;
  // p ∝ exp([0, ln 3]) = [1/4, 3/4]; at T = 2, ∝ [1, √3]. SE of a frequency ≤ 0.0036 at n = 20000: 0.015 is 4 SE.
  const p1 = count([0, Math.log(3)], 1, undefined, n);
  assert.ok(Math.abs(p1[1]! - 0.75) < 0.015, `${p1}`);
  const p2 = count([0, Math.log(3)], 2, undefined, n);
  assert.ok(Math.abs(p2[1]! - Math.sqrt(3) / (1 + Math.sqrt(3))) < 0.015, `${p2}`);
  // Top-2 of four: the two small logits never come up, the two large share 1:e.
  const p3 = count([3, -5, 4, -5], 1, 2, n);
  assert.equal(p3[1]! + p3[3]!, 0);
  assert.ok(Math.abs(p3[2]! - Math.E / (1 + Math.E)) < 0.015, `${p3}`);
});

test('the same seed repeats the draws; another seed does not', () => {
  const logits = Array.from({ length: 64 }, (_, i) => Math.sin(i));
  const draws = (seed: number) => {
    const rng = new Rng(seed);
    return Array.from({ length: 40 }, () => sampleToken(logits, { temperature: 1 }, rng));
  };
  assert.deepEqual(draws(7), draws(7));
  assert.notDeepEqual(draws(7), draws(8));
});

test('textStream holds back a character split across byte-level tokens', { skip: needsAsset('models/gpt2-corpus-tiny') }, async () => {
  const tok = await loadTokenizer(join(ASSETS, 'models/gpt2-corpus-tiny'));
  const text = ' café 🦀 crab';
  const ids = tok.encode(text);
  const crab = tok.encode(' 🦀');
  assert.ok(crab.length > 1, 'the crab emoji should take several byte-level tokens');
  const s = textStream(tok, tok.encode('A'));
  const pieces = ids.map((id) => s.push(id));
  pieces.push(s.flush());
  assert.equal(pieces.join(''), text);
  for (const p of pieces) assert.ok(!p.includes('\uFFFD'), `a piece cut a character: ${JSON.stringify(pieces)}`);
  assert.ok(pieces.includes(''), 'some token completed no character and gave no text');
});

const STORIES = 'models/stories260k';

test('stories260K: generate at temperature 0 is the model\'s greedy path; the text follows BOS rules', { skip: needsAsset(STORIES) }, async () => {
  const model = await Transformer.load(join(ASSETS, STORIES, 'stories260K.bin'), cpu);
  const tok = await loadTokenizer(join(ASSETS, STORIES));
  const prompt = Int32Array.from(tok.encode('Once upon a time', { bos: true }));
  const seen: number[] = [];
  const r = await generate(model, prompt, { maxTokens: 25, onToken: (id) => seen.push(id) });
  const greedy = await model.greedy(prompt, 25);
  assert.deepEqual([...r.ids], [...greedy.subarray(prompt.length)]);
  assert.deepEqual(seen, [...r.ids]);
  assert.equal(r.stoppedBy, 'max-tokens');
  // lastTokenLogits (unembedding one row) agrees with the full forward's last row.
  const full = model.forward(prompt, [1, prompt.length]).logits!.data as Float32Array;
  const last = await lastTokenLogits(model, prompt);
  const V = model.config.vocabSize;
  for (let j = 0; j < V; j++) assert.ok(Math.abs(last[j]! - full[(prompt.length - 1) * V + j]!) < 1e-4);
  // From BOS alone the streamed text starts "Once" (llama2.c drops the first piece's space after BOS).
  const s = textStream(tok, [1]);
  const fromBos = await generate(model, Int32Array.of(1), { maxTokens: 3 });
  assert.equal([...fromBos.ids].map((id) => s.push(id)).join('') + s.flush(), 'Once upon a');
  model.dispose();
});

test('stories260K: seeded sampling repeats; stop ids and the context end a text', { skip: needsAsset(STORIES) }, async () => {
  const model = await Transformer.load(join(ASSETS, STORIES, 'stories260K.bin'), cpu);
  const prompt = Int32Array.of(1, 403);
  const a = await generate(model, prompt, { maxTokens: 20, temperature: 1, seed: 5 });
  const b = await generate(model, prompt, { maxTokens: 20, temperature: 1, seed: 5 });
  const c = await generate(model, prompt, { maxTokens: 20, temperature: 1, seed: 6 });
  assert.deepEqual([...a.ids], [...b.ids]);
  assert.notDeepEqual([...a.ids], [...c.ids]);
  // Greedy after "Once" is " upon": as a stop id it ends the text at once.
  const stopped = await generate(model, prompt, { maxTokens: 5, stopIds: [407] });
  assert.deepEqual(stopped, { ids: new Int32Array(), stoppedBy: 'stop-token', stopId: 407 });
  // Two tokens short of the 512-token context: two more, then the context is full.
  const long = Int32Array.from({ length: 510 }, (_, i) => (i === 0 ? 1 : 403));
  const full = await generate(model, long, { maxTokens: 10 });
  assert.equal(full.ids.length, 2);
  assert.equal(full.stoppedBy, 'context');
  await assert.rejects(generate(model, prompt, { maxTokens: 1, temperature: -1 }), /temperature must be a number ≥ 0/);
  await assert.rejects(generate(model, prompt, { maxTokens: 1, temperature: 1, topK: 0 }), /top-k must be a positive integer/);
  model.dispose();
});
