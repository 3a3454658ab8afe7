import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Rng } from '../../src/compute/random.js';
import { DTYPE_SIZE, numberToBf16, numberToF16, type Dtype, type TypedData } from '../../src/io/dtypes.js';
import { readSafetensorsBuffer, SafetensorsError, SafetensorsFile } from '../../src/io/safetensors.js';
import { serializeSafetensors, writeSafetensors, type TensorToWrite } from '../../src/io/safetensorsWrite.js';
import { ASSETS, needsAsset, tempDir } from './assets.js';

const ascii = (s: string) => [...Buffer.from(s, 'latin1')];
const u64 = (n: number | bigint) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return [...b];
};

/** A file from a header string (padded or not as given) and data bytes; `n` overrides the length field. */
function fileOf(header: string, data: ArrayLike<number> = [], n?: number | bigint): Uint8Array {
  const h = Buffer.from(header, 'utf8');
  return new Uint8Array([...u64(n ?? h.length), ...h, ...Array.from(data)]);
}

/** Assert `fn` throws a one-line SafetensorsError naming `file` whose problem matches `re`. */
function assertBad(fn: () => unknown, re: RegExp, file = '<buffer>'): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SafetensorsError, `expected SafetensorsError, got ${String(e)}`);
    assert.equal(e.file, file);
    assert.match(e.problem, re);
    assert.ok(e.message.startsWith(`${file}: `) && !e.message.includes('\n'), e.message);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// Hand-made byte vectors.

