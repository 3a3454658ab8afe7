// Hugging Face model folders: `config.json` plus weights as one `model.safetensors` or as shards
// listed in `model.safetensors.index.json` ({"weight_map": {tensor: shardFile}}). `HfWeights` is one
// lazy view over all shards, so a model loader never cares how the weights were split. Everything is
// read through a ByteFolder: a local path in Node (fileByteSource.ts), a URL in a browser.

import { insideName, type ByteFolder } from './byteSource.js';
import type { TypedData } from './dtypes.js';
import { HfFolderError, quoteName, SafetensorsError } from './errors.js';
import { localFolder, localPathKind } from './fileByteSource.js';
import { compareCodePoints, type TensorInfo } from './safetensorsHeader.js';
import { SafetensorsReader } from './safetensorsReader.js';

/** config.json, loosely typed: models read the fields they know. */
export type HfConfig = Record<string, unknown> & {
  model_type?: string;
  architectures?: string[];
  torch_dtype?: string;
};

/** Where a tensor is, including which shard file holds it. */
export interface HfTensorInfo extends TensorInfo {
  /** Path of the safetensors file holding the tensor. */
  readonly file: string;
}

/** The weights file of an unsharded model. */
export const SINGLE_WEIGHTS = 'model.safetensors';
/** The index of a sharded model: {"weight_map": {tensor: shardFile}}. */
export const WEIGHTS_INDEX = 'model.safetensors.index.json';

