import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../src/compute/random.js';
import {
  bf16ToF32Array,
  bf16ToNumber,
  decodeToF32,
  f16BitsToF32Bits,
  f16ToF32Array,
  f16ToNumber,
  f32Bits,
  f32BitsToBf16Bits,
  f32FromBits,
  f32ToBf16Array,
  f32ToF16Array,
  numberToBf16,
  numberToF16,
} from '../../src/io/dtypes.js';

/** An independent f16 decoder, straight from the IEEE definition. */
function f16Reference(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  if (e === 0) return s * m * 2 ** -24;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

const isF16NaN = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
const isBf16NaN = (b: number) => (b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0;
const nextUp = (x: number) => f32FromBits(f32Bits(x) + 1); // for positive finite x
const nextDown = (x: number) => f32FromBits(f32Bits(x) - 1);

test('f16 -> f32 is exact for all 65536 patterns', () => {
  for (let h = 0; h < 65536; h++) {
    const got = f16ToNumber(h);
    const want = f16Reference(h);
    if (Number.isNaN(want)) assert.ok(Number.isNaN(got), `h=${h.toString(16)}`);
    else assert.ok(Object.is(got, want), `h=0x${h.toString(16)}: ${got} vs ${want}`);
  }
  // The bulk (table) path agrees with the scalar one, NaN payloads included.
  const all = new Uint16Array(65536).map((_, i) => i);
  const bits = new Uint32Array(f16ToF32Array(all).buffer);
  for (let h = 0; h < 65536; h++) assert.equal(bits[h], f16BitsToF32Bits(h));
});

test('f32 -> f16 round-trips every f16 value and keeps NaN a NaN', () => {
  for (let h = 0; h < 65536; h++) {
    const back = numberToF16(f16ToNumber(h));
    if (isF16NaN(h)) assert.ok(isF16NaN(back), `NaN 0x${h.toString(16)} -> 0x${back.toString(16)}`);
    else assert.equal(back, h, `0x${h.toString(16)}`);
  }
});

test('f32 -> f16 rounds to nearest, ties to even, at every midpoint (normals and subnormals)', () => {
  for (let h = 0; h < 0x7bff; h++) {
    const a = f16Reference(h);
    const b = f16Reference(h + 1);
    const mid = (a + b) / 2; // 12 significant bits: exact in f32
    assert.equal(Math.fround(mid), mid);
    const even = h % 2 === 0 ? h : h + 1;
    assert.equal(numberToF16(mid), even, `tie between 0x${h.toString(16)} and 0x${(h + 1).toString(16)}`);
    assert.equal(numberToF16(-mid), even | 0x8000, 'negative tie');
    assert.equal(numberToF16(nextUp(mid)), h + 1, 'just above the tie');
    if (mid > 0) assert.equal(numberToF16(nextDown(mid)), h, 'just below the tie');
  }
});

test('f32 -> f16 edge cases: zeros, subnormals, overflow, inf, NaN', () => {
  assert.equal(numberToF16(0), 0x0000);
  assert.equal(numberToF16(-0), 0x8000);
  assert.equal(numberToF16(1), 0x3c00);
  assert.equal(numberToF16(-2), 0xc000);
  assert.equal(numberToF16(65504), 0x7bff); // max finite
  assert.equal(numberToF16(nextDown(65520)), 0x7bff);
  assert.equal(numberToF16(65520), 0x7c00); // tie between max and 2^16 goes to even: inf
  assert.equal(numberToF16(1e10), 0x7c00);
  assert.equal(numberToF16(Infinity), 0x7c00);
  assert.equal(numberToF16(-Infinity), 0xfc00);
  assert.ok(isF16NaN(numberToF16(NaN)));
  assert.ok(isF16NaN(f32BitsToF16(0x7f800001)), 'signalling NaN with low payload stays NaN');
  assert.equal(numberToF16(2 ** -14), 0x0400); // smallest normal
  assert.equal(numberToF16(2 ** -24), 0x0001); // smallest subnormal
  assert.equal(numberToF16(1023 * 2 ** -24), 0x03ff); // largest subnormal
  assert.equal(numberToF16(2 ** -25), 0x0000); // tie with 0: even
  assert.equal(numberToF16(nextUp(2 ** -25)), 0x0001);
  assert.equal(numberToF16(-(2 ** -25)), 0x8000);
  assert.equal(numberToF16(3 * 2 ** -25), 0x0002); // tie between 1 and 2: even
  assert.equal(numberToF16(2 ** -26), 0x0000);
  assert.equal(numberToF16(f32FromBits(1)), 0x0000); // f32 subnormal
  assert.equal(numberToF16(1 + 2 ** -11), 0x3c00); // tie, even is 1.0
  assert.equal(numberToF16(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(numberToF16((2047 / 1024) * 2 ** -15), 0x0400, 'rounding up out of the subnormals');
});

function f32BitsToF16(bits: number): number {
  return numberToF16(f32FromBits(bits));
}

test('bf16: every pattern round-trips; random f32 round to nearest even (independent reference)', () => {
  for (let b = 0; b < 65536; b++) {
    const back = numberToBf16(bf16ToNumber(b));
    if (isBf16NaN(b)) assert.ok(isBf16NaN(back));
    else assert.equal(back, b, `0x${b.toString(16)}`);
  }
  const rng = new Rng(7);
  const valueOf = (bits: number) => ((bits & 0x7fffffff) === 0x7f800000 ? Math.sign(f32FromBits(bits)) * 2 ** 128 : f32FromBits(bits));
  for (let i = 0; i < 100_000; i++) {
    const x = rng.nextU32();
    const got = f32BitsToBf16Bits(x);
    const v = f32FromBits(x);
    if (Number.isNaN(v)) {
      assert.ok(isBf16NaN(got), `NaN 0x${x.toString(16)}`);
      continue;
    }
    const lo = (x & 0xffff0000) >>> 0;
    if (lo === x) {
      assert.equal(got, x >>> 16);
      continue;
    }
    const hi = lo + 0x10000; // next magnitude up (same sign)
    const dLo = Math.abs(v - valueOf(lo));
    const dHi = Math.abs(valueOf(hi) - v);
    const want = dLo < dHi ? lo >>> 16 : dHi < dLo ? hi >>> 16 : (lo >>> 16) % 2 === 0 ? lo >>> 16 : hi >>> 16;
    assert.equal(got, want, `x=0x${x.toString(16)}`);
  }
});

test('bf16 edge cases', () => {
  assert.equal(numberToBf16(0), 0x0000);
  assert.equal(numberToBf16(-0), 0x8000);
  assert.equal(numberToBf16(1), 0x3f80);
  assert.equal(numberToBf16(1 + 2 ** -8), 0x3f80); // tie, even
  assert.equal(numberToBf16(1 + 3 * 2 ** -8), 0x3f82); // tie, even
  assert.equal(f32BitsToBf16Bits(0x7f7fffff), 0x7f80); // f32 max rounds to inf
  assert.equal(f32BitsToBf16Bits(0x7f7f7fff), 0x7f7f);
  assert.equal(numberToBf16(Infinity), 0x7f80);
  assert.equal(numberToBf16(-Infinity), 0xff80);
  assert.equal(f32BitsToBf16Bits(0x7fc00000), 0x7fc0);
  assert.ok(isBf16NaN(f32BitsToBf16Bits(0x7f800001)), 'low-payload NaN must not truncate to inf');
  assert.ok(isBf16NaN(f32BitsToBf16Bits(0xff800001)));
  assert.equal(f32BitsToBf16Bits(0x00000001), 0x0000); // f32 subnormal
  assert.equal(f32BitsToBf16Bits(0x00008000), 0x0000); // tie, even
  assert.equal(f32BitsToBf16Bits(0x00018000), 0x0002); // tie, even
  assert.equal(bf16ToNumber(0x0001), 2 ** -133); // bf16 subnormal decodes exactly
});

test('bulk f32 -> f16/bf16 agree with the scalar conversions', () => {
  const rng = new Rng(3);
  const src = new Float32Array(5000);
  const bits = new Uint32Array(src.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = rng.nextU32();
  src.set([0, -0, Infinity, -Infinity, NaN, 65520, 1e-8]);
  const h = f32ToF16Array(src);
  const b = f32ToBf16Array(src);
  for (let i = 0; i < src.length; i++) {
    assert.equal(h[i], f32BitsToF16(bits[i]!), `f16 ${i}`);
    assert.equal(b[i], f32BitsToBf16Bits(bits[i]!), `bf16 ${i}`);
  }
  assert.deepEqual([...bf16ToF32Array(new Uint16Array([0x3f80, 0xc000]))], [1, -2]);
});

test('decodeToF32 for every dtype (little-endian bytes)', () => {
  const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const dec = (dtype: Parameters<typeof decodeToF32>[0], a: ArrayBufferView, n: number) => {
    const out = new Float32Array(n + 1).fill(99);
    decodeToF32(dtype, bytes(a), out, 1); // at offset 1: the rest is left alone
    assert.equal(out[0], 99);
    return [...out.subarray(1)];
  };
  assert.deepEqual(dec('F64', new Float64Array([1.5, -1e300, 1e-50]), 3), [1.5, -Infinity, 0]);
  assert.deepEqual(dec('F32', new Float32Array([1.5, -2]), 2), [1.5, -2]);
  assert.deepEqual(dec('F16', new Uint16Array([0x3c00, 0xfc00, 0x0001]), 3), [1, -Infinity, 2 ** -24]);
  assert.deepEqual(dec('BF16', new Uint16Array([0x3f80, 0x4049]), 2), [1, 3.140625]);
  assert.deepEqual(dec('I64', new BigInt64Array([-1n, 2n ** 40n + 3n, -(2n ** 62n)]), 3), [-1, Math.fround(2 ** 40 + 3), -(2 ** 62)]);
  assert.deepEqual(dec('U64', new BigUint64Array([2n ** 64n - 1n, 5n]), 2), [2 ** 64, 5]);
  assert.deepEqual(dec('I32', new Int32Array([-2147483648, 16777217]), 2), [-2147483648, 16777216]);
  assert.deepEqual(dec('U32', new Uint32Array([4294967295]), 1), [4294967296]);
  assert.deepEqual(dec('I16', new Int16Array([-32768, 7]), 2), [-32768, 7]);
  assert.deepEqual(dec('U16', new Uint16Array([65535]), 1), [65535]);
  assert.deepEqual(dec('I8', new Int8Array([-128, 127]), 2), [-128, 127]);
  assert.deepEqual(dec('U8', new Uint8Array([0, 255]), 2), [0, 255]);
  assert.deepEqual(dec('BOOL', new Uint8Array([1, 0]), 2), [1, 0]);
  // Unaligned source bytes are copied, not misread.
  const buf = new Uint8Array(9);
  new DataView(buf.buffer).setFloat32(1, 2.5, true);
  new DataView(buf.buffer).setFloat32(5, -1, true);
  const out = new Float32Array(2);
  decodeToF32('F32', buf.subarray(1), out);
  assert.deepEqual([...out], [2.5, -1]);
});
