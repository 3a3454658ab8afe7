// `saelab forward`, `saelab generate` and `saelab bench forward` as a user meets them, on the shared
// fixtures and the real stories260K: saved hooks against HF's goldens, the next token against the
// model's greedy path, exit 2 with one line on bad input, seeded sampling.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { saelab } from '../helpers/cli.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { SAELAB_VERSION } from '../../src/version.js';
import { ASSETS, needsAsset, tempDir } from '../io/assets.js';


/** The error lines saelab printed (its own, not the device line or notes). */
function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('saelab:'));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const GPT2 = 'fixtures/gpt2-tiny-random';
const RM = 'fixtures/gpt2-rm-tiny-random';
const STORIES = 'models/stories260k';
const storiesBin = join(ASSETS, STORIES, 'stories260K.bin');
const storiesGolden = () =>
  JSON.parse(readFileSync(join(ASSETS, STORIES, 'golden.json'), 'utf8')) as { greedy_ids_from_bos_30: number[]; greedy_text_prefix: string };

test('--help lists forward and generate; bench lists forward', async () => {
  const r = await saelab(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /\bforward\b/);
  assert.match(r.stdout, /\bgenerate\b/);
  assert.match((await saelab(['bench', '--help'])).stdout, /\bforward\b/);
});

