// Local files as ByteSources and folders as ByteFolders (Node: file descriptors, read lazily by
// position, so multi-GB files never sit in memory whole). The one module of the loading path that
// touches the file system; in a browser the package's "browser" map puts fileByteSourceBrowser.ts in
// its place.

import { open as openFile, readdir, readFile, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { ByteFolder, ByteSource } from './byteSource.js';

// One pread of at most this much: Node refuses single reads over 2 GiB.
const READ_CHUNK = 1 << 24;

/** What is at a local path: a plain file, a folder, or nothing (or something else). */
export async function localPathKind(path: string): Promise<'file' | 'dir' | null> {
  try {
    const st = await stat(path);
    return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : null;
  } catch {
    return null;
  }
}

/** The message openFileSource throws for a folder or device. */
export const NOT_A_FILE = 'not a regular file';

/** Open a local file for reading by position; the error of a failed open or a non-file says which. */
export async function openFileSource(path: string): Promise<ByteSource> {
  const handle = await openFile(path, 'r');
  let size: number;
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new Error(NOT_A_FILE);
    size = st.size;
  } catch (e) {
    await handle.close().catch(() => undefined);
    throw e;
  }
  return new FileSource(path, handle, size);
}

/** A local file read through its descriptor. */
class FileSource implements ByteSource {
  constructor(
    readonly name: string,
    private handle: FileHandle | null,
    readonly size: number,
  ) {}

  /** Fill `target` from `position`, looping over short reads; a file that shrank is an error. */
  async read(target: Uint8Array, position: number): Promise<void> {
    const handle = this.handle;
    if (!handle) throw new Error('file is closed');
    let done = 0;
    while (done < target.byteLength) {
      const want = Math.min(target.byteLength - done, READ_CHUNK);
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(target, done, want, position + done));
      } catch (e) {
        throw new Error(`read failed at byte ${position + done}: ${(e as Error).message}`, { cause: e });
      }
      if (bytesRead === 0) throw new Error(`file ended at byte ${position + done} while reading ${target.byteLength} bytes at ${position} (changed since it was opened?)`);
      done += bytesRead;
    }
  }

  async close(): Promise<void> {
    const h = this.handle;
    this.handle = null;
    if (h) await h.close();
  }
}

/** A whole local file's bytes. */
export async function readLocalFile(path: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(path));
}

/** A local folder as a ByteFolder (not checked here: the caller says what a missing folder means). */
export function localFolder(dir: string): ByteFolder {
  return {
    name: dir,
    label: (rel) => join(dir, rel),
    list: async () => {
      const out: string[] = [];
      for (const e of await readdir(dir, { withFileTypes: true })) if (e.isFile() || (e.isSymbolicLink() && (await localPathKind(join(dir, e.name))) === 'file')) out.push(e.name);
      return out.sort();
    },
    has: async (rel) => (await localPathKind(join(dir, rel))) === 'file',
    open: (rel) => openFileSource(join(dir, rel)),
    readBytes: (rel) => readLocalFile(join(dir, rel)),
  };
}
