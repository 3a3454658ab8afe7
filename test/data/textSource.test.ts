// Text sources: files and folders, .gz and .xz, JSON lines, document separators, strict UTF-8 with
// the offset of a bad byte, and empty or missing corpora.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DataError } from '../../src/data/errors.js';
import { listCorpusFiles, readDocuments, type TextSourceOptions } from '../../src/data/textSource.js';
import { firstInvalidUtf8, StrictUtf8Decoder } from '../../src/data/utf8.js';
import { ASSETS, needsAsset, tempDir } from '../io/assets.js';

async function docs(path: string, opts?: TextSourceOptions): Promise<string[]> {
  const out: string[] = [];
  for await (const d of readDocuments(path, opts)) out.push(d.text);
  return out;
}

function xz(path: string, text: string): void {
  writeFileSync(path, execFileSync('xz', ['-zc'], { input: Buffer.from(text) }));
}

test('a folder: recursive, sorted, .txt/.md/.jsonl plus .gz and .xz, other and hidden files skipped', async () => {
  const { dir, cleanup } = tempDir();
  try {
    mkdirSync(join(dir, 'b'));
    writeFileSync(join(dir, 'a.txt'), 'one<|endoftext|>two');
    writeFileSync(join(dir, 'b', 'c.md'), '# three');
    writeFileSync(join(dir, 'b', 'd.jsonl'), '{"text":"four"}\n{"text":"five"}\n');
    writeFileSync(join(dir, 'e.txt.gz'), gzipSync('six<|endoftext|>seven'));
    xz(join(dir, 'f.txt.xz'), 'eight');
    writeFileSync(join(dir, 'g.csv'), 'skipped');
    writeFileSync(join(dir, '.hidden.txt'), 'skipped');
    assert.deepEqual((await listCorpusFiles(dir)).map((f) => f.slice(dir.length + 1)), ['a.txt', 'b/c.md', 'b/d.jsonl', 'e.txt.gz', 'f.txt.xz']);
    assert.deepEqual(await docs(dir), ['one', 'two', '# three', 'four', 'five', 'six', 'seven', 'eight']);
  } finally {
    cleanup();
  }
});

test('separators: default <|endoftext|>, a custom one, none; blank documents skipped, text not trimmed', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const f = join(dir, 'c.txt');
    writeFileSync(f, 'a\n\nb<|endoftext|>  <|endoftext|>\nc\n');
    assert.deepEqual(await docs(f), ['a\n\nb', '\nc\n']);
    assert.deepEqual(await docs(f, { docSeparator: '\n\n' }), ['a', 'b<|endoftext|>  <|endoftext|>\nc\n']);
    assert.deepEqual(await docs(f, { docSeparator: null }), ['a\n\nb<|endoftext|>  <|endoftext|>\nc\n']);
  } finally {
    cleanup();
  }
});

test('a separator split across read chunks is still found', async () => {
  const { dir, cleanup } = tempDir();
  try {
    // Documents of 100 kB: read chunks (64 kB) end inside separators somewhere.
    const parts = Array.from({ length: 7 }, (_, i) => String.fromCharCode(97 + i).repeat(100_000 + i * 7));
    const f = join(dir, 'big.txt.gz');
    writeFileSync(f, gzipSync(parts.join('<|endoftext|>')));
    assert.deepEqual(await docs(f), parts);
  } finally {
    cleanup();
  }
});

test('JSON lines: a named field, bare strings, and errors with the line number', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const f = join(dir, 'd.jsonl.gz');
    writeFileSync(f, gzipSync('{"body":"x","id":1}\r\n\n"bare"\n{"body":"y"}'));
    assert.deepEqual(await docs(f, { textField: 'body' }), ['x', 'bare', 'y']);
    await assert.rejects(docs(f), (e: Error) => e instanceof DataError && /d\.jsonl\.gz:1: no string field "text" \(has: body, id\)/.test(e.message));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"text":"ok"}\n{oops\n');
    await assert.rejects(docs(bad), (e: Error) => e instanceof DataError && /bad\.json:2: not valid JSON/.test(e.message));
  } finally {
    cleanup();
  }
});

