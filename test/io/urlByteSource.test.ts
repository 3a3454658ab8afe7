// The URL byte source against a node:http server: Range reads (206), the whole-file fallback when a
// server answers 200, errors that name the file, and a folder that caches a file once it was read
// whole and checked against the manifest's sha256.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { SafetensorsReader, readSafetensorsBuffer } from '../../src/io/safetensors.js';
import { serializeSafetensors } from '../../src/io/safetensorsWrite.js';
import { cacheKey, openUrlSource, urlFolder, type WeightCache } from '../../src/io/urlByteSource.js';

/** A server of `files` (path → bytes) that honours Range unless `ranges` is false; it logs every request. */
async function serve(files: Map<string, Uint8Array>, ranges: boolean): Promise<{ url: string; log: { path: string; range: string | undefined }[]; server: Server }> {
  const log: { path: string; range: string | undefined }[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const path = req.url!.split('?')[0]!;
    log.push({ path, range: req.headers.range });
    const body = files.get(path);
    if (!body) return void res.writeHead(404, 'Not Found').end();
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (ranges && m) {
      const [a, b] = [Number(m[1]), Math.min(Number(m[2]), body.byteLength - 1)];
      if (a >= body.byteLength) return void res.writeHead(416).end();
      res.writeHead(206, { 'content-range': `bytes ${a}-${b}/${body.byteLength}`, 'content-length': b - a + 1 });
      return void res.end(body.subarray(a, b + 1));
    }
    res.writeHead(200, { 'content-length': body.byteLength });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, log, server };
}

const bytes = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7 + 3) & 255);
const st = serializeSafetensors({ a: { dtype: 'F32', shape: [3, 5], data: Float32Array.from({ length: 15 }, (_, i) => i / 3) }, b: { dtype: 'BF16', shape: [4], data: new Uint16Array([0x3f80, 0x4000, 0xc040, 0]) } });

test('reads by Range: one request per read, exactly the bytes asked for', async () => {
  const s = await serve(new Map([['/f.bin', bytes]]), true);
  try {
    const src = await openUrlSource(`${s.url}/f.bin`);
    assert.equal(src.size, 5000); // learnt from Content-Range
    const t = new Uint8Array(100);
    await src.read(t, 1234);
    assert.deepEqual(t, bytes.subarray(1234, 1334));
    assert.deepEqual(s.log.map((l) => l.range), ['bytes=0-0', 'bytes=1234-1333']);
    await assert.rejects(src.read(new Uint8Array(10), 4995), /file ended at byte 5000/);
  } finally {
    s.server.close();
  }
});

test('a server that ignores Range: one whole-file GET, later reads from memory', async () => {
  const s = await serve(new Map([['/f.bin', bytes]]), false);
  try {
    const src = await openUrlSource(`${s.url}/f.bin`, { size: 5000 });
    const t = new Uint8Array(10);
    await src.read(t, 10);
    await src.read(t, 4990);
    assert.deepEqual(t, bytes.subarray(4990));
    assert.equal(s.log.length, 1);
    const wrong = await openUrlSource(`${s.url}/f.bin`, { size: 4000 });
    await assert.rejects(wrong.read(t, 0), /sent 5000 bytes, the manifest says 4000/);
  } finally {
    s.server.close();
  }
});

test('a missing file or a dead server is an error naming the URL, not a hang', async () => {
  const s = await serve(new Map(), true);
  const url = `${s.url}/gone.safetensors`;
  const src = await openUrlSource(url, { size: 100 });
  await assert.rejects(src.read(new Uint8Array(8), 0), (e: Error) => e.message === `${url}: HTTP 404 Not Found`);
  s.server.close();
  await new Promise((r) => setTimeout(r, 50));
  await assert.rejects(src.read(new Uint8Array(8), 0), /gone\.safetensors: download failed/);
  // A server that accepts and never answers: the timeout ends it.
  const silent = createServer(() => undefined);
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  try {
    const slow = await openUrlSource(`http://127.0.0.1:${(silent.address() as AddressInfo).port}/x`, { size: 10, timeoutMs: 300 });
    await assert.rejects(slow.read(new Uint8Array(4), 0), /download failed \(no answer in time\)/);
  } finally {
    silent.closeAllConnections();
    silent.close();
  }
});

/** A Map standing in for the Cache API. */
function memoryCache(): WeightCache & { keys: string[] } {
  const m = new Map<string, Uint8Array>();
  return {
    get keys() {
      return [...m.keys()];
    },
    match: async (k) => (m.has(k) ? new Response(m.get(k)!.slice()) : undefined),
    put: async (k, r) => void m.set(k, new Uint8Array(await r.arrayBuffer())),
  };
}

for (const ranges of [true, false]) {
  test(`a folder reads safetensors through the same reader and caches a file read whole (${ranges ? 'Range' : '200 only'})`, async () => {
    const s = await serve(new Map([['/m/w.safetensors', st]]), ranges);
    try {
      const sha = createHash('sha256').update(st).digest('hex');
      const cache = memoryCache();
      let got = 0;
      const folder = urlFolder(`${s.url}/m/`, [{ path: 'w.safetensors', size: st.byteLength, sha256: sha }], { cache, onBytes: (n) => (got += n) });
      assert.deepEqual(await folder.list(), ['w.safetensors']);
      const r = await SafetensorsReader.fromSource(await folder.open('w.safetensors'));
      const want = readSafetensorsBuffer(st);
      assert.deepEqual(await r.readF32('a'), want.readF32('a'));
      assert.deepEqual(await r.readF32('b'), Float32Array.from([1, 2, -3, 0]));
      await r.close();
      assert.equal(got, ranges ? st.byteLength : st.byteLength);
      assert.equal(s.log.length, ranges ? 4 : 1); // prefix, header, a, b — or one GET
      assert.deepEqual(cache.keys, [cacheKey(`${s.url}/m/w.safetensors`, sha)]);
      const again = await SafetensorsReader.fromSource(await folder.open('w.safetensors'));
      assert.deepEqual(await again.readF32('a'), want.readF32('a'));
      assert.equal(s.log.length, ranges ? 4 : 1, 'the second open reads the cache, not the network');
    } finally {
      s.server.close();
    }
  });
}

test('a folder refuses bytes that differ from the manifest and names outside the folder', async () => {
  const s = await serve(new Map([['/m/w.safetensors', st]]), true);
  try {
    const cache = memoryCache();
    const folder = urlFolder(`${s.url}/m/`, [{ path: 'w.safetensors', size: st.byteLength, sha256: '0'.repeat(64) }], { cache });
    await assert.rejects(folder.readBytes('w.safetensors'), /sha256 [0-9a-f]{64} differs from the manifest's 0000/);
    assert.deepEqual(cache.keys, []);
    await assert.rejects(folder.open('other.bin'), /not in the folder's manifest/);
    assert.throws(() => urlFolder(`${s.url}/m/`, [{ path: '../secret', size: 1, sha256: '' }]), /not a plain path inside the folder/);
  } finally {
    s.server.close();
  }
});
