// Quick GFLOP/s measurement of the CPU sgemm backends: `npx tsx bench/sgemmBench.ts [--quick]`.
// Shapes are M×K×N (C is M×N), the SAE's encoder/decoder products at d 768, 24,576 latents,
// batch 4096, plus a small one; each is timed best-of-3 after one warm-up run.

import { blasInfo } from '../src/compute/cpu/blas.js';
import { sgemm, sgemmTypescript, type SgemmArgs } from '../src/compute/cpu/sgemm.js';
import { Rng } from '../src/compute/random.js';

type Shape = [number, number, number];

function problem(rng: Rng, [M, K, N]: Shape, transA: boolean, transB: boolean): SgemmArgs {
  return {
    transA, transB, M, N, K, alpha: 1, beta: 0,
    A: rng.uniformArray(M * K, -1, 1), aOffset: 0, lda: transA ? M : K,
    B: rng.uniformArray(K * N, -1, 1), bOffset: 0, ldb: transB ? K : N,
    C: new Float32Array(M * N), cOffset: 0, ldc: N,
  };
}

/** Best-of-`reps` GFLOP/s of fn on g, after one warm-up call. */
function measure(fn: (g: SgemmArgs) => void, g: SgemmArgs, reps: number): number {
  fn(g);
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    fn(g);
    best = Math.min(best, performance.now() - t);
  }
  return (2 * g.M * g.N * g.K) / (best * 1e6);
}

const quick = process.argv.includes('--quick');
const rng = new Rng(1);
const tag = (ta: boolean, tb: boolean) => `${ta ? 'T' : 'N'}${tb ? 'T' : 'N'}`;
const combos: [boolean, boolean][] = [[false, false], [false, true], [true, false], [true, true]];
const info = blasInfo();

if (info.available) {
  console.log(`openblas: ${info.name}`);
  const shapes: Shape[] = quick ? [[1024, 768, 3072]] : [[4096, 768, 24576], [4096, 24576, 768], [768, 4096, 24576], [1024, 768, 3072]];
  for (const s of shapes) {
    for (const [ta, tb] of combos) {
      const gf = measure(sgemm, problem(rng, s, ta, tb), 3);
      console.log(`openblas    ${s.join('×').padEnd(16)} ${tag(ta, tb)}  ${gf.toFixed(1).padStart(6)} GFLOP/s`);
    }
  }
} else {
  console.log(`openblas: unavailable (${info.reason})`);
}

const small: Shape[] = quick ? [[256, 768, 512]] : [[256, 768, 3072], [1024, 768, 1024]];
for (const s of small) {
  for (const [ta, tb] of combos) {
    const gf = measure(sgemmTypescript, problem(rng, s, ta, tb), 2);
    console.log(`typescript  ${s.join('×').padEnd(16)} ${tag(ta, tb)}  ${gf.toFixed(2).padStart(6)} GFLOP/s`);
  }
}