test('non-UTF-8 bytes: a DataError naming the file and the byte offset (plain and decompressed)', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const bytes = Buffer.concat([Buffer.from('héllo wörld '), Buffer.from([0xff]), Buffer.from('rest')]);
    const offset = Buffer.from('héllo wörld ').length; // 14
    writeFileSync(join(dir, 'bad.txt'), bytes);
    await assert.rejects(docs(join(dir, 'bad.txt')), (e: Error) => e.name === 'DataError' && e.message.includes('bad.txt') && e.message.includes(`offset ${offset}`));
    writeFileSync(join(dir, 'bad2.txt.gz'), gzipSync(Buffer.concat([Buffer.alloc(200_000, 0x61), Buffer.from([0xc3, 0x28])])));
    await assert.rejects(docs(join(dir, 'bad2.txt.gz')), (e: Error) => e instanceof DataError && /bad2\.txt\.gz: .*offset 200000 of the decompressed stream/.test(e.message));
    // A truncated character at the very end.
    writeFileSync(join(dir, 'cut.txt'), Buffer.from([0x61, 0x62, 0xe2, 0x82]));
    await assert.rejects(docs(join(dir, 'cut.txt')), (e: Error) => e instanceof DataError && e.message.includes('offset 2'));
  } finally {
    cleanup();
  }
});

test('strict UTF-8 decoding across chunk boundaries, and the validator', () => {
  const text = 'a€b😀c';
  const bytes = Buffer.from(text);
  for (let cut = 0; cut <= bytes.length; cut++) {
    for (let cut2 = cut; cut2 <= bytes.length; cut2++) {
      const dec = new StrictUtf8Decoder((o) => new Error(`bad ${o}`));
      const s = dec.push(bytes.subarray(0, cut)) + dec.push(bytes.subarray(cut, cut2)) + dec.push(bytes.subarray(cut2)) + dec.end();
      assert.equal(s, text);
    }
  }
  assert.equal(firstInvalidUtf8(bytes), -1);
  assert.equal(firstInvalidUtf8(Buffer.from([0x61, 0xc0, 0x80])), 1); // overlong
  assert.equal(firstInvalidUtf8(Buffer.from([0x61, 0x62, 0xed, 0xa0, 0x80])), 2); // surrogate
  assert.equal(firstInvalidUtf8(Buffer.from([0xf4, 0x90, 0x80, 0x80])), 0); // > U+10FFFF
  const dec = new StrictUtf8Decoder((o) => new Error(`bad ${o}`));
  dec.push(Buffer.from('abc'));
  assert.throws(() => dec.push(Buffer.from([0x61, 0x80])), /bad 4/);
});

test('empty, blank, missing and unsupported corpora are DataErrors', async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeFileSync(join(dir, 'empty.txt'), '');
    await assert.rejects(docs(join(dir, 'empty.txt')), (e: Error) => e instanceof DataError && /corpus is empty/.test(e.message));
    writeFileSync(join(dir, 'blank.txt'), '  \n<|endoftext|>\n');
    await assert.rejects(docs(dir), (e: Error) => e instanceof DataError && /corpus is empty .* its 2 files/.test(e.message));
    mkdirSync(join(dir, 'none'));
    writeFileSync(join(dir, 'none', 'x.csv'), 'a');
    await assert.rejects(docs(join(dir, 'none')), (e: Error) => e instanceof DataError && /no corpus files/.test(e.message));
    await assert.rejects(docs(join(dir, 'missing.txt')), (e: Error) => e instanceof DataError && /no such file or folder/.test(e.message));
    await assert.rejects(docs(join(dir, 'none', 'x.csv')), (e: Error) => e instanceof DataError && /not a corpus file/.test(e.message));
    writeFileSync(join(dir, 'corrupt.txt.xz'), 'not xz at all');
    await assert.rejects(docs(join(dir, 'corrupt.txt.xz')), (e: Error) => e instanceof DataError && /xz -dc failed/.test(e.message));
    writeFileSync(join(dir, 'corrupt.txt.gz'), 'not gzip');
    await assert.rejects(docs(join(dir, 'corrupt.txt.gz')), (e: Error) => e instanceof DataError && /not a valid gzip/.test(e.message));
  } finally {
    cleanup();
  }
});

const CORPUS = 'corpora/mixed-public-domain.txt.xz';
test('the shared corpus streams: its first documents come at once, and stopping early stops xz', { skip: needsAsset(CORPUS) }, async () => {
  const t0 = performance.now();
  const got: string[] = [];
  for await (const d of readDocuments(join(ASSETS, CORPUS))) {
    got.push(d.text);
    if (got.length === 50) break;
  }
  assert.equal(got.length, 50);
  assert.ok(got.every((d) => d.trim() !== '' && !d.includes('<|endoftext|>')));
  assert.ok(performance.now() - t0 < 5000, 'streamed, not decompressed whole');
});
