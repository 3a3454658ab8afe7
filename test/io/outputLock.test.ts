// The output-folder lock: O_EXCL creation, a live holder refused by name (another process), a dead
// pid's or a cut-short lock taken over with a line, and kill -9 leftovers (temp files of dead pids)
// cleaned while a live writer's stay.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { cleanStaleTemps } from '../../src/io/atomicWrite.js';
import { acquireOutputLock, LOCK_FILE, OutputLockedError, pidAlive } from '../../src/io/outputLock.js';
import { tempDir } from './assets.js';

/** A pid that ran and has exited (so no process has it now, barring reuse in these milliseconds). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  const pid = Number(r.stdout.toString());
  assert.ok(!pidAlive(pid));
  return pid;
}

test('a lock is exclusive: a live holder in another process is refused by pid; released, it can be taken', async () => {
  const { dir, cleanup } = tempDir();
  const lockJs = resolve('dist/src/io/outputLock.js');
  const child = spawn(process.execPath, ['--input-type=module', '-e', `import { acquireOutputLock } from ${JSON.stringify(lockJs)}; acquireOutputLock(${JSON.stringify(dir)}, 'saelab train'); console.log('locked'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((ok, bad) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && ok());
      child.on('exit', (c) => bad(new Error(`child exited ${c}`)));
    });
    const info = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'));
    assert.equal(info.pid, child.pid);
    assert.equal(info.host, hostname());
    assert.ok(!Number.isNaN(Date.parse(info.startedAt)));
    assert.throws(() => acquireOutputLock(dir, 'saelab train'), (e: Error) => e instanceof OutputLockedError && e.message.includes(`saelab train (pid ${child.pid}, since ${info.startedAt})`));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // The killed holder left its lock behind: it is stale now and taken over with a line.
    const notes: string[] = [];
    const lock = acquireOutputLock(dir, 'saelab train', (l) => notes.push(l));
    assert.equal(notes.length, 1);
    assert.match(notes[0]!, new RegExp(`took over a stale lock of pid ${child.pid}`));
    assert.equal(JSON.parse(readFileSync(lock.path, 'utf8')).pid, process.pid);
    assert.throws(() => acquireOutputLock(dir, 'saelab harvest'), OutputLockedError, 'a second lock in one process is refused too');
    lock.release();
    assert.ok(!existsSync(join(dir, LOCK_FILE)));
    acquireOutputLock(dir, 'saelab train').release();
  } finally {
    child.kill('SIGKILL');
    cleanup();
  }
});

test('stale locks: a dead pid and a cut-short file are taken over; another host\'s is refused with the file to delete', () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = join(dir, LOCK_FILE);
    writeFileSync(path, JSON.stringify({ pid: deadPid(), host: hostname(), startedAt: '2020-01-01T00:00:00.000Z', command: 'saelab train' }));
    const notes: string[] = [];
    acquireOutputLock(dir, 'saelab train', (l) => notes.push(l)).release();
    writeFileSync(path, '{"pid": 12'); // killed between create and write
    acquireOutputLock(dir, 'saelab train', (l) => notes.push(l)).release();
    assert.equal(notes.length, 2);
    assert.match(notes[1]!, /an unreadable lock file/);
    writeFileSync(path, JSON.stringify({ pid: 1, host: 'other-machine', startedAt: 'x', command: 'saelab train' }));
    assert.throws(() => acquireOutputLock(dir, 'saelab train'), (e: Error) => e instanceof OutputLockedError && e.message.includes('on host other-machine') && e.message.includes(`delete ${path}`));
    // A lock someone else took over after us is not removed by our release.
    writeFileSync(path, '');
    const mine = acquireOutputLock(dir, 'saelab train');
    writeFileSync(path, 'theirs');
    mine.release();
    assert.equal(readFileSync(path, 'utf8'), 'theirs');
  } finally {
    cleanup();
  }
});

test('cleanStaleTemps removes temp files and folders of dead pids only', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const dead = deadPid();
    writeFileSync(join(dir, `.sae-0.safetensors.${dead}.0123456789ab.tmp`), 'partial');
    mkdirSync(join(dir, `.step-00000010.${dead}.a1b2c3d4e5f6.tmp`));
    writeFileSync(join(dir, `.step-00000010.${dead}.a1b2c3d4e5f6.tmp`, 'sae-0.safetensors'), 'partial');
    const live = [`.cfg.json.${process.pid}.0123456789ab.tmp`, `.x.${process.ppid}.0123456789ab.tmp`, 'keep.tmp', `.other.${dead}.tmp`];
    for (const n of live) writeFileSync(join(dir, n), '');
    const notes: string[] = [];
    const removed = await cleanStaleTemps(dir, (l) => notes.push(l));
    assert.equal(removed.length, 2);
    assert.deepEqual(readdirSync(dir).sort(), [...live].sort());
    assert.match(notes[0]!, /removed 2 partial file\(s\) of killed runs/);
    assert.deepEqual(await cleanStaleTemps(join(dir, 'missing')), []);
  } finally {
    cleanup();
  }
});
