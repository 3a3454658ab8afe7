// `saelab serve` against other web pages and hostile clients, with raw requests over loopback:
// a foreign Host header (DNS rebinding) gets 421 and no data; a cross-site or non-JSON POST is
// refused before its route runs; a huge Content-Length is refused at once without a body; silent,
// slow-loris and idle keep-alive sockets are closed within the configured timeouts.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { allowedHostNames, isHostName } from '../../src/server/requestGuard.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { syntheticWorkspace } from './fixtures.js';
import { rawRequest, RawSocket, requestText } from './rawHttp.js';

let dir: string;
let srv: RunningServer;
let dash: number;
const TIMEOUTS = { headersMs: 300, requestMs: 2000, keepAliveMs: 300, idleMs: 5000, checkIntervalMs: 100 };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'saelab-serve-sec-'));
  const w = syntheticWorkspace(dir, 8);
  dash = w.dashboardId;
  srv = await startServer({ db: w.db, device: cpu, maxBody: 1024, allowedHosts: ['saelab.lan'], timeouts: TIMEOUTS, log: () => {} });
});

after(async () => {
  await srv?.close();
  rmSync(dir, { recursive: true, force: true });
});

const at = (host: string, path = '/api/workspace', extra: Record<string, string> = {}) => rawRequest(srv.port, requestText('GET', path, { host, ...extra }));

test('a foreign Host header (DNS rebinding) gets 421 and none of the workspace', async () => {
  for (const h of ['evil.example', `evil.example:${srv.port}`, 'localhost.evil.example', '127.0.0.1.nip.io', '[::2]', 'localhost@evil.example', '']) {
    for (const path of ['/api/workspace', '/', `/api/dashboards/${dash}/features/1`, '/files/reports/eval/metrics.json']) {
      const r = await at(h, path);
      assert.equal(r.status, 421, `Host '${h}' ${path}`);
      assert.match(r.headers['content-type']!, /^text\/plain/);
      assert.match(r.body, /not a name of this server/);
      assert.doesNotMatch(r.body, /topk|<script|l0/);
    }
  }
  // HTTP/1.0 without any Host header: refused the same way.
  const none = await rawRequest(srv.port, 'GET /api/workspace HTTP/1.0\r\n\r\n');
  assert.equal(none.status, 421);
});

test('the bound names (any port, any case) and --allowed-hosts are answered', async () => {
  for (const h of [`127.0.0.1:${srv.port}`, `localhost:${srv.port}`, `[::1]:${srv.port}`, `LocalHost:${srv.port}`, 'localhost', 'localhost:9000', 'saelab.lan', `SAELAB.lan:${srv.port}`]) {
    const r = await at(h);
    assert.equal(r.status, 200, `Host '${h}'`);
    assert.equal(JSON.parse(r.body).runs.length, 1);
  }
});

test('allowed host names per bind address: loopback, one address, and 0.0.0.0 (the machine\'s names and addresses)', () => {
  assert.deepEqual([...allowedHostNames('127.0.0.1')].sort(), ['127.0.0.1', '::1', 'localhost']);
  assert.deepEqual([...allowedHostNames('[::1]', ['Box.LAN'])].sort(), ['127.0.0.1', '::1', 'box.lan', 'localhost']);
  assert.deepEqual([...allowedHostNames('192.168.7.9', ['box.lan'])].sort(), ['192.168.7.9', 'box.lan']);
  const any = allowedHostNames('0.0.0.0');
  assert.ok(any.has(hostname().toLowerCase()) && any.has('localhost') && any.has('127.0.0.1'));
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) assert.ok(any.has(a.address.toLowerCase()), a.address);
  assert.ok(!any.has('0.0.0.0') && !any.has('evil.example'));
  assert.ok(isHostName('box.lan') && isHostName('[fe80::1]') && isHostName('10.0.0.2'));
  assert.ok(!isHostName('box.lan:80') && !isHostName('http://box') && !isHostName('a b') && !isHostName(''));
});

test('a cross-site POST is refused before its route runs (403), a non-JSON one with 415', async () => {
  const host = `127.0.0.1:${srv.port}`;
  const path = `/api/dashboards/${dash}/text`;
  const body = '{"text": "hello"}';
  const post = (headers: Record<string, string>) => rawRequest(srv.port, requestText('POST', path, { host, ...headers }, body));
  // What a cross-site page can send without a preflight: a text/plain (or form) body.
  for (const h of <Record<string, string>[]>[
    { origin: 'http://evil.example', 'content-type': 'text/plain' },
    { origin: 'http://evil.example', 'content-type': 'application/json' },
    { origin: `http://evil.example:${srv.port}`, 'content-type': 'application/json' },
    { origin: 'null', 'content-type': 'application/json' },
    { origin: `http://localhost:${srv.port}`, 'content-type': 'application/json' }, // another name than this request's Host
    { origin: 'http://127.0.0.1:1', 'content-type': 'application/json' },
    { 'sec-fetch-site': 'cross-site', 'content-type': 'text/plain' },
    { 'sec-fetch-site': 'same-site', 'content-type': 'application/json' },
  ]) {
    const r = await post(h);
    assert.equal(r.status, 403, JSON.stringify(h));
    assert.match(JSON.parse(r.body).error, /refused/);
  }
  for (const h of <Record<string, string>[]>[{}, { 'content-type': 'text/plain' }, { 'content-type': 'application/x-www-form-urlencoded' }, { 'content-type': 'multipart/form-data; boundary=x' }, { origin: `http://${host}`, 'content-type': 'text/plain;charset=UTF-8' }]) {
    const r = await post(h);
    assert.equal(r.status, 415, JSON.stringify(h));
    assert.match(JSON.parse(r.body).error, /application\/json/);
  }
  // Our own page (same Origin), a same-origin fetch without Origin, and curl (neither header) get
  // through to the route: this workspace's model folder is missing, so the route answers 404.
  for (const h of <Record<string, string>[]>[{ origin: `http://${host}` }, { 'sec-fetch-site': 'same-origin' }, {}, { origin: `http://${host}`, 'sec-fetch-site': 'same-origin' }]) {
    const r = await post({ ...h, 'content-type': 'application/json; charset=utf-8' });
    assert.equal(r.status, 404, JSON.stringify(h));
    assert.match(JSON.parse(r.body).error, /no longer there/);
  }
});

