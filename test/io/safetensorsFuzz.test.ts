// Fuzz the safetensors reader: mutate valid files thousands of ways; each result must either read
// completely and consistently or be refused with a SafetensorsError. Any other exception, a hang or
// a huge allocation is a bug. Seeded, so a failure names a case that reruns identically.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Rng } from '../../src/compute/random.js';
import { DTYPE_SIZE } from '../../src/io/dtypes.js';
import { readSafetensorsBuffer, SafetensorsError, SafetensorsFile, type TensorInfo } from '../../src/io/safetensors.js';
import { serializeSafetensors } from '../../src/io/safetensorsWrite.js';
import { tempDir } from './assets.js';

const SEED = 20250101;
const CASES = 5000;
const FILE_EVERY = 10; // every 10th case also goes through SafetensorsFile on disk

/** The valid files we start from. */
function baseFiles(rng: Rng): Uint8Array[] {
  const u8 = (n: number, mod = 256) => Uint8Array.from({ length: n }, () => rng.int(mod));
  return [
    serializeSafetensors(
      {
        'w.f32': { dtype: 'F32', shape: [3, 4], data: rng.normalArray(12) },
        'w.f16': { dtype: 'F16', shape: [5], data: rng.normalArray(5) },
        'w.bf16': { dtype: 'BF16', shape: [2, 2], data: rng.normalArray(4) },
        'i.i32': { dtype: 'I32', shape: [3], data: new Int32Array([1, -2, 3]) },
        'i.i64': { dtype: 'I64', shape: [2], data: new BigInt64Array([-5n, 2n ** 40n]) },
        'b.u8': { dtype: 'U8', shape: [7], data: u8(7) },
        'b.bool': { dtype: 'BOOL', shape: [3], data: u8(3, 2) },
      },
      { format: 'pt', source: 'fuzz' },
    ),
    serializeSafetensors({ s: { dtype: 'F32', shape: [], data: new Float32Array([4.5]) } }),
    serializeSafetensors({}),
    serializeSafetensors({
      z: { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
      d: { dtype: 'F64', shape: [2], data: new Float64Array([1, -1]) },
      q: { dtype: 'I8', shape: [1, 1, 1], data: new Int8Array([-3]) },
      u: { dtype: 'U64', shape: [1], data: new BigUint64Array([7n]) },
    }),
  ];
}

const INTERESTING_BYTES = [0x00, 0x20, 0x22, 0x2c, 0x2d, 0x2e, 0x30, 0x31, 0x39, 0x3a, 0x5b, 0x5d, 0x7b, 0x7d, 0x45, 0x65, 0x5c, 0x7f, 0x80, 0xc3, 0xff];
const JSON_SNIPPETS = [
  '-1', '0', '1e400', '1.5', '18446744073709551616', '9007199254740993', 'null', 'true', '"F16"', '"BF16"', '"I64"', '"BOOL"', '"F8_E4M3"',
  '"x"', '[]', '{}', '[0,0]', '[1,2,3]', '"__metadata__"', '"__proto__"', ',', ':', '{', '}', '[', ']', '"', '\\u0000', '"\\ud800"',
  '{"dtype":"U8","shape":[1],"data_offsets":[0,1]}', '"shape":[]', '"data_offsets":[0,4]', ' ', '',
];
const DTYPES = ['F32', 'F16', 'BF16', 'I32', 'I64', 'U8', 'BOOL', 'F64', 'I8', 'U64', 'F8_E5M2', 'f32', '', 'C64', 'Q4_0'];
const WEIRD_VALUES: unknown[] = [-1, 1.5, '2', null, 2 ** 53, 2 ** 60, [], {}, true, 1e300, -0];

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)]!;
}

function headerLength(b: Uint8Array): number {
  return b.length >= 8 ? Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true)) : 0;
}

