// The 1 MB checks: GPT-2 ids against gpt-3-encoder, tokenizer.json through both engines, llama2.c
// round trips, and encode throughput (printed as test diagnostics).

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { encode as gpt3Encode } from 'gpt-3-encoder';
import { Llama2cTokenizer } from '../../src/model/tokenizers/llama2cTokenizer.js';
import { loadTokenizer } from '../../src/model/tokenizers/loadTokenizer.js';
import type { Tokenizer } from '../../src/model/tokenizers/tokenizer.js';
import { ASSETS, needsAsset, tempDir } from '../io/assets.js';
import { byteLevelJson, llama2cFile, llama2cReferenceEncode, parseLlama2c } from './tokenizersFixtures.js';

const CORPUS = 'corpora/mixed-public-domain.txt.xz';
const GPT2 = 'models/gpt2-corpus-tiny';
const STORIES = 'models/stories260k';
const SAMPLE_BYTES = 1 << 20;

const noXz = spawnSync('xz', ['--version']).status === 0 ? false : 'needs the xz command';
const skipGpt2 = needsAsset(CORPUS) || needsAsset(`${GPT2}/vocab.json`) || noXz;

let cached: string | null = null;
/** The first ~1 MB of the corpus, cut at a newline so no UTF-8 character is split. */
function sample(): string {
  if (cached === null) {
    // head closes the pipe after 1 MB, which stops xz: only that much is decompressed.
    const buf = execFileSync('sh', ['-c', `xz -dc "$0" | head -c ${SAMPLE_BYTES}`, join(ASSETS, CORPUS)], { maxBuffer: 2 * SAMPLE_BYTES });
    cached = buf.subarray(0, buf.lastIndexOf(0x0a) + 1).toString('utf8');
  }
  return cached;
}

/** Encode `text` and report MB/s of UTF-8 input as a diagnostic. */
function timedEncode(t: TestContext, label: string, tok: Tokenizer, text: string, options?: Parameters<Tokenizer['encode']>[1]): number[] {
  const t0 = performance.now();
  const ids = tok.encode(text, options);
  const s = (performance.now() - t0) / 1000;
  t.diagnostic(`${label}: ${(Buffer.byteLength(text) / 1e6 / s).toFixed(2)} MB/s (${ids.length} tokens in ${s.toFixed(2)} s)`);
  return ids;
}

/** gpt-3-encoder's own pre-tokenizer (JavaScript's \s; ours differs only on U+FEFF and U+0085, which the corpus lacks). */
const GPT3_ENCODER_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** gpt-3-encoder's ids for `text`, encoded in groups of its pre-tokenizer matches (its encode is quadratic in the text length). */
function referenceIds(text: string): number[] {
  const words = text.match(GPT3_ENCODER_PATTERN)!;
  const ids: number[] = [];
  for (let i = 0; i < words.length; i += 2000) for (const id of gpt3Encode(words.slice(i, i + 2000).join(''))) ids.push(id);
  return ids;
}

test('GPT-2 vocab.json + merges.txt on 1 MB of corpus: the ids of gpt-3-encoder, and decode gives the text back', { skip: skipGpt2 }, async (t) => {
  const text = sample();
  assert.ok(Buffer.byteLength(text) > 0.99e6);
  assert.ok(!/[\ufeff\x85]/.test(text), 'the sample has none of the characters where gpt-3-encoder and GPT-2 disagree');
  const tok = await loadTokenizer(join(ASSETS, GPT2));
  const ids = timedEncode(t, 'gpt2-bpe encode, cold cache', tok, text);
  timedEncode(t, 'gpt2-bpe encode, warm cache', tok, text);
  assert.deepEqual(ids, referenceIds(text));
  assert.ok(text.includes('<|endoftext|>') && !ids.includes(50256), 'the corpus separators are plain text by default');
  assert.equal(tok.decode(ids), text);
  const special = tok.encode(text, { allowSpecial: true });
  assert.equal(special.filter((id) => id === 50256).length, text.split('<|endoftext|>').length - 1);
  assert.equal(tok.decode(special), text);
});

test('GPT-2 as tokenizer.json: the fast path and @huggingface/tokenizers both give the vocab.json + merges.txt ids', { skip: skipGpt2 }, async (t) => {
  const text = sample();
  const { dir, cleanup } = tempDir();
  try {
    const vocab = JSON.parse(readFileSync(join(ASSETS, GPT2, 'vocab.json'), 'utf8')) as Record<string, number>;
    const merges = readFileSync(join(ASSETS, GPT2, 'merges.txt'), 'utf8')
      .split('\n')
      .slice(1)
      .filter((l) => l !== '')
      .map((l) => l.split(' ') as [string, string]);
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(byteLevelJson(vocab, merges, { '<|endoftext|>': 50256 })));
    const ref = await loadTokenizer(join(ASSETS, GPT2));
    const fast = await loadTokenizer(dir);
    const hf = await loadTokenizer(dir, { engine: 'hf' });
    assert.equal(fast.kind, 'gpt2-bpe');
    assert.equal(hf.kind, 'hf-tokenizer-json');
    assert.deepEqual([hf.vocabSize, hf.bosId, hf.eosId, hf.padId], [50257, 50256, 50256, null]);
    const ids = ref.encode(text);
    assert.deepEqual(fast.encode(text), ids);
    assert.deepEqual(timedEncode(t, 'hf-tokenizer-json (GPT-2) encode', hf, text), ids);
    assert.deepEqual(hf.encode(text, { allowSpecial: true }), ref.encode(text, { allowSpecial: true }));
    assert.equal(hf.decode(ids), text);
  } finally {
    cleanup();
  }
});

test('llama2.c tok512.bin on 1 MB of corpus: decode(encode) is the text; run.c parity line by line', { skip: needsAsset(CORPUS) || needsAsset(`${STORIES}/tok512.bin`) || noXz }, async (t) => {
  const text = sample();
  const tok = await loadTokenizer(join(ASSETS, STORIES));
  const ids = timedEncode(t, 'llama2c encode', tok, text, { bos: true });
  assert.equal(tok.decode(ids), text);
  // The same vocabulary plus a piece that can never merge (score below run.c's floor) but contains
  // "x y": that turns off cutting the text at spaces, so this checks the cut against a whole-text encode.
  const file = readFileSync(join(ASSETS, STORIES, 'tok512.bin'));
  const whole = Llama2cTokenizer.parse(Buffer.concat([file, llama2cFile([['x y', -1e11]]).subarray(4)]));
  assert.deepEqual(timedEncode(t, 'llama2c encode, whole text (no cut at spaces, no cache)', whole, text, { bos: true }), ids);
  // The reference is quadratic, so compare per line (a newline is a byte token that merges with
  // nothing), on lines short enough for it.
  const ref = parseLlama2c(file);
  const lines = text.split('\n').filter((l) => l.length <= 300).slice(0, 400);
  for (const line of lines) assert.deepEqual(tok.encode(line, { bos: true }), llama2cReferenceEncode(ref, line, true, false), JSON.stringify(line));
});