test('a huge Content-Length gets 413 at once, without a byte of the body', async () => {
  for (const path of [`/api/dashboards/${dash}/text`, '/api/workspace']) {
    const s = await RawSocket.open(srv.port);
    try {
      const t0 = performance.now();
      s.send(`POST ${path} HTTP/1.1\r\nhost: 127.0.0.1:${srv.port}\r\ncontent-type: application/json\r\ncontent-length: 99000000000\r\n\r\n`);
      const r = await s.answer(TIMEOUTS.requestMs - 200); // before the request timeout could answer 408
      assert.equal(r.status, 413, path);
      assert.ok(r.at - t0 < TIMEOUTS.requestMs, `answered after ${(r.at - t0).toFixed(0)} ms`);
      assert.match(JSON.parse(r.body).error, /99000000000 bytes is over the limit of 1024/);
      assert.notEqual(await s.closed(TIMEOUTS.requestMs - 200), null, 'the socket is closed after the 413');
    } finally {
      s.destroy();
    }
  }
  // A body just over the limit that the client does send still gets its 413 (not a reset).
  for (let k = 0; k < 5; k++) {
    const r = await rawRequest(srv.port, requestText('POST', `/api/dashboards/${dash}/text`, { host: `127.0.0.1:${srv.port}`, 'content-type': 'application/json' }, 'x'.repeat(1025 + k * 20_000)));
    assert.equal(r.status, 413);
  }
});

test('silent, slow-loris and idle keep-alive sockets are closed within the configured timeouts', async () => {
  const bound = TIMEOUTS.headersMs + 2 * TIMEOUTS.checkIntervalMs + 1500; // generous for a shared CPU, far below Node's 60 s+
  // Connects and never sends a byte.
  const silent = await RawSocket.open(srv.port);
  // Sends its headers one line every 50 ms, forever (bounded here by the loop).
  const loris = await RawSocket.open(srv.port);
  const t0 = performance.now();
  loris.send(`GET /api/workspace HTTP/1.1\r\nhost: 127.0.0.1:${srv.port}\r\n`);
  let lines = 0;
  while (loris.closedAt === null && performance.now() - t0 < 5000) {
    loris.send(`x-slow-${lines++}: a\r\n`);
    await new Promise((ok) => setTimeout(ok, 50));
  }
  try {
    assert.notEqual(loris.closedAt, null, `slow-loris socket still open after ${lines} header lines`);
    assert.ok(loris.closedAt! - t0 < bound, `slow-loris closed after ${(loris.closedAt! - t0).toFixed(0)} ms`);
    assert.equal((await loris.answer(100)).status, 408);
    const s = await silent.closed(Math.max(0, bound - (performance.now() - t0)));
    assert.notEqual(s, null, 'silent socket still open');
    // After one answer, a keep-alive socket left idle is closed after keepAliveMs (Node waits 1 s
    // more than it announces, so a client never reuses a socket the server is closing).
    const ka = await RawSocket.open(srv.port);
    ka.send(requestText('GET', '/api/workspace', { host: `127.0.0.1:${srv.port}` }));
    const r = await ka.answer(2000);
    assert.equal(r.status, 200);
    const closed = await ka.closed(4000);
    assert.notEqual(closed, null, 'idle keep-alive socket still open');
    assert.ok(closed! - r.at < TIMEOUTS.keepAliveMs + 1000 + 1500, `keep-alive closed ${(closed! - r.at).toFixed(0)} ms after the answer`);
  } finally {
    for (const s of [silent, loris]) s.destroy();
  }
});

test('the timeouts default to seconds, not Node\'s minutes, and a headers limit over the request limit is refused', async () => {
  const s2 = await startServer({ db: join(dir, 'saelab.db'), device: cpu });
  try {
    assert.equal(s2.server.headersTimeout, 10_000);
    assert.equal(s2.server.requestTimeout, 30_000);
    assert.equal(s2.server.keepAliveTimeout, 5_000);
    assert.equal(s2.server.timeout, 120_000);
  } finally {
    await s2.close();
  }
  await assert.rejects(startServer({ db: join(dir, 'saelab.db'), device: cpu, timeouts: { headersMs: 5000, requestMs: 1000 } }), /must not exceed/);
});
