// Reading safetensors: `SafetensorsFile` reads a local file lazily through a file descriptor (the
// header at open, each tensor when asked), so multi-GB files never sit in memory whole; its reading
// code is SafetensorsReader's (safetensorsReader.ts), which reads any ByteSource (a URL in a browser).
// `readSafetensorsBuffer` gives the same API, synchronously, over bytes already in memory.

import { assertLittleEndian, decodeToF32, viewAs, type TypedData } from './dtypes.js';
import { SafetensorsError } from './errors.js';
import { NOT_A_FILE, openFileSource } from './fileByteSource.js';
import { checkHeaderLength, parseHeader, type ParsedHeader, type TensorInfo } from './safetensorsHeader.js';
import { lookup, readSafetensorsHeader, SafetensorsReader } from './safetensorsReader.js';

export { compareCodePoints, MAX_HEADER_BYTES, type TensorInfo } from './safetensorsHeader.js';
export { SafetensorsError } from './errors.js';
export { SafetensorsReader } from './safetensorsReader.js';
export type { Dtype, TypedData } from './dtypes.js';

/** A local safetensors file opened for lazy reading. Close it when done. */
export class SafetensorsFile extends SafetensorsReader {
  /** Open a file and validate its header; throws SafetensorsError if it is malformed or unreadable. */
  static async open(path: string): Promise<SafetensorsFile> {
    assertLittleEndian();
    let src;
    try {
      src = await openFileSource(path);
    } catch (e) {
      const m = (e as Error).message;
      throw new SafetensorsError(path, m === NOT_A_FILE ? m : `cannot open: ${m}`, { cause: e });
    }
    return new SafetensorsFile(src, await readSafetensorsHeader(src));
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
