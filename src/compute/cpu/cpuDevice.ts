// The CPU device: tensors are typed arrays, ops run their TypeScript twins synchronously
// (matrix products through BLAS when the native addon is built).

import type { Device } from '../device.js';
import { allocTyped, dtypeOfArray, numelOf, Tensor, type AnyTypedArray, type DType } from '../tensor.js';
import { blasInfo } from './blas.js';

export class CpuDevice implements Device {
  readonly kind = 'cpu' as const;

  describe(): string {
    const b = blasInfo();
    return `cpu: ${b.available ? `BLAS sgemm (${b.name})` : `pure TypeScript matmul (no BLAS addon: ${b.reason})`}`;
  }

  zeros(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    return new Tensor(this, [...shape], dtype, { kind: 'cpu', data: allocTyped(dtype, numelOf(shape)) });
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

  releaseStorage(_t: Tensor): void {
    // Typed arrays are garbage collected.
  }

  destroy(): void {}
}

/** The process-wide CPU device (it has no state worth duplicating). */
export const cpu = new CpuDevice();