test('hand-made bytes: one F32 tensor [1,2,3] (the reference crate\'s own test vector)', () => {
  const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
  assert.equal(header.length, 64); // already a multiple of 8: no padding
  const bytes = new Uint8Array([
    64, 0, 0, 0, 0, 0, 0, 0, ...ascii(header),
    0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
  ]);
  const f = readSafetensorsBuffer(bytes);
  assert.deepEqual(f.names(), ['attn.0']);
  assert.deepEqual(f.info('attn.0'), { dtype: 'F32', shape: [1, 2, 3], numel: 6, byteOffset: 72, byteLength: 24, dataOffsets: [0, 24] });
  assert.deepEqual([...f.readF32('attn.0')], [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(f.metadata, {});
  // And our writer produces exactly these bytes.
  const out = serializeSafetensors({ 'attn.0': { dtype: 'F32', shape: [1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) } });
  assert.deepEqual([...out], [...bytes]);
});

test('hand-made bytes: empty file, with and without metadata, padded with spaces', () => {
  const empty = serializeSafetensors({});
  assert.deepEqual([...empty], [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
  assert.deepEqual(readSafetensorsBuffer(empty).names(), []);
  const withMeta = serializeSafetensors({}, { framework: 'pt' });
  assert.deepEqual([...withMeta], [40, 0, 0, 0, 0, 0, 0, 0, ...ascii('{"__metadata__":{"framework":"pt"}}'), 32, 32, 32, 32, 32]);
  assert.deepEqual(readSafetensorsBuffer(withMeta).metadata, { framework: 'pt' });
});

test('hand-made bytes: I64, BF16 and BOOL, entries out of offset order, unpadded header', () => {
  const header =
    '{"m":{"dtype":"BOOL","shape":[2,1],"data_offsets":[12,14]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},' +
    '"i":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"__metadata__":{"k":"v"}}';
  assert.equal(header.length, 191);
  const bytes = new Uint8Array([
    191, 0, 0, 0, 0, 0, 0, 0, ...ascii(header),
    0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // I64 -2
    0x80, 0x3f, 0x00, 0xc0, // BF16 1.0, -2.0
    1, 0, // BOOL true, false
  ]);
  const f = readSafetensorsBuffer(bytes, 'hand.safetensors');
  assert.deepEqual(f.names(), ['b', 'i', 'm']);
  assert.deepEqual(f.metadata, { k: 'v' });
  assert.deepEqual(f.readTyped('i'), new BigInt64Array([-2n]));
  assert.deepEqual(f.info('i').shape, []);
  assert.equal(f.info('i').numel, 1);
  assert.deepEqual(f.readTyped('b'), new Uint16Array([0x3f80, 0xc000]));
  assert.deepEqual([...f.readF32('b')], [1, -2]);
  assert.deepEqual([...f.readF32('i')], [-2]);
  assert.deepEqual(f.readTyped('m'), new Uint8Array([1, 0]));
  assert.equal(f.info('b').byteOffset, 8 + 191 + 8); // unaligned in the buffer: reads still correct
  assertBad(() => f.info('nope'), /no tensor named "nope" \(it has 3: "b", "i", "m"\)/, 'hand.safetensors');
});

test('valid corner cases: zero-size tensors sharing an offset, extra entry fields, a "__proto__" tensor', () => {
  const header =
    '{"z1":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},"z2":{"dtype":"I64","shape":[5,0],"data_offsets":[0,0]},' +
    '"__proto__":{"dtype":"U8","shape":[2],"data_offsets":[0,2],"extra":true}}';
  const f = readSafetensorsBuffer(fileOf(header, [7, 9]));
  assert.deepEqual(f.names(), ['__proto__', 'z1', 'z2']);
  assert.equal(f.readF32('z1').length, 0);
  assert.equal((f.readTyped('z2') as BigInt64Array).length, 0);
  assert.deepEqual(f.readTyped('__proto__'), new Uint8Array([7, 9]));
  assert.deepEqual(readSafetensorsBuffer(fileOf('{"__metadata__":null}')).metadata, {});
});

// ---------------------------------------------------------------------------------------------
// Validation: every kind of malformed file is a SafetensorsError that says what is wrong.

const T = (dtype: string, shape: unknown, offsets: unknown) => `{"dtype":${JSON.stringify(dtype)},"shape":${JSON.stringify(shape)},"data_offsets":${JSON.stringify(offsets)}}`;

test('malformed length field: too short, absurd, negative, past the end', () => {
  assertBad(() => readSafetensorsBuffer(new Uint8Array(0)), /0 bytes, too short/);
  assertBad(() => readSafetensorsBuffer(new Uint8Array(5)), /5 bytes, too short/);
  assertBad(() => readSafetensorsBuffer(fileOf('{}', [], 100_000_001)), /header length 100000001 is over the 100000000-byte limit/);
  assertBad(() => readSafetensorsBuffer(fileOf('{}', [], 2n ** 64n - 8n)), /-8 as a signed integer/);
  assertBad(() => readSafetensorsBuffer(fileOf('{}', [], 2n ** 32n)), /over the 100000000-byte limit/);
  assertBad(() => readSafetensorsBuffer(fileOf('{}', [], 3)), /header length 3 is larger than the 2 bytes/);
});

test('malformed header text: not UTF-8, not JSON, not an object', () => {
  assertBad(() => readSafetensorsBuffer(new Uint8Array([...u64(3), 0x7b, 0xff, 0x7d])), /not valid UTF-8/);
  assertBad(() => readSafetensorsBuffer(fileOf('{"a":')), /not valid JSON/);
  assertBad(() => readSafetensorsBuffer(fileOf('[]')), /does not start with '\{'/);
  assertBad(() => readSafetensorsBuffer(fileOf(' {}')), /does not start with '\{'/);
  assertBad(() => readSafetensorsBuffer(fileOf('')), /does not start with/);
  assertBad(() => readSafetensorsBuffer(fileOf('{} x')), /not valid JSON/);
});

test('malformed entries: missing fields, wrong types, unknown dtype, bad shape or offsets', () => {
  const one = (entry: string, data: number[] = [0, 0, 0, 0]) => () => readSafetensorsBuffer(fileOf(`{"t":${entry}}`, data));
  assertBad(one('5'), /tensor "t": entry is 5, not an object/);
  assertBad(one('[1]'), /entry is an array/);
  assertBad(one('{"shape":[1],"data_offsets":[0,4]}'), /missing "dtype"/);
  assertBad(one('{"dtype":"F32","data_offsets":[0,4]}'), /missing "shape"/);
  assertBad(one('{"dtype":"F32","shape":[1]}'), /missing "data_offsets"/);
  assertBad(one(T('F17', [1], [0, 4])), /unknown dtype "F17"/);
  assertBad(one(T('F8_E4M3', [4], [0, 4])), /dtype F8_E4M3 is not supported/);
  assertBad(one('{"dtype":4,"shape":[1],"data_offsets":[0,4]}'), /dtype is 4, not a string/);
  assertBad(one(T('F32', [-1], [0, 4])), /dimension -1, not a non-negative integer/);
  assertBad(one(T('F32', [1.5], [0, 4])), /dimension 1.5/);
  assertBad(one(T('F32', ['1'], [0, 4])), /dimension the string "1"/);
  assertBad(one(T('F32', 1, [0, 4])), /shape is 1, not an array/);
  assertBad(one(T('F32', [2 ** 30, 2 ** 30, 2 ** 30], [0, 4])), /too many elements/);
  assertBad(one(T('F32', [1], [0])), /data_offsets is an array, not \[begin, end\]/);
  assertBad(one(T('F32', [1], [0, -4])), /data_offsets has -4/);
  assertBad(one(T('F32', [1], [4, 0])), /end before they begin/);
  assertBad(one('{"dtype":"F32","shape":[1],"data_offsets":[0,1e400]}'), /data_offsets has Infinity/);
  assertBad(one(T('F32', [1], [0, 18446744073709552000])), /not a non-negative integer/);
  assertBad(one(T('F32', [3], [0, 4])), /dtype F32 with shape \[3\] needs 12 bytes but data_offsets \[0, 4\] hold 4/);
  assertBad(one(T('F16', [1], [0, 4])), /needs 2 bytes/);
  assertBad(one(T('F32', [1], [0, 4]), [0, 0]), /run past the end of the 2-byte data buffer \(truncated file\?\)/);
});

test('malformed layout: overlap, hole, trailing bytes, duplicate names', () => {
  const two = (a: string, b: string, n: number) => () => readSafetensorsBuffer(fileOf(`{"a":${a},"b":${b}}`, new Array(n).fill(0)));
  assertBad(two(T('F32', [2], [0, 8]), T('F32', [2], [4, 12]), 12), /tensor "b": data_offsets \[4, 12\] overlap tensor "a", which ends at 8/);
  assertBad(two(T('F32', [1], [0, 4]), T('F32', [1], [8, 12]), 12), /4-byte hole at offset 4, before tensor "b"/);
  assertBad(two(T('F32', [1], [4, 8]), T('F32', [1], [4, 8]), 8), /hole at offset 0/);
  assertBad(two(T('F32', [1], [0, 4]), T('F32', [1], [4, 8]), 9), /1 trailing bytes belong to no tensor/);
  assertBad(() => readSafetensorsBuffer(fileOf('{}', [1, 2])), /2 trailing bytes/);
  // JSON.parse keeps the last of two equal keys; the first's bytes become a hole.
  assertBad(() => readSafetensorsBuffer(fileOf(`{"a":${T('U8', [1], [0, 1])},"a":${T('U8', [1], [1, 2])}}`, [0, 0])), /hole/);
});

test('malformed metadata: not an object, a non-string value', () => {
  assertBad(() => readSafetensorsBuffer(fileOf('{"__metadata__":[]}')), /__metadata__ is not a JSON object/);
  assertBad(() => readSafetensorsBuffer(fileOf('{"__metadata__":"x"}')), /__metadata__ is not a JSON object/);
  assertBad(() => readSafetensorsBuffer(fileOf('{"__metadata__":{"a":"b","n":1}}')), /__metadata__ "n": value is 1, not a string/);
  assertBad(() => readSafetensorsBuffer(fileOf('{"__metadata__":{"a":{}}}')), /value is an object/);
});

test('names with newlines stay on one line in messages', () => {
  assertBad(() => readSafetensorsBuffer(fileOf(`{"a\\nb":${T('F32', [1], [0, 4])}}`)), /tensor "a\\nb": data_offsets/);
});

test('SafetensorsFile: bad files on disk, missing file, a directory, closed file', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const good = serializeSafetensors({ x: { dtype: 'F32', shape: [4], data: new Float32Array([1, 2, 3, 4]) } });
    const cases: [string, Uint8Array, RegExp][] = [
      ['empty', new Uint8Array(0), /too short/],
      ['truncated-data', good.subarray(0, good.length - 1), /run past the end.*truncated/],
      ['truncated-header', good.subarray(0, 20), /header length \d+ is larger than the 12 bytes/],
      ['extended', new Uint8Array([...good, 0]), /1 trailing bytes/],
    ];
    for (const [name, bytes, re] of cases) {
      const p = join(dir, name);
      writeFileSync(p, bytes);
      await assert.rejects(SafetensorsFile.open(p), (e: unknown) => e instanceof SafetensorsError && e.file === p && re.test(e.problem));
    }
    await assert.rejects(SafetensorsFile.open(join(dir, 'missing')), (e: unknown) => e instanceof SafetensorsError && /cannot open: ENOENT/.test(e.problem));
    await assert.rejects(SafetensorsFile.open(dir), (e: unknown) => e instanceof SafetensorsError && /not a regular file|EISDIR/.test(e.problem));

    const p = join(dir, 'good');
    writeFileSync(p, good);
    const f = await SafetensorsFile.open(p);
    assert.deepEqual([...(await f.readF32('x'))], [1, 2, 3, 4]);
    // The file shrinks behind our back: a clean error, not a short array.
    writeFileSync(p, good.subarray(0, good.length - 8));
    await assert.rejects(f.readRaw('x'), (e: unknown) => e instanceof SafetensorsError && /file ended at byte/.test(e.problem));
    await f.close();
    await f.close();
    await assert.rejects(f.readF32('x'), (e: unknown) => e instanceof SafetensorsError && /closed/.test(e.problem));
  } finally {
    cleanup();
  }
});

// ---------------------------------------------------------------------------------------------
// Round trips through files.

/** Random data of the right typed-array kind for a dtype. */
function randomData(dtype: Dtype, n: number, rng: Rng): TypedData {
  const u32 = () => rng.nextU32();
  switch (dtype) {
    case 'F64': return Float64Array.from({ length: n }, () => rng.normal() * 1e3);
    case 'F32': return rng.normalArray(n);
    case 'F16': case 'BF16': case 'U16': return Uint16Array.from({ length: n }, () => u32() & 0xffff);
    case 'I64': return BigInt64Array.from({ length: n }, () => BigInt.asIntN(64, (BigInt(u32()) << 32n) | BigInt(u32())));
    case 'U64': return BigUint64Array.from({ length: n }, () => (BigInt(u32()) << 32n) | BigInt(u32()));
    case 'I32': return Int32Array.from({ length: n }, () => u32() | 0);
    case 'U32': return Uint32Array.from({ length: n }, u32);
    case 'I16': return Int16Array.from({ length: n }, () => (u32() << 16) >> 16);
    case 'I8': return Int8Array.from({ length: n }, () => (u32() << 24) >> 24);
    case 'U8': return Uint8Array.from({ length: n }, () => u32() & 0xff);
    case 'BOOL': return Uint8Array.from({ length: n }, () => u32() & 1);
  }
}

const ALL_DTYPES = Object.keys(DTYPE_SIZE) as Dtype[];

test('round trip: every dtype through writeSafetensors and SafetensorsFile, aligned layout', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const rng = new Rng(11);
    const tensors: Record<string, TensorToWrite> = {};
    const shapes: number[][] = [[3, 5], [7], [], [0, 4], [2, 1, 3]];
    ALL_DTYPES.forEach((dtype, i) => {
      const shape = shapes[i % shapes.length]!;
      tensors[`t.${dtype.toLowerCase()}`] = { dtype, shape, data: randomData(dtype, shape.reduce((a, b) => a * b, 1), rng) };
    });
    const path = join(dir, 'all.safetensors');
    await writeSafetensors(path, tensors, { format: 'pt', note: 'ünïcode ✓' });
    assert.deepEqual(readdirSync(dir), ['all.safetensors'], 'no temp files left');
    const f = await SafetensorsFile.open(path);
    try {
      assert.deepEqual(f.names(), Object.keys(tensors).sort());
      assert.deepEqual(f.metadata, { format: 'pt', note: 'ünïcode ✓' });
      for (const [name, t] of Object.entries(tensors)) {
        const info = f.info(name);
        assert.equal(info.dtype, t.dtype);
        assert.deepEqual(info.shape, t.shape);
        assert.equal(info.byteOffset % DTYPE_SIZE[t.dtype], 0, `${name} naturally aligned`);
        assert.deepEqual(await f.readTyped(name), t.data, name);
        const f32 = await f.readF32(name);
        assert.equal(f32.length, info.numel);
      }
      // Integer and float conversions to f32 are the obvious ones.
      const i32 = tensors['t.i32']!.data as Int32Array;
      assert.deepEqual([...(await f.readF32('t.i32'))], [...i32].map(Math.fround));
      const f64 = tensors['t.f64']!.data as Float64Array;
      assert.deepEqual([...(await f.readF32('t.f64'))], [...f64].map(Math.fround));
    } finally {
      await f.close();
    }
    // The in-memory reader and serializer agree with the file path byte for byte.
    const bytes = readFileSync(path);
    assert.deepEqual(new Uint8Array(bytes), serializeSafetensors(tensors, { note: 'ünïcode ✓', format: 'pt' }));
    const b = readSafetensorsBuffer(bytes, path);
    assert.deepEqual(b.readTyped('t.u64'), tensors['t.u64']!.data);
  } finally {
    cleanup();
  }
});