/** Replace the header with `text`, setting the length field to match (or not, when `keepLength`). */
function withHeader(b: Uint8Array, text: string, keepLength = false): Uint8Array {
  const n = Math.min(headerLength(b), b.length - 8);
  const data = b.subarray(8 + n);
  const h = Buffer.from(text, 'utf8');
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(keepLength ? headerLength(b) : h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function headerText(b: Uint8Array): string {
  const n = Math.min(headerLength(b), Math.max(0, b.length - 8));
  return Buffer.from(b.subarray(8, 8 + n)).toString('utf8');
}

/** One random mutation; returns the new bytes and what was done. */
function mutate(b: Uint8Array, rng: Rng): [Uint8Array, string] {
  const kind = rng.int(8);
  const headerEnd = Math.min(b.length, 8 + headerLength(b));
  const pos = () => (rng.uniform() < 0.8 && headerEnd > 0 ? rng.int(headerEnd) : rng.int(Math.max(1, b.length)));
  switch (kind) {
    case 0: {
      const out = b.slice();
      const k = 1 + rng.int(4);
      for (let i = 0; i < k && out.length > 0; i++) out[pos()] ^= 1 << rng.int(8);
      return [out, `flip ${k} bits`];
    }
    case 1: {
      const out = b.slice();
      const k = 1 + rng.int(4);
      for (let i = 0; i < k && out.length > 0; i++) out[pos()] = rng.uniform() < 0.7 ? pick(rng, INTERESTING_BYTES) : rng.int(256);
      return [out, `overwrite ${k} bytes`];
    }
    case 2: {
      const n = rng.int(b.length);
      return [b.slice(0, n), `truncate to ${n}`];
    }
    case 3: {
      const k = 1 + rng.int(16);
      const out = new Uint8Array(b.length + k);
      out.set(b);
      for (let i = b.length; i < out.length; i++) out[i] = rng.uniform() < 0.5 ? 0 : rng.int(256);
      return [out, `extend by ${k}`];
    }
    case 4: {
      const out = b.length >= 8 ? b.slice() : new Uint8Array(8);
      const n = headerLength(b);
      const choices: bigint[] = [
        BigInt(rng.nextU32()), BigInt(Math.max(0, n + rng.int(17) - 8)), 0n, BigInt(Math.max(0, b.length - 8)), BigInt(b.length),
        2n ** 63n, (BigInt(rng.nextU32()) << 32n) | BigInt(rng.nextU32()), 100_000_000n, 100_000_001n, 2n ** 64n - 1n,
      ];
      const v = pick(rng, choices);
      new DataView(out.buffer).setBigUint64(0, v, true);
      return [out, `length field := ${v}`];
    }
    case 5: {
      const text = headerText(b);
      const at = rng.int(text.length + 1);
      const len = rng.int(Math.min(12, text.length - at + 1));
      const snippet = pick(rng, JSON_SNIPPETS);
      const keep = rng.uniform() < 0.2;
      return [withHeader(b, text.slice(0, at) + snippet + text.slice(at + len), keep), `splice ${JSON.stringify(snippet)} at ${at} over ${len}${keep ? ', stale length' : ''}`];
    }
    case 6:
      return structural(b, rng);
    default: {
      let out = b;
      const parts: string[] = [];
      for (let i = 0, k = 2 + rng.int(2); i < k; i++) {
        const [o, w] = mutate(out, rng);
        out = o;
        parts.push(w);
      }
      return [out, parts.join(' + ')];
    }
  }
}

/** Edit the parsed header (so the JSON stays valid and the deeper checks get exercised). */
function structural(b: Uint8Array, rng: Rng): [Uint8Array, string] {
  let h: Record<string, Record<string, unknown>>;
  try {
    h = JSON.parse(headerText(b)) as Record<string, Record<string, unknown>>;
    if (typeof h !== 'object' || h === null || Array.isArray(h)) throw new Error('not an object');
  } catch {
    return mutate(b, rng); // an earlier mutation broke the JSON: do something else
  }
  // Only well-formed entries are edited (earlier mutations may have mangled some).
  const entryLike = (e: unknown) =>
    typeof e === 'object' && e !== null && !Array.isArray(e) && Array.isArray((e as Record<string, unknown>)['shape']) &&
    Array.isArray((e as Record<string, unknown>)['data_offsets']) && ((e as Record<string, unknown[]>)['data_offsets']!).length === 2;
  const names = Object.keys(h).filter((k) => k !== '__metadata__' && entryLike(h[k]));
  const choice = rng.int(10);
  let what: string;
  if (names.length === 0 || choice === 9) {
    h[`new${rng.int(100)}`] = { dtype: pick(rng, DTYPES), shape: [rng.int(4)], data_offsets: [rng.int(40), rng.int(40)] };
    what = 'add tensor';
  } else {
    const name = pick(rng, names);
    const e = h[name]!;
    const off = e['data_offsets'] as number[];
    const shape = e['shape'] as unknown[];
    switch (choice) {
      case 0: e['dtype'] = pick(rng, DTYPES); what = `dtype := ${String(e['dtype'])}`; break;
      case 1:
        if (shape.length > 0 && rng.uniform() < 0.5) shape[rng.int(shape.length)] = pick(rng, WEIRD_VALUES);
        else if (rng.uniform() < 0.5) shape.push(rng.int(3));
        else shape.pop();
        what = `shape := ${JSON.stringify(shape)}`;
        break;
      case 2: off[rng.int(2)]! += rng.int(9) - 4; what = `offsets := ${JSON.stringify(off)}`; break;
      case 3: e['data_offsets'] = rng.uniform() < 0.5 ? [off[1], off[0]] : [pick(rng, WEIRD_VALUES), off[1]]; what = `offsets := ${JSON.stringify(e['data_offsets'])}`; break;
      case 4: delete e[pick(rng, ['dtype', 'shape', 'data_offsets'])]; what = 'delete a field'; break;
      case 8: {
        // Move a tensor without resizing it: overlaps, holes, past-the-end.
        const delta = (rng.int(8) + 1) * (rng.uniform() < 0.5 ? -1 : 1);
        e['data_offsets'] = off.map((o) => (typeof o === 'number' ? o + delta : o));
        what = `shift offsets by ${delta}`;
        break;
      }
      case 5: h[name] = pick(rng, WEIRD_VALUES) as Record<string, unknown>; what = `entry := ${JSON.stringify(h[name])}`; break;
      case 6: h['__metadata__'] = pick(rng, [{ a: 1 }, [], 'x', null, { ok: 'yes' }, { n: null }]) as Record<string, unknown>; what = `metadata := ${JSON.stringify(h['__metadata__'])}`; break;
      default: {
        // Keep sizes consistent but change the layout: swap two tensors' offsets.
        const other = h[pick(rng, names)]!;
        [e['data_offsets'], other['data_offsets']] = [other['data_offsets'], e['data_offsets']];
        what = 'swap offsets';
      }
    }
  }
  let text = JSON.stringify(h);
  if (rng.uniform() < 0.5) text += ' '.repeat(rng.int(8));
  return [withHeader(b, text), `structural: ${what}`];
}

/** Everything a consumer would check about a file that opened. */
function checkConsistent(infos: [string, TensorInfo][], fileLength: number, dataStart: number): void {
  let covered = 0;
  for (const [name, info] of infos) {
    assert.equal(info.byteLength, info.numel * DTYPE_SIZE[info.dtype], name);
    assert.equal(info.numel, info.shape.reduce((a, d) => a * d, 1), name);
    assert.ok(info.byteOffset >= dataStart && info.byteOffset + info.byteLength <= fileLength, name);
    covered += info.byteLength;
  }
  assert.equal(covered, fileLength - dataStart, 'tensors cover the data buffer');
}

/** A problem's kind: its text without names and numbers (all JSON syntax errors count as one). */
function kindOf(problem: string): string {
  if (problem.startsWith('header is not valid JSON')) return 'header is not valid JSON';
  return problem
    .replace(/dtype \S+ with shape \[[^\]]*\]/, 'dtype D with shape S')
    .replace(/"(?:[^"\\]|\\.)*"…?/g, 'NAME').replace(/\(starts with .*\)/, '').replace(/-?\d+(\.\d+)?(e[+-]?\d+)?/g, 'N');
}

