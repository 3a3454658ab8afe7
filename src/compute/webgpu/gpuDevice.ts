// The WebGPU device: tensors are pooled GPUBuffers; ops record compute dispatches into a pending
// command encoder that is submitted when something must be observed (a read, a host write, sync).
// Works on Dawn in Node (npm `webgpu`) and on `navigator.gpu` in a browser.

import { BufferUsage, MapMode } from './gpuConstants.js';
import type { Device } from '../device.js';
import { allocTyped, dtypeOfArray, numelOf, Tensor, type AnyTypedArray, type DType } from '../tensor.js';
import { BufferPool } from './bufferPool.js';
import type { GpuFeatures } from './openGpu.js';

/** A byte range of a tensor or buffer, for inputs larger than one binding may be (offset: a multiple of 256). */
export interface BufferRange {
  source: Tensor | GPUBuffer;
  offset: number;
  size: number;
}

/** One compute dispatch. Storage buffers bind at 0..n-1 in order; `params` (a uniform struct) binds at n. */
export interface DispatchSpec {
  /** Shown in Dawn's error messages. */
  label: string;
  /** WGSL source; pipelines are cached by source text and entry point. */
  code: string;
  entryPoint?: string;
  buffers: readonly (Tensor | GPUBuffer | BufferRange)[];
  /** The uniform struct's bytes (use `ParamWriter` to lay it out). */
  params?: ArrayBuffer | ArrayBufferView;
  /** Workgroup counts; each must be ≤ maxComputeWorkgroupsPerDimension (use `grid1d` for long 1-D work). */
  workgroups: readonly [number, number?, number?];
}

/** A request beyond what this GPU allows (buffer or binding size, workgroup counts): the user's problem size, not a bug. */
export class DeviceLimitError extends Error {
  override name = 'DeviceLimitError';
}

const UNIFORM_ARENA_BYTES = 1 << 16;
const UNIFORM_ALIGN = 256;

export class WebGpuDevice implements Device {
  readonly kind = 'webgpu' as const;
  private readonly pool: BufferPool;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private encoder: GPUCommandEncoder | null = null;
  private readonly arena: GPUBuffer;
  private readonly arenaHost = new Uint8Array(UNIFORM_ARENA_BYTES);
  private arenaUsed = 0;
  private pendingDispatches = 0;
  private firstError: string | null = null;
  private readonly cappedLimits: GPUSupportedLimits;

