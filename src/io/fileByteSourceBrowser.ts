// fileByteSource.ts in a browser (the package's "browser" map): there are no local files there, so
// every entry point says so. Browser code opens a folder over HTTP instead (urlByteSource.ts).

import type { ByteFolder, ByteSource } from './byteSource.js';

const NO_FILES = 'local files cannot be read in a browser: open the folder by URL (urlFolder)';

/** As in fileByteSource.ts. */
export const NOT_A_FILE = 'not a regular file';

/** Always null: a browser has no local paths. */
export async function localPathKind(_path: string): Promise<'file' | 'dir' | null> {
  return null;
}

/** Refused in a browser. */
export async function openFileSource(path: string): Promise<ByteSource> {
  throw new Error(`${path}: ${NO_FILES}`);
}

/** Refused in a browser. */
export async function readLocalFile(path: string): Promise<Uint8Array> {
  throw new Error(`${path}: ${NO_FILES}`);
}

/** Refused in a browser. */
export function localFolder(dir: string): ByteFolder {
  throw new Error(`${dir}: ${NO_FILES}`);
}
