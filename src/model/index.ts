// Public surface of saelab's model layer (the transformer, its weights, hooks and backward).
// Tokenizers live in ./tokenizers and are exported from there.

export { ModelError } from './errors.js';
export {
  parseHfConfig,
  validateConfig,
  attentionScale,
  SUPPORTED_ARCHITECTURES,
  type ModelConfig,
  type ModelFamily,
  type ModelHead,
  type ModelActivation,
} from './config.js';
export {
  mapWeights,
  listWeights,
  expectedShapes,
  checkWeightShapes,
  uploadWeights,
  disposeWeights,
  countParameters,
  type ModelWeights,
  type LayerWeights,
  type NormWeights,
  type HostWeights,
  type HostTensor,
} from './weights.js';
export { loadHfWeights } from './loadWeights.js';
export { parseWeightDtype, WEIGHT_DTYPES, type WeightDtype, type WeightDtypeRequest } from './weightDtype.js';
export { WeightStore } from './weightStore.js';
export { loadWeightStore, blocksNeeded, type LoadOptions } from './loadStore.js';
export { weightBytes, activationBytesPerToken, memoryAvailable, memoryReport, type WeightBytes, type MemoryReport } from './memoryPlan.js';
export { loadLlama2c, parseLlama2c, parseLlama2cHeader, llama2cConfig, adjacentToHalfRows, type Llama2cHeader } from './llama2c.js';
export { hookNames, parseHook, editDistance, BLOCK_HOOKS, FINAL_HOOK, type HookFn, type HookPoint, type BlockHookKind } from './hooks.js';
export { blockForward, blockBackward, type BlockCache, type BlockContext, type NormCache } from './block.js';
export {
  Transformer,
  meanNextTokenCE,
  nextTokenTargets,
  lastNonPad,
  type ForwardOptions,
  type ForwardResult,
  type ForwardCache,
} from './transformer.js';
export { backward, NEXT_TOKEN_CE, REWARD_DIFF, type Objective, type BackwardOptions, type BackwardResult } from './backward.js';
export { openModel, type OpenedModel } from './openModel.js';