type Verdict = { ok: true; names: string[] } | { ok: false; problem: string };

function readBuffer(bytes: Uint8Array): Verdict {
  let f;
  try {
    f = readSafetensorsBuffer(bytes, 'fuzz.safetensors');
  } catch (e) {
    if (!(e instanceof SafetensorsError)) throw e;
    assert.equal(e.file, 'fuzz.safetensors');
    assert.ok(!e.message.includes('\n') && e.message.startsWith('fuzz.safetensors: '), e.message);
    return { ok: false, problem: e.problem };
  }
  // Opened: now every tensor must read, with sizes that agree. No exception of any kind is allowed.
  const names = f.names();
  const infos = names.map((n) => [n, f.info(n)] as [string, TensorInfo]);
  checkConsistent(infos, bytes.length, 8 + headerLength(bytes));
  for (const [n, info] of infos) {
    assert.equal(f.readRaw(n).byteLength, info.byteLength);
    assert.equal(f.readTyped(n).length, info.numel);
    assert.equal(f.readF32(n).length, info.numel);
  }
  return { ok: true, names };
}

async function readFile(path: string, size: number): Promise<Verdict> {
  let f: SafetensorsFile;
  try {
    f = await SafetensorsFile.open(path);
  } catch (e) {
    if (!(e instanceof SafetensorsError)) throw e;
    return { ok: false, problem: e.problem };
  }
  try {
    const names = f.names();
    const infos = names.map((n) => [n, f.info(n)] as [string, TensorInfo]);
    const dataStart = Math.min(...infos.map(([, i]) => i.byteOffset), size);
    if (infos.length > 0 && infos.some(([, i]) => i.byteLength > 0)) checkConsistent(infos, size, dataStart);
    for (const [n, info] of infos) {
      assert.equal((await f.readRaw(n)).byteLength, info.byteLength);
      assert.equal((await f.readTyped(n)).length, info.numel);
      assert.equal((await f.readF32(n)).length, info.numel);
    }
    return { ok: true, names };
  } finally {
    await f.close();
  }
}

