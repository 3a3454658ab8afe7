// saelab's public library API, layer by layer (see docs/architecture.md).

export { SAELAB_VERSION } from './version.js';

// compute: devices and tensors
export { Tensor, numelOf, type DType, type AnyTypedArray } from './compute/tensor.js';
export type { Device, DeviceKind, DeviceRequest } from './compute/device.js';
export { createDevice, parseDeviceRequest, DeviceUnavailableError } from './compute/createDevice.js';
export { CpuDevice, cpu } from './compute/cpu/cpuDevice.js';
export { WebGpuDevice } from './compute/webgpu/gpuDevice.js';
export { openWebGpu, type GpuFeatures } from './compute/webgpu/openGpu.js';
export { Rng } from './compute/random.js';
export { sgemm, sgemmBackend } from './compute/cpu/sgemm.js';
export { blasInfo } from './compute/cpu/blas.js';

// compute: ops (each with a CPU twin and a WGSL kernel)
export { relu, reluBackward, gelu, geluBackward, silu, siluBackward, activate, activateBackward, type Activation } from './compute/ops/activations.js';
export { add, sub, mul, scale, addScaled, addInPlace, subInPlace, mulInPlace, scaleInPlace, addScaledInPlace } from './compute/ops/elementwise.js';
export { sumRows, meanRows, maxRows, argmaxRows, logsumexpRows, sumColumns } from './compute/ops/reductions.js';
export { softmaxRows, softmaxBackward } from './compute/ops/softmax.js';
export { matmul, matmulFlops, type MatmulOptions } from './compute/ops/matmul.js';
export { topkRows, type TopK } from './compute/ops/topk.js';
export { cosineMaxBoth, type CosineMax } from './compute/ops/cosineMax.js';
export { layerNorm, layerNormBackward } from './compute/ops/layerNorm.js';
export { rmsNorm, rmsNormBackward } from './compute/ops/rmsNorm.js';
export { crossEntropy, crossEntropyBackward } from './compute/ops/crossEntropy.js';
export { klDivergence, klDivergenceBackward } from './compute/ops/klDivergence.js';
export { embeddingGather, embeddingScatterAdd } from './compute/ops/embedding.js';
export { adamwUpdate, type AdamWOptions } from './compute/ops/adamw.js';
export { benchKernels, type KernelBenchRow } from './compute/bench/kernelBench.js';

// io
export * from './io/index.js';

// model: tokenizers
export * from './model/tokenizers/index.js';

// model: configs, weights, the transformer with hooks, backward
export * from './model/index.js';
export { geluErf, geluErfBackward } from './compute/ops/geluErf.js';
export { causalAttention, causalAttentionBackward } from './compute/ops/attention.js';
export { rope, ropeBackward } from './compute/ops/rope.js';

// data: sources, packing, harvesting, activation store
export * from './data/index.js';

// sae: architectures, files, trainer, `saelab train`'s library function
export * from './sae/index.js';
export { trainSaes } from './sae/trainer.js';
export { openWorkspaceDb } from './io/workspaceDb.js';

// eval: the metrics of docs/metrics.md and `saelab eval`'s library function
export { evalSaes, reconstruct, spliceRows, type EvalSaeSpec, type EvalReport, type SaeMetrics } from './eval/evalSae.js';
export { evalRun, type EvalRunOptions } from './eval/evalRun.js';
export { ReconstructionAccumulator, FiringAccumulator, LmLossAccumulator, RewardAccumulator } from './eval/metricsSpec.js';

// analysis: compare, perturb, prune
export { compareSaes, type CompareOptions, type CompareResult } from './analysis/compareSaes.js';
export { matchDirections, matchDirectionsOn } from './analysis/matchDirections.js';
export { matchedPerturbation, epsilonPerturbation, cosineAndNormRatio } from './analysis/perturbation.js';
export { perturbSweep, type PerturbReport } from './analysis/perturbSweep.js';
export { perturbRun } from './analysis/perturbRun.js';
export { pruneForL0, maskedSae } from './analysis/pruneSae.js';
export { pruneRun } from './analysis/pruneRun.js';
// analysis: reward attribution
export { attributeRows, pairDifference, type AttributionSae, type AttributionRow } from './analysis/rewardAttribution.js';
export { ablatedRewards, rowCodes } from './analysis/rewardAblation.js';
export { attributePairSet, type PairSetReport } from './analysis/rewardPairSet.js';
export { attributeTwo, type TwoReport } from './analysis/rewardTwo.js';
export { attributeRun } from './analysis/attributeRun.js';
export { grepPairs, rangeStats } from './analysis/rewardPairStats.js';
export { loadPairRecords, parsePairsSpec, encodeCompletion, type PairRecord } from './eval/pairData.js';

// report and server: dashboards, plots, `saelab serve`
export { buildDashboard, type DashboardOptions, type DashboardReport } from './report/dashboardBuild.js';
export { histogramSvg, xyPlotSvg } from './report/svgPlot.js';
export { startServer } from './server/server.js';
