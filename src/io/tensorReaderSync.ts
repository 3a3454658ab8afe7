// Synchronous reads of an HF folder's tensors by name, through one file descriptor per shard: a
// forward that streams its layers from disk runs inside synchronous code (the model's forward), so
// it cannot await a FileHandle. Offsets and shapes come from the headers HfWeights already checked.
// node:fs is reached through process.getBuiltinModule, not imported, so a browser bundle of the
// model code (which never streams) carries no Node built-in.

import { SafetensorsError } from './errors.js';
import type { HfTensorInfo, HfWeights } from './hfFolder.js';

// One read of at most this much (Node refuses single reads over 2 GiB).
const READ_CHUNK = 1 << 26;

/** Reads tensors of an open HfWeights synchronously. Close it when done (HfWeights stays open). */
export class SyncTensorReader {
  private readonly fds = new Map<string, number>();

  private readonly fs: typeof import('node:fs');

  constructor(readonly weights: HfWeights) {
    const fs = typeof process !== 'undefined' ? process.getBuiltinModule?.('node:fs') : undefined;
    if (!fs) throw new SafetensorsError(weights.dir, 'reading blocks from disk as the forward needs them (streaming) works in Node only');
    this.fs = fs;
  }

  /** Whether the model has a tensor of this name. */
  has(name: string): boolean {
    return this.weights.has(name);
  }

  /** Dtype, shape, location and shard of a tensor. */
  info(name: string): HfTensorInfo {
    return this.weights.info(name);
  }

  /** The tensor's stored bytes (little-endian), in a fresh buffer (so aligned for any element size). */
  readRaw(name: string): Uint8Array {
    const info = this.info(name);
    const out = new Uint8Array(info.byteLength);
    const fd = this.fd(info.file);
    let done = 0;
    while (done < out.byteLength) {
      const want = Math.min(out.byteLength - done, READ_CHUNK);
      let n: number;
      try {
        n = this.fs.readSync(fd, out, done, want, info.byteOffset + done);
      } catch (e) {
        throw new SafetensorsError(info.file, `read failed at byte ${info.byteOffset + done}: ${(e as Error).message}`, { cause: e });
      }
      if (n === 0) throw new SafetensorsError(info.file, `file ended at byte ${info.byteOffset + done} while reading tensor "${name}" (changed since it was opened?)`);
      done += n;
    }
    return out;
  }

  /** Close every descriptor this reader opened. Safe to call twice. */
  close(): void {
    for (const fd of this.fds.values()) this.fs.closeSync(fd);
    this.fds.clear();
  }

  private fd(file: string): number {
    let fd = this.fds.get(file);
    if (fd === undefined) {
      try {
        fd = this.fs.openSync(file, 'r');
      } catch (e) {
        throw new SafetensorsError(file, `cannot open: ${(e as Error).message}`, { cause: e });
      }
      this.fds.set(file, fd);
    }
    return fd;
  }
}