  /** `bindingCap` lowers maxStorageBufferBindingSize below the GPU's (tests of the chunked paths). */
  constructor(
    readonly gpu: GPUDevice,
    readonly adapterName: string,
    readonly features: GpuFeatures,
    bindingCap?: number,
  ) {
    const real = gpu.limits;
    const cap = bindingCap === undefined ? real.maxStorageBufferBindingSize : Math.min(bindingCap, real.maxStorageBufferBindingSize);
    // GPUSupportedLimits' fields are native getters: read them on the real object, not through the proxy.
    this.cappedLimits = new Proxy(real, {
      get: (target, key) => (key === 'maxStorageBufferBindingSize' ? cap : (target as unknown as Record<PropertyKey, unknown>)[key]),
    });
    this.pool = new BufferPool(gpu);
    this.arena = gpu.createBuffer({ label: 'uniform arena', size: UNIFORM_ARENA_BYTES, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST });
    gpu.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      if (this.firstError === null) this.firstError = ev.error.message;
    };
  }

  describe(): string {
    const f = [this.features.shaderF16 ? 'shader-f16' : '', this.features.subgroups ? 'subgroups' : '', this.features.subgroupMatrix.length ? 'subgroup-matrix' : '']
      .filter(Boolean)
      .join(', ');
    return `webgpu: ${this.adapterName}${f ? ` [${f}]` : ''}`;
  }

  /** The device's limits (as granted: the adapter's maxima for buffer sizes; the binding size possibly capped). */
  get limits(): GPUSupportedLimits {
    return this.cappedLimits;
  }

  zeros(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    const t = this.empty(shape, dtype);
    this.enc().clearBuffer(t.buffer, 0, roundUp4(t.byteLength));
    return t;
  }

  /** A tensor whose contents are unspecified (ops that overwrite every element use this). */
  empty(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    const bytes = numelOf(shape) * 4;
    if (bytes > this.gpu.limits.maxBufferSize) throw new DeviceLimitError(`tensor of ${bytes} bytes exceeds this GPU's maxBufferSize ${this.gpu.limits.maxBufferSize}`);
    return new Tensor(this, [...shape], dtype, { kind: 'webgpu', buffer: this.pool.acquire(bytes) });
  }

  fromArray(data: AnyTypedArray, shape: readonly number[] = [data.length]): Tensor {
    if (numelOf(shape) !== data.length) throw new Error(`fromArray: ${data.length} values do not fill shape [${shape}]`);
    const t = this.empty(shape, dtypeOfArray(data));
    this.write(t, data);
    return t;
  }

  write(t: Tensor, data: AnyTypedArray): void {
    if (data.length !== t.numel) throw new Error(`write: ${data.length} values for ${t}`);
    // queue.writeBuffer runs before any command buffer submitted later, so submit what is pending first.
    this.flush();
    if (data.length > 0) this.gpu.queue.writeBuffer(t.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  async read(t: Tensor): Promise<AnyTypedArray> {
    const out = allocTyped(t.dtype, t.numel);
    if (t.numel === 0) return out;
    const staging = this.gpu.createBuffer({ size: roundUp4(t.byteLength), usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
    this.enc().copyBufferToBuffer(t.buffer, 0, staging, 0, roundUp4(t.byteLength));
    this.flush();
    await staging.mapAsync(MapMode.READ);
    this.throwIfError();
    new Uint8Array(out.buffer).set(new Uint8Array(staging.getMappedRange(), 0, t.byteLength));
    staging.unmap();
    staging.destroy();
    return out;
  }

  async sync(): Promise<void> {
    this.flush();
    await this.gpu.queue.onSubmittedWorkDone();
    this.throwIfError();
  }

  releaseStorage(t: Tensor): void {
    if (t.storage.kind === 'webgpu') this.pool.release(t.storage.buffer);
  }

  /** Record one compute dispatch (asynchronous: nothing runs until the next flush). */
  dispatch(spec: DispatchSpec): void {
    const pipeline = this.pipeline(spec.code, spec.entryPoint ?? 'main', spec.label);
    const entries: GPUBindGroupEntry[] = spec.buffers.map((b, i) => {
      const range = isRange(b) ? b : { source: b, offset: 0, size: -1 };
      const src = range.source;
      if (src instanceof Tensor && src.isDisposed) throw new Error(`${spec.label}: binding ${i} is a disposed tensor`);
      const buffer = src instanceof Tensor ? src.buffer : src;
      const size = range.size >= 0 ? roundUp4(range.size) : src instanceof Tensor ? Math.max(4, roundUp4(src.byteLength)) : buffer.size;
      if (range.offset % this.gpu.limits.minStorageBufferOffsetAlignment !== 0) {
        throw new Error(`${spec.label}: binding ${i} offset ${range.offset} is not a multiple of ${this.gpu.limits.minStorageBufferOffsetAlignment}`);
      }
      if (size > this.limits.maxStorageBufferBindingSize) {
        throw new DeviceLimitError(`${spec.label}: binding ${i} is ${size} bytes, over this GPU's maxStorageBufferBindingSize ${this.limits.maxStorageBufferBindingSize}`);
      }
      return { binding: i, resource: { buffer, offset: range.offset, size } };
    });
    if (spec.params) {
      const bytes = spec.params instanceof ArrayBuffer ? new Uint8Array(spec.params) : new Uint8Array(spec.params.buffer, spec.params.byteOffset, spec.params.byteLength);
      const size = roundUp(Math.max(bytes.byteLength, 16), 16);
      if (this.arenaUsed + size > UNIFORM_ARENA_BYTES) this.flush();
      const offset = this.arenaUsed;
      this.arenaHost.set(bytes, offset);
      this.arenaHost.fill(0, offset + bytes.byteLength, offset + size);
      this.arenaUsed = roundUp(offset + size, UNIFORM_ALIGN);
      entries.push({ binding: spec.buffers.length, resource: { buffer: this.arena, offset, size } });
    }
    const [x, y = 1, z = 1] = spec.workgroups;
    const maxWg = this.gpu.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg) throw new DeviceLimitError(`${spec.label}: workgroups [${x},${y},${z}] exceed ${maxWg} per dimension`);
    if (x === 0 || y === 0 || z === 0) return;
    const bindGroup = this.gpu.createBindGroup({ label: spec.label, layout: pipeline.getBindGroupLayout(0), entries });
    const pass = this.enc().beginComputePass({ label: spec.label });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    pass.end();
    this.pendingDispatches++;
  }

  /** Copy `bytes` from one buffer to another (recorded in order with dispatches). */
  copy(src: Tensor, dst: Tensor, bytes = src.byteLength): void {
    if (bytes > 0) this.enc().copyBufferToBuffer(src.buffer, 0, dst.buffer, 0, roundUp4(bytes));
  }

  /** Submit the pending command encoder (uniform params are uploaded first). */
  flush(): void {
    if (!this.encoder) return;
    if (this.arenaUsed > 0) this.gpu.queue.writeBuffer(this.arena, 0, this.arenaHost, 0, this.arenaUsed);
    this.gpu.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.arenaUsed = 0;
    this.pendingDispatches = 0;
  }

  /** Free pooled buffers that no tensor holds. */
  trimPool(): void {
    // Free buffers may still be named by recorded, unsubmitted dispatches: submit those first.
    this.flush();
    this.pool.trim();
  }

  /** Bytes held by the pool (live and free). */
  poolStats(): { liveBytes: number; freeBytes: number } {
    return this.pool.stats();
  }

  destroy(): void {
    this.flush();
    this.pool.destroyAll();
    this.arena.destroy();
    this.gpu.destroy();
  }

  /** Throw the first validation/out-of-memory error Dawn reported, if any. */
  throwIfError(): void {
    if (this.firstError !== null) {
      const e = this.firstError;
      this.firstError = null;
      throw new Error(`WebGPU error: ${e}`);
    }
  }

  private enc(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.gpu.createCommandEncoder();
    return this.encoder;
  }

  private pipeline(code: string, entryPoint: string, label: string): GPUComputePipeline {
    const key = `${entryPoint}\u0000${code}`;
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.gpu.createShaderModule({ label, code });
      p = this.gpu.createComputePipeline({ label, layout: 'auto', compute: { module, entryPoint } });
      this.pipelines.set(key, p);
    }
    return p;
  }
}

function isRange(b: Tensor | GPUBuffer | BufferRange): b is BufferRange {
  return !(b instanceof Tensor) && 'source' in b;
}

function roundUp(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}
function roundUp4(n: number): number {
  return roundUp(n, 4);
}