test('round trip: f32 data written as F16 and BF16 rounds to nearest even; raw bytes pass through', () => {
  const src = new Float32Array([0, -0, 1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 65520, -1e10, 2 ** -25, 3 * 2 ** -25, 1 + 2 ** -8, Infinity, NaN, 3.14159]);
  const bytes = serializeSafetensors({
    h: { dtype: 'F16', shape: [src.length], data: src },
    b: { dtype: 'BF16', shape: [src.length], data: src },
    r: { dtype: 'I32', shape: [2], raw: new Uint8Array([1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]) },
  });
  const f = readSafetensorsBuffer(bytes);
  assert.deepEqual(f.readTyped('h'), Uint16Array.from(src, numberToF16));
  assert.deepEqual(f.readTyped('b'), Uint16Array.from(src, numberToBf16));
  const h = f.readF32('h');
  assert.ok(Object.is(h[1], -0));
  assert.deepEqual([...h.subarray(2, 10)], [1, 1, 1 + 2 ** -9, Infinity, -Infinity, 0, 2 ** -23, 1 + 2 ** -8]);
  assert.ok(Number.isNaN(h[11]));
  const b = f.readF32('b');
  assert.deepEqual([...b.subarray(9, 11)], [1, Infinity]);
  assert.ok(Number.isNaN(b[11]));
  assert.deepEqual(f.readTyped('r'), new Int32Array([1, -1]));
});

