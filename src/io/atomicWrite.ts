// Atomic file writes: readers see the old file or the complete new one, never a half-written one,
// even across a crash. Write a temp file in the same directory (rename is atomic only within one
// file system), fsync it, rename it over the target, then fsync the directory so the rename itself
// is durable. On any failure the temp file is removed and the target is untouched.

import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open, readdir, rename, rm, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pidAlive } from './outputLock.js';

// Single writes are capped (Node refuses buffers over 2 GiB per write call).
const WRITE_CHUNK = 1 << 30;

/** A unique temp path next to `target`: hidden, with pid and randomness so concurrent writers never collide. */
export function tempPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** A temp name of tempPathFor (or of a checkpoint folder built the same way): `.<name>.<pid>.<hex>.tmp`. */
const TEMP_NAME_RE = /^\..+\.(\d+)\.[0-9a-f]{6,}\.tmp$/;

/** The pid a temp name carries, or null for other names. */
export function tempOwnerPid(name: string): number | null {
  const m = TEMP_NAME_RE.exec(name);
  return m ? Number(m[1]) : null;
}

/**
 * Remove the temp files (and temp folders) in `dir` left by processes that no longer run (a kill -9
 * mid-write); those of live processes, this one included, are left alone. `isAlive` says whether a
 * pid runs on this machine. Returns the names removed.
 */
export async function cleanStaleTemps(dir: string, note?: (line: string) => void, isAlive: (pid: number) => boolean = pidAlive): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw e;
  }
  const removed: string[] = [];
  for (const n of names) {
    const pid = tempOwnerPid(n);
    if (pid === null || pid === process.pid || isAlive(pid)) continue;
    await rm(join(dir, n), { recursive: true, force: true });
    removed.push(n);
  }
  if (removed.length) note?.(`saelab: removed ${removed.length} partial file(s) of killed runs in ${dir}`);
  return removed;
}

/** A file being written atomically: write chunks, then commit (publish) or abort (discard). */
export interface AtomicFile {
  /** The final path. */
  readonly path: string;
  /** Where the bytes go until commit. */
  readonly tempPath: string;
  /** Append a chunk (strings as UTF-8). Writes must be awaited one at a time. */
  write(chunk: Uint8Array | string): Promise<void>;
  /** fsync, rename over the target, fsync the directory. On failure the temp file is removed. */
  commit(): Promise<void>;
  /** Close and remove the temp file; the target is untouched. Safe to call more than once, and after a failed commit. */
  abort(): Promise<void>;
}

/** Start writing `path` atomically (creating the temp file now; the directory must exist). */
export async function openAtomic(path: string, options: { mode?: number } = {}): Promise<AtomicFile> {
  const tempPath = tempPathFor(path);
  // 'wx': fail rather than clobber if the name somehow exists.
  const handle = await open(tempPath, 'wx', options.mode ?? 0o644);
  return new AtomicFileImpl(path, tempPath, handle);
}

class AtomicFileImpl implements AtomicFile {
  private state: 'open' | 'committed' | 'aborted' = 'open';

  constructor(
    readonly path: string,
    readonly tempPath: string,
    private handle: FileHandle | null,
  ) {}

  async write(chunk: Uint8Array | string): Promise<void> {
    if (this.state !== 'open' || !this.handle) throw new Error(`atomic write of ${this.path}: write after ${this.state}`);
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    try {
      await writeAll(this.handle, bytes);
    } catch (e) {
      await this.abort();
      throw e;
    }
  }

  async commit(): Promise<void> {
    if (this.state !== 'open' || !this.handle) throw new Error(`atomic write of ${this.path}: commit after ${this.state}`);
    try {
      await this.handle.sync();
      const h = this.handle;
      this.handle = null;
      await h.close();
      await rename(this.tempPath, this.path);
      this.state = 'committed';
    } catch (e) {
      await this.abort();
      throw e;
    }
    await syncDirectory(dirname(this.path));
  }

  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    const h = this.handle;
    this.handle = null;
    if (h) await h.close().catch(() => undefined);
    await unlink(this.tempPath).catch(() => undefined);
  }
}

/** Write every byte, looping over short writes. */
async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, done, Math.min(bytes.byteLength - done, WRITE_CHUNK));
    done += bytesWritten;
  }
}

/** fsync a directory so a rename in it survives a crash; platforms that cannot (Windows) skip it. */
async function syncDirectory(dir: string): Promise<void> {
  let h: FileHandle | null = null;
  try {
    h = await open(dir, 'r');
    await h.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EACCES' && code !== 'EBADF') throw e;
  } finally {
    await h?.close().catch(() => undefined);
  }
}

/** Write a whole file atomically (see the file comment). */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: { mode?: number } = {}): Promise<void> {
  const f = await openAtomic(path, options);
  try {
    await f.write(data);
    await f.commit();
  } catch (e) {
    await f.abort();
    throw e;
  }
}

/** Synchronous writeFileAtomic, for small files (manifests) written where awaiting is awkward. */
export function writeFileAtomicSync(path: string, data: string | Uint8Array, options: { mode?: number } = {}): void {
  const tempPath = tempPathFor(path);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const fd = openSync(tempPath, 'wx', options.mode ?? 0o644);
  let closed = false;
  try {
    let done = 0;
    while (done < bytes.byteLength) done += writeSync(fd, bytes, done, Math.min(bytes.byteLength - done, WRITE_CHUNK));
    fsyncSync(fd);
    closeSync(fd);
    closed = true;
    renameSync(tempPath, path);
  } catch (e) {
    if (!closed) {
      try {
        closeSync(fd);
      } catch {
        // already failing; the original error matters
      }
    }
    try {
      unlinkSync(tempPath);
    } catch {
      // it may not exist any more
    }
    throw e;
  }
  let dfd: number | null = null;
  try {
    dfd = openSync(dirname(path), 'r');
    fsyncSync(dfd);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EACCES' && code !== 'EBADF') throw e;
  } finally {
    if (dfd !== null) closeSync(dfd);
  }
}
