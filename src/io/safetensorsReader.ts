// The safetensors reader over any ByteSource: the header (validated field by field) when opened,
// each tensor when asked, by position. A local file (SafetensorsFile in safetensors.ts) and a file
// served over HTTP (urlByteSource.ts) are read by this same code. No Node built-ins here.

import type { ByteSource } from './byteSource.js';
import { assertLittleEndian, decodeToF32, DTYPE_SIZE, viewAs, type TypedData } from './dtypes.js';
import { quoteName, SafetensorsError } from './errors.js';
import { checkHeaderLength, parseHeader, type ParsedHeader, type TensorInfo } from './safetensorsHeader.js';

// Converting dtypes a chunk at a time keeps the scratch small, however big the tensor.
const READ_CHUNK = 1 << 24;

/** Look up a tensor or throw a SafetensorsError that says which names exist. */
export function lookup(h: ParsedHeader, file: string, name: string): TensorInfo {
  const info = h.tensors.get(name);
  if (!info) {
    const some = h.names.slice(0, 3).map(quoteName).join(', ');
    throw new SafetensorsError(file, `no tensor named ${quoteName(name)} (it has ${h.names.length}${some ? `: ${some}${h.names.length > 3 ? ', …' : ''}` : ''})`);
  }
  return info;
}

/** Allocate output for a validated tensor, turning an engine refusal into a clear error. */
function allocate<T>(file: string, name: string, bytes: number, make: () => T): T {
  try {
    return make();
  } catch (e) {
    if (e instanceof RangeError) throw new SafetensorsError(file, `tensor ${quoteName(name)} (${bytes} bytes) is too large to read into memory`, { cause: e });
    throw e;
  }
}

/** Read and validate the header of `src`; closes `src` and throws SafetensorsError when it is malformed or unreadable. */
export async function readSafetensorsHeader(src: ByteSource): Promise<ParsedHeader> {
  assertLittleEndian();
  const path = src.name;
  try {
    const size = src.size;
    const prefix = new Uint8Array(8);
    if (size >= 8) await src.read(prefix, 0);
    const n = checkHeaderLength(prefix, size, path);
    // n is now known to be <= 100 MB and within the file, so this allocation is safe.
    const headerBytes = new Uint8Array(n);
    await src.read(headerBytes, 8);
    return parseHeader(headerBytes, size, path);
  } catch (e) {
    await src.close().catch(() => undefined);
    if (e instanceof SafetensorsError) throw e;
    throw new SafetensorsError(path, `cannot read: ${(e as Error).message}`, { cause: e });
  }
}

/** A safetensors file opened for lazy reading from a ByteSource. Close it when done. */
export class SafetensorsReader {
  private source: ByteSource | null;
  /** The path or URL it was opened from. */
  readonly path: string;
  /** The file's size in bytes at open. */
  readonly fileSize: number;

  /** Wrap an open source whose header `readSafetensorsHeader` returned (use `fromSource`). */
  constructor(
    source: ByteSource,
    private readonly header: ParsedHeader,
  ) {
    this.source = source;
    this.path = source.name;
    this.fileSize = source.size;
  }

  /** Read and validate the header of `src` (SafetensorsError when malformed; `src` is then closed). */
  static async fromSource(src: ByteSource): Promise<SafetensorsReader> {
    return new SafetensorsReader(src, await readSafetensorsHeader(src));
  }

  /** Tensor names, sorted. */
  names(): string[] {
    return [...this.header.names];
  }

  /** Whether the file has a tensor of this name. */
  has(name: string): boolean {
    return this.header.tensors.has(name);
  }

  /** Dtype, shape and location of a tensor (throws SafetensorsError for an unknown name). */
  info(name: string): TensorInfo {
    return lookup(this.header, this.path, name);
  }

  /** The `__metadata__` string map ({} when absent). */
  get metadata(): Readonly<Record<string, string>> {
    return this.header.metadata;
  }

  /** The tensor's bytes, exactly as stored (little-endian). */
  async readRaw(name: string): Promise<Uint8Array> {
    const info = this.info(name);
    const out = allocate(this.path, name, info.byteLength, () => new Uint8Array(info.byteLength));
    await this.readAt(out, info.byteOffset);
    return out;
  }

  /** The tensor as a typed array of its own dtype (F16/BF16 as Uint16Array bits, BOOL as 0/1 bytes). */
  async readTyped(name: string): Promise<TypedData> {
    return viewAs(this.info(name).dtype, await this.readRaw(name));
  }

  /** The tensor converted to f32 (exact for F16/BF16; integers round to the nearest f32). */
  async readF32(name: string): Promise<Float32Array> {
    const info = this.info(name);
    const out = allocate(this.path, name, info.numel * 4, () => new Float32Array(info.numel));
    if (info.dtype === 'F32') {
      await this.readAt(new Uint8Array(out.buffer), info.byteOffset);
      return out;
    }
    // Convert a chunk at a time so the only extra memory is one chunk, however big the tensor.
    const size = DTYPE_SIZE[info.dtype];
    const perChunk = Math.max(1, Math.floor(READ_CHUNK / size));
    const scratch = new Uint8Array(Math.min(info.numel, perChunk) * size);
    for (let at = 0; at < info.numel; at += perChunk) {
      const n = Math.min(perChunk, info.numel - at);
      const chunk = scratch.subarray(0, n * size);
      await this.readAt(chunk, info.byteOffset + at * size);
      decodeToF32(info.dtype, chunk, out, at);
    }
    return out;
  }

  /** Close the source; further reads throw. Safe to call twice. */
  async close(): Promise<void> {
    const s = this.source;
    this.source = null;
    if (s) await s.close();
  }

  private async readAt(target: Uint8Array, position: number): Promise<void> {
    if (!this.source) throw new SafetensorsError(this.path, 'file is closed');
    try {
      await this.source.read(target, position);
    } catch (e) {
      if (e instanceof SafetensorsError) throw e;
      throw new SafetensorsError(this.path, (e as Error).message, { cause: e });
    }
  }
}
