import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { encode as gpt3Encode } from 'gpt-3-encoder';
import { Rng } from '../../src/compute/random.js';
import { mergePairs } from '../../src/model/tokenizers/bpeMerge.js';
import { Gpt2BpeTokenizer } from '../../src/model/tokenizers/gpt2Bpe.js';
import { Llama2cTokenizer } from '../../src/model/tokenizers/llama2cTokenizer.js';
import { loadTokenizer } from '../../src/model/tokenizers/loadTokenizer.js';
import { type Tokenizer, TokenizerError } from '../../src/model/tokenizers/tokenizer.js';
import { tokenizerFromJson } from '../../src/model/tokenizers/tokenizerJson.js';
import { ASSETS, needsAsset, tempDir } from '../io/assets.js';
import { byteLevelJson, llama2cFile, llama2cPieces, llama2cReferenceEncode, llamaJson, naiveMerge, parseLlama2c, tinyByteLevel } from './tokenizersFixtures.js';

const rng = new Rng(11);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.uniform() * xs.length)]!;

/** A random text from pieces that stress pre-tokenization, merges, UTF-8 and special strings. */
function randomText(pieces: readonly string[], n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += pick(pieces);
  return s;
}

// No U+FEFF or U+0085 here: JavaScript's \s (gpt-3-encoder, @huggingface/tokenizers) and Unicode's
// White_Space (ours, Python's regex, HF's Rust) disagree on them; PYTHON_GOLDEN covers those.
const PIECES = ['the', ' the', 'in', 'er', ' a', 'hello', ' world', ' ', '  ', '   ', '\n', '\n\n', ' \n', '\t', "'s", "'ll", "'S", 'é', 'ét', '☃', '😀', '123', ' 45', '!!', '.', ' .', '<|endoftext|>', '<|', 'Ġ', '\u00a0', '\u3000', 'x'];

/** GPT-2 ids from openai/gpt-2's encoder.py algorithm under Python's `regex` (\s = White_Space), same vocab.json and merges.txt. */
const PYTHON_GOLDEN: [string, number[]][] = [
  ["Hello world", [15496, 995]],
  ["\ufeffHello", [171, 119, 123, 15496]],
  ["a \ufeffb", [64, 27332, 119, 123, 65]],
  ["x\u0085 y", [87, 126, 227, 331]],
  ["x \u0085y", [87, 220, 126, 227, 88]],
  ["\u0085\u0085 hello", [126, 227, 126, 227, 23748]],
  ["a\ufeff\ufeff  b", [64, 171, 119, 123, 171, 119, 123, 220, 275]],
  [" \ufeff\ufeff z", [27332, 119, 123, 171, 119, 123, 1976]],
  ["end \u0085", [437, 1587, 227]],
  ["\u3000\u2028 \ufeff!", [5099, 222, 447, 101, 27332, 119, 123, 0]],
];

/** Assert that `f` throws a TokenizerError whose one-line message matches every pattern. */
function throwsTokenizerError(f: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof TokenizerError, `expected TokenizerError, got ${String(e)}`);
    assert.equal(e.name, 'TokenizerError');
    assert.ok(!e.message.includes('\n'));
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

test('mergePairs equals the naive rescan-and-merge loop, ties and overlaps included', () => {
  const ranks = new Map<string, number>();
  const alphabet = ['a', 'b', 'c'];
  const grow = (s: string): void => {
    if (s.length >= 2) ranks.set(s, Math.floor(rng.uniform() * 6)); // few ranks: many ties
    if (s.length < 4) for (const c of alphabet) grow(s + c);
  };
  for (const c of alphabet) grow(c);
  const rank = (x: string, y: string) => ranks.get(x + y);
  for (let trial = 0; trial < 400; trial++) {
    const symbols = Array.from({ length: Math.floor(rng.uniform() * 14) }, () => pick(alphabet));
    assert.deepEqual(mergePairs(symbols, rank), naiveMerge(symbols, rank), symbols.join(''));
  }
});