test('writeSafetensors rejects bad input with SafetensorsError and leaves the target untouched', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = join(dir, 'out.safetensors');
    writeFileSync(path, 'old contents');
    const bad: [Record<string, unknown>, RegExp, Record<string, unknown>?][] = [
      [{ x: { dtype: 'F32', shape: [2], data: new Float64Array(2) } }, /dtype F32 needs data as Float32Array, got Float64Array/],
      [{ x: { dtype: 'F16', shape: [2], data: new Int32Array(2) } }, /Uint16Array \(bits\) or Float32Array/],
      [{ x: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }, /data has 2 elements, shape \[3\] needs 3/],
      [{ x: { dtype: 'F32', shape: [-1], data: new Float32Array(2) } }, /non-negative integers/],
      [{ x: { dtype: 'Q4', shape: [1], data: new Float32Array(1) } }, /unknown dtype "Q4"/],
      [{ __metadata__: { dtype: 'F32', shape: [1], data: new Float32Array(1) } }, /may not be named "__metadata__"/],
      [{ x: { dtype: 'I32', shape: [1], raw: new Uint8Array(3) } }, /raw has 3 bytes.*needs 4/],
      [{}, /metadata "n": value is not a string/, { n: 1 }],
    ];
    for (const [tensors, re, meta] of bad) {
      await assert.rejects(
        writeSafetensors(path, tensors as Record<string, TensorToWrite>, meta as Record<string, string>),
        (e: unknown) => e instanceof SafetensorsError && e.file === path && re.test(e.problem),
        String(re),
      );
    }
    // A failure in the middle of streaming (BOOL tensors are laid out last) removes the temp file.
    await assert.rejects(
      writeSafetensors(path, {
        big: { dtype: 'F32', shape: [1000], data: new Float32Array(1000) },
        flag: { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 2]) },
      }),
      (e: unknown) => e instanceof SafetensorsError && /BOOL data has 2 at index 2/.test(e.problem),
    );
    assert.equal(readFileSync(path, 'utf8'), 'old contents');
    assert.deepEqual(readdirSync(dir), ['out.safetensors']);
  } finally {
    cleanup();
  }
});

