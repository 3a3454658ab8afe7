// `--device auto|cpu|webgpu`: auto takes a WebGPU adapter when it is a real GPU, else the CPU
// (a software adapter such as llvmpipe runs WGSL on the CPU several times slower than our BLAS
// path); webgpu takes whatever adapter there is, software included (tests and CI use lavapipe).

import { cpu } from './cpu/cpuDevice.js';
import type { Device, DeviceRequest } from './device.js';
import { findWebGpuAdapter, openWebGpu, type FindResult, type OpenGpuOptions } from './webgpu/openGpu.js';

export class DeviceUnavailableError extends Error {}

/** Parse a `--device` value; throws a one-line error for anything else. */
export function parseDeviceRequest(s: string): DeviceRequest {
  if (s === 'auto' || s === 'cpu' || s === 'webgpu') return s;
  throw new DeviceUnavailableError(`--device must be auto, cpu or webgpu (got '${s}')`);
}

/** What `--device auto` does with what the adapter search found: open the GPU, or the CPU and the reason why. */
export type AutoChoice = { use: 'webgpu' } | { use: 'cpu'; why: string };

/** The auto decision, pure: a hardware adapter wins; no adapter or a software one leaves the CPU. */
export function chooseAuto(probe: { ok: true; software: string | null } | { ok: false; reason: string }): AutoChoice {
  if (!probe.ok) return { use: 'cpu', why: `auto: ${probe.reason}` };
  if (probe.software !== null) return { use: 'cpu', why: `the only WebGPU adapter is software (${probe.software}); --device webgpu to use it anyway` };
  return { use: 'webgpu' };
}

/**
 * Open the requested device. `log` receives one line saying which device was chosen (and, for auto
 * choosing the CPU, why). `gpuOptions` reach openWebGpu (e.g. a lowered binding size for tests).
 */
export async function createDevice(request: DeviceRequest = 'auto', log: (line: string) => void = () => {}, gpuOptions: OpenGpuOptions = {}): Promise<Device> {
  if (request === 'cpu') {
    log(`device: ${cpu.describe()}`);
    return cpu;
  }
  const found: FindResult = await findWebGpuAdapter();
  if (request === 'auto') {
    const choice = chooseAuto(found.ok ? { ok: true, software: found.found.software } : found);
    if (choice.use === 'cpu') {
      log(`device: ${cpu.describe()} (${choice.why})`);
      return cpu;
    }
  }
  if (!found.ok) throw new DeviceUnavailableError(`--device webgpu: ${found.reason}`);
  const r = await openWebGpu(gpuOptions, found.found);
  if (r.ok) {
    log(`device: ${r.device.describe()}${found.found.software ? ` (software adapter: ${found.found.software})` : ''}`);
    return r.device;
  }
  if (request === 'webgpu') throw new DeviceUnavailableError(`--device webgpu: ${r.reason}`);
  log(`device: ${cpu.describe()} (auto: ${r.reason})`);
  return cpu;
}
