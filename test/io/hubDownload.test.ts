// downloadModel against a local fake hub on 127.0.0.1 that speaks the hub's URL layout: metadata at
// /api/models/..., files at /{repo}/resolve/{rev}/{file}, LFS files as a 302 (carrying
// x-linked-etag/x-linked-size) to a "CDN" on another port (another origin, so the token must not follow).

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { openHfFolder } from '../../src/io/hfFolder.js';
import { findCachedModel, HubError, repoFolder } from '../../src/io/hfCache.js';
import { downloadModel } from '../../src/io/hubDownload.js';
import { resolveModel } from '../../src/io/resolveModel.js';
import { serializeSafetensors } from '../../src/io/safetensorsWrite.js';
import { ASSETS, needsAsset, tempDir } from './assets.js';

const FIXTURE = 'fixtures/gpt2-tiny-random';
const skip = needsAsset(`${FIXTURE}/model.safetensors`) || needsAsset(`${FIXTURE}/config.json`);
const REPO = 'org/tiny';
const SHA = '0123456789abcdef0123456789abcdef01234567';
const T = { timeout: 15_000 };

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
/** Git's blob id, the hub's etag for a small (non-LFS) file. */
const gitSha1 = (b: Uint8Array) => createHash('sha1').update(`blob ${b.byteLength}\0`).update(b).digest('hex');

function fixture(): Record<string, Buffer> {
  const dir = join(ASSETS, FIXTURE);
  return Object.fromEntries(['config.json', 'generation_config.json', 'model.safetensors'].map((f) => [f, readFileSync(join(dir, f))]));
}

interface Behaviour {
  /** The first CDN GET sends this many bytes, then drops the connection. */
  cutFirstAfter?: number;
  /** The CDN flips a byte in the middle (same length). */
  corrupt?: boolean;
  /** The CDN ignores Range and always sends the whole file with 200. */
  ignoreRange?: boolean;
  /** Every resolve request answers with this status (401, 404…). */
  fileStatus?: number;
}

interface Req {
  server: 'hub' | 'cdn';
  method: string;
  url: string;
  range?: string;
  auth?: string;
}

interface FakeHub {
  endpoint: string;
  requests: Req[];
  close(): Promise<void>;
}

