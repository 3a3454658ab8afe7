// Hugging Face model folders: `config.json` plus weights as one `model.safetensors` or as shards
// listed in `model.safetensors.index.json` ({"weight_map": {tensor: shardFile}}). `HfWeights` is one
// lazy view over all shards, so a model loader never cares how the weights were split.

import { readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, normalize, sep } from 'node:path';
import type { TypedData } from './dtypes.js';
import { HfFolderError, quoteName } from './errors.js';
import { SafetensorsFile, type TensorInfo } from './safetensors.js';
import { compareCodePoints } from './safetensorsHeader.js';

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

/** Read and parse a JSON file, mapping every failure to an HfFolderError that names the file. */
async function readJsonObject(path: string, what: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
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

/** Whether a path exists as a regular file. */
async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Throw HfFolderError unless `dir` is an existing folder. */
async function checkFolder(dir: string): Promise<void> {
  let st;
  try {
    st = await stat(dir);
  } catch {
    throw new HfFolderError(dir, 'folder does not exist');
  }
  if (!st.isDirectory()) throw new HfFolderError(dir, 'not a folder');
}

/** Read `config.json` from a model folder. */
export async function readHfConfig(dir: string): Promise<HfConfig> {
  await checkFolder(dir);
  const path = join(dir, 'config.json');
  if (!(await isFile(path))) throw new HfFolderError(dir, 'no config.json: not a Hugging Face model folder');
  return (await readJsonObject(path, 'config.json')) as HfConfig;
}

/** All the weights of a model folder, across shards, read lazily. Close it when done. */
export class HfWeights {
  private constructor(
    /** The model folder. */
    readonly dir: string,
    private readonly shards: readonly SafetensorsFile[],
    private readonly where: ReadonlyMap<string, SafetensorsFile>,
    private readonly sortedNames: readonly string[],
  ) {}

  /** Open a folder's weights: model.safetensors, else the shards its index names (all checked now). */
  static async open(dir: string): Promise<HfWeights> {
    await checkFolder(dir);
    const single = join(dir, SINGLE_WEIGHTS);
    if (await isFile(single)) {
      const f = await SafetensorsFile.open(single);
      const where = new Map(f.names().map((n) => [n, f] as const));
      return new HfWeights(dir, [f], where, f.names());
    }
    const indexPath = join(dir, WEIGHTS_INDEX);
    if (await isFile(indexPath)) return HfWeights.openSharded(dir, indexPath);
    throw new HfFolderError(dir, `no weights: expected ${SINGLE_WEIGHTS} or ${WEIGHTS_INDEX}${await otherWeightsHint(dir)}`);
  }

  private static async openSharded(dir: string, indexPath: string): Promise<HfWeights> {
    const index = await readJsonObject(indexPath, WEIGHTS_INDEX);
    const map = index['weight_map'];
    if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new HfFolderError(indexPath, 'has no "weight_map" object');
    const byShard = new Map<string, string[]>();
    for (const [tensor, shard] of Object.entries(map as Record<string, unknown>)) {
      if (typeof shard !== 'string') throw new HfFolderError(indexPath, `weight_map ${quoteName(tensor)}: shard is not a file name`);
      // A shard must be a file inside the folder: an index must not make us read /etc/passwd.
      const rel = normalize(shard);
      if (shard === '' || isAbsolute(shard) || rel === '..' || rel.startsWith(`..${sep}`)) {
        throw new HfFolderError(indexPath, `weight_map ${quoteName(tensor)}: shard ${quoteName(shard)} is outside the folder`);
      }
      const list = byShard.get(rel);
      if (list) list.push(tensor);
      else byShard.set(rel, [tensor]);
    }
    if (byShard.size === 0) throw new HfFolderError(indexPath, 'weight_map is empty');

    const shards: SafetensorsFile[] = [];
    const where = new Map<string, SafetensorsFile>();
    try {
      for (const shard of [...byShard.keys()].sort(compareCodePoints)) {
        const path = join(dir, shard);
        const tensors = byShard.get(shard)!;
        if (!(await isFile(path))) {
          throw new HfFolderError(indexPath, `names shard ${quoteName(shard)} (for ${tensors.length} tensors), but ${path} does not exist`);
        }
        const f = await SafetensorsFile.open(path);
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
    return new HfWeights(dir, shards, where, [...where.keys()].sort(compareCodePoints));
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

  private shard(name: string): SafetensorsFile {
    const f = this.where.get(name);
    if (!f) throw new HfFolderError(this.dir, `model has no tensor named ${quoteName(name)}`);
    return f;
  }
}

/** For the "no weights" error: name weight files we saw but cannot use. */
async function otherWeightsHint(dir: string): Promise<string> {
  let files: string[];
  try {
    files = await readdir(dir);
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

/** Open a Hugging Face model folder (config.json + safetensors weights). */
export async function openHfFolder(dir: string): Promise<HfFolder> {
  const config = await readHfConfig(dir);
  const weights = await HfWeights.open(dir);
  return { dir, config, weights, close: () => weights.close() };
}
