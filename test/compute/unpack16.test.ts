// unpack16 / gather16: the CPU twins against io's independent bf16/f16 decoders on all 65,536 bit
// patterns, and the WGSL kernels against the twins bit for bit (odd sizes, subnormals, infinities).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { gather16, gather16Cpu, halfToF32, unpack16, unpack16Cpu, wordsFor, type Half } from '../../src/compute/ops/unpack16.js';
import { Rng } from '../../src/compute/random.js';
import { bf16ToNumber, f16ToNumber } from '../../src/io/dtypes.js';
import { openWebGpu } from '../../src/compute/webgpu/openGpu.js';
import { gpuOrSkip } from '../helpers/gpu.js';

const { gpu, skip } = await gpuOrSkip();
const KINDS: Half[] = ['bf16', 'f16'];
const isNaNPattern = (h: number, kind: Half) => (kind === 'bf16' ? (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0 : (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0);

/** Pack 16-bit patterns two to a word (low half first), padding an odd count. */
function pack(h: Uint16Array): Uint32Array {
  const even = new Uint16Array(h.length + (h.length % 2));
  even.set(h);
  return new Uint32Array(even.buffer);
}

/** Bits of f32 values, NaN compared as NaN. */
function sameBits(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, what);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]) && Number.isNaN(b[i])) continue;
    if (ua[i] !== ub[i]) assert.fail(`${what}: element ${i}: ${a[i]} (0x${ua[i]!.toString(16)}) vs ${b[i]} (0x${ub[i]!.toString(16)})`);
  }
}

test('halfToF32 agrees with io/dtypes on every bf16 and f16 bit pattern (signed zeros, subnormals, inf, NaN)', () => {
  for (const kind of KINDS) {
    const want = kind === 'bf16' ? bf16ToNumber : f16ToNumber;
    for (let h = 0; h < 65536; h++) {
      const got = halfToF32(h, kind);
      if (isNaNPattern(h, kind)) assert.ok(Number.isNaN(got), `${kind} 0x${h.toString(16)} is NaN`);
      else assert.ok(Object.is(got, want(h)), `${kind} 0x${h.toString(16)}: ${got} vs ${want(h)}`);
    }
  }
  assert.equal(halfToF32(0x0001, 'f16'), 2 ** -24, 'the smallest f16 subnormal');
  assert.equal(halfToF32(0x3f80, 'bf16'), 1);
});

test('unpack16 and gather16 CPU twins: element order within a word, odd counts, out-of-range ids throw', () => {
  const h = Uint16Array.from([0x3f80, 0x4000, 0xbf80]); // bf16 1, 2, -1
  const out = unpack16(cpu.fromArray(pack(h)), 'bf16', [3]);
  assert.deepEqual([...(out.data as Float32Array)], [1, 2, -1]);
  assert.throws(() => unpack16(cpu.fromArray(new Uint32Array(1)), 'bf16', [3]), /1 words do not hold the 3 elements/);
  // table [3, 3] (odd row length: rows straddle words)
  const table = Uint16Array.from({ length: 9 }, (_, i) => 0x3c00 + i); // f16 1, 1+2^-10, …
  const g = gather16(cpu.fromArray(pack(table)), 'f16', 3, 3, cpu.fromArray(Int32Array.of(2, 0)));
  assert.deepEqual(g.shape, [2, 3]);
  assert.deepEqual([...(g.data as Float32Array)], [6, 7, 8, 0, 1, 2].map((i) => f16ToNumber(0x3c00 + i)));
  assert.throws(() => gather16Cpu(pack(table), 3, 3, Int32Array.of(3), 'f16', new Float32Array(3)), /id 3 at position 0 is outside \[0, 3\)/);
});

test('unpack16 WGSL equals the CPU twin bit for bit: all 65,536 patterns, and odd lengths', { skip }, async () => {
  const dev = gpu!;
  for (const kind of KINDS) {
    for (const n of [65536, 65535, 1, 777]) {
      const h = Uint16Array.from({ length: n }, (_, i) => (n === 65536 || n === 65535 ? i : (i * 2654435761) >>> 16) & 0xffff);
      const words = pack(h);
      const want = new Float32Array(n);
      unpack16Cpu(words, kind, want);
      const got = unpack16(dev.fromArray(words, [wordsFor(n)]), kind, [n]);
      sameBits((await got.read()) as Float32Array, want, `${kind} n=${n}`);
      got.dispose();
    }
  }
});

test('gather16 WGSL equals the CPU twin: odd and even rows, repeated ids; out-of-range ids give zeros on the GPU', { skip }, async () => {
  const dev = gpu!;
  const rng = new Rng(5);
  for (const kind of KINDS) {
    for (const [V, d, N] of [[13, 7, 40], [50, 64, 9], [3, 1, 5]] as const) {
      const table = Uint16Array.from({ length: V * d }, () => {
        const h = rng.int(65536);
        return isNaNPattern(h, kind) ? 0 : h;
      });
      const ids = Int32Array.from({ length: N }, () => rng.int(V));
      const words = pack(table);
      const want = new Float32Array(N * d);
      gather16Cpu(words, V, d, ids, kind, want);
      const got = gather16(dev.fromArray(words), kind, V, d, dev.fromArray(ids, [N]));
      assert.deepEqual(got.shape, [N, d]);
      sameBits((await got.read()) as Float32Array, want, `${kind} [${V}, ${d}] × ${N}`);
    }
    const bad = gather16(dev.fromArray(pack(Uint16Array.of(0x3c00, 0x3c00))), kind, 1, 2, dev.fromArray(Int32Array.of(-1, 1, 0)));
    const v = (await bad.read()) as Float32Array;
    assert.deepEqual([...v.subarray(0, 4)], [0, 0, 0, 0]);
    assert.notEqual(v[4], 0);
  }
});

test('unpack16 and gather16 over a 64 KiB storage binding run in pieces, equal to the CPU twins', { skip }, async () => {
  const opened = await openWebGpu({ maxStorageBufferBindingSize: 64 * 1024 });
  assert.ok(opened.ok);
  const dev = opened.device;
  try {
    const rng = new Rng(9);
    const n = 100_000; // 200 kB of halves, 400 kB widened: both over the binding
    const h = Uint16Array.from({ length: n }, () => rng.int(0x7f00)); // finite, positive
    const words = pack(h);
    const want = new Float32Array(n);
    unpack16Cpu(words, 'bf16', want);
    sameBits((await unpack16(dev.fromArray(words), 'bf16', [n]).read()) as Float32Array, want, 'unpack16 in pieces');
    const [V, d] = [1000, 64]; // 128 kB table
    const ids = Int32Array.from({ length: 50 }, () => rng.int(V));
    const g = new Float32Array(50 * d);
    gather16Cpu(words.subarray(0, (V * d) / 2), V, d, ids, 'f16', g);
    sameBits((await gather16(dev.fromArray(words.slice(0, (V * d) / 2)), 'f16', V, d, dev.fromArray(ids)).read()) as Float32Array, g, 'gather16 in pieces');
  } finally {
    dev.destroy();
  }
});