/** Read and parse a JSON file of a folder, mapping every failure to an HfFolderError that names the file. */
async function readJsonObject(folder: ByteFolder, rel: string, what: string): Promise<Record<string, unknown>> {
  const path = folder.label(rel);
  let text: string;
  try {
    text = new TextDecoder().decode(await folder.readBytes(rel));
  } catch (e) {
    throw new HfFolderError(path, `cannot read ${what}: ${(e as Error).message}`, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new HfFolderError(path, `${what} is not valid JSON: ${(e as Error).message.slice(0, 200)}`, { cause: e });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new HfFolderError(path, `${what} is not a JSON object`);
  return json as Record<string, unknown>;
}

/** A local folder as a ByteFolder, or HfFolderError unless `dir` is an existing folder; a ByteFolder as it is. */
async function asFolder(dir: string | ByteFolder): Promise<ByteFolder> {
  if (typeof dir !== 'string') return dir;
  const kind = await localPathKind(dir);
  if (kind === null) throw new HfFolderError(dir, 'folder does not exist');
  if (kind !== 'dir') throw new HfFolderError(dir, 'not a folder');
  return localFolder(dir);
}

/** Open one safetensors file of a folder (SafetensorsError naming it when it cannot be opened or parsed). */
async function openReader(folder: ByteFolder, rel: string): Promise<SafetensorsReader> {
  let src;
  try {
    src = await folder.open(rel);
  } catch (e) {
    throw new SafetensorsError(folder.label(rel), `cannot open: ${(e as Error).message}`, { cause: e });
  }
  return SafetensorsReader.fromSource(src);
}

/** Read `config.json` from a model folder (a local path or a ByteFolder). */
export async function readHfConfig(dir: string | ByteFolder): Promise<HfConfig> {
  const folder = await asFolder(dir);
  if (!(await folder.has('config.json'))) throw new HfFolderError(folder.name, 'no config.json: not a Hugging Face model folder');
  return (await readJsonObject(folder, 'config.json', 'config.json')) as HfConfig;
}

/** All the weights of a model folder, across shards, read lazily. Close it when done. */
export class HfWeights {
  private constructor(
    /** The model folder. */
    readonly dir: string,
    private readonly shards: readonly SafetensorsReader[],
    private readonly where: ReadonlyMap<string, SafetensorsReader>,
    private readonly sortedNames: readonly string[],
  ) {}

  /** Open a folder's weights (a local path or a ByteFolder): model.safetensors, else the shards its index names (all checked now). */
  static async open(dir: string | ByteFolder): Promise<HfWeights> {
    const folder = await asFolder(dir);
    if (await folder.has(SINGLE_WEIGHTS)) {
      const f = await openReader(folder, SINGLE_WEIGHTS);
      const where = new Map(f.names().map((n) => [n, f] as const));
      return new HfWeights(folder.name, [f], where, f.names());
    }
    if (await folder.has(WEIGHTS_INDEX)) return HfWeights.openSharded(folder);
    throw new HfFolderError(folder.name, `no weights: expected ${SINGLE_WEIGHTS} or ${WEIGHTS_INDEX}${await otherWeightsHint(folder)}`);
  }

  private static async openSharded(folder: ByteFolder): Promise<HfWeights> {
    const indexPath = folder.label(WEIGHTS_INDEX);
    const index = await readJsonObject(folder, WEIGHTS_INDEX, WEIGHTS_INDEX);
    const map = index['weight_map'];
    if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new HfFolderError(indexPath, 'has no "weight_map" object');
    const byShard = new Map<string, string[]>();
    for (const [tensor, shard] of Object.entries(map as Record<string, unknown>)) {
      if (typeof shard !== 'string') throw new HfFolderError(indexPath, `weight_map ${quoteName(tensor)}: shard is not a file name`);
      // A shard must be a file inside the folder: an index must not make us read /etc/passwd.
      const rel = insideName(shard);
      if (rel === null) {
        throw new HfFolderError(indexPath, `weight_map ${quoteName(tensor)}: shard ${quoteName(shard)} is outside the folder`);
      }
      const list = byShard.get(rel);
      if (list) list.push(tensor);
      else byShard.set(rel, [tensor]);
    }
    if (byShard.size === 0) throw new HfFolderError(indexPath, 'weight_map is empty');

    const shards: SafetensorsReader[] = [];
    const where = new Map<string, SafetensorsReader>();
    try {
      for (const shard of [...byShard.keys()].sort(compareCodePoints)) {
        const tensors = byShard.get(shard)!;
        if (!(await folder.has(shard))) {
          throw new HfFolderError(indexPath, `names shard ${quoteName(shard)} (for ${tensors.length} tensors), but ${folder.label(shard)} does not exist`);
        }
        const f = await openReader(folder, shard);
        shards.push(f);
        for (const t of tensors) {
          if (!f.has(t)) throw new HfFolderError(indexPath, `maps tensor ${quoteName(t)} to ${quoteName(shard)}, which does not contain it`);
          where.set(t, f);
        }
      }
    } catch (e) {
      await Promise.all(shards.map((s) => s.close().catch(() => undefined)));
      throw e;
    }
    return new HfWeights(folder.name, shards, where, [...where.keys()].sort(compareCodePoints));
  }

  /** Tensor names, sorted. */
  names(): string[] {
    return [...this.sortedNames];
  }

  /** Whether the model has a tensor of this name. */
  has(name: string): boolean {
    return this.where.has(name);
  }

  /** The safetensors files the weights come from. */
  files(): string[] {
    return this.shards.map((s) => s.path);
  }

  /** Dtype, shape, location and shard of a tensor (HfFolderError for an unknown name). */
  info(name: string): HfTensorInfo {
    const f = this.shard(name);
    return { ...f.info(name), file: f.path };
  }

  /** The tensor converted to f32 (F16/BF16 exactly). */
  readF32(name: string): Promise<Float32Array> {
    return this.shard(name).readF32(name);
  }

  /** The tensor in its own dtype (F16/BF16 as Uint16Array bits). */
  readTyped(name: string): Promise<TypedData> {
    return this.shard(name).readTyped(name);
  }

  /** The tensor's stored bytes. */
  readRaw(name: string): Promise<Uint8Array> {
    return this.shard(name).readRaw(name);
  }

  /** Close every shard. */
  async close(): Promise<void> {
    await Promise.all(this.shards.map((s) => s.close()));
  }

  private shard(name: string): SafetensorsReader {
    const f = this.where.get(name);
    if (!f) throw new HfFolderError(this.dir, `model has no tensor named ${quoteName(name)}`);
    return f;
  }
}

/** For the "no weights" error: name weight files we saw but cannot use. */
async function otherWeightsHint(folder: ByteFolder): Promise<string> {
  let files: string[];
  try {
    files = await folder.list();
  } catch {
    return '';
  }
  const bins = files.filter((f) => /\.(bin|pt|pth|ckpt|h5|msgpack|gguf)$/.test(f));
  const st = files.filter((f) => f.endsWith('.safetensors'));
  if (st.length > 0) return ` (found ${st.slice(0, 3).join(', ')}, but no index naming them)`;
  if (bins.length > 0) return ` (found ${bins.slice(0, 3).join(', ')}: saelab reads only safetensors; convert them first)`;
  return '';
}

/** A model folder: parsed config.json and a view over its weights. */
export interface HfFolder {
  readonly dir: string;
  readonly config: HfConfig;
  readonly weights: HfWeights;
  /** Close the weight files. */
  close(): Promise<void>;
}

/** Open a Hugging Face model folder (config.json + safetensors weights): a local path or a ByteFolder. */
export async function openHfFolder(dir: string | ByteFolder): Promise<HfFolder> {
  const folder = await asFolder(dir);
  const config = await readHfConfig(folder);
  const weights = await HfWeights.open(folder);
  return { dir: folder.name, config, weights, close: () => weights.close() };
}
