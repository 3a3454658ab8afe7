// Where a model's weights live, and how a forward gets one block's weights as f32 tensors.
//   resident float32:  every tensor on the device as f32 (the plain case; `f32()` gives them all).
//   resident 16-bit:   matrices kept as bf16/f16 (CPU: Uint16Array; WebGPU: packed two to a u32),
//                      widened exactly to f32 one block at a time right before the block runs — on
//                      the CPU into one reused scratch set, on the GPU into pooled buffers freed after.
//   streaming:         blocks stay in the safetensors file; each is read (in the store's dtype),
//                      widened, run and dropped, so memory holds one block and the top weights.
// Norm weights and biases are always f32 and resident. Widening is exact, so a 16-bit model gives
// the same numbers as an f32 model loaded from the same 16-bit file, and streaming the same as resident.

import type { CpuDevice } from '../compute/cpu/cpuDevice.js';
import type { Device } from '../compute/device.js';
import { embeddingGather } from '../compute/ops/embedding.js';
import { gather16, unpack16, type Half } from '../compute/ops/unpack16.js';
import type { Tensor } from '../compute/tensor.js';
import type { SyncTensorReader } from '../io/tensorReaderSync.js';
import { ModelError } from './errors.js';
import type { FamilyLoader, TopWeights } from './loadWeights.js';
import { widenInto, type StoredTensor, type WeightDtype } from './weightDtype.js';
import { listWeights, type LayerWeights, type ModelWeights, type NormWeights } from './weights.js';

/** A matrix kept in 16 bits on the device: u32 words (two halves each) of a logical shape. */
interface Packed {
  words: Tensor;
  /** The same bits on the host (CPU only: widened there without a kernel). */
  host: Uint16Array | null;
  half: Half;
  shape: number[];
}

type Slot = Tensor | Packed;
const isPacked = (s: Slot | null): s is Packed => s !== null && 'words' in s;

const MATRICES = ['W_Q', 'W_K', 'W_V', 'W_O', 'W_in', 'W_gate', 'W_out'] as const;
type MatrixName = (typeof MATRICES)[number];

const halfOf = (d: WeightDtype): Half => (d === 'bfloat16' ? 'bf16' : 'f16');

/** Weights of a model on one device, handed to the forward a block at a time. */
export class WeightStore {
  /** CPU scratch for widened 16-bit matrices, by slot (every block has the same shapes). */
  private readonly scratch = new Map<MatrixName, Float32Array>();

  /**
   * Every resident weight in one object (no blocks when streaming). f32() hands out this very object,
   * so code that swaps a tensor in `model.weights` (tests, weight surgery) changes what the forward reads.
   */
  private constructor(
    readonly device: Device,
    /** How matrices are stored. */
    readonly dtype: WeightDtype,
    private readonly all: ModelWeights<Slot>,
    /** Reads a block from disk (streaming only); closed by dispose. */
    private readonly stream: { loader: FamilyLoader; reader: SyncTensorReader } | null,
    readonly nLayers: number,
  ) {}

  private get top(): TopWeights<Slot> {
    return this.all;
  }

  private get layers(): LayerWeights<Slot>[] | null {
    return this.stream ? null : this.all.layers;
  }

  /** All weights resident: the top, then blocks [0, nLayers) read and put on the device one at a time. */
  static async resident(
    parts: { top(): Promise<TopWeights<StoredTensor>>; layer(i: number): Promise<LayerWeights<StoredTensor>> },
    nLayers: number,
    device: Device,
    dtype: WeightDtype,
  ): Promise<WeightStore> {
    const put = (t: StoredTensor): Slot => toDevice(t, device);
    const top = mapTop(await parts.top(), put);
    const layers: LayerWeights<Slot>[] = [];
    for (let l = 0; l < nLayers; l++) layers.push(mapLayer(await parts.layer(l), put));
    return new WeightStore(device, dtype, { ...top, layers }, null, nLayers);
  }

  /** Top weights resident; blocks read from the file by `loader` when a forward reaches them. */
  static streaming(top: TopWeights<StoredTensor>, loader: FamilyLoader, reader: SyncTensorReader, nLayers: number, device: Device, dtype: WeightDtype): WeightStore {
    return new WeightStore(device, dtype, { ...mapTop(top, (t) => toDevice(t, device)), layers: [] }, { loader, reader }, nLayers);
  }

  /** A store over f32 weights already on a device (they become the store's). */
  static fromDevice(w: ModelWeights, device: Device): WeightStore {
    // The caller's object itself, so that its later edits reach the forward.
    return new WeightStore(device, 'float32', w, null, w.layers.length);
  }

