// Storage buffers are expensive to create; tensors come and go every step. The pool keeps
// released buffers by size class and hands them out again (contents unspecified).

import { BufferUsage } from './gpuConstants.js';

const USAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;

/** Size class: small sizes round to 256 B, large ones to 1/16 of their power of two (≤ 6.25% waste). */
export function sizeClass(bytes: number): number {
  const b = Math.max(16, bytes);
  if (b <= 4096) return Math.ceil(b / 256) * 256;
  const step = 2 ** Math.floor(Math.log2(b)) / 16;
  return Math.ceil(b / step) * step;
}

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  private readonly live = new Set<GPUBuffer>();
  private freeBytes = 0;
  private liveBytes = 0;

  constructor(private readonly gpu: GPUDevice) {}

  /** A buffer of at least `bytes` bytes. */
  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.free.get(size);
    let buf = list?.pop();
    if (buf) this.freeBytes -= size;
    else buf = this.gpu.createBuffer({ size, usage: USAGE });
    this.live.add(buf);
    this.liveBytes += size;
    return buf;
  }

  /** Give a buffer back; later acquisitions may reuse it (GPU work is queue-ordered, so this is safe). */
  release(buf: GPUBuffer): void {
    if (!this.live.delete(buf)) return;
    this.liveBytes -= buf.size;
    this.freeBytes += buf.size;
    let list = this.free.get(buf.size);
    if (!list) this.free.set(buf.size, (list = []));
    list.push(buf);
  }

  /** Destroy every free buffer. */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.freeBytes = 0;
  }

  destroyAll(): void {
    this.trim();
    for (const b of this.live) b.destroy();
    this.live.clear();
    this.liveBytes = 0;
  }

  stats(): { liveBytes: number; freeBytes: number } {
    return { liveBytes: this.liveBytes, freeBytes: this.freeBytes };
  }
}
