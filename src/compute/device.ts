// The device interface every op is written against. An op function looks at `x.device.kind`
// and runs either its CPU twin (plain TypeScript, the specification) or its WGSL kernel.

import type { AnyTypedArray, DType, Tensor } from './tensor.js';

export type DeviceKind = 'cpu' | 'webgpu';
/** What the user asks for on the command line: `--device auto|cpu|webgpu`. */
export type DeviceRequest = DeviceKind | 'auto';

export interface Device {
  readonly kind: DeviceKind;
  /** One line naming the device, e.g. `webgpu: NVIDIA H100 (vulkan)` or `cpu: OpenBLAS sgemm`. */
  describe(): string;
  /** A tensor of zeros. */
  zeros(shape: readonly number[], dtype?: DType): Tensor;
  /** A tensor holding a copy of `data` (its dtype follows the array type). */
  fromArray(data: AnyTypedArray, shape?: readonly number[]): Tensor;
  /** Copy a tensor's values back to the host. */
  read(t: Tensor): Promise<AnyTypedArray>;
  /** Overwrite a tensor's values from the host. */
  write(t: Tensor, data: AnyTypedArray): void;
  /** Wait until all queued work has finished (a no-op on CPU). */
  sync(): Promise<void>;
  /** Called by `Tensor.dispose`: give the storage back to the pool. */
  releaseStorage(t: Tensor): void;
  /** Free every resource; the device is unusable afterwards. */
  destroy(): void;
}