  /** Whether blocks are read from disk as the forward needs them. */
  get streaming(): boolean {
    return this.stream !== null;
  }

  /** Every weight as resident f32 tensors, or null (16-bit or streaming: use layer()). */
  f32(): ModelWeights | null {
    if (this.stream || this.dtype !== 'float32') return null;
    return this.all as ModelWeights;
  }

  /** Block l's weights as f32 tensors, valid until releaseLayer (CPU 16-bit: until the next layer()). */
  layer(l: number): LayerWeights {
    if (!(l >= 0 && l < this.nLayers)) throw new ModelError(`block ${l} was not loaded (the model was opened with its first ${this.nLayers} blocks only)`);
    if (this.stream) {
      const host = this.stream.loader.layer(l);
      return mapLayer(host, (t, name) => this.widenHost(t, name));
    }
    return mapLayer(this.layers![l]!, (s, name) => (isPacked(s) ? this.widenPacked(s, name) : s));
  }

  /** Free what layer() made for this block (resident f32 tensors are kept). */
  releaseLayer(l: number, w: LayerWeights): void {
    const kept = this.layers?.[l];
    const keep = new Set<unknown>(kept ? layerTensors(kept) : []);
    for (const t of layerTensors(w)) {
      if (!keep.has(t) && !this.isScratch(t)) t.dispose();
    }
  }

  /** Embedding rows for ids [...] i32 → [..., d] f32. */
  embedRows(ids: Tensor): Tensor {
    const e = this.top.embed;
    if (!isPacked(e)) return embeddingGather(e, ids);
    const [V, d] = e.shape as [number, number];
    return gather16(e.words, e.half, V, d, ids);
  }

  /** Learned positions, final norm, unembedding bias, classifier head: always f32. */
  get posEmbed(): Tensor | null {
    return this.top.posEmbed as Tensor | null;
  }
  get lnFinal(): NormWeights {
    return this.top.lnFinal as NormWeights;
  }
  get unembedBias(): Tensor | null {
    return this.top.unembed_b as Tensor | null;
  }
  get score(): Tensor | null {
    return this.top.score as Tensor | null;
  }

  /** Run f with the unembedding as f32: [d, V] (transB false), or the tied embedding [V, d] (transB true). */
  withUnembed<R>(f: (W: Tensor, transB: boolean) => R): R {
    const s = this.top.unembed ?? this.top.embed;
    const transB = this.top.unembed === null;
    if (!isPacked(s)) return f(s, transB);
    // The CPU widens from the host bits with a lookup (its unpack16 twin is the slow, obvious one).
    const W = s.host ? (this.device as CpuDevice).wrap(widenInto(s.host, s.half === 'bf16' ? 'bfloat16' : 'float16', new Float32Array(s.host.length)), s.shape) : unpack16(s.words, s.half, s.shape);
    try {
      return f(W, transB);
    } finally {
      W.dispose();
    }
  }

  /** Bytes the resident weights take on the device, by storage dtype. */
  residentBytes(): { float32: number; bfloat16: number; float16: number } {
    const out = { float32: 0, bfloat16: 0, float16: 0 };
    const add = (s: Slot | null) => {
      if (!s) return;
      if (isPacked(s)) out[s.half === 'bf16' ? 'bfloat16' : 'float16'] += s.shape.reduce((a, b) => a * b, 1) * 2;
      else out.float32 += s.numel * 4;
    };
    for (const [, s] of listWeights(this.all)) add(s);
    return out;
  }

  /** Free every resident weight and close the file of a streaming store. */
  dispose(): void {
    for (const [, s] of listWeights(this.all)) {
      if (isPacked(s)) s.words.dispose();
      else s.dispose();
    }
    this.stream?.reader.close();
    this.scratch.clear();
  }

  /** A host tensor read while streaming, as an f32 device tensor (CPU: f32 arrays wrapped, 16-bit widened into scratch). */
  private widenHost(t: StoredTensor, name: string): Tensor {
    const slot = slotName(name);
    if (this.device.kind === 'cpu') {
      const cpuDev = this.device as CpuDevice;
      if (t.data instanceof Float32Array) return cpuDev.wrap(t.data, t.shape);
      return cpuDev.wrap(widenInto(t.data, t.dtype, this.scratchFor(slot, t.data.length)), t.shape);
    }
    const f = t.data instanceof Float32Array ? t.data : widenInto(t.data, t.dtype, new Float32Array(t.data.length));
    return this.device.fromArray(f, t.shape);
  }

