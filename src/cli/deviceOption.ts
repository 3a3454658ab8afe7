// The `--device auto|cpu|webgpu` flag every compute command takes.

import { Option } from 'commander';
import { createDevice, parseDeviceRequest } from '../compute/createDevice.js';
import type { Device } from '../compute/device.js';

/** The shared --device option. */
export function deviceOption(): Option {
  return new Option('--device <kind>', 'where to compute: auto (WebGPU if an adapter exists, else CPU), cpu or webgpu').default('auto');
}

/** Open the device named by --device, printing one line (to stderr) saying which was chosen. */
export async function openDeviceFromFlag(value: string, quiet = false): Promise<Device> {
  return createDevice(parseDeviceRequest(value), (line) => {
    if (!quiet) process.stderr.write(line + '\n');
  });
}