test('forward --ids --hooks --out on gpt2-tiny-random: the saved hook and logits equal HF\'s goldens', { skip: needsAsset(GPT2) }, async () => {
  const dir = join(ASSETS, GPT2);
  const golden = await SafetensorsFile.open(join(dir, 'golden.safetensors'));
  const T = 12;
  const ids = [...((await golden.readTyped('input_ids')) as Int32Array).subarray(0, T)]; // row 0 of [2, 12]
  const resid = (await golden.readF32('blocks.1.hook_resid_pre')).subarray(0, T * 64);
  const logits = (await golden.readF32('logits')).subarray(0, T * 1000);
  await golden.close();
  const { dir: tmp, cleanup } = tempDir();
  try {
    const out = join(tmp, 'acts.safetensors');
    const r = await saelab(['forward', '--model', dir, '--ids', ids.join(','), '--hooks', 'blocks.1.hook_resid_pre', '--out', out, '--device', 'cpu', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.deepEqual(j.ids, ids);
    assert.equal(j.out, out);
    assert.equal(j.top.length, 5);
    const f = await SafetensorsFile.open(out);
    assert.deepEqual(f.names().sort(), ['blocks.1.hook_resid_pre', 'input_ids', 'logits']);
    assert.deepEqual(f.info('blocks.1.hook_resid_pre').shape, [1, T, 64]);
    assert.equal(f.info('blocks.1.hook_resid_pre').dtype, 'F32');
    assert.ok(maxAbsDiff(await f.readF32('blocks.1.hook_resid_pre'), resid) <= 1e-4);
    const savedLogits = await f.readF32('logits');
    assert.ok(maxAbsDiff(savedLogits, logits) <= 1e-4);
    assert.deepEqual([...((await f.readTyped('input_ids')) as Int32Array)], ids);
    assert.deepEqual({ ...f.metadata }, { model: dir, input_ids: JSON.stringify(ids), device: j.device, saelab_version: SAELAB_VERSION });
    await f.close();
    // The printed top token is the argmax of the last row.
    const last = savedLogits.subarray((T - 1) * 1000);
    assert.equal(j.top[0].id, last.indexOf(Math.max(...last)));
  } finally {
    cleanup();
  }
});

test('forward on a reward model prints its reward (HF\'s golden)', { skip: needsAsset(RM) }, async () => {
  const dir = join(ASSETS, RM);
  const golden = await SafetensorsFile.open(join(dir, 'golden.safetensors'));
  const ids = [...((await golden.readTyped('input_ids')) as Int32Array).subarray(0, 12)];
  const reward = (await golden.readF32('rewards'))[0]!;
  await golden.close();
  const r = await saelab(['forward', '--model', dir, '--ids', ids.join(','), '--device', 'cpu', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.top, null);
  assert.ok(Math.abs(j.rewards[0] - reward) <= 1e-4, `${j.rewards} vs ${reward}`);
});

test('forward --text on stories260K: BOS + the text, and the top next token is the model\'s greedy one', { skip: needsAsset(STORIES) }, async () => {
  const greedy = storiesGolden().greedy_ids_from_bos_30;
  const r = await saelab(['forward', '--model', storiesBin, '--text', 'Once upon a time', '--device', 'cpu', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(j.ids, greedy.slice(0, 5)); // [BOS, " Once", " upon", " a", " time"]
  assert.equal(j.top[0].id, greedy[5]);
  assert.equal(j.top[0].token, ',');
  assert.ok(j.top.some((t: { token: string }) => t.token === ' there'), JSON.stringify(j.top));
  assert.ok(j.top[0].prob > 0.5 && j.top[0].prob <= 1);
  const human = await saelab(['forward', '--model', storiesBin, '--text', 'Once upon a time', '--device', 'cpu']);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /^432\s+","\s+\d+\.\d+\s+0\.9\d+$/m);
});

test('forward: an unknown hook is exit 2 with one "did you mean" line; so is a bad --ids or both inputs', { skip: needsAsset(GPT2) }, async () => {
  const dir = join(ASSETS, GPT2);
  const r = await saelab(['forward', '--model', dir, '--ids', '1,2,3', '--hooks', 'blocks.1.hook_resid_pr', '--device', 'cpu']);
  assert.equal(r.code, 2);
  const lines = errorLines(r.stderr);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /did you mean "blocks\.1\.hook_resid_pre"/);
  assert.doesNotMatch(r.stderr, /\bat .*\.js:\d+/);
  for (const args of [['--ids', '1,x'], ['--ids', '1', '--text', 'a'], [], ['--ids', '5000']]) {
    const b = await saelab(['forward', '--model', dir, ...args, '--device', 'cpu']);
    assert.equal(b.code, 2, `${args}: ${b.stderr}`);
    assert.equal(errorLines(b.stderr).length, 1, b.stderr);
  }
});

test('forward: a text longer than the context is exit 2; --truncate keeps the last nCtx tokens and says so', { skip: needsAsset(STORIES) }, async () => {
  const text = 'Once upon a time there was a cat. '.repeat(80); // ~720 tokens > 512
  const r = await saelab(['forward', '--model', storiesBin, '--text', text, '--device', 'cpu']);
  assert.equal(r.code, 2);
  const lines = errorLines(r.stderr);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /--text is \d+ tokens, longer than the model's context of 512 tokens \(pass --truncate/);
  const t = await saelab(['forward', '--model', storiesBin, '--text', text, '--truncate', '--device', 'cpu', '--json']);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stderr, /truncated to the last 512/);
  const j = JSON.parse(t.stdout);
  assert.equal(j.ids.length, 512);
  assert.ok(j.truncatedFrom > 512);
  const full = await saelab(['forward', '--model', storiesBin, '--text', text.slice(0, 200), '--device', 'cpu', '--json']);
  const head = JSON.parse(full.stdout).ids as number[];
  assert.equal(head[0], 1); // BOS, which truncation drops with the rest of the head
  assert.notEqual(j.ids[0], 1);
});

test('generate on stories260K at temperature 0 continues the prompt as llama2.c\'s greedy text', { skip: needsAsset(STORIES) }, async () => {
  const golden = storiesGolden().greedy_text_prefix;
  const prompt = 'Once upon a time';
  const r = await saelab(['generate', '--model', storiesBin, '--prompt', prompt, '--max-tokens', '30', '--device', 'cpu']);
  assert.equal(r.code, 0, r.stderr);
  const text = prompt + r.stdout.replace(/\n$/, '');
  const n = Math.min(text.length, golden.length);
  assert.ok(n >= 80, `only ${n} characters to compare: ${JSON.stringify(text)}`);
  assert.equal(text.slice(0, n), golden.slice(0, n));
  const j = JSON.parse((await saelab(['generate', '--model', storiesBin, '--prompt', prompt, '--max-tokens', '30', '--device', 'cpu', '--json'])).stdout);
  assert.equal(prompt + j.text, text);
  assert.equal(j.ids.length, 30);
  assert.equal(j.stoppedBy, 'max-tokens');
});

test('generate at temperature 1: the same seed gives the same text, another seed another', { skip: needsAsset(STORIES) }, async () => {
  const gen = async (seed: string) => {
    const r = await saelab(['generate', '--model', storiesBin, '--prompt', 'Once upon a time', '--max-tokens', '40', '--temperature', '1', '--seed', seed, '--device', 'cpu']);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  const [a, b, c] = await Promise.all([gen('1'), gen('1'), gen('2')]);
  assert.equal(a, b);
  assert.notEqual(a, c);
  const bad = await saelab(['generate', '--model', storiesBin, '--prompt', 'x', '--max-tokens', '3', '--temperature', '-1']);
  assert.equal(bad.code, 2);
  assert.match(errorLines(bad.stderr)[0]!, /--temperature must be a number ≥ 0/);
});

test('bench forward --json: a row per context length with tokens/s', async () => {
  const r = await saelab(['bench', 'forward', '--device', 'cpu', '--ctx', '8,16', '--batch-tokens', '16', '--stop-at-layer', '1', '--min-ms', '1', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(j.rows.map((row: { ctx: number; batch: number }) => [row.ctx, row.batch]), [[8, 2], [16, 1]]);
  for (const row of j.rows) assert.ok(row.tokensPerS > 0 && row.reps >= 2 && row.stopAtLayer === 1);
  const bad = await saelab(['bench', 'forward', '--stop-at-layer', '12']);
  assert.equal(bad.code, 2);
});