// ---------------------------------------------------------------------------------------------
// Real files from the reference writer (Python safetensors via transformers).

const FIXTURES = ['gpt2-tiny-random', 'gpt2-rm-tiny-random', 'llama-tiny-random', 'pythia-tiny-random'];

test('real fixtures: model and golden files read, match config and golden.json, and re-serialize byte-identically', { skip: needsAsset('fixtures') }, async () => {
  for (const name of FIXTURES) {
    const dir = join(ASSETS, 'fixtures', name);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, number>;
    const golden = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as { keys: Record<string, number[]> };
    for (const file of ['model.safetensors', 'golden.safetensors']) {
      const path = join(dir, file);
      const f = await SafetensorsFile.open(path);
      try {
        const copy: Record<string, TensorToWrite> = {};
        for (const n of f.names()) {
          const info = f.info(n);
          const raw = await f.readRaw(n);
          const vals = await f.readF32(n);
          assert.equal(vals.length, info.numel);
          if (info.dtype === 'F32') assert.ok(vals.every(Number.isFinite), `${name}/${file} ${n} finite`);
          copy[n] = { dtype: info.dtype, shape: info.shape, raw };
        }
        if (file === 'golden.safetensors') {
          assert.deepEqual(Object.fromEntries(f.names().map((n) => [n, [...f.info(n).shape]])), Object.fromEntries(Object.entries(golden.keys).sort()));
        } else {
          const hidden = config['n_embd'] ?? config['hidden_size'];
          const vocab = config['vocab_size'];
          const emb = f.names().find((n) => /(wte|embed_tokens|embed_in)\.weight$/.test(n));
          assert.ok(emb, `${name}: embedding found`);
          assert.deepEqual(f.info(emb).shape, [vocab, hidden]);
          assert.equal(f.metadata['format'], 'pt');
        }
        const meta = Object.keys(f.metadata).length > 0 ? f.metadata : undefined;
        assert.ok(Buffer.from(serializeSafetensors(copy, meta)).equals(readFileSync(path)), `${name}/${file} byte-identical`);
      } finally {
        await f.close();
      }
    }
  }
});

test('real fixture: golden input_ids are I32 and read as integers', { skip: needsAsset('fixtures/gpt2-tiny-random/golden.safetensors') }, async () => {
  const f = await SafetensorsFile.open(join(ASSETS, 'fixtures/gpt2-tiny-random/golden.safetensors'));
  try {
    assert.equal(f.info('input_ids').dtype, 'I32');
    const ids = (await f.readTyped('input_ids')) as Int32Array;
    assert.ok(ids instanceof Int32Array && ids.length === 24 && ids.every((v) => v >= 0 && v < 1000));
    assert.deepEqual([...(await f.readF32('input_ids'))], [...ids]);
  } finally {
    await f.close();
  }
});
