// The CPU device: tensors are typed arrays, ops run their TypeScript twins synchronously
// (matrix products through BLAS when the native addon is built).

import type { Device } from '../device.js';
import { allocTyped, dtypeOfArray, numelOf, Tensor, type AnyTypedArray, type DType } from '../tensor.js';
import { blasInfo } from './blas.js';

/**
 * Arrays at least this long (256 KiB of f32) are pooled: a fresh one costs its zeroing, page faults
 * and a collection later (a [1024, 50,257] logits tensor: ~0.1 s). 2^16 rather than 2^22 (the
 * forward's [tokens, d_model] activations are pooled too) made the GPT-2-small forward at ctx 128
 * 7 % faster (BENCHMARKS.md, session 6).
 */
const POOL_MIN_ELEMENTS = 1 << 16;
/** At most this many bytes wait in the pool (the oldest go first). */
const POOL_MAX_BYTES = 2 ** 31;

export class CpuDevice implements Device {
  readonly kind = 'cpu' as const;
  /** Large arrays this device allocated, released and not yet handed out again, by dtype and length. */
  private readonly pool = new Map<string, AnyTypedArray[]>();
  /** The same arrays in release order, for eviction. */
  private readonly released: AnyTypedArray[] = [];
  private readonly inPool = new WeakSet<AnyTypedArray>();
  private pooledBytes = 0;
  /** Large arrays this device allocated (only those may be pooled: `wrap` aliases the caller's). */
  private readonly owned = new WeakSet<AnyTypedArray>();

  /** `poolMaxBytes`: how much released memory may wait for reuse (tests set it small). */
  constructor(private readonly poolMaxBytes = POOL_MAX_BYTES) {}

  /** Bytes now waiting in the pool. */
  get pooledByteCount(): number {
    return this.pooledBytes;
  }

  describe(): string {
    const b = blasInfo();
    return `cpu: ${b.available ? `BLAS sgemm (${b.name})` : `pure TypeScript matmul (no BLAS addon: ${b.reason})`}`;
  }

  zeros(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    const n = numelOf(shape);
    return new Tensor(this, [...shape], dtype, { kind: 'cpu', data: n >= POOL_MIN_ELEMENTS ? this.take(dtype, n) : allocTyped(dtype, n) });
  }

  /** Like zeros, but a pooled array keeps its old values: for outputs whose every element is written. */
  uninitialized(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    const n = numelOf(shape);
    return new Tensor(this, [...shape], dtype, { kind: 'cpu', data: n >= POOL_MIN_ELEMENTS ? this.take(dtype, n, false) : allocTyped(dtype, n) });
  }

  /** A large array (zeroed unless `zero` is false): a released one of the same type and length when the pool has it. */
  private take(dtype: DType, n: number, zero = true): AnyTypedArray {
    const a = this.pool.get(`${dtype}:${n}`)?.pop(); // the latest released: likeliest still in cache
    if (a) {
      this.forget(a);
      if (zero) a.fill(0);
      return a;
    }
    const fresh = allocTyped(dtype, n);
    this.owned.add(fresh);
    return fresh;
  }

  /** Take `a` off the release order and the byte count (it has left its dtype/length list). */
  private forget(a: AnyTypedArray): void {
    this.released.splice(this.released.lastIndexOf(a), 1);
    this.inPool.delete(a);
    this.pooledBytes -= a.byteLength;
  }

  fromArray(data: AnyTypedArray, shape: readonly number[] = [data.length]): Tensor {
    if (numelOf(shape) !== data.length) throw new Error(`fromArray: ${data.length} values do not fill shape [${shape}]`);
    return new Tensor(this, [...shape], dtypeOfArray(data), { kind: 'cpu', data: data.slice() });
  }

  /** Wrap an existing array without copying (the tensor aliases it). */
  wrap(data: AnyTypedArray, shape: readonly number[] = [data.length]): Tensor {
    if (numelOf(shape) !== data.length) throw new Error(`wrap: ${data.length} values do not fill shape [${shape}]`);
    return new Tensor(this, [...shape], dtypeOfArray(data), { kind: 'cpu', data });
  }

  async read(t: Tensor): Promise<AnyTypedArray> {
    return t.data.slice();
  }

  write(t: Tensor, data: AnyTypedArray): void {
    if (data.length !== t.numel) throw new Error(`write: ${data.length} values for ${t}`);
    (t.data as Float32Array).set(data as Float32Array);
  }

  async sync(): Promise<void> {}

  releaseStorage(t: Tensor): void {
    // Small arrays are garbage collected; large ones this device made wait for reuse.
    if (t.storage.kind !== 'cpu') return;
    const a = t.storage.data;
    if (a.length < POOL_MIN_ELEMENTS || !this.owned.has(a) || this.inPool.has(a)) return;
    const key = `${dtypeOfArray(a)}:${a.length}`;
    const list = this.pool.get(key);
    if (list) list.push(a);
    else this.pool.set(key, [a]);
    this.released.push(a);
    this.inPool.add(a);
    this.pooledBytes += a.byteLength;
    while (this.pooledBytes > this.poolMaxBytes) {
      const old = this.released[0]!;
      const same = this.pool.get(`${dtypeOfArray(old)}:${old.length}`)!;
      same.splice(same.indexOf(old), 1);
      this.forget(old);
    }
  }

  destroy(): void {}
}

/** The process-wide CPU device (it has no state worth duplicating). */
export const cpu = new CpuDevice();
