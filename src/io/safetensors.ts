// Reading safetensors: `SafetensorsFile` reads a file lazily through a file descriptor (the header
// at open, each tensor when asked), so multi-GB files never sit in memory whole;
// `readSafetensorsBuffer` gives the same API, synchronously, over bytes already in memory.

import { open, type FileHandle } from 'node:fs/promises';
import { assertLittleEndian, decodeToF32, DTYPE_SIZE, viewAs, type TypedData } from './dtypes.js';
import { quoteName, SafetensorsError } from './errors.js';
import { checkHeaderLength, parseHeader, type ParsedHeader, type TensorInfo } from './safetensorsHeader.js';

export { compareCodePoints, MAX_HEADER_BYTES, type TensorInfo } from './safetensorsHeader.js';
export { SafetensorsError } from './errors.js';
export type { Dtype, TypedData } from './dtypes.js';

// One pread of at most this much: Node refuses single reads over 2 GiB, and converting dtypes chunk
// by chunk keeps the scratch small.
const READ_CHUNK = 1 << 24;

/** Look up a tensor or throw a SafetensorsError that says which names exist. */
function lookup(h: ParsedHeader, file: string, name: string): TensorInfo {
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

/** A safetensors file opened for lazy reading. Close it when done. */
export class SafetensorsFile {
  private handle: FileHandle | null;

  private constructor(
    /** The path it was opened from. */
    readonly path: string,
    private readonly header: ParsedHeader,
    handle: FileHandle,
    /** The file's size in bytes at open. */
    readonly fileSize: number,
  ) {
    this.handle = handle;
  }

  /** Open a file and validate its header; throws SafetensorsError if it is malformed or unreadable. */
  static async open(path: string): Promise<SafetensorsFile> {
    assertLittleEndian();
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (e) {
      throw new SafetensorsError(path, `cannot open: ${(e as Error).message}`, { cause: e });
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new SafetensorsError(path, 'not a regular file');
      const size = st.size;
      const prefix = new Uint8Array(8);
      if (size >= 8) await readExactly(handle, prefix, 0, path);
      const n = checkHeaderLength(prefix, size, path);
      // n is now known to be <= 100 MB and within the file, so this allocation is safe.
      const headerBytes = new Uint8Array(n);
      await readExactly(handle, headerBytes, 8, path);
      return new SafetensorsFile(path, parseHeader(headerBytes, size, path), handle, size);
    } catch (e) {
      await handle.close().catch(() => undefined);
      if (e instanceof SafetensorsError) throw e;
      throw new SafetensorsError(path, `cannot read: ${(e as Error).message}`, { cause: e });
    }
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

  /** Close the file descriptor; further reads throw. Safe to call twice. */
  async close(): Promise<void> {
    const h = this.handle;
    this.handle = null;
    if (h) await h.close();
  }

  private async readAt(target: Uint8Array, position: number): Promise<void> {
    if (!this.handle) throw new SafetensorsError(this.path, 'file is closed');
    await readExactly(this.handle, target, position, this.path);
  }
}

/** Fill `target` from `position`, looping over short reads; a file that shrank is an error. */
async function readExactly(handle: FileHandle, target: Uint8Array, position: number, file: string): Promise<void> {
  let done = 0;
  while (done < target.byteLength) {
    const want = Math.min(target.byteLength - done, READ_CHUNK);
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(target, done, want, position + done));
    } catch (e) {
      throw new SafetensorsError(file, `read failed at byte ${position + done}: ${(e as Error).message}`, { cause: e });
    }
    if (bytesRead === 0) throw new SafetensorsError(file, `file ended at byte ${position + done} while reading ${target.byteLength} bytes at ${position} (changed since it was opened?)`);
    done += bytesRead;
  }
}

/** A safetensors file held in memory, with the same reading API as SafetensorsFile, synchronous. */
export class SafetensorsBuffer {
  private constructor(
    /** A label for error messages (a path, or `<buffer>`). */
    readonly file: string,
    private readonly bytes: Uint8Array,
    private readonly header: ParsedHeader,
  ) {}

  /** Validate and wrap `bytes` (not copied; do not modify them afterwards). */
  static from(bytes: Uint8Array, file = '<buffer>'): SafetensorsBuffer {
    assertLittleEndian();
    const n = checkHeaderLength(bytes.subarray(0, 8), bytes.byteLength, file);
    return new SafetensorsBuffer(file, bytes, parseHeader(bytes.subarray(8, 8 + n), bytes.byteLength, file));
  }

  /** Tensor names, sorted. */
  names(): string[] {
    return [...this.header.names];
  }

  /** Whether there is a tensor of this name. */
  has(name: string): boolean {
    return this.header.tensors.has(name);
  }

  /** Dtype, shape and location of a tensor (throws SafetensorsError for an unknown name). */
  info(name: string): TensorInfo {
    return lookup(this.header, this.file, name);
  }

  /** The `__metadata__` string map ({} when absent). */
  get metadata(): Readonly<Record<string, string>> {
    return this.header.metadata;
  }

  /** A copy of the tensor's stored bytes. */
  readRaw(name: string): Uint8Array {
    const info = this.info(name);
    return this.bytes.slice(info.byteOffset, info.byteOffset + info.byteLength);
  }

  /** A copy of the tensor as a typed array of its own dtype (F16/BF16 as Uint16Array bits). */
  readTyped(name: string): TypedData {
    return viewAs(this.info(name).dtype, this.readRaw(name));
  }

  /** The tensor converted to f32. */
  readF32(name: string): Float32Array {
    const info = this.info(name);
    const out = new Float32Array(info.numel);
    decodeToF32(info.dtype, this.bytes.subarray(info.byteOffset, info.byteOffset + info.byteLength), out);
    return out;
  }
}

/** Parse a whole safetensors file held in memory (e.g. from readFileSync); see SafetensorsBuffer. */
export function readSafetensorsBuffer(bytes: Uint8Array, file = '<buffer>'): SafetensorsBuffer {
  return SafetensorsBuffer.from(bytes, file);
}