  /** A resident packed matrix widened to f32: CPU into scratch, GPU by the unpack kernel. */
  private widenPacked(p: Packed, name: string): Tensor {
    if (this.device.kind === 'cpu') {
      const n = p.host!.length;
      const out = widenInto(p.host!, p.half === 'bf16' ? 'bfloat16' : 'float16', this.scratchFor(slotName(name), n));
      return (this.device as CpuDevice).wrap(out, p.shape);
    }
    return unpack16(p.words, p.half, p.shape);
  }

  private scratchFor(slot: MatrixName | null, n: number): Float32Array {
    if (!slot) return new Float32Array(n);
    let s = this.scratch.get(slot);
    if (!s || s.length !== n) {
      s = new Float32Array(n);
      this.scratch.set(slot, s);
    }
    return s;
  }

  private isScratch(t: Tensor): boolean {
    if (t.storage.kind !== 'cpu') return false;
    for (const s of this.scratch.values()) if (s === t.storage.data) return true;
    return false;
  }
}

/** `blocks.3.attn.W_Q` → `W_Q` when it is a matrix slot. */
function slotName(name: string): MatrixName | null {
  const last = name.slice(name.lastIndexOf('.') + 1) as MatrixName;
  return MATRICES.includes(last) ? last : null;
}

/** A host tensor on the device: f32 as is (the CPU wraps it), 16-bit packed into u32 words. */
function toDevice(t: StoredTensor, device: Device): Slot {
  if (t.data instanceof Float32Array) return device.kind === 'cpu' ? (device as CpuDevice).wrap(t.data, t.shape) : device.fromArray(t.data, t.shape);
  const half = halfOf(t.dtype);
  const h = t.data;
  // Two halves per word; an odd count gets a zero pad half (never read).
  const even = h.length % 2 === 0 && h.byteOffset % 4 === 0 ? h : padToEven(h);
  const words = new Uint32Array(even.buffer, even.byteOffset, even.length / 2);
  if (device.kind === 'cpu') return { words: (device as CpuDevice).wrap(words, [words.length]), host: h, half, shape: t.shape };
  return { words: device.fromArray(words, [words.length]), host: null, half, shape: t.shape };
}

function padToEven(h: Uint16Array): Uint16Array {
  const out = new Uint16Array(h.length + (h.length % 2));
  out.set(h);
  return out;
}

function mapNorm<A, B>(n: NormWeights<A>, f: (t: A, name: string) => B, name: string): NormWeights<B> {
  return { w: f(n.w, `${name}.w`), b: n.b === null ? null : f(n.b, `${name}.b`) };
}

/** Apply f to every tensor of one block (names as listWeights: `attn.W_Q`, `mlp.W_in`, `ln1.w`, …). */
function mapLayer<A, B>(l: LayerWeights<A>, f: (t: A, name: string) => B): LayerWeights<B> {
  const o = <T extends A | null>(t: T, name: string): B | null => (t === null ? null : f(t as A, name));
  const on = (n: NormWeights<A> | null, name: string) => (n === null ? null : mapNorm(n, f, name));
  return {
    ln1: mapNorm(l.ln1, f, 'ln1'),
    W_Q: f(l.W_Q, 'attn.W_Q'), W_K: f(l.W_K, 'attn.W_K'), W_V: f(l.W_V, 'attn.W_V'),
    b_Q: o(l.b_Q, 'attn.b_Q'), b_K: o(l.b_K, 'attn.b_K'), b_V: o(l.b_V, 'attn.b_V'),
    W_O: f(l.W_O, 'attn.W_O'), b_O: o(l.b_O, 'attn.b_O'),
    ln2: on(l.ln2, 'ln2'), ln1_post: on(l.ln1_post, 'ln1_post'), ln2_post: on(l.ln2_post, 'ln2_post'),
    W_in: f(l.W_in, 'mlp.W_in'), W_gate: o(l.W_gate, 'mlp.W_gate'), b_in: o(l.b_in, 'mlp.b_in'),
    W_out: f(l.W_out, 'mlp.W_out'), b_out: o(l.b_out, 'mlp.b_out'),
  };
}

function mapTop<A, B>(t: TopWeights<A>, f: (t: A, name: string) => B): TopWeights<B> {
  const o = (x: A | null, name: string): B | null => (x === null ? null : f(x, name));
  return {
    embed: f(t.embed, 'embed'), posEmbed: o(t.posEmbed, 'pos_embed'), lnFinal: mapNorm(t.lnFinal, f, 'ln_final'),
    unembed: o(t.unembed, 'unembed'), unembed_b: o(t.unembed_b, 'unembed_b'), score: o(t.score, 'score'),
  };
}

/** Every tensor of one block. */
function layerTensors<T>(l: LayerWeights<T>): T[] {
  const out: T[] = [];
  mapLayer(l, (t) => out.push(t));
  return out;
}
