// Finding a WebGPU adapter: `navigator.gpu` in a browser, Dawn (npm `webgpu`) in Node.
// Optional fast features are detected and requested only where the adapter offers them.

import { softwareAdapterName, type AdapterInfoLike } from './adapterClass.js';
import { WebGpuDevice } from './gpuDevice.js';
import { requestAdapterQuietly } from './quietAdapter.js';

/** Optional capabilities, detected on the adapter and enabled on the device when present. */
export interface GpuFeatures {
  shaderF16: boolean;
  subgroups: boolean;
  timestampQuery: boolean;
  /** Subgroup-matrix (tensor core) shapes, from `chromium-experimental-subgroup-matrix`; empty if absent. */
  subgroupMatrix: { M: number; N: number; K: number; componentType: string; resultComponentType: string }[];
}

/** Dawn toggles that expose f16 on NVIDIA Vulkan and the experimental subgroup-matrix feature. */
export const DAWN_FLAGS = ['enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia'];

export type OpenResult = { ok: true; device: WebGpuDevice } | { ok: false; reason: string };

// Dawn's instance must outlive every device made from it: if the GPU object is garbage collected,
// pending maps and work-done promises never resolve. Keep it for the life of the process.
let dawnGpu: GPU | null = null;

async function getGpu(): Promise<GPU | null> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (dawnGpu) return dawnGpu;
  try {
    const mod = (await import('webgpu')) as unknown as { create(flags: string[]): GPU; globals: object };
    Object.assign(globalThis, mod.globals);
    dawnGpu = mod.create(DAWN_FLAGS);
    return dawnGpu;
  } catch {
    return null;
  }
}

/** An adapter found but not yet opened, with what `--device auto` needs to judge it. */
export interface FoundAdapter {
  adapter: GPUAdapter;
  info: AdapterInfoLike;
  /** e.g. `mesa software llvmpipe: Mesa 25.0.7`. */
  name: string;
  /** The software renderer's name (llvmpipe, SwiftShader, …) or null for a real GPU. */
  software: string | null;
}

export type FindResult = { ok: true; found: FoundAdapter } | { ok: false; reason: string };

/** Look for a WebGPU adapter (the high-performance one) without opening a device on it. */
export async function findWebGpuAdapter(): Promise<FindResult> {
  const gpu = await getGpu();
  if (!gpu) return { ok: false, reason: 'no WebGPU implementation (navigator.gpu absent and the npm package `webgpu` did not load)' };
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await requestAdapterQuietly(gpu);
  } catch (e) {
    return { ok: false, reason: `requestAdapter failed: ${(e as Error).message}` };
  }
  if (!adapter) return { ok: false, reason: 'no WebGPU adapter (no GPU driver; on Linux CPU-only machines install Mesa 25 lavapipe)' };
  const raw = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean; adapterType?: string };
  const info: AdapterInfoLike = {
    vendor: raw.vendor,
    architecture: raw.architecture,
    device: raw.device,
    description: raw.description,
    ...(raw.isFallbackAdapter !== undefined ? { isFallbackAdapter: raw.isFallbackAdapter } : {}),
    ...(raw.adapterType !== undefined ? { adapterType: raw.adapterType } : {}),
  };
  const name = [info.vendor, info.architecture, info.description || info.device].filter(Boolean).join(' ').trim() || 'unknown adapter';
  return { ok: true, found: { adapter, info, name, software: softwareAdapterName(info) } };
}

/** How to open the device. */
export interface OpenGpuOptions {
  /**
   * Cap maxStorageBufferBindingSize below the adapter's (bytes), as many GPUs and browsers have
   * (128 or 256 MiB): tests use it to reach the chunked paths on small tensors. Default: the
   * SAELAB_WEBGPU_MAX_BINDING environment variable when set, else no cap.
   */
  maxStorageBufferBindingSize?: number;
}

/** The binding cap from the options or SAELAB_WEBGPU_MAX_BINDING; undefined for none. */
export function bindingCap(opts: OpenGpuOptions = {}): number | undefined {
  if (opts.maxStorageBufferBindingSize !== undefined) return opts.maxStorageBufferBindingSize;
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.['SAELAB_WEBGPU_MAX_BINDING'];
  if (env === undefined || env === '') return undefined;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1024) throw new Error(`SAELAB_WEBGPU_MAX_BINDING must be a whole number of bytes ≥ 1024 (got '${env}')`);
  return n;
}

/**
 * Open a WebGPU device with the adapter's full buffer limits (on `found`, else on the adapter
 * `findWebGpuAdapter` returns), or say why there is none.
 */
export async function openWebGpu(opts: OpenGpuOptions = {}, found?: FoundAdapter): Promise<OpenResult> {
  let cap: number | undefined;
  try {
    cap = bindingCap(opts);
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  if (!found) {
    const f = await findWebGpuAdapter();
    if (!f.ok) return f;
    found = f.found;
  }
  const { adapter, name } = found;
  const has = (f: string) => adapter.features.has(f as GPUFeatureName);
  const wanted = ['shader-f16', 'subgroups', 'timestamp-query', 'chromium-experimental-subgroup-matrix'].filter(has);
  const L = adapter.limits;
  // Only the limits the kernels need above the defaults. (Dawn's "maxDynamic…BuffersPerPipelineLayout
  // artificially reduced" lines come from adapter discovery, not from this request: see requestAdapterQuietly.)
  const requiredLimits: Record<string, number> = {
    maxBufferSize: L.maxBufferSize,
    maxStorageBufferBindingSize: L.maxStorageBufferBindingSize,
    maxStorageBuffersPerShaderStage: L.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: L.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: L.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: L.maxComputeWorkgroupSizeY,
    maxComputeWorkgroupsPerDimension: L.maxComputeWorkgroupsPerDimension,
  };
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures: wanted as GPUFeatureName[], requiredLimits });
  } catch (e) {
    return { ok: false, reason: `requestDevice failed: ${(e as Error).message}` };
  }
  const info = adapter.info as GPUAdapterInfo & { subgroupMatrixConfigs?: GpuFeatures['subgroupMatrix'] };
  const features: GpuFeatures = {
    shaderF16: device.features.has('shader-f16'),
    subgroups: device.features.has('subgroups' as GPUFeatureName),
    timestampQuery: device.features.has('timestamp-query'),
    subgroupMatrix: device.features.has('chromium-experimental-subgroup-matrix' as GPUFeatureName) ? [...(info.subgroupMatrixConfigs ?? [])] : [],
  };
  return { ok: true, device: new WebGpuDevice(device, name, features, cap) };
}