test(`fuzz: ${CASES} mutated files either read consistently or raise SafetensorsError (seed ${SEED})`, async () => {
  const rng = new Rng(SEED);
  const bases = baseFiles(rng);
  const { dir, cleanup } = tempDir();
  let accepted = 0;
  let rejected = 0;
  const problems = new Set<string>();
  try {
    for (let i = 0; i < CASES; i++) {
      const [bytes, what] = mutate(pick(rng, bases), rng);
      const label = `case ${i} (${what}; bytes ${Buffer.from(bytes.subarray(0, 400)).toString('base64')})`;
      let v: Verdict;
      try {
        v = readBuffer(bytes);
      } catch (e) {
        assert.fail(`${label}: ${String(e)}`);
      }
      if (v.ok) accepted++;
      else {
        rejected++;
        problems.add(kindOf(v.problem));
      }
      if (i % FILE_EVERY === 0) {
        const path = join(dir, `c${i}.safetensors`);
        writeFileSync(path, bytes);
        let fv: Verdict;
        try {
          fv = await readFile(path, bytes.length);
        } catch (e) {
          assert.fail(`${label} via SafetensorsFile: ${String(e)}`);
        }
        assert.deepEqual(fv, v, `${label}: file and buffer readers agree`);
      }
    }
  } finally {
    cleanup();
  }
  if (process.env.FUZZ_VERBOSE) console.log({ accepted, rejected, problems: [...problems] });
  // The fuzzer must reach both outcomes, and many different checks.
  assert.ok(accepted >= 60, `only ${accepted} mutated files were valid`);
  assert.ok(rejected >= 1000, `only ${rejected} were rejected`);
  const all = [...problems].join(' | ');
  for (const must of ['hole', 'overlap', 'trailing', 'run past the end', 'not valid JSON', 'UTF', 'over the', 'larger than', 'needs', 'unknown dtype', 'missing', 'not a string', 'too short']) {
    assert.ok(all.includes(must), `no case reached the "${must}" check`);
  }
  assert.ok(problems.size >= 15, `only ${problems.size} kinds of problem: ${[...problems].join(' | ')}`);
});
