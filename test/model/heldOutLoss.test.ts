// The held-out loss of ../shared/assets/models/gpt2-corpus-tiny, reproduced from its corpus.
//
// train-report.json states the loss (lm_val_loss_nats 2.9825) and the token count (11,206,203) but
// not how the validation split was taken. We take the conventional one of nanoGPT-style training
// scripts: the corpus tokenized as one stream (the literal "<|endoftext|>" separators as token
// 50256), the first 90% for training, the last 10% held out, and the loss estimated on windows of the
// model's context (256) at random offsets in it. Our tokenizer gives 11,206,202 tokens for the text,
// one fewer than the report (an <|endoftext|> the training script added at one end); the split point
// moves by at most that one token. The corpus is shuffled by document, so a wrong guess would mean
// these windows are training data, whose loss is lower by the generalization gap; the tolerance below
// is wider than that gap as far as a scan of the whole stream could tell (bins of 24 windows over the
// stream ranged 2.3–3.8 nats with no visible step at 90%: window-to-window spread dominates).

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { windowLosses, windowStarts } from '../../src/model/heldOutLoss.js';
import { loadTokenizer } from '../../src/model/tokenizers/index.js';
import { Transformer } from '../../src/model/transformer.js';
import { ASSETS, needsAsset } from '../io/assets.js';

const MODEL = 'models/gpt2-corpus-tiny';
const CORPUS = 'corpora/mixed-public-domain.txt.xz';
const EOT = '<|endoftext|>';

/** The last `bytes` bytes of the xz-compressed file's text, streamed through the xz CLI (nothing is cached). */
async function xzTail(file: string, bytes: number): Promise<Buffer> {
  const xz = spawn('xz', ['-dc', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  let held = 0;
  let stderr = '';
  xz.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  for await (const c of xz.stdout as AsyncIterable<Buffer>) {
    chunks.push(c);
    held += c.length;
    while (held - chunks[0]!.length >= bytes) held -= chunks.shift()!.length;
  }
  const code: number = await new Promise((res) => (xz.exitCode !== null ? res(xz.exitCode) : xz.on('close', (c) => res(c ?? 1))));
  if (code !== 0) throw new Error(`xz -dc ${file} failed (${code}): ${stderr.trim()}`);
  const all = Buffer.concat(chunks);
  return all.subarray(Math.max(0, all.length - bytes));
}

const hasXz = spawnSync('xz', ['--version']).status === 0;
const skip = needsAsset(MODEL) || needsAsset(CORPUS) || (hasXz ? false : 'needs the xz command (apt-get install xz-utils)');

test('gpt2-corpus-tiny: next-token CE on held-out windows of the last 10% of its corpus matches train-report.json', { skip }, async (t) => {
  const report = JSON.parse(readFileSync(join(ASSETS, MODEL, 'train-report.json'), 'utf8')) as { lm_val_loss_nats: number; tokens: number };
  const heldOut = report.tokens - Math.floor(0.9 * report.tokens); // 1,120,621 tokens
  // ~0.33 tokens per byte in this corpus: 6 MB of text holds the held-out tokens with room to spare.
  const tail = (await xzTail(join(ASSETS, CORPUS), 6 << 20)).toString('utf8');
  // Start at a document boundary: GPT-2's pre-tokenizer splits at special tokens, so the ids from
  // there on are exactly those of the whole stream (and no UTF-8 character is cut).
  const text = tail.slice(tail.indexOf(EOT));
  const tok = await loadTokenizer(join(ASSETS, MODEL));
  const ids = tok.encode(text, { allowSpecial: true });
  assert.ok(ids.length >= heldOut, `only ${ids.length} tokens in the tail, need ${heldOut}`);
  const stream = Int32Array.from(ids.slice(ids.length - heldOut));

  const model = await Transformer.load(join(ASSETS, MODEL), cpu);
  const ctx = model.config.nCtx; // 256
  const n = 64;
  const r = await windowLosses(model, stream, windowStarts(stream.length, n, ctx, 2024), ctx);
  model.dispose();
  // The tolerance is the sampling error of the window sample: 4 standard errors of the mean window
  // loss, or 0.15 nats if larger. Windows of HTML score ~0.2–1.5 nats and windows of prose 3–5.5, so
  // one window's loss has a standard deviation near 1.5, and 64 windows an SE near 0.19.
  const tol = Math.max(4 * r.se, 0.15);
  t.diagnostic(`held-out CE ${r.mean.toFixed(3)} ± ${r.se.toFixed(3)} (SE, ${n} windows of ${ctx}, ${r.tokens} tokens); report ${report.lm_val_loss_nats.toFixed(3)}; tolerance ${tol.toFixed(3)}`);
  assert.ok(Math.abs(r.mean - report.lm_val_loss_nats) <= tol, `held-out CE ${r.mean} vs ${report.lm_val_loss_nats} (tolerance ${tol})`);
});

test('windowLosses: each window\'s loss is nextTokenLoss of that window; the mean and SE follow', { skip: needsAsset('fixtures/gpt2-tiny-random') }, async () => {
  const model = await Transformer.load(join(ASSETS, 'fixtures/gpt2-tiny-random'), cpu);
  const stream = Int32Array.from({ length: 300 }, (_, i) => (i * 7919 + 13) % 1000);
  const starts = windowStarts(stream.length, 5, 16, 1);
  assert.deepEqual(starts, windowStarts(stream.length, 5, 16, 1));
  assert.ok(starts.every((s) => s >= 0 && s + 16 <= 300));
  const r = await windowLosses(model, stream, starts, 16, 2); // batches of 2, 2 and 1
  for (const [i, s] of starts.entries()) {
    const one = await model.nextTokenLoss(stream.slice(s, s + 16), [1, 16]);
    assert.ok(Math.abs(r.losses[i]! - one) < 1e-5, `window ${i}: ${r.losses[i]} vs ${one}`);
  }
  const mean = r.losses.reduce((a, b) => a + b) / 5;
  const sd = Math.sqrt(r.losses.reduce((a, x) => a + (x - mean) ** 2, 0) / 4);
  assert.ok(Math.abs(r.mean - mean) < 1e-12 && Math.abs(r.se - sd / Math.sqrt(5)) < 1e-12);
  assert.equal(r.tokens, 5 * 15);
  await assert.rejects(windowLosses(model, stream, [290], 16), /outside the stream/);
  model.dispose();
});
