// `--device auto|cpu|webgpu`: auto takes WebGPU when an adapter exists, else the CPU.

import { cpu } from './cpu/cpuDevice.js';
import type { Device, DeviceRequest } from './device.js';
import { openWebGpu } from './webgpu/openGpu.js';

export class DeviceUnavailableError extends Error {}

/** Parse a `--device` value; throws a one-line error for anything else. */
export function parseDeviceRequest(s: string): DeviceRequest {
  if (s === 'auto' || s === 'cpu' || s === 'webgpu') return s;
  throw new DeviceUnavailableError(`--device must be auto, cpu or webgpu (got '${s}')`);
}

/**
 * Open the requested device. `log` receives one line saying which device was chosen (and, for auto
 * falling back to the CPU, why).
 */
export async function createDevice(request: DeviceRequest = 'auto', log: (line: string) => void = () => {}): Promise<Device> {
  if (request === 'cpu') {
    log(`device: ${cpu.describe()}`);
    return cpu;
  }
  const r = await openWebGpu();
  if (r.ok) {
    log(`device: ${r.device.describe()}`);
    return r.device;
  }
  if (request === 'webgpu') throw new DeviceUnavailableError(`--device webgpu: ${r.reason}`);
  log(`device: ${cpu.describe()} (auto: ${r.reason})`);
  return cpu;
}
