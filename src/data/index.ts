// Public surface of saelab's data layer: text corpora, token packing, activation harvesting, the
// streaming shuffle buffer and the on-disk activation store.

export { DataError } from './errors.js';
export { readDocuments, listCorpusFiles, ENDOFTEXT, type TextDocument, type TextSourceOptions } from './textSource.js';
export { packTokens, packSettings, WindowPacker, keptCount, type PackOptions, type PackSettings, type PackedWindow } from './packTokens.js';
export { harvestActivations, planHooks, type HarvestOptions, type HarvestStats, type BatchInfo } from './harvest.js';
export { ShuffleBuffer, shuffledBatches, type ShuffleBufferOptions } from './shuffleBuffer.js';
export { writeActivationStore, type WriteStoreOptions, type WriteStoreResult, type StoreProgress } from './activationStore.js';
export { ActivationStoreReader, type StoreBatchOptions } from './activationStoreReader.js';
export { readManifest, shardName, type StoreManifest, type StoreIdentity, type ShardEntry, type StoreDtype } from './storeManifest.js';
