// The `--device auto|cpu|webgpu` flag every compute command takes.

import { Option } from 'commander';
import { createDevice, parseDeviceRequest } from '../compute/createDevice.js';
import type { Device } from '../compute/device.js';

/** The shared --device option. */
export function deviceOption(): Option {
  return new Option('--device <kind>', 'where to compute: auto (a GPU through WebGPU if there is one, else the CPU; never a software adapter such as llvmpipe), cpu or webgpu (any adapter, software included)').default('auto');
}

/** Open the device named by --device, printing one line (to stderr) saying which was chosen. */
export async function openDeviceFromFlag(value: string, quiet = false): Promise<Device> {
  return createDevice(parseDeviceRequest(value), (line) => {
    if (!quiet) process.stderr.write(line + '\n');
  });
}
