// `saelab bench kernels`, `saelab bench forward`, `saelab bench sae` (and `bench all`, benchAll.ts): kernel throughput, a
// GPT-2-small-shaped forward as activation harvesting runs it, and one full SAE training step, on
// this machine (see BENCHMARKS.md for recorded runs).

import type { Command } from 'commander';
import { benchKernels, type KernelBenchRow } from '../../compute/bench/kernelBench.js';
import { benchForward, randomGpt2SmallShape, type ForwardBenchRow } from '../../model/forwardBench.js';
import { benchSae, benchSaeObjectives, DEFAULT_SAE_BENCH_CASES, type SaeBenchCase, type SaeBenchRow } from '../../sae/saeBench.js';
import { openModel } from '../../model/openModel.js';
import { defaultModel } from '../../sae/trainRun.js';
import type { SaeArchitecture } from '../../sae/types.js';
import { deviceOption, openDeviceFromFlag } from '../deviceOption.js';
import { UsageError } from '../errors.js';
import { emit, table } from '../output.js';
import { choice, intFlag, listOption } from '../flags.js';
import { registerBenchAll } from './benchAll.js';

/** One --ctx value: a context length in 1..1024. */
function ctxItem(s: string): number {
  const n = intFlag('--ctx', 1)(s);
  if (n > 1024) throw new UsageError(`--ctx expects context lengths in 1..1024 (got '${s}')`);
  return n;
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
    .addOption(listOption('--only <cases>', 'cases to run: matmul, topk, cos', choice('--only', ['matmul', 'topk', 'cos'] as const)))
    .option('--matmul <shapes>', 'matmul shapes MxKxN separated by ;')
    .option('--cos-n <n>', 'directions per set for the cosine max', intFlag('--cos-n', 1), 32768)
    .option('--topk-rows <n>', 'rows for top-k', intFlag('--topk-rows', 1), 4096)
    .option('--min-ms <ms>', 'minimum time per case', intFlag('--min-ms', 1), 1000)
    .action(async (o: { device: string; json?: boolean; only?: ('matmul' | 'topk' | 'cos')[]; matmul?: string; cosN: number; topkRows: number; minMs: number }) => {
      const only = o.only;
      const device = await openDeviceFromFlag(o.device);
      const rows = await benchKernels(device, {
        only,
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
  bench
    .command('forward')
    .description('GPT-2-small-shaped forward (random init) to blocks.L.hook_resid_pre, as activation harvesting runs it: tokens/s per context length')
    .addOption(deviceOption())
    .option('--json', 'print JSON')
    .addOption(listOption('--ctx <lengths>', 'context lengths', ctxItem, { default: [128, 1024], defaultText: '128,1024' }))
    .option('--stop-at-layer <L>', 'stop at blocks.L.hook_resid_pre (layers 0..L-1 run)', intFlag('--stop-at-layer', 0), 8)
    .option('--batch-tokens <n>', 'tokens per batch: batch = max(1, n / ctx), as torch_reference.py', intFlag('--batch-tokens', 1), 16384)
    .option('--min-ms <ms>', 'minimum timed time per context length (at least 2 reps)', intFlag('--min-ms', 1), 2000)
    .option('--vocab <n>', 'vocabulary size (sizes only the embedding table: a smaller one fits devices with small storage bindings)', intFlag('--vocab', 1), 50257)
    .action(async (o: { device: string; json?: boolean; ctx: number[]; stopAtLayer: number; batchTokens: number; minMs: number; vocab: number }) => {
      if (o.stopAtLayer > 11) throw new UsageError(`--stop-at-layer must be 0..11 for a 12-layer model (got ${o.stopAtLayer})`);
      const device = await openDeviceFromFlag(o.device);
      try {
        const rows = await benchForward(device, {
          ctxs: o.ctx, stopAtLayer: o.stopAtLayer, batchTokens: o.batchTokens, minMs: o.minMs, vocabSize: o.vocab,
          onRow: o.json ? undefined : (r: ForwardBenchRow) => process.stderr.write(`  ctx ${r.ctx} x batch ${r.batch}: ${r.msPerBatch.toFixed(1)} ms, ${Math.round(r.tokensPerS)} tokens/s\n`),
        });
        emit(!!o.json, { device: device.describe(), date: new Date().toISOString(), batchTokens: o.batchTokens, rows }, () => {
          console.log(`${device.describe()}: gpt2-small-shape forward to blocks.${o.stopAtLayer}.hook_resid_pre (fp32, vocab ${o.vocab})`);
          console.log(table(['ctx', 'batch', 'ms/batch', 'tokens/s', 'reps'], rows.map((r) => [r.ctx, r.batch, r.msPerBatch.toFixed(1), Math.round(r.tokensPerS), r.reps])));
        });
      } finally {
        device.destroy();
      }
    });
  bench
    .command('sae')
    .description('one full SAE training step (forward, backward, Adam on all params, decoder renorm for topk) on random data: ms/step and tokens/s. Default cases as torch_reference.py --only sae: topk at 24576 and 98304 latents, standard at 24576; --arch/--d-sae give every combination')
    .addOption(deviceOption())
    .option('--json', 'print JSON')
    .addOption(listOption('--arch <archs>', 'architectures (topk, standard, batchtopk)', choice<SaeArchitecture>('--arch', ['topk', 'standard', 'batchtopk'])))
    .addOption(listOption('--d-sae <ns>', 'latent counts', intFlag('--d-sae', 1)))
    .option('--d-in <n>', 'input width', intFlag('--d-in', 1), 768)
    .option('--batch <n>', 'tokens per step', intFlag('--batch', 1), 4096)
    .option('--k <n>', 'active latents per token (topk, batchtopk)', intFlag('--k', 1), 32)
    .option('--min-ms <ms>', 'minimum timed time per case (at least 1 step, after 1 warm-up step)', intFlag('--min-ms', 1), 2000)
    .option('--dense-topk', 'also time each TopK case through dense [N, d_sae] codes (sae.topk_dense), as the torch reference does')
    .option('--blas-bound', 'also time the bare encoder GEMM (batch x d_in x d_sae) before and after each case\'s steps: its GFLOP/s and the step\'s fraction of the bound (1 such GEMM for sparse TopK, 5 with dense codes)')
    .option('--loss <list>', 'time end-to-end steps instead: e2e and/or e2e+ds (comma-separated), each against local training with its harvest forward, on --model at --hook')
    .option('--model <model>', 'with --loss: the model (default ../shared/assets/models/gpt2-corpus-tiny), or gpt2-small-shape (GPT-2 small\'s shape with random weights, 12 layers, d 768: hook default blocks.6.hook_resid_pre)')
    .option('--vocab <n>', 'with --loss and --model gpt2-small-shape: vocabulary size (default 50257; a smaller one fits devices with small storage bindings, e.g. lavapipe)', intFlag('--vocab', 2))
    .option('--hook <name>', 'with --loss: the SAE hook (default blocks.⌊layers/2⌋.hook_resid_pre)')
    .option('--context-size <n>', 'with --loss: tokens per window (--batch / this = windows per step)', intFlag('--context-size', 2), 128)
    .action(async (o: { device: string; json?: boolean; arch?: SaeArchitecture[]; dSae?: number[]; dIn: number; batch: number; k: number; minMs: number; denseTopk?: boolean; blasBound?: boolean; loss?: string; model?: string; hook?: string; contextSize: number; vocab?: number }) => {
      if (o.loss !== undefined) return benchObjectives(o);
      let cases: SaeBenchCase[];
      if (!o.arch && !o.dSae) cases = [...DEFAULT_SAE_BENCH_CASES];
      else {
        const archs = o.arch ?? ['topk', 'standard'];
        const dSaes = o.dSae ?? [24576];
        cases = archs.flatMap((arch) => dSaes.map((dSae) => ({ arch, dSae })));
      }
      // --dense-topk: each TopK case again through dense codes, timed in the same run (the sparse step's speed-up).
      if (o.denseTopk) cases = cases.flatMap((c) => (c.arch === 'topk' ? [c, { ...c, denseCode: true }] : [c]));
      for (const c of cases) if (c.arch !== 'standard' && o.k > c.dSae) throw new UsageError(`--k (${o.k}) must be at most --d-sae (${c.dSae})`);
      const device = await openDeviceFromFlag(o.device);
      try {
        const rows = await benchSae(device, {
          cases, dIn: o.dIn, batch: o.batch, k: o.k, minMs: o.minMs, blasBound: !!o.blasBound,
          onRow: o.json ? undefined : (r: SaeBenchRow) => process.stderr.write(`  ${r.case} d_sae ${r.dSae}: ${r.msPerStep.toFixed(1)} ms/step, ${Math.round(r.tokensPerS)} tokens/s${r.boundFraction !== undefined ? `; encoder GEMM ${r.encoderGemmMs!.toFixed(0)} ms (${r.encoderGemmGflops!.toFixed(0)} GFLOP/s): ${(100 * r.boundFraction).toFixed(0)} % of the bound` : ''}\n`),
        });
        emit(!!o.json, { device: device.describe(), date: new Date().toISOString(), rows }, () => {
          console.log(`${device.describe()}: SAE training step (fp32, d_in ${o.dIn}, batch ${o.batch}; forward + backward + Adam + decoder renorm where on)`);
          const bound = (r: SaeBenchRow) => (o.blasBound ? [r.encoderGemmMs!.toFixed(0), r.encoderGemmGflops!.toFixed(0), `${(100 * r.boundFraction!).toFixed(0)} % of ${r.boundGemms}×`] : []);
          console.log(table(['case', 'd_sae', 'k', 'ms/step', 'tokens/s', 'reps', ...(o.blasBound ? ['GEMM ms', 'GFLOP/s', 'of bound'] : [])], rows.map((r) => [r.case, r.dSae, r.k ?? '-', r.msPerStep.toFixed(1), Math.round(r.tokensPerS), r.reps, ...bound(r)])));
        });
      } finally {
        device.destroy();
      }
    });
  registerBenchAll(bench);
}

/** `saelab bench sae --loss e2e,e2e+ds`: end-to-end steps against local+harvest on a real model. */
async function benchObjectives(o: { device: string; json?: boolean; arch?: SaeArchitecture[]; dSae?: number[]; batch: number; k: number; minMs: number; loss?: string; model?: string; hook?: string; contextSize: number; vocab?: number }): Promise<void> {
  const losses = o.loss!.split(',').map((x) => x.trim());
  for (const l of losses) if (l !== 'e2e' && l !== 'e2e+ds') throw new UsageError(`--loss must list e2e and/or e2e+ds (got '${l}')`);
  const arch = o.arch?.[0] ?? 'topk';
  const device = await openDeviceFromFlag(o.device);
  try {
    const model = o.model === 'gpt2-small-shape' ? randomGpt2SmallShape(device, 0, o.vocab) : (await openModel(o.model ?? defaultModel(), device, { download: false, needTokenizer: false })).model;
    try {
      const hook = o.hook ?? `blocks.${Math.floor(model.config.nLayers / 2)}.hook_resid_pre`;
      const dSae = o.dSae?.[0] ?? 32 * model.config.dModel;
      const windows = Math.max(1, Math.floor(o.batch / o.contextSize));
      const rows = await benchSaeObjectives(model, {
        hook, arch, dSae, k: o.k, windows, contextSize: o.contextSize, losses: losses as ('e2e' | 'e2e+ds')[], minMs: o.minMs,
        onRow: o.json ? undefined : (r) => process.stderr.write(`  ${r.case}: ${r.msPerStep.toFixed(1)} ms/step, ${Math.round(r.tokensPerS)} tokens/s\n`),
      });
      emit(!!o.json, { device: device.describe(), date: new Date().toISOString(), model: model.source, hook, rows }, () => {
        console.log(`${device.describe()}: ${arch} SAE (d_sae ${dSae}) at ${hook} of ${model.source}; ${windows}×${o.contextSize} tokens per step`);
        console.log(table(['case', 'ms/step', 'tokens/s', 'cost vs local', 'reps'], rows.map((r) => [r.case, r.msPerStep.toFixed(1), Math.round(r.tokensPerS), `${r.costVsLocal.toFixed(2)}×`, r.reps])));
      });
    } finally {
      model.dispose();
    }
  } finally {
    device.destroy();
  }
}
