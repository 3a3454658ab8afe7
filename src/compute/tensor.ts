// A Tensor is a contiguous, row-major block of numbers that lives on one device.
// CPU tensors hold a typed array; WebGPU tensors hold a (pooled) GPUBuffer.
// Shapes are plain number arrays; ops document theirs as e.g. `[tokens, dModel]`.

import type { Device } from './device.js';

/** Element types the kernels understand. Indices and token ids are i32/u32. */
export type DType = 'f32' | 'i32' | 'u32';

export type TypedArrayFor<D extends DType> = D extends 'f32' ? Float32Array : D extends 'i32' ? Int32Array : Uint32Array;
export type AnyTypedArray = Float32Array | Int32Array | Uint32Array;

/** Storage of a CPU tensor: the numbers themselves. */
export interface CpuStorage {
  kind: 'cpu';
  data: AnyTypedArray;
}

/** Storage of a WebGPU tensor: a buffer at least `numel * 4` bytes long. */
export interface GpuStorage {
  kind: 'webgpu';
  buffer: GPUBuffer;
}

export class Tensor {
  private disposed = false;
  constructor(
    readonly device: Device,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly storage: CpuStorage | GpuStorage,
  ) {}

  /** Number of elements. */
  get numel(): number {
    return numelOf(this.shape);
  }

  /** Size in bytes (every dtype here is 4 bytes wide). */
  get byteLength(): number {
    return this.numel * 4;
  }

  /** The typed array of a CPU tensor; throws on a GPU tensor (read it with `device.read`). */
  get data(): AnyTypedArray {
    if (this.storage.kind !== 'cpu') throw new Error('Tensor.data is only for CPU tensors; use await device.read(t)');
    return this.storage.data;
  }

  /** The GPUBuffer of a WebGPU tensor. */
  get buffer(): GPUBuffer {
    if (this.storage.kind !== 'webgpu') throw new Error('Tensor.buffer is only for WebGPU tensors');
    return this.storage.buffer;
  }

  /** The same storage seen with another shape of equal element count (no copy). */
  reshape(shape: readonly number[]): Tensor {
    if (numelOf(shape) !== this.numel) throw new Error(`reshape: [${this.shape}] has ${this.numel} elements, [${shape}] has ${numelOf(shape)}`);
    return new Tensor(this.device, [...shape], this.dtype, this.storage);
  }

  /** Return the storage to the device's pool. Using the tensor afterwards is an error. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.device.releaseStorage(this);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Read the values back to the host (a copy). */
  async read(): Promise<AnyTypedArray> {
    return this.device.read(this);
  }

  /**
   * Use the values once, then dispose: on the CPU `use` sees the tensor's own array (no copy, and it
   * goes back to the pool for the next tensor of its size), elsewhere a read-back. `use` must not
   * keep the array.
   */
  async readThenDispose<T>(use: (values: AnyTypedArray) => T): Promise<T> {
    try {
      return use(this.storage.kind === 'cpu' ? this.storage.data : await this.read());
    } finally {
      this.dispose();
    }
  }

  toString(): string {
    return `Tensor(${this.dtype}[${this.shape.join(',')}] on ${this.device.kind})`;
  }
}

/** Product of the dimensions (1 for a scalar shape `[]`). */
export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid dimension ${d} in shape [${shape}]`);
    n *= d;
  }
  return n;
}

/** Allocate a typed array of the given dtype. */
export function allocTyped(dtype: DType, n: number): AnyTypedArray {
  switch (dtype) {
    case 'f32':
      return new Float32Array(n);
    case 'i32':
      return new Int32Array(n);
    case 'u32':
      return new Uint32Array(n);
  }
}

/** The dtype name of a typed array. */
export function dtypeOfArray(a: AnyTypedArray): DType {
  if (a instanceof Float32Array) return 'f32';
  if (a instanceof Int32Array) return 'i32';
  return 'u32';
}

/** `[rows, cols]` view of a tensor whose last dimension is the row length. */
export function rowsCols(shape: readonly number[]): [number, number] {
  if (shape.length === 0) return [1, 1];
  const cols = shape[shape.length - 1]!;
  return [cols === 0 ? 0 : numelOf(shape) / cols, cols];
}

/** Throw unless both tensors live on the same device. */
export function assertSameDevice(...ts: Tensor[]): void {
  for (const t of ts) {
    if (t.device !== ts[0]!.device) throw new Error(`tensors on different devices: ${ts.map(String).join(', ')}`);
    if (t.isDisposed) throw new Error(`use of a disposed tensor: ${t}`);
  }
}

/** Throw unless the tensor has the given dtype. */
export function assertDtype(t: Tensor, dtype: DType, what: string): void {
  if (t.dtype !== dtype) throw new Error(`${what}: expected ${dtype}, got ${t.dtype}`);
}

/** Throw unless the shapes are equal. */
export function assertShape(t: Tensor, shape: readonly number[], what: string): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`${what}: expected shape [${shape}], got [${t.shape}]`);
  }
}
