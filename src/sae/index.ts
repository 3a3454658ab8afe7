// saelab's SAE layer: architectures (standard, TopK, BatchTopK; JumpReLU for inference), initialisation, input
// normalisation and SAE folders (SAELens write/read, sparsify and dictionary_learning import).

export type { SaeArchitecture, ActivationNormalization, SaeConfig, SaeParams, SaeStepStats, SaeStepResult, SaeStepContext, SaeModel } from './types.js';
export { StandardSae, decoderNorms } from './standardSae.js';
export { TopKSae, topkActivations, AUXK_DEFAULTS } from './topkSae.js';
export { BatchTopKSae, batchTopkActivations, thresholdEncode, THRESHOLD_BETA } from './batchTopkSae.js';
export { JumpReluSae } from './jumpReluSae.js';
export { initSae, initSaeParams, createSae, geometricMedian, randomDecoder, type InitSaeOptions } from './initSae.js';
export { ActivationNormalizer, estimateNormScalingFactor, NORM_SCALING_FACTOR_KEY } from './normalize.js';
export { saveSae, loadSae, saeCfgJson, cfgFromSaeLens, writeFolderAtomic, SaeFileError, SAE_CFG_FILE, SAE_WEIGHTS_FILE, SAE_SPARSITY_FILE, type LoadedSae, type SaveSaeOptions, type SaeRunMetadata } from './saeFiles.js';
export { importSparsify, importDictionaryLearning } from './importSparsify.js';
export { SAELENS_FORMAT_VERSION, foldNormScaling, foldDecoderNorms } from './saelensCompat.js';
export { portableRunMetadata, saeModelSpec, saeDatasetPath } from './runSource.js';
export { scatterRows, scaleRows, mapSae, updateThreshold, type SaeMap } from './saeKernels.js';
export { trainRun, TRAIN_DEFAULTS, type TrainRunReport } from './trainRun.js';
export { localObjective, type TrainObjective, type PreparedBatch } from './objective.js';
export { e2eObjective, downstreamHooks, type E2eObjectiveOptions, type TokenBatch } from './e2eObjective.js';
export { rewardObjective, rewardTerm, type RewardObjectiveOptions } from './rewardObjective.js';
