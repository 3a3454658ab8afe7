// `saelab bench kernels`: throughput of the hot kernels on one device, on the shapes that matter for
// SAE work (d_in 768, 24,576 latents, 4,096 tokens a batch). Random data; speed only.

import type { Device } from '../device.js';
import { cosineMaxBoth } from '../ops/cosineMax.js';
import { matmul } from '../ops/matmul.js';
import { topkRows } from '../ops/topk.js';
import { Rng } from '../random.js';
import type { Tensor } from '../tensor.js';

export interface KernelBenchRow {
  case: string;
  shape: string;
  ms: number;
  /** GFLOP/s for matmul-like work (2·M·N·K / time); null where flops are not the measure. */
  gflops: number | null;
  reps: number;
}

export interface KernelBenchOptions {
  /** Matmul shapes as [M, K, N] (C[M,N] = A[M,K]·B[K,N]). */
  matmulShapes?: [number, number, number][];
  topk?: { rows: number; cols: number; k: number };
  cos?: { n: number; d: number };
  /** Minimum measured time per case in ms (reps grow until reached). */
  minMs?: number;
  only?: ('matmul' | 'topk' | 'cos')[];
  onRow?: (row: KernelBenchRow) => void;
}

export const DEFAULT_MATMUL_SHAPES: [number, number, number][] = [
  [4096, 768, 24576],
  [4096, 24576, 768],
  [1024, 768, 3072],
];

/** Time `fn` (which queues device work) after one warm-up: reps until `minMs` elapsed, device-synced. */
async function timeIt(device: Device, fn: () => Tensor[], minMs: number): Promise<{ ms: number; reps: number }> {
  for (const t of fn()) t.dispose();
  await device.sync();
  let reps = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (reps < 1 || elapsed < minMs) {
    for (const t of fn()) t.dispose();
    reps++;
    await device.sync();
    elapsed = performance.now() - t0;
    if (reps >= 1000) break;
  }
  return { ms: elapsed / reps, reps };
}

/** Run the kernel benchmarks on `device` and return one row per case. */
export async function benchKernels(device: Device, opts: KernelBenchOptions = {}): Promise<KernelBenchRow[]> {
  const rng = new Rng(0);
  const minMs = opts.minMs ?? 1000;
  const only = new Set(opts.only ?? ['matmul', 'topk', 'cos']);
  const rows: KernelBenchRow[] = [];
  const push = (r: KernelBenchRow) => {
    rows.push(r);
    opts.onRow?.(r);
  };
  if (only.has('matmul')) {
    for (const [M, K, N] of opts.matmulShapes ?? DEFAULT_MATMUL_SHAPES) {
      const a = device.fromArray(rng.normalArray(M * K), [M, K]);
      const b = device.fromArray(rng.normalArray(K * N, 1 / Math.sqrt(K)), [K, N]);
      // The output is reused, as in a training loop: this times the kernel, not a 400 MB allocation.
      const c = device.zeros([M, N]);
      const { ms, reps } = await timeIt(device, () => [matmul(a, b, { out: c })].filter((t) => t !== c), minMs);
      push({ case: 'matmul', shape: `${M}x${K}x${N}`, ms, gflops: (2 * M * N * K) / (ms * 1e6), reps });
      for (const t of [a, b, c]) t.dispose();
    }
  }
  if (only.has('topk')) {
    const { rows: R, cols, k } = opts.topk ?? { rows: 4096, cols: 24576, k: 32 };
    const x = device.fromArray(rng.normalArray(R * cols), [R, cols]);
    const { ms, reps } = await timeIt(device, () => {
      const r = topkRows(x, k);
      return [r.values, r.indices];
    }, minMs);
    push({ case: 'topk', shape: `${R}x${cols} k=${k}`, ms, gflops: null, reps });
    x.dispose();
  }
  if (only.has('cos')) {
    const { n, d } = opts.cos ?? { n: 32768, d: 768 };
    const A = device.fromArray(rng.normalArray(n * d), [n, d]);
    const B = device.fromArray(rng.normalArray(n * d), [n, d]);
    const { ms, reps } = await timeIt(device, () => {
      const r = cosineMaxBoth(A, B);
      return [r.rowMax, r.rowArg, r.colMax, r.colArg];
    }, minMs);
    push({ case: 'cos.maxsim', shape: `${n}x${n} d=${d}`, ms, gflops: (2 * n * n * d) / (ms * 1e6), reps });
    A.dispose();
    B.dispose();
  }
  return rows;
}
