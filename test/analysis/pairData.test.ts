// Pair data: HH transcripts split into prompt + completions (including pairs whose completions both
// start with "Human:"), {prompt, chosen, rejected}, ranges, bad lines, and the completion's token span
// (with left truncation) on the GPT-2 tokenizer of the shared tiny model.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { encodeCompletion, loadPairRecords, parsePairLine, parsePairsSpec, splitHhPair } from '../../src/eval/pairData.js';
import { loadTokenizer } from '../../src/model/tokenizers/index.js';
import { ASSETS, needsAsset, tempDir } from '../io/assets.js';

test('an HH pair splits at the last shared Assistant turn', () => {
  const p = '\n\nHuman: hi\n\nAssistant: hello\n\nHuman: how?\n\nAssistant:';
  const s = splitHhPair(`${p} Like this.`, `${p} No.`, 'x');
  assert.deepEqual(s, { prompt: p, chosen: ' Like this.', rejected: ' No.' });
  // Both completions begin with text that looks like a turn: the shared prefix still ends at the Assistant turn.
  const t = splitHhPair(`${p} Human: Okay, so once`, `${p} Human: Okay, so first`, 'x');
  assert.equal(t.prompt, p);
  assert.equal(t.chosen, ' Human: Okay, so once');
  assert.throws(() => splitHhPair('a b', 'a c', 'f:3'), /f:3: .*share no/);
});

test('pair lines: prompt layout, missing fields, identical completions', () => {
  assert.deepEqual(parsePairLine('{"prompt":"Q:","chosen":" a","rejected":" b"}', 'f:1', 0), { index: 0, prompt: 'Q:', chosen: ' a', rejected: ' b', format: 'prompt' });
  assert.throws(() => parsePairLine('{"chosen":"x"}', 'f:2', 0), /f:2: the pair has no string field "rejected"/);
  assert.throws(() => parsePairLine('{"prompt":"Q","chosen":"x","rejected":"x"}', 'f:3', 0), /f:3: chosen and rejected are identical/);
  assert.throws(() => parsePairLine('[1]', 'f:4', 0), /f:4: a pair is a JSON object/);
  assert.throws(() => parsePairLine('{', 'f:5', 0), /f:5: invalid JSON/);
});

test('ranges: FILE:start-end keeps start ≤ i < end; gz files; an empty range is an error', async () => {
  assert.deepEqual(parsePairsSpec('a/b.jsonl:10-20'), { file: 'a/b.jsonl', start: 10, end: 20, label: 'a/b.jsonl:10-20' });
  assert.deepEqual(parsePairsSpec('b.jsonl:5-'), { file: 'b.jsonl', start: 5, end: null, label: 'b.jsonl:5-' });
  assert.deepEqual(parsePairsSpec('b.jsonl'), { file: 'b.jsonl', start: 0, end: null, label: 'b.jsonl' });
  assert.throws(() => parsePairsSpec('b.jsonl:20-10'), /empty/);
  const { dir, cleanup } = tempDir();
  try {
    const lines = Array.from({ length: 6 }, (_, i) => JSON.stringify({ prompt: `P${i}`, chosen: ` c${i}`, rejected: ` r${i}` }));
    const f = join(dir, 'p.jsonl.gz');
    writeFileSync(f, gzipSync(lines.join('\n') + '\n\n'));
    const got = await loadPairRecords(parsePairsSpec(`${f}:2-4`));
    assert.deepEqual(got.map((p) => [p.index, p.prompt]), [[2, 'P2'], [3, 'P3']]);
    assert.equal((await loadPairRecords(parsePairsSpec(f))).length, 6);
    await assert.rejects(loadPairRecords(parsePairsSpec(`${f}:10-12`)), /no pairs in that range/);
  } finally {
    cleanup();
  }
});

const noTok = needsAsset('models/gpt2-corpus-tiny-rm-hh');
test('the completion span: where the prompt tokens stop agreeing; left truncation is stated', { skip: noTok }, async () => {
  const tok = await loadTokenizer(join(ASSETS, 'models/gpt2-corpus-tiny-rm-hh'));
  const prompt = '\n\nHuman: What is a URL?\n\nAssistant:';
  const e = encodeCompletion(tok, prompt, ' A web address, like http://example.com.', 256);
  assert.equal(tok.decode(Array.from(e.ids.subarray(0, e.start))), prompt);
  assert.equal(tok.decode(Array.from(e.ids.subarray(e.start))), ' A web address, like http://example.com.');
  assert.equal(e.truncated, 0);
  const t = encodeCompletion(tok, prompt, ' A web address, like http://example.com.', e.ids.length - 3);
  assert.equal(t.truncated, 3);
  assert.equal(t.start, e.start - 3);
  assert.equal(t.completionTruncated, false);
  const u = encodeCompletion(tok, prompt, ' A web address, like http://example.com.', 4);
  assert.equal(u.completionTruncated, true);
  assert.equal(u.start, 0);
});