test('byte-level BPE: our fast path and @huggingface/tokenizers agree on random text, both special modes', () => {
  const { vocab, merges, eot } = tinyByteLevel();
  const json = byteLevelJson(vocab, merges, { '<|endoftext|>': eot });
  const fast = tokenizerFromJson(json, undefined, { engine: 'auto' });
  const hf = tokenizerFromJson(json, undefined, { engine: 'hf' });
  assert.equal(fast.kind, 'gpt2-bpe');
  assert.equal(hf.kind, 'hf-tokenizer-json');
  assert.equal(fast.vocabSize, hf.vocabSize);
  assert.equal(fast.bosId, eot);
  assert.equal(hf.eosId, eot);
  for (let trial = 0; trial < 300; trial++) {
    const text = randomText(PIECES, 1 + Math.floor(rng.uniform() * 12));
    for (const allowSpecial of [false, true]) {
      const ids = fast.encode(text, { allowSpecial });
      assert.deepEqual(ids, hf.encode(text, { allowSpecial }), `${JSON.stringify(text)} allowSpecial=${allowSpecial}`);
      assert.equal(fast.decode(ids), text);
      assert.equal(hf.decode(ids), text);
    }
  }
});

test('byte-level BPE: "<|endoftext|>" is plain text by default, one id with allowSpecial', () => {
  const { vocab, merges, eot } = tinyByteLevel();
  const tok = new Gpt2BpeTokenizer({ vocab, merges, specialTokens: new Map([['<|endoftext|>', eot]]), bosId: eot, eosId: eot });
  const text = 'the end<|endoftext|>the start';
  assert.ok(!tok.encode(text).includes(eot));
  const special = tok.encode(text, { allowSpecial: true });
  assert.equal(special.filter((id) => id === eot).length, 1);
  assert.deepEqual(special, [...tok.encode('the end'), eot, ...tok.encode('the start')]);
  assert.equal(tok.decode(special), text);
  assert.deepEqual(tok.encode('the', { bos: true, eos: true }), [eot, ...tok.encode('the'), eot]);
  assert.deepEqual(tok.encode(''), []);
  assert.equal(tok.decode([]), '');
  assert.equal(tok.defaultBos, false);
});

test('Llama-style byte-fallback tokenizer.json: unknown characters become <0xNN> tokens and decode restores them', () => {
  for (const variant of ['normalizer', 'metaspace'] as const) {
    const tok = tokenizerFromJson(llamaJson(variant));
    assert.equal(tok.kind, 'hf-tokenizer-json', variant);
    assert.equal(tok.bosId, 1);
    assert.equal(tok.eosId, 2);
    assert.equal(tok.padId, null);
    assert.equal(tok.defaultBos, true, 'the TemplateProcessing post-processor starts with <s>');
    const hello = tok.tokenToId('▁hello')!;
    const world = tok.tokenToId('▁world')!;
    assert.deepEqual(tok.encode('hello world'), [hello, world], variant);
    assert.deepEqual(tok.encode('hello world', { bos: true, eos: true }), [1, hello, world, 2]);
    const bytes = (s: string) => [...new TextEncoder().encode(s)].map((b) => 3 + b);
    const ids = tok.encode('hello wé☃x');
    assert.deepEqual(ids, [hello, tok.tokenToId('▁w')!, ...bytes('é☃x')], variant);
    assert.equal(tok.idToToken(3 + 0xc3), '<0xC3>');
    assert.equal(tok.decode(ids), 'hello wé☃x');
    assert.equal(tok.decode([1, hello]), '<s> hello', 'special tokens decode to their strings, as HF does');
    for (let trial = 0; trial < 100; trial++) {
      const text = randomText(['hello', ' world', 'w', 'or', ' ', 'é', '☃', '😀', 'Z', '\n', 'ld'], 1 + Math.floor(rng.uniform() * 8));
      // Metaspace with prepend_scheme "first" adds no "▁" before a leading space, so its Strip decoder eats that space (as in HF).
      if (variant === 'metaspace' && text.startsWith(' ')) continue;
      assert.equal(tok.decode(tok.encode(text)), text, `${variant} ${JSON.stringify(text)}`);
    }
    // "<s>" in text: plain bytes by default, the BOS id only when asked for.
    assert.ok(!tok.encode('<s>hello').includes(1));
    assert.equal(tok.encode('<s>hello', { allowSpecial: true })[0], 1);
  }
});

