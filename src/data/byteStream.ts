// The raw bytes of one corpus file as a stream: plain, gzip (node:zlib) or xz (the `xz -dc` CLI,
// since Node has no xz decoder and no dependency may be added). The stream stops (and an xz child
// process is killed) when the consumer stops early.

import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { DataError } from './errors.js';

/** How a file is compressed, from its name. */
export function compressionOf(file: string): 'gz' | 'xz' | null {
  return file.endsWith('.gz') ? 'gz' : file.endsWith('.xz') ? 'xz' : null;
}

/** The decompressed bytes of `file`, chunk by chunk. */
export async function* fileBytes(file: string): AsyncGenerator<Uint8Array> {
  const kind = compressionOf(file);
  if (kind === 'xz') {
    yield* xzBytes(file);
    return;
  }
  const raw = createReadStream(file);
  const stream: Readable = kind === 'gz' ? raw.pipe(createGunzip()) : raw;
  raw.on('error', (e) => stream.destroy(e)); // pipe() does not forward source errors
  try {
    for await (const chunk of stream) yield chunk as Uint8Array;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataError(`${file}: no such file`, { cause: e });
    if (kind === 'gz') throw new DataError(`${file}: not a valid gzip file (${(e as Error).message})`, { cause: e });
    throw e;
  } finally {
    stream.destroy();
    raw.destroy();
  }
}

/** `xz -dc file` streamed; a non-zero exit (corrupt file) or a missing `xz` is a DataError. */
async function* xzBytes(file: string): AsyncGenerator<Uint8Array> {
  const child = spawn('xz', ['-dc', '--', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    if (stderr.length < 2000) stderr += s;
  });
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.on('error', (error) => resolve({ code: null, error }));
    child.on('close', (code) => resolve({ code }));
  });
  let finished = false;
  try {
    for await (const chunk of child.stdout) yield chunk as Uint8Array;
    const r = await exited;
    if (r.error) {
      const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
      throw new DataError(missing ? `${file}: reading .xz needs the xz program (install xz-utils)` : `${file}: xz failed: ${r.error.message}`, { cause: r.error });
    }
    if (r.code !== 0) throw new DataError(`${file}: xz -dc failed (exit ${r.code}): ${stderr.trim() || 'no message'}`);
    finished = true;
  } finally {
    // The consumer stopped early (or failed): stop the decompressor we started.
    if (!finished && child.exitCode === null) child.kill();
  }
}
