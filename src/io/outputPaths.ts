// Output paths checked before the work starts, and the environment's refusals (disk full, no
// permission, read-only file system, quota) turned into one line. Every command that writes a file
// or folder calls checkOutputFile / checkOutputDir on it first, so a long run never ends in an
// "internal error" because its output could not be written.

import { closeSync, existsSync, mkdirSync, openSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';

/** An output file or folder that cannot be written (exit 2, one line naming the flag and path). */
export class OutputPathError extends Error {
  override name = 'OutputPathError';
}

/** errno codes that mean "the machine refused", not "saelab has a bug", with what to tell the user. */
export const ENVIRONMENT_ERROR_CODES: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a part of the path is not a folder',
  EISDIR: 'is a folder, not a file',
  EMFILE: 'too many open files',
  SQLITE_FULL: 'no space left on the device (database full)',
  SQLITE_READONLY: 'the database is read-only',
  SQLITE_CANTOPEN: 'cannot open the database file',
  SQLITE_NOTADB: 'not an SQLite database',
  SQLITE_IOERR: 'I/O error writing the database',
};

/** One line for an environment error (`ENOSPC` while writing `path`: …), or null when `e` is not one. */
export function environmentErrorLine(e: unknown): string | null {
  if (!(e instanceof Error)) return null;
  const err = e as NodeJS.ErrnoException;
  const code = typeof err.code === 'string' ? err.code : '';
  const base = code.startsWith('SQLITE_IOERR') ? 'SQLITE_IOERR' : code;
  const what = ENVIRONMENT_ERROR_CODES[base];
  if (!what) return null;
  const where = err.path ? ` (${err.syscall ? `${err.syscall} ` : ''}${err.path})` : '';
  return `${what}${where} [${code}]: free space or fix permissions, then run again (resumable work continues with --resume)`;
}

/** Whether `e` is an environment error (see ENVIRONMENT_ERROR_CODES). */
export function isEnvironmentError(e: unknown): boolean {
  return environmentErrorLine(e) !== null;
}

/** Create and remove a probe file in `dir`: the only check that is true for root, read-only mounts and ACLs alike. */
function probeWrite(dir: string): void {
  const probe = join(dir, `.saelab-probe.${process.pid}.${randomBytes(4).toString('hex')}`);
  const fd = openSync(probe, 'wx');
  closeSync(fd);
  unlinkSync(probe);
}

function why(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return (typeof err.code === 'string' && ENVIRONMENT_ERROR_CODES[err.code]) || err.message || String(e);
}

/**
 * Check that `path` can be written as a file, before any work: its folder exists and takes new
 * files, and `path` is not a folder (an existing file is replaced). Returns the absolute path.
 * `flag` names the option in the message (`--out`).
 */
export function checkOutputFile(path: string, flag: string): string {
  const abs = resolve(path);
  const dir = dirname(abs);
  if (existsSync(abs) && statSync(abs).isDirectory()) throw new OutputPathError(`${flag} ${path}: is a folder; give a file name (e.g. ${join(path, 'out')})`);
  if (!existsSync(dir)) throw new OutputPathError(`${flag} ${path}: the folder ${dir} does not exist; create it first`);
  if (!statSync(dir).isDirectory()) throw new OutputPathError(`${flag} ${path}: ${dir} is not a folder`);
  try {
    probeWrite(dir);
  } catch (e) {
    throw new OutputPathError(`${flag} ${path}: cannot write in ${dir} (${why(e)})`);
  }
  return abs;
}

/**
 * Check that `path` can hold output files, before any work: the nearest existing ancestor is a
 * folder, the missing folders are created one by one (so a failure is plain; Node's recursive mkdir
 * can spin under a read-only pseudo file system), and a probe file can be created in it. Returns the
 * absolute path and the folders it created (top down), so a caller that fails later can remove them.
 * With `create: false` nothing is created: the probe goes into the nearest existing ancestor (for
 * commands that make the folder only when they write their results).
 */
export function checkOutputDir(path: string, flag: string, o: { create?: boolean } = {}): { dir: string; created: string[] } {
  const abs = resolve(path);
  const missing: string[] = [];
  let at = abs;
  while (!existsSync(at) && dirname(at) !== at) (missing.unshift(at), (at = dirname(at)));
  if (!statSync(at).isDirectory()) throw new OutputPathError(`${flag} ${path}: cannot write there (${at === abs ? 'it is' : at + ' is'} a file, not a folder)`);
  const created: string[] = [];
  try {
    if (o.create === false) {
      probeWrite(at);
      return { dir: abs, created };
    }
    for (const d of missing) (mkdirSync(d), created.push(d));
    probeWrite(abs);
  } catch (e) {
    for (const d of [...created].reverse()) rmdirSync(d, { recursive: false });
    throw new OutputPathError(`${flag} ${path}: cannot write there (${why(e)})`);
  }
  return { dir: abs, created };
}