test('decode rejects an id outside the vocabulary, naming the id and the vocabulary size', () => {
  const { vocab, merges, eot } = tinyByteLevel();
  const gpt = new Gpt2BpeTokenizer({ vocab, merges, specialTokens: new Map([['<|endoftext|>', eot]]) });
  const hf = tokenizerFromJson(llamaJson('metaspace'));
  const l2c = Llama2cTokenizer.parse(llama2cFile(llama2cPieces([[' ', -1]])));
  for (const tok of [gpt, hf, l2c] as Tokenizer[]) {
    const n = tok.vocabSize;
    throwsTokenizerError(() => tok.decode([0, n]), new RegExp(`token id ${n} `), new RegExp(`vocabulary of ${n} tokens`));
    throwsTokenizerError(() => tok.decode([-1]), /token id -1 /);
    throwsTokenizerError(() => tok.decode([1.5]), /token id 1\.5 /);
    throwsTokenizerError(() => tok.idToToken(n + 7), new RegExp(`token id ${n + 7} `));
  }
  throwsTokenizerError(() => gpt.encode('x', { bos: true }), /encode\(\{ bos: true \}\): this gpt2-bpe tokenizer has no BOS token/);
});

test('llama2.c: the encoder equals a port of run.c on synthetic vocabularies with ties, cut at spaces or not', () => {
  const base: [string, number][] = [[' ', -10], ['a', -11], ['b', -12], ['c', -13], [' a', -1], ['ab', -2], ['bc', -2], [' ab', -3], ['abc', -4], ['cc', -2], ['ccc', -1]];
  // "a b" (a non-space before a space) makes cutting the text at spaces inexact, so that vocabulary encodes whole texts.
  for (const rest of [base, [...base, ['a b', -3]] as [string, number][]]) {
    const data = llama2cFile(llama2cPieces(rest));
    const tok = Llama2cTokenizer.parse(data);
    const ref = parseLlama2c(data);
    assert.equal(tok.vocabSize, 259 + rest.length);
    for (let trial = 0; trial < 300; trial++) {
      const text = randomText(['a', 'b', 'c', ' ', 'é', '\n', 'z', '😀'], Math.floor(rng.uniform() * 12));
      const bos = rng.uniform() < 0.5;
      const ids = tok.encode(text, { bos, eos: !bos });
      assert.deepEqual(ids, llama2cReferenceEncode(ref, text, bos, !bos), JSON.stringify(text));
      assert.deepEqual(tok.encode(text, { bos, eos: !bos }), ids, 'again, from the cache');
      assert.equal(tok.decode(tok.encode(text, { bos: true })), text, 'the dummy-prefix space is dropped after BOS');
    }
    assert.deepEqual(tok.encode(''), []);
    assert.equal(tok.decode(tok.encode('ab')), ' ab', 'without BOS the dummy prefix stays');
  }
});

test('llama2.c: a malformed tokenizer file is a clear error', () => {
  const good = llama2cFile(llama2cPieces([[' ', -1]]));
  throwsTokenizerError(() => Llama2cTokenizer.parse(good.subarray(0, good.length - 1), 'tok.bin'), /^tok\.bin: /, /token 259 claims 1 bytes/);
  throwsTokenizerError(() => Llama2cTokenizer.parse(llama2cFile([['<unk>', 0]]), 'tok.bin'), /1 tokens, but llama2\.c needs at least 259/);
});

