// Finding a WebGPU adapter: `navigator.gpu` in a browser, Dawn (npm `webgpu`) in Node.
// Optional fast features are detected and requested only where the adapter offers them.

import { WebGpuDevice } from './gpuDevice.js';

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

/** Open a WebGPU device with the adapter's full buffer limits, or say why there is none. */
export async function openWebGpu(): Promise<OpenResult> {
  const gpu = await getGpu();
  if (!gpu) return { ok: false, reason: 'no WebGPU implementation (navigator.gpu absent and the npm package `webgpu` did not load)' };
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return { ok: false, reason: `requestAdapter failed: ${(e as Error).message}` };
  }
  if (!adapter) return { ok: false, reason: 'no WebGPU adapter (no GPU driver; on Linux CPU-only machines install Mesa 25 lavapipe)' };
  const has = (f: string) => adapter!.features.has(f as GPUFeatureName);
  const wanted = ['shader-f16', 'subgroups', 'timestamp-query', 'chromium-experimental-subgroup-matrix'].filter(has);
  const L = adapter.limits;
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
  const name = [info.vendor, info.architecture, info.description || info.device].filter(Boolean).join(' ').trim() || 'unknown adapter';
  const features: GpuFeatures = {
    shaderF16: device.features.has('shader-f16'),
    subgroups: device.features.has('subgroups' as GPUFeatureName),
    timestampQuery: device.features.has('timestamp-query'),
    subgroupMatrix: device.features.has('chromium-experimental-subgroup-matrix' as GPUFeatureName) ? [...(info.subgroupMatrixConfigs ?? [])] : [],
  };
  return { ok: true, device: new WebGpuDevice(device, name, features) };
}
