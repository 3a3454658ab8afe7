// The CPU device: tensors are typed arrays, ops run their TypeScript twins synchronously
// (matrix products through BLAS when the native addon is built).

import type { Device } from '../device.js';
import { allocTyped, dtypeOfArray, numelOf, Tensor, type AnyTypedArray, type DType } from '../tensor.js';
import { blasInfo } from './blas.js';

/** Arrays at least this long are pooled: a fresh one costs its page faults (a [1024, 50,257] logits tensor: ~0.1 s). */
const POOL_MIN_ELEMENTS = 1 << 22;
/** At most this many bytes wait in the pool (the oldest go first). */
const POOL_MAX_BYTES = 2 ** 31;

export class CpuDevice implements Device {
  readonly kind = 'cpu' as const;
  /** Large arrays this device allocated, released and not yet handed out again (oldest first). */
  private readonly pool: AnyTypedArray[] = [];
  private pooledBytes = 0;
  /** Large arrays this device allocated (only those may be pooled: `wrap` aliases the caller's). */
  private readonly owned = new WeakSet<AnyTypedArray>();

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
    const i = this.pool.findIndex((a) => a.length === n && dtypeOfArray(a) === dtype);
    if (i >= 0) {
      const a = this.pool.splice(i, 1)[0]!;
      this.pooledBytes -= a.byteLength;
      if (zero) a.fill(0);
      return a;
    }
    const a = allocTyped(dtype, n);
    this.owned.add(a);
    return a;
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
    if (a.length < POOL_MIN_ELEMENTS || !this.owned.has(a) || this.pool.includes(a)) return;
    this.pool.push(a);
    this.pooledBytes += a.byteLength;
    while (this.pooledBytes > POOL_MAX_BYTES) this.pooledBytes -= this.pool.shift()!.byteLength;
  }

  destroy(): void {}
}

/** The process-wide CPU device (it has no state worth duplicating). */
export const cpu = new CpuDevice();