test('loadTokenizer: tokenizer.json first, then vocab.json + merges.txt, then a llama2.c .bin; else a clear error', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const { vocab, merges, eot } = tinyByteLevel();
    const mergesTxt = `#version: 0.2\n${merges.map(([a, b]) => `${a} ${b}`).join('\n')}\n`;
    const folder = (name: string, files: Record<string, string | Uint8Array>): string => {
      const d = join(dir, name);
      mkdirSync(d);
      for (const [f, content] of Object.entries(files)) writeFileSync(join(d, f), content);
      return d;
    };
    const bin = llama2cFile(llama2cPieces([[' ', -1]]));

    const both = folder('both', { 'tokenizer.json': JSON.stringify(llamaJson('normalizer')), 'vocab.json': JSON.stringify(vocab), 'merges.txt': mergesTxt });
    assert.equal((await loadTokenizer(both)).kind, 'hf-tokenizer-json');

    const gpt = await loadTokenizer(folder('gpt2', { 'vocab.json': JSON.stringify(vocab), 'merges.txt': mergesTxt, 'config.json': JSON.stringify({ pad_token_id: eot }) }));
    assert.equal(gpt.kind, 'gpt2-bpe');
    assert.deepEqual([gpt.bosId, gpt.eosId, gpt.padId], [eot, eot, eot]);
    assert.deepEqual(gpt.encode('<|endoftext|>', { allowSpecial: true }), [eot]);

    const named = await loadTokenizer(folder('named', { 'tokenizer.json': JSON.stringify(byteLevelJson(vocab, merges, { '<|endoftext|>': eot, '<pad>': eot + 1 })), 'tokenizer_config.json': JSON.stringify({ pad_token: '<pad>', bos_token: null }) }));
    assert.deepEqual([named.bosId, named.eosId, named.padId], [null, eot, eot + 1]);

    const l2c = await loadTokenizer(folder('llama2c', { 'tok512.bin': bin, 'model.bin': new Uint8Array(8) }));
    assert.equal(l2c.kind, 'llama2c');
    assert.equal((await loadTokenizer(join(dir, 'llama2c', 'tok512.bin'))).kind, 'llama2c', 'a file path works too');

    await assert.rejects(loadTokenizer(folder('two', { 'tok512.bin': bin, 'tok4096.bin': bin })), (e: Error) => e instanceof TokenizerError && /tok4096\.bin, tok512\.bin/.test(e.message));
    await assert.rejects(loadTokenizer(folder('empty', { 'config.json': '{}' })), (e: Error) => {
      assert.ok(e instanceof TokenizerError);
      assert.match(e.message, /no tokenizer found: looked for tokenizer\.json, vocab\.json \+ merges\.txt, or a llama2\.c tokenizer\.bin \/ tok<N>\.bin/);
      return true;
    });
    await assert.rejects(loadTokenizer(folder('half', { 'vocab.json': '{}' })), /vocab\.json is there but merges\.txt is not/);
    await assert.rejects(loadTokenizer(join(dir, 'nowhere')), /no such folder/);
    await assert.rejects(loadTokenizer(folder('badjson', { 'tokenizer.json': '{"model": ' })), /tokenizer\.json: not valid JSON/);
    await assert.rejects(loadTokenizer(folder('badmerges', { 'vocab.json': JSON.stringify(vocab), 'merges.txt': '#version: 0.2\nt h e\n' })), /merges\.txt: line 2 is not "left right"/);
    await assert.rejects(loadTokenizer(folder('mismatch', { 'vocab.json': JSON.stringify({ a: 0 }), 'merges.txt': 'a b\n' })), /merge 1 .* "b", which is not in the vocabulary/);
  } finally {
    cleanup();
  }
});

const GPT2 = 'models/gpt2-corpus-tiny';