function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; origin: string }> {
  const server = createServer(handler);
  return new Promise((ok, fail) => {
    server.once('error', fail);
    // Loopback only: nothing outside this machine may reach the test server.
    server.listen(0, '127.0.0.1', () => ok({ server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  });
}

async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((ok) => server.close(() => ok()));
}

/** Start a fake hub serving `files` as repo org/tiny at commit SHA (branch main). */
async function startHub(files: Record<string, Buffer>, b: Behaviour = {}): Promise<FakeHub> {
  const requests: Req[] = [];
  const isLfs = (f: string) => f.endsWith('.safetensors');
  const byHash = new Map(Object.values(files).map((c) => [sha256(c), c] as const));
  let cut = false;
  const log = (server: Req['server'], req: IncomingMessage) =>
    requests.push({ server, method: req.method ?? '', url: req.url ?? '', range: req.headers.range, auth: req.headers.authorization });

  const cdn = await listen((req, res) => {
    log('cdn', req);
    const content = byHash.get((req.url ?? '').replace(/^\/blob\//, ''));
    if (!content) return void res.writeHead(404).end();
    let body = content;
    if (b.corrupt) {
      body = Buffer.from(content);
      body[body.length >> 1] ^= 0xff;
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m && !b.ignoreRange ? Number(m[1]) : 0;
    if (start > body.length) return void res.writeHead(416).end();
    const headers = { 'content-length': String(body.length - start), 'accept-ranges': 'bytes' };
    if (m && !b.ignoreRange) res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
    else res.writeHead(200, headers);
    if (req.method === 'HEAD') return void res.end();
    if (b.cutFirstAfter !== undefined && !cut) {
      cut = true;
      res.write(body.subarray(start, start + b.cutFirstAfter));
      // Let the client read what was sent, then drop the connection mid-body.
      setTimeout(() => res.socket?.destroy(), 50);
      return;
    }
    res.end(body.subarray(start));
  });

  const hub = await listen((req, res) => {
    log('hub', req);
    const url = decodeURIComponent(req.url ?? '');
    const api = /^\/api\/models\/(.+)\/revision\/([^/]+)$/.exec(url);
    if (api) {
      if (api[1] !== REPO) return void res.writeHead(401, { 'x-error-code': 'RepoNotFound' }).end('{"error":"Repository not found"}');
      if (api[2] !== 'main' && api[2] !== SHA) return void res.writeHead(404, { 'x-error-code': 'RevisionNotFound' }).end();
      const siblings = [...Object.keys(files), 'README.md', '.gitattributes'].map((rfilename) => ({ rfilename }));
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: REPO, sha: SHA, siblings }));
    }
    const file = new RegExp(`^/${REPO}/resolve/(main|${SHA})/(.+)$`).exec(url);
    const content = file ? files[file[2]!] : undefined;
    if (b.fileStatus) return void res.writeHead(b.fileStatus).end();
    if (!file || !content) return void res.writeHead(404, { 'x-error-code': 'EntryNotFound' }).end();
    if (isLfs(file[2]!)) {
      const h = sha256(content);
      return void res
        .writeHead(302, {
          location: `${cdn.origin}/blob/${h}`,
          'x-linked-etag': `"${h}"`,
          'x-linked-size': String(content.length),
          'x-repo-commit': SHA,
          etag: '"pointer-etag"',
        })
        .end();
    }
    res.writeHead(200, { etag: `"${gitSha1(content)}"`, 'content-length': String(content.length), 'x-repo-commit': SHA });
    res.end(req.method === 'HEAD' ? undefined : content);
  });

  return {
    endpoint: hub.origin,
    requests,
    close: async () => {
      await stop(hub.server);
      await stop(cdn.server);
    },
  };
}

/** Run `fn` with a fake hub and a temp cache, always cleaning both up. */
async function withHub(b: Behaviour, fn: (hub: FakeHub, cache: string, files: Record<string, Buffer>) => Promise<void>, files = fixture()): Promise<void> {
  const hub = await startHub(files, b);
  const { dir, cleanup } = tempDir();
  try {
    await fn(hub, dir, files);
  } finally {
    await hub.close();
    cleanup();
  }
}

const opts = (hub: FakeHub, cache: string) => ({ endpoint: hub.endpoint, cacheDir: cache, token: '', idleTimeoutMs: 5000 });
const blobsOf = (cache: string) => readdirSync(join(repoFolder(REPO, cache), 'blobs')).sort();

test('a full download lands in the HF cache layout and opens as a model folder', { skip, ...T }, async () => {
  await withHub({}, async (hub, cache, files) => {
    const seen: [number, number][] = [];
    const snap = await downloadModel(REPO, { ...opts(hub, cache), token: 'secret', onProgress: (d, t) => seen.push([d, t]) });
    const repo = repoFolder(REPO, cache);
    assert.equal(snap, join(repo, 'snapshots', SHA));
    assert.equal(readFileSync(join(repo, 'refs', 'main'), 'utf8'), SHA);
    // Blobs are named by etag: sha256 for the LFS file, git sha1 for the small ones.
    assert.deepEqual(blobsOf(cache), Object.entries(files).map(([f, c]) => (f.endsWith('.safetensors') ? sha256(c) : gitSha1(c))).sort());
    for (const [f, c] of Object.entries(files)) {
      assert.match(readlinkSync(join(snap, f)), /^\.\.\/\.\.\/blobs\//);
      assert.equal(sha256(readFileSync(join(snap, f))), sha256(c), f);
    }
    assert.ok(!existsSync(join(snap, 'README.md')), 'only the files a model needs');
    assert.equal(realpathSync(findCachedModel(REPO, { cacheDir: cache })!), realpathSync(snap));
    const m = await openHfFolder(snap);
    try {
      assert.equal(m.config.model_type, 'gpt2');
      assert.ok(m.weights.names().length > 0);
    } finally {
      await m.close();
    }
    // Progress: never backwards, ending at the total, which is every byte fetched.
    const total = Object.values(files).reduce((s, c) => s + c.length, 0);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]![0] >= seen[i - 1]![0]);
    assert.deepEqual(seen.at(-1), [total, total]);
    assert.ok(seen.length > 2);
    // The token goes to the hub only, never to the CDN on another origin.
    assert.ok(hub.requests.filter((r) => r.server === 'hub').every((r) => r.auth === 'Bearer secret'));
    assert.ok(hub.requests.filter((r) => r.server === 'cdn').every((r) => r.auth === undefined));
    // A second call finds everything in place and fetches no file.
    hub.requests.length = 0;
    assert.equal(await downloadModel(REPO, opts(hub, cache)), snap);
    assert.deepEqual(hub.requests.map((r) => r.url), [`/api/models/${REPO}/revision/main`]);
  });
});

test('an interrupted download resumes with a Range request and checks out', { skip, ...T }, async () => {
  await withHub({ cutFirstAfter: 100_000 }, async (hub, cache, files) => {
    // retries: 0 — the first call gives up and leaves the partial file for the next call.
    await assert.rejects(downloadModel(REPO, { ...opts(hub, cache), retries: 0 }), (e: unknown) => {
      assert.ok(e instanceof HubError);
      assert.match(e.message, /model\.safetensors broke after \d+ of \d+ bytes .*run again to resume/);
      return true;
    });
    const h = sha256(files['model.safetensors']!);
    assert.ok(blobsOf(cache).includes(`${h}.incomplete`));
    assert.ok(!existsSync(join(repoFolder(REPO, cache), 'refs', 'main')), 'no ref to a half snapshot');
    const snap = await downloadModel(REPO, opts(hub, cache));
    const ranged = hub.requests.filter((r) => r.server === 'cdn' && r.range);
    assert.equal(ranged.length, 1);
    assert.ok(Number(/bytes=(\d+)-/.exec(ranged[0]!.range!)![1]) > 0);
    assert.equal(sha256(readFileSync(join(snap, 'model.safetensors'))), h);
    assert.ok(!blobsOf(cache).some((f) => f.endsWith('.incomplete')));
  });
});

test('a connection dropped midway is resumed within the same call', { skip, ...T }, async () => {
  await withHub({ cutFirstAfter: 200_000 }, async (hub, cache, files) => {
    const snap = await downloadModel(REPO, opts(hub, cache));
    assert.ok(hub.requests.some((r) => r.server === 'cdn' && r.range));
    assert.equal(sha256(readFileSync(join(snap, 'model.safetensors'))), sha256(files['model.safetensors']!));
  });
});

test('a server that ignores Range makes the download start over, still correct', { skip, ...T }, async () => {
  await withHub({ cutFirstAfter: 100_000, ignoreRange: true }, async (hub, cache, files) => {
    const snap = await downloadModel(REPO, opts(hub, cache));
    assert.equal(sha256(readFileSync(join(snap, 'model.safetensors'))), sha256(files['model.safetensors']!));
  });
});

test('a corrupted body is rejected and leaves no blob', { skip, ...T }, async () => {
  await withHub({ corrupt: true }, async (hub, cache, files) => {
    await assert.rejects(downloadModel(REPO, opts(hub, cache)), (e: unknown) => {
      assert.ok(e instanceof HubError);
      assert.match(e.message, /model\.safetensors is corrupt: sha256 [0-9a-f]{64}, expected [0-9a-f]{64}/);
      return true;
    });
    const h = sha256(files['model.safetensors']!);
    assert.ok(!blobsOf(cache).some((f) => f.startsWith(h)), 'neither the blob nor its partial');
    assert.ok(!existsSync(join(repoFolder(REPO, cache), 'snapshots', SHA, 'model.safetensors')));
  });
});

test('hub errors: server down, unknown model, unknown revision, 404, gated', { skip, ...T }, async () => {
  // A port that was just closed: connection refused.
  const { server, origin } = await listen(() => undefined);
  await stop(server);
  const { dir, cleanup } = tempDir();
  try {
    await assert.rejects(downloadModel('gpt2', { endpoint: origin, cacheDir: dir, token: '' }), (e: unknown) => {
      assert.ok(e instanceof HubError && e.name === 'HubError');
      assert.match(e.message, /^cannot reach http:\/\/127\.0\.0\.1:\d+ to download gpt2 \(offline\?\): ECONNREFUSED; place the model in the HF cache or pass a local folder$/);
      return true;
    });
  } finally {
    cleanup();
  }
  await withHub({}, async (hub, cache) => {
    await assert.rejects(downloadModel('org/absent', opts(hub, cache)), /no such model: org\/absent@main/);
    await assert.rejects(downloadModel(REPO, { ...opts(hub, cache), revision: 'nope' }), /no such revision: org\/tiny@nope/);
    await assert.rejects(downloadModel(REPO, { ...opts(hub, cache), files: ['missing.txt'] }), (e: unknown) => e instanceof HubError && e.status === 404);
  });
  await withHub({ fileStatus: 404 }, async (hub, cache) => {
    await assert.rejects(downloadModel(REPO, opts(hub, cache)), (e: unknown) => e instanceof HubError && /no such model or revision/.test(e.message));
  });
  await withHub({ fileStatus: 403 }, async (hub, cache) => {
    await assert.rejects(downloadModel(REPO, opts(hub, cache)), /gated or private \(HTTP 403\): set HF_TOKEN/);
  });
});

test('resolveModel downloads when allowed, then finds the cached copy', { skip, ...T }, async () => {
  await withHub({}, async (hub, cache) => {
    await assert.rejects(resolveModel(REPO, opts(hub, cache)), /not in the HF cache/);
    const snap = await resolveModel(REPO, { ...opts(hub, cache), download: true });
    assert.equal(snap, join(repoFolder(REPO, cache), 'snapshots', SHA));
    hub.requests.length = 0;
    assert.equal(await resolveModel(REPO, opts(hub, cache)), snap);
    assert.equal(hub.requests.length, 0);
  });
});

test('a sharded model: the index first, then every shard it names', T, async () => {
  const shard = (name: string, v: number) => Buffer.from(serializeSafetensors({ [name]: { dtype: 'F32', shape: [1], data: new Float32Array([v]) } }));
  const files = {
    'config.json': Buffer.from('{"model_type":"gpt2"}'),
    'model.safetensors.index.json': Buffer.from(JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } })),
    'model-00001-of-00002.safetensors': shard('a', 1),
    'model-00002-of-00002.safetensors': shard('b', 2),
  };
  await withHub(
    {},
    async (hub, cache) => {
      const snap = await downloadModel(REPO, opts(hub, cache));
      const m = await openHfFolder(snap);
      try {
        assert.deepEqual([...(await m.weights.readF32('b'))], [2]);
      } finally {
        await m.close();
      }
    },
    files,
  );
});
