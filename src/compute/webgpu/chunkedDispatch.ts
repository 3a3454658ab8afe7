// Kernels over independent items (rows of a [rows, cols] tensor, or elements) on tensors larger
// than one storage binding may be: the items are cut into pieces whose every binding fits, each
// piece bound as byte ranges and dispatched with its own item count. Many GPUs and browsers cap a
// binding at 128 or 256 MiB, which GPT-2's logits pass at 8×128 tokens (8·128·50,257·4 bytes).

import type { Tensor } from '../tensor.js';
import { DeviceLimitError, type BufferRange, type DispatchSpec, type WebGpuDevice } from './gpuDevice.js';

/** A dispatch over `count` items whose params start with the item count (u32) and whose grid follows from it. */
export interface ItemDispatch extends Omit<DispatchSpec, 'buffers' | 'workgroups'> {
  buffers: readonly Tensor[];
  /** 4-byte elements per item of each buffer, in order (0: a buffer every item reads whole, e.g. a bias). */
  strides: readonly number[];
  count: number;
  /** Workgroups for `n` items. */
  grid: (n: number) => readonly [number, number?, number?];
  /** Pieces start at multiples of this many items (e.g. a broadcast period); default 1. */
  itemMultiple?: number;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** The piece step (items) that keeps every per-item binding's start aligned, and the widest item in bytes. */
export function pieceStep(strides: readonly number[], align: number, itemMultiple = 1): { step: number; widest: number } {
  let step = itemMultiple;
  let widest = 0;
  for (const s of strides) {
    if (s === 0) continue;
    const bytes = s * 4;
    const q = align / gcd(bytes % align || align, align);
    step = (step * q) / gcd(step, q);
    widest = Math.max(widest, bytes);
  }
  return { step, widest };
}

/** Items per piece: the most that keeps every per-item binding ≤ limit with aligned starts; 0 when even one aligned step does not fit. */
export function itemsPerPiece(strides: readonly number[], limit: number, align: number, itemMultiple = 1): number {
  const { step, widest } = pieceStep(strides, align, itemMultiple);
  if (widest === 0) return Number.MAX_SAFE_INTEGER;
  return Math.floor(Math.floor(limit / widest) / step) * step;
}

/** Dispatch `d` in one piece when every binding fits, else in as many pieces as the binding limit needs. */
export function dispatchItems(dev: WebGpuDevice, d: ItemDispatch): void {
  const limit = dev.limits.maxStorageBufferBindingSize;
  const fits = d.buffers.every((b) => b.byteLength <= limit);
  if (fits || d.count === 0) {
    dev.dispatch({ label: d.label, code: d.code, ...(d.entryPoint ? { entryPoint: d.entryPoint } : {}), buffers: d.buffers, ...(d.params ? { params: d.params } : {}), workgroups: d.grid(d.count) });
    return;
  }
  const per = itemsPerPiece(d.strides, limit, dev.limits.minStorageBufferOffsetAlignment, d.itemMultiple);
  if (per < 1) {
    const { step, widest } = pieceStep(d.strides, dev.limits.minStorageBufferOffsetAlignment, d.itemMultiple);
    const what = widest > limit ? `one row of ${widest} bytes` : `the smallest aligned piece (${step} rows of ${widest} bytes)`;
    throw new DeviceLimitError(`${d.label}: ${what} does not fit this GPU's maxStorageBufferBindingSize ${limit}`);
  }
  for (let i = 0; i < d.buffers.length; i++) {
    if (d.strides[i] === 0 && d.buffers[i]!.byteLength > limit) {
      throw new DeviceLimitError(`${d.label}: binding ${i} is ${d.buffers[i]!.byteLength} bytes, over this GPU's maxStorageBufferBindingSize ${limit}, and cannot be cut`);
    }
  }
  const params = d.params ? toBytes(d.params) : null;
  for (let r0 = 0; r0 < d.count; r0 += per) {
    const n = Math.min(per, d.count - r0);
    const buffers: (Tensor | BufferRange)[] = d.buffers.map((t, i) => {
      const s = d.strides[i]!;
      return s === 0 ? t : { source: t, offset: r0 * s * 4, size: n * s * 4 };
    });
    let p: ArrayBuffer | undefined;
    if (params) {
      p = params.slice(0);
      new DataView(p).setUint32(0, n, true);
    }
    dev.dispatch({ label: d.label, code: d.code, ...(d.entryPoint ? { entryPoint: d.entryPoint } : {}), buffers, ...(p ? { params: p } : {}), workgroups: d.grid(n) });
  }
}

function toBytes(p: ArrayBuffer | ArrayBufferView): ArrayBuffer {
  if (p instanceof ArrayBuffer) return p;
  return p.buffer.slice(p.byteOffset, p.byteOffset + p.byteLength) as ArrayBuffer;
}
