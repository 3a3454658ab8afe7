// One WebGPU device per test process, or the reason there is none (tests then report as skipped).

import { openWebGpu } from '../../src/compute/webgpu/openGpu.js';
import type { WebGpuDevice } from '../../src/compute/webgpu/gpuDevice.js';

let opened: Promise<{ device: WebGpuDevice | null; reason: string }> | null = null;

/** The shared test GPU and, when absent, why. */
export function testGpu(): Promise<{ device: WebGpuDevice | null; reason: string }> {
  if (!opened) {
    opened = openWebGpu().then((r) => (r.ok ? { device: r.device, reason: '' } : { device: null, reason: r.reason }));
  }
  return opened;
}

/** Top-level-await friendly: the test GPU, and a `skip` option for `test()` when there is none. */
export async function gpuOrSkip(): Promise<{ gpu: WebGpuDevice; skip: false } | { gpu: null; skip: string }> {
  const { device, reason } = await testGpu();
  if (device) return { gpu: device, skip: false };
  return { gpu: null, skip: `no WebGPU adapter: ${reason}` };
}
