// Runs inside the browser page (bundled by esbuild): open WebGPU through navigator.gpu and check a few
// kernels against their CPU twins there. The test in webgpuBrowser.test.ts drives it.

import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { relu } from '../../src/compute/ops/activations.js';
import { matmul } from '../../src/compute/ops/matmul.js';
import { softmaxRows } from '../../src/compute/ops/softmax.js';
import { topkRows } from '../../src/compute/ops/topk.js';
import { Rng } from '../../src/compute/random.js';
import { openWebGpu } from '../../src/compute/webgpu/openGpu.js';

/** Largest |a − b| over two arrays (Infinity on a length mismatch). */
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** What the page reports: the adapter and the worst error per kernel. */
export interface BrowserParity {
  ok: boolean;
  reason?: string;
  device?: string;
  cpu?: string;
  errors?: Record<string, number>;
}

async function runParity(): Promise<BrowserParity> {
  const r = await openWebGpu();
  if (!r.ok) return { ok: false, reason: r.reason };
  const gpu = r.device;
  const rng = new Rng(7);
  const errors: Record<string, number> = {};
  const x = rng.normalArray(37 * 130);
  errors.relu = maxAbsDiff(await relu(gpu.fromArray(x)).read(), relu(cpu.fromArray(x)).data);
  const [M, K, N] = [33, 65, 17];
  const a = rng.normalArray(M * K);
  const b = rng.normalArray(K * N);
  errors.matmul = maxAbsDiff(
    await matmul(gpu.fromArray(a, [M, K]), gpu.fromArray(b, [K, N])).read(),
    matmul(cpu.fromArray(a, [M, K]), cpu.fromArray(b, [K, N])).data,
  );
  errors.softmax = maxAbsDiff(await softmaxRows(gpu.fromArray(x, [37, 130])).read(), softmaxRows(cpu.fromArray(x, [37, 130])).data);
  const tg = topkRows(gpu.fromArray(x, [37, 130]), 5);
  const tc = topkRows(cpu.fromArray(x, [37, 130]), 5);
  errors.topkValues = maxAbsDiff(await tg.values.read(), tc.values.data);
  errors.topkIndices = maxAbsDiff(await tg.indices.read(), tc.indices.data);
  const out = { ok: true, device: gpu.describe(), cpu: cpu.describe(), errors };
  gpu.destroy();
  return out;
}

(globalThis as unknown as { saelabParity: () => Promise<BrowserParity> }).saelabParity = runParity;
