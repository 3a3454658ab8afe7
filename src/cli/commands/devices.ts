// `saelab devices`: what compute is available here (the WebGPU adapter, its features and limits; BLAS).

import type { Command } from 'commander';
import { blasInfo } from '../../compute/cpu/blas.js';
import { cpu } from '../../compute/cpu/cpuDevice.js';
import { openWebGpu } from '../../compute/webgpu/openGpu.js';
import { emit } from '../output.js';

/** Register `saelab devices`. */
export function registerDevices(program: Command): void {
  program
    .command('devices')
    .description('show the CPU backend and the WebGPU adapter (features, buffer limits)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const r = await openWebGpu();
      const webgpu = r.ok
        ? {
            available: true,
            name: r.device.describe(),
            features: r.device.features,
            limits: {
              maxBufferSize: r.device.limits.maxBufferSize,
              maxStorageBufferBindingSize: r.device.limits.maxStorageBufferBindingSize,
              maxComputeWorkgroupStorageSize: r.device.limits.maxComputeWorkgroupStorageSize,
              maxComputeInvocationsPerWorkgroup: r.device.limits.maxComputeInvocationsPerWorkgroup,
            },
          }
        : { available: false, reason: r.reason };
      const blas = blasInfo();
      const out = { cpu: cpu.describe(), blasCoreType: blas.coreType, webgpu };
      emit(!!opts.json, out, () => {
        console.log(out.cpu);
        if (blas.coreType) console.log(`  OpenBLAS kernels: ${blas.coreType}`);
        if (r.ok) {
          console.log(r.device.describe());
          for (const [k, v] of Object.entries(webgpu.limits ?? {})) console.log(`  ${k}: ${v}`);
          const sm = r.device.features.subgroupMatrix;
          console.log(`  subgroup-matrix configs: ${sm.length ? sm.map((c) => `${c.M}x${c.N}x${c.K} ${c.componentType}->${c.resultComponentType}`).join(', ') : 'none'}`);
        } else console.log(`webgpu: unavailable (${r.reason})`);
      });
      if (r.ok) r.device.destroy();
    });
}
