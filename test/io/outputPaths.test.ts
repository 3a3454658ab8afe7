// Output paths checked before work, workspace databases validated on open, and the environment's
// refusals (disk full, permission, read-only, quota) as one line with exit 2 instead of exit 1.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { isUserError, userErrorLine } from '../../src/cli/errors.js';
import { checkOutputDir, checkOutputFile, environmentErrorLine, OutputPathError } from '../../src/io/outputPaths.js';
import { checkWorkspaceDb, openWorkspaceDb, WorkspaceDbError } from '../../src/io/workspaceDb.js';
import { tempDir } from './assets.js';

const errno = (code: string, path?: string) => Object.assign(new Error(`${code}: something, write`), { code, syscall: 'write', ...(path ? { path } : {}) });

test('checkOutputFile: a missing folder or a folder as the file is one OutputPathError line; a fine path passes', () => {
  const { dir, cleanup } = tempDir();
  try {
    assert.throws(() => checkOutputFile(join(dir, 'nope', 'a.safetensors'), '--out'), (e: Error) => e instanceof OutputPathError && /--out .*nope\/a\.safetensors: the folder .* does not exist/.test(e.message));
    assert.throws(() => checkOutputFile(dir, '--out'), (e: Error) => e instanceof OutputPathError && /is a folder/.test(e.message));
    writeFileSync(join(dir, 'f'), '');
    assert.throws(() => checkOutputFile(join(dir, 'f', 'x'), '--neuronpedia'), /--neuronpedia .*is not a folder/);
    assert.equal(checkOutputFile(join(dir, 'a.json'), '--out'), join(dir, 'a.json'));
    assert.ok(!existsSync(join(dir, 'a.json')), 'the check writes nothing that stays');
    assert.ok(isUserError(new OutputPathError('x')));
  } finally {
    cleanup();
  }
});

test('checkOutputDir: creates missing folders, refuses a file in the way and an unwritable place (a probe write, true for root too)', () => {
  const { dir, cleanup } = tempDir();
  try {
    const r = checkOutputDir(join(dir, 'a', 'b'), '--out');
    assert.deepEqual(r.created, [join(dir, 'a'), join(dir, 'a', 'b')]);
    assert.ok(existsSync(join(dir, 'a', 'b')));
    writeFileSync(join(dir, 'file'), '');
    assert.throws(() => checkOutputDir(join(dir, 'file'), '--out'), /--out .*file: cannot write there \(it is a file, not a folder\)/);
    assert.throws(() => checkOutputDir(join(dir, 'file', 'x'), '--out'), /is a file, not a folder/);
    assert.deepEqual(checkOutputDir(join(dir, 'c', 'd'), '--out', { create: false }).created, []);
    assert.ok(!existsSync(join(dir, 'c')), 'create: false creates nothing');
    // sysfs takes no new files, even from root.
    if (existsSync('/sys/kernel')) assert.throws(() => checkOutputDir('/sys/kernel/saelab-out', '--out'), (e: Error) => e instanceof OutputPathError && /^--out \/sys\/kernel\/saelab-out: cannot write there/.test(e.message));
  } finally {
    cleanup();
  }
});

test('environment errors (ENOSPC, EACCES, EROFS, EDQUOT, SQLITE_FULL) are user errors with one line; a TypeError is not', () => {
  for (const code of ['ENOSPC', 'EACCES', 'EROFS', 'EDQUOT', 'SQLITE_FULL']) {
    const e = errno(code, '/data/run/x.tmp');
    assert.ok(isUserError(e), code);
    const line = userErrorLine(e);
    assert.ok(!line.includes('\n'));
    assert.match(line, new RegExp(`\\[${code}\\]`));
    assert.match(line, /\/data\/run\/x\.tmp/);
  }
  assert.match(environmentErrorLine(errno('ENOSPC'))!, /^no space left on the device/);
  assert.equal(environmentErrorLine(new TypeError('x is undefined')), null);
  assert.ok(!isUserError(new TypeError('x is undefined')));
  assert.ok(!isUserError(errno('ECONNRESET')));
});

test('workspace db: a non-database, a folder and a newer schema are WorkspaceDbError lines, checked without writing', () => {
  const { dir, cleanup } = tempDir();
  try {
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'hello, not sqlite\n');
    for (const f of [() => checkWorkspaceDb(text), () => openWorkspaceDb(text)]) assert.throws(f, (e: Error) => e instanceof WorkspaceDbError && /--db .*notes\.txt: not an SQLite database/.test(e.message) && isUserError(e));
    mkdirSync(join(dir, 'folder.db'));
    assert.throws(() => checkWorkspaceDb(join(dir, 'folder.db')), (e: Error) => e instanceof WorkspaceDbError && /is a folder/.test(e.message));
    const newer = join(dir, 'newer.db');
    const raw = new Database(newer);
    raw.exec('CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (99);');
    raw.close();
    assert.throws(() => checkWorkspaceDb(newer), (e: Error) => e instanceof WorkspaceDbError && /schema version 99 is newer/.test(e.message));
    assert.throws(() => openWorkspaceDb(newer), (e: Error) => e instanceof WorkspaceDbError && isUserError(e));
    // A missing file is fine (its folder is created), an existing good one too; neither is written.
    const fresh = join(dir, 'sub', 'saelab.db');
    checkWorkspaceDb(fresh);
    assert.ok(!existsSync(join(dir, 'sub')), 'the check creates nothing');
    openWorkspaceDb(fresh).close();
    checkWorkspaceDb(fresh);
  } finally {
    cleanup();
  }
});
