// `saelab bench kernels`: kernel throughput on this machine (see BENCHMARKS.md for recorded runs).

import type { Command } from 'commander';
import { benchKernels, type KernelBenchRow } from '../../compute/bench/kernelBench.js';
import { deviceOption, openDeviceFromFlag } from '../deviceOption.js';
import { UsageError } from '../errors.js';
import { emit, table } from '../output.js';

function positiveInt(flag: string) {
  return (s: string): number => {
    const n = Number(s);
    if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive integer (got '${s}')`);
    return n;
  };
}

/** Parse `M,K,N;M,K,N` into shapes. */
function parseShapes(s: string): [number, number, number][] {
  return s.split(';').map((part) => {
    const dims = part.split(/[x,]/).map(Number);
    if (dims.length !== 3 || dims.some((d) => !Number.isInteger(d) || d <= 0)) throw new UsageError(`--matmul expects MxKxN[;MxKxN…] (got '${part}')`);
    return dims as [number, number, number];
  });
}

/** Register `saelab bench`. */
export function registerBench(program: Command): void {
  const bench = program.command('bench').description('benchmarks');
  bench
    .command('kernels')
    .description('matmul GFLOP/s (4096x768x24576, 4096x24576x768, 1024x768x3072 as MxKxN), row top-k, cosine max both ways')
    .addOption(deviceOption())
    .option('--json', 'print JSON')
    .option('--only <cases>', 'comma list of matmul,topk,cos')
    .option('--matmul <shapes>', 'matmul shapes MxKxN separated by ;')
    .option('--cos-n <n>', 'directions per set for the cosine max', positiveInt('--cos-n'), 32768)
    .option('--topk-rows <n>', 'rows for top-k', positiveInt('--topk-rows'), 4096)
    .option('--min-ms <ms>', 'minimum time per case', positiveInt('--min-ms'), 1000)
    .action(async (o: { device: string; json?: boolean; only?: string; matmul?: string; cosN: number; topkRows: number; minMs: number }) => {
      const only = o.only?.split(',').map((s) => s.trim());
      for (const c of only ?? []) if (!['matmul', 'topk', 'cos'].includes(c)) throw new UsageError(`--only: unknown case '${c}' (matmul, topk, cos)`);
      const device = await openDeviceFromFlag(o.device);
      const rows = await benchKernels(device, {
        only: only as ('matmul' | 'topk' | 'cos')[] | undefined,
        matmulShapes: o.matmul ? parseShapes(o.matmul) : undefined,
        cos: { n: o.cosN, d: 768 },
        topk: { rows: o.topkRows, cols: 24576, k: 32 },
        minMs: o.minMs,
        onRow: o.json ? undefined : (r: KernelBenchRow) => process.stderr.write(`  ${r.case} ${r.shape}: ${r.ms.toFixed(2)} ms${r.gflops ? `, ${r.gflops.toFixed(1)} GFLOP/s` : ''}\n`),
      });
      emit(!!o.json, { device: device.describe(), date: new Date().toISOString(), rows }, () => {
        console.log(device.describe());
        console.log(table(['case', 'shape', 'ms', 'GFLOP/s', 'reps'], rows.map((r) => [r.case, r.shape, r.ms.toFixed(3), r.gflops === null ? '-' : r.gflops.toFixed(1), r.reps])));
      });
      device.destroy();
    });
}
