// Packing documents into windows: BOS at each window's start, separators between documents, exact
// token counts, and the mask of excluded (special) positions.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { DataError } from '../../src/data/errors.js';
import { keptCount, packTokens, skipStreamTokens, WindowPacker, type PackedWindow, type PackOptions } from '../../src/data/packTokens.js';
import { loadTokenizer, type Tokenizer } from '../../src/model/tokenizers/index.js';
import { ASSETS, needsAsset } from '../io/assets.js';

// A tiny tokenizer: one id per character code (≥ 10), BOS 1, EOS 2, PAD 3.
const tiny = { kind: 'tiny', vocabSize: 200, bosId: 1, eosId: 2, padId: 3, defaultBos: false, encode: (s: string) => [...s].map((c) => c.charCodeAt(0)) } as unknown as Tokenizer;

async function pack(docs: string[], opts: PackOptions, tok: Tokenizer = tiny): Promise<PackedWindow[]> {
  const out: PackedWindow[] = [];
  for await (const w of packTokens(docs, tok, opts)) out.push(w);
  return out;
}

const ids = (w: PackedWindow) => [...w.ids];
const ex = (w: PackedWindow) => [...w.exclude];
const A = 65;

test('prependBos: each window is BOS + contextSize−1 stream tokens; documents joined by EOS; the tail dropped', async () => {
  const ws = await pack(['ABC', 'DE', 'FGHIJ'], { contextSize: 4 });
  // Stream: A B C EOS D E EOS F G H I J (12 tokens) → 4 windows of 3, no tail.
  assert.deepEqual(ws.map(ids), [
    [1, A, A + 1, A + 2],
    [1, 2, A + 3, A + 4],
    [1, 2, A + 5, A + 6],
    [1, A + 7, A + 8, A + 9],
  ]);
  assert.deepEqual(ws.map(ex), [
    [1, 0, 0, 0],
    [1, 1, 0, 0],
    [1, 1, 0, 0],
    [1, 0, 0, 0],
  ]);
  assert.deepEqual(ws.map(keptCount), [3, 2, 2, 3]);
});

test('options: no BOS, BOS or no separator, special tokens kept, position 0 excluded', async () => {
  const noBos = await pack(['ABC', 'DE'], { contextSize: 3, prependBos: false });
  assert.deepEqual(noBos.map(ids), [[A, A + 1, A + 2], [2, A + 3, A + 4]]);
  assert.deepEqual(noBos.map(ex), [[0, 0, 0], [1, 0, 0]]);
  const bosSep = await pack(['AB', 'CD'], { contextSize: 3, prependBos: false, separator: 'bos' });
  assert.deepEqual(bosSep.map(ids), [[A, A + 1, 1]]);
  const noSep = await pack(['AB', 'CD'], { contextSize: 5, separator: 'none' });
  assert.deepEqual(noSep.map(ids), [[1, A, A + 1, A + 2, A + 3]]);
  const keep = await pack(['AB', 'CD'], { contextSize: 3, excludeSpecial: false, excludeFirst: true });
  assert.deepEqual(keep.map(ids), [[1, A, A + 1], [1, 2, A + 2]]);
  assert.deepEqual(keep.map(ex), [[1, 0, 0], [1, 0, 0]]);
  // PAD ids inside the text count as special too.
  const pad = await pack([String.fromCharCode(3) + 'A'], { contextSize: 3 });
  assert.deepEqual(pad.map(ex), [[1, 1, 0]]);
});

test('the packer keeps state across pushes, and bad settings are DataErrors', () => {
  const p = new WindowPacker(tiny, { contextSize: 3 });
  assert.equal(p.push([10]).length, 0);
  assert.equal(p.push([]).length, 0); // an empty document adds no separator
  const w = p.push([11, 12, 13]);
  assert.deepEqual(w.map(ids), [[1, 10, 2], [1, 11, 12]]);
  assert.equal(p.leftover, 1);
  assert.throws(() => new WindowPacker(tiny, { contextSize: 1 }), DataError);
  assert.throws(() => new WindowPacker({ bosId: null, eosId: 2, padId: null }, { contextSize: 8 }), /no BOS/);
  assert.throws(() => new WindowPacker({ bosId: null, eosId: null, padId: null }, { contextSize: 8, prependBos: false }), /no EOS/);
});

const MODEL = 'models/gpt2-corpus-tiny';
test('exact counts with the GPT-2 tokenizer: a literal <|endoftext|> stays text; BOS/EOS id 50256 excluded', { skip: needsAsset(MODEL) }, async () => {
  const tok = await loadTokenizer(join(ASSETS, MODEL));
  const docs = ['The quick brown fox jumps over the lazy dog.', 'Call me Ishmael. Some years ago<|endoftext|>never mind how long', 'Hello, world!'];
  const lens = docs.map((d) => tok.encode(d).length);
  const stream = lens.reduce((a, b) => a + b, 0) + docs.length - 1;
  const C = 8;
  const ws = await pack(docs, { contextSize: C }, tok);
  assert.equal(ws.length, Math.floor(stream / (C - 1)));
  const flat = ws.flatMap((w) => ids(w).slice(1));
  const expected = docs.flatMap((d, i) => [...(i ? [50256] : []), ...tok.encode(d)]).slice(0, ws.length * (C - 1));
  assert.deepEqual(flat, expected);
  for (const w of ws) {
    assert.equal(w.ids[0], 50256);
    for (let t = 0; t < C; t++) assert.equal(w.exclude[t], w.ids[t] === 50256 ? 1 : 0);
  }
  // Two separators → exactly 2 excluded positions besides the BOS ones (if they fall inside whole windows).
  const excluded = ws.reduce((s, w) => s + (C - keptCount(w)), 0);
  const sepsInside = expected.filter((x) => x === 50256).length;
  assert.equal(excluded, ws.length + sepsInside);
});

test('skipStreamTokens drops whole windows until the stream tokens (window bodies) are skipped', async () => {
  async function* windows() {
    for (let i = 0; i < 5; i++) yield { ids: Int32Array.of(i), exclude: new Uint8Array(1) };
  }
  const ids = async (skip: number) => {
    const out: number[] = [];
    for await (const w of skipStreamTokens(windows(), skip, 10)) out.push(w.ids[0]!);
    return out;
  };
  assert.deepEqual(await ids(0), [0, 1, 2, 3, 4]);
  assert.deepEqual(await ids(10), [1, 2, 3, 4]);
  assert.deepEqual(await ids(11), [2, 3, 4], 'a partly skipped window is skipped whole');
  assert.deepEqual(await ids(100), []);
});