test('GPT-2 vocab.json + merges.txt: known ids, special tokens, gpt-3-encoder parity on tricky text, Python goldens', { skip: needsAsset(`${GPT2}/vocab.json`) }, async () => {
  const tok = await loadTokenizer(join(ASSETS, GPT2));
  assert.equal(tok.kind, 'gpt2-bpe');
  assert.equal(tok.vocabSize, 50257);
  assert.deepEqual([tok.bosId, tok.eosId, tok.padId, tok.defaultBos], [50256, 50256, null, false]);
  assert.deepEqual(tok.encode('Hello world'), [15496, 995]);
  assert.equal(tok.idToToken(995), 'Ġworld');
  assert.equal(tok.tokenToId('<|endoftext|>'), 50256);
  const sep = 'one.<|endoftext|>two';
  assert.deepEqual(tok.encode(sep), gpt3Encode(sep), 'default: the literal separator is plain text, as in gpt-3-encoder');
  assert.deepEqual(tok.encode(sep, { allowSpecial: true }), [...tok.encode('one.'), 50256, ...tok.encode('two')]);
  for (let trial = 0; trial < 200; trial++) {
    const text = randomText(PIECES, 1 + Math.floor(rng.uniform() * 16));
    assert.deepEqual(tok.encode(text), gpt3Encode(text), JSON.stringify(text));
    assert.equal(tok.decode(tok.encode(text)), text);
  }
  for (const [text, ids] of PYTHON_GOLDEN) assert.deepEqual(tok.encode(text), ids, `${JSON.stringify(text)}: U+FEFF and U+0085 split as Unicode White_Space decides`);
  const rm = await loadTokenizer(join(ASSETS, 'models/gpt2-corpus-tiny-rm-hh'));
  assert.equal(rm.padId, 50256, 'the reward model pads with eos (config.json pad_token_id)');
  throwsTokenizerError(() => tok.decode([50257]), /token id 50257 is out of range for a vocabulary of 50257 tokens/);
});

const STORIES = 'models/stories260k';

test('stories260k tok512.bin: golden ids, top-5 strings, "Once upon a time", run.c parity', { skip: needsAsset(`${STORIES}/tok512.bin`) }, async () => {
  const golden = JSON.parse(readFileSync(join(ASSETS, STORIES, 'golden.json'), 'utf8')) as {
    greedy_ids_from_bos_30: number[];
    logits_after_bos_top5: [number, number, string][];
    greedy_text_prefix: string;
  };
  const tok = await loadTokenizer(join(ASSETS, STORIES));
  assert.equal(tok.kind, 'llama2c');
  assert.deepEqual([tok.vocabSize, tok.bosId, tok.eosId, tok.padId, tok.defaultBos], [512, 1, 2, null, true]);
  const text = tok.decode(golden.greedy_ids_from_bos_30);
  assert.ok(text.length > 80 && golden.greedy_text_prefix.startsWith(text), JSON.stringify(text));
  assert.ok(text.startsWith('Once upon a time, there was a little girl named Lily.'));
  assert.deepEqual(tok.encode(text, { bos: true }), golden.greedy_ids_from_bos_30, 'the greedy text re-encodes to its ids');
  for (const [id, , piece] of golden.logits_after_bos_top5) {
    assert.equal(tok.tokenToId(piece), id, piece);
    assert.equal(tok.idToToken(id), piece);
  }
  assert.equal(tok.encode('Once upon a time')[0], 403);
  assert.deepEqual(tok.encode('Once upon a time', { bos: true }).slice(0, 2), [1, 403]);
  const ref = parseLlama2c(readFileSync(join(ASSETS, STORIES, 'tok512.bin')));
  for (let trial = 0; trial < 100; trial++) {
    const s = randomText([...PIECES, '\ufeff', '\x85', ' Lily', ' once', 'Once', ' upon', ' park', ', ', '"'], Math.floor(rng.uniform() * 14));
    assert.deepEqual(tok.encode(s, { bos: true }), llama2cReferenceEncode(ref, s, true, false), JSON.stringify(s));
    assert.equal(tok.decode(tok.encode(s, { bos: true })), s);
  }
});
