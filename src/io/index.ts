// Public surface of saelab's file layer: safetensors, Hugging Face folders, atomic writes.

export * from './errors.js';
export * from './dtypes.js';
export { SafetensorsFile, SafetensorsBuffer, readSafetensorsBuffer } from './safetensors.js';
export { MAX_HEADER_BYTES, compareCodePoints, type TensorInfo, type ParsedHeader } from './safetensorsHeader.js';
export { writeSafetensors, serializeSafetensors, type TensorToWrite, type TensorsToWrite } from './safetensorsWrite.js';
export { writeFileAtomic, writeFileAtomicSync, openAtomic, type AtomicFile } from './atomicWrite.js';
export { openHfFolder, readHfConfig, HfWeights, type HfConfig, type HfFolder, type HfTensorInfo } from './hfFolder.js';
export { HubError, findCachedModel, hfCacheDir, hfHome, hfToken, repoFolder, isRepoId, isCommitHash } from './hfCache.js';
export { downloadModel, DEFAULT_FILES, type DownloadOptions } from './hubDownload.js';
export { resolveModel, parseModelSpec, type ResolveOptions } from './resolveModel.js';
