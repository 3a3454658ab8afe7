import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openAtomic, tempPathFor, writeFileAtomic, writeFileAtomicSync } from '../../src/io/atomicWrite.js';
import { tempDir } from './assets.js';

test('writeFileAtomic creates and replaces files, leaving no temp files', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const p = join(dir, 'a.json');
    await writeFileAtomic(p, '{"v":1}');
    assert.equal(readFileSync(p, 'utf8'), '{"v":1}');
    await writeFileAtomic(p, new Uint8Array([1, 2, 3]));
    assert.deepEqual([...readFileSync(p)], [1, 2, 3]);
    await writeFileAtomic(p, '');
    assert.equal(statSync(p).size, 0);
    writeFileAtomicSync(p, 'sync ✓');
    assert.equal(readFileSync(p, 'utf8'), 'sync ✓');
    assert.deepEqual(readdirSync(dir), ['a.json']);
  } finally {
    cleanup();
  }
});

test('temp names are hidden, next to the target, and unique', () => {
  const a = tempPathFor('/x/y/model.safetensors');
  const b = tempPathFor('/x/y/model.safetensors');
  assert.match(a, new RegExp(`^/x/y/\\.model\\.safetensors\\.${process.pid}\\.[0-9a-f]{12}\\.tmp$`));
  assert.notEqual(a, b);
});

test('openAtomic: the target changes only on commit; abort discards', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const p = join(dir, 'data.bin');
    writeFileSync(p, 'old');
    const f = await openAtomic(p);
    await f.write('new ');
    await f.write(new Uint8Array([0x61, 0x62]));
    assert.equal(readFileSync(p, 'utf8'), 'old', 'untouched before commit');
    assert.ok(existsSync(f.tempPath));
    await f.commit();
    assert.equal(readFileSync(p, 'utf8'), 'new ab');
    assert.ok(!existsSync(f.tempPath));
    await assert.rejects(f.write('more'), /write after committed/);
    await assert.rejects(f.commit(), /commit after committed/);

    const g = await openAtomic(p);
    await g.write('discarded');
    await g.abort();
    await g.abort(); // idempotent
    assert.equal(readFileSync(p, 'utf8'), 'new ab');
    assert.deepEqual(readdirSync(dir), ['data.bin']);
    await assert.rejects(g.write('x'), /write after aborted/);
  } finally {
    cleanup();
  }
});

test('failures leave nothing behind: missing directory, rename onto a directory', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await assert.rejects(writeFileAtomic(join(dir, 'no', 'such', 'f'), 'x'), { code: 'ENOENT' });
    assert.throws(() => writeFileAtomicSync(join(dir, 'no', 'f'), 'x'), { code: 'ENOENT' });
    // Renaming a file over a non-empty directory fails at commit: the temp file must go.
    const target = join(dir, 'sub');
    await writeFileAtomic(join(dir, 'keep'), 'k');
    writeFileSync(join(dir, 'x'), '');
    mkdirSync(target);
    writeFileSync(join(target, 'inner'), 'i');
    await assert.rejects(writeFileAtomic(target, 'data'));
    assert.throws(() => writeFileAtomicSync(target, 'data'));
    assert.deepEqual(readdirSync(dir).sort(), ['keep', 'sub', 'x']);
    assert.deepEqual(readdirSync(target), ['inner']);
  } finally {
    cleanup();
  }
});

test('concurrent writers to one target: the result is one complete version', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const p = join(dir, 'race.txt');
    const versions = Array.from({ length: 8 }, (_, i) => String(i).repeat(10_000 + i));
    await Promise.all(versions.map((v) => writeFileAtomic(p, v)));
    assert.ok(versions.includes(readFileSync(p, 'utf8')));
    assert.deepEqual(readdirSync(dir), ['race.txt']);
  } finally {
    cleanup();
  }
});
