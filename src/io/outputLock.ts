// A lock on an output folder, so two runs into one folder cannot overwrite each other's files: a
// file `.saelab.lock` holding {pid, host, startedAt, command}, created atomically with O_EXCL. A
// lock whose process is dead (same host, no such pid) is stale and taken over, with a line saying
// so; a live one (or one from another host, whose pid cannot be checked here) is refused, naming
// who holds it. The lock goes when released, and on process exit as a last resort.

import { hostname } from 'node:os';
import { closeSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** The lock file's name inside the locked folder. */
export const LOCK_FILE = '.saelab.lock';

/** The folder is locked by another live run (exit 2, one line naming the holder). */
export class OutputLockedError extends Error {
  override name = 'OutputLockedError';
}

/** What a lock file holds. */
export interface LockInfo {
  pid: number;
  host: string;
  /** ISO-8601 time the lock was taken. */
  startedAt: string;
  /** What holds it, e.g. `saelab train`. */
  command: string;
}

/** A held lock: `release()` removes the file (only while it is still ours). */
export interface OutputLock {
  readonly path: string;
  readonly info: LockInfo;
  release(): void;
}

/** Whether process `pid` exists on this machine (EPERM: it exists, owned by someone else). */
export function pidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(path: string): { text: string; info: LockInfo | null } | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const j = JSON.parse(text) as Partial<LockInfo>;
    if (typeof j.pid === 'number' && typeof j.host === 'string') return { text, info: { pid: j.pid, host: j.host, startedAt: String(j.startedAt ?? '?'), command: String(j.command ?? '?') } };
  } catch {
    // a lock file cut short by a kill between create and write: nobody holds it
  }
  return { text, info: null };
}

/** Why a lock is stale (a line for the user), or null when its holder may be alive. */
function staleReason(info: LockInfo | null): string | null {
  if (!info) return 'an unreadable lock file';
  if (info.host !== hostname()) return null;
  if (info.pid === process.pid) return null; // our own: a second lock in one process is a bug, refuse it
  return pidAlive(info.pid) ? null : `a stale lock of pid ${info.pid} (no longer running; taken ${info.startedAt})`;
}

/**
 * Lock `dir` (which must exist) for `command`; `note` gets a line when a stale lock is taken over.
 * Throws OutputLockedError when another live run holds it.
 */
export function acquireOutputLock(dir: string, command: string, note?: (line: string) => void): OutputLock {
  const path = join(dir, LOCK_FILE);
  const info: LockInfo = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), command };
  const text = JSON.stringify(info) + '\n';
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      try {
        writeSync(fd, text);
      } finally {
        closeSync(fd);
      }
      return makeLock(path, info, text);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const held = readLock(path);
    if (!held) continue; // released between our create and read: try again
    const stale = staleReason(held.info);
    if (!stale) {
      const h = held.info!;
      const where = h.host === hostname() ? `pid ${h.pid}` : `pid ${h.pid} on host ${h.host}`;
      const remedy = h.host === hostname() ? 'wait for it, or choose another --out' : `if that run is gone, delete ${path}`;
      throw new OutputLockedError(`${dir} is in use by ${h.command} (${where}, since ${h.startedAt}); ${remedy}`);
    }
    // Move the stale lock aside under a unique name, then check it is the one judged stale: a
    // concurrent taker may have replaced it with its own live lock in between (then put that back).
    const aside = `${path}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
    try {
      renameSync(path, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    const moved = readLock(aside);
    if (moved && moved.text !== held.text) {
      try {
        linkSync(aside, path);
      } catch {
        // someone else locked it meanwhile; their lock stands
      }
      unlinkSync(aside);
      continue;
    }
    unlinkSync(aside);
    note?.(`saelab: ${dir}: took over ${stale}`);
  }
  throw new OutputLockedError(`${dir}: could not take the lock ${path} (other runs keep taking it); try again`);
}

function makeLock(path: string, info: LockInfo, text: string): OutputLock {
  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    process.off('exit', release);
    // Remove only our own lock: never one a later run took over.
    const now = readLock(path);
    if (now && now.text === text) {
      try {
        unlinkSync(path);
      } catch {
        // gone already
      }
    }
  };
  process.on('exit', release);
  return { path, info, release };
}
