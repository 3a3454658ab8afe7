// The JSON API and static serving of `saelab serve` over a synthetic workspace: answers match the
// database, bad paths and ids give 404, big bodies 413, wrong methods 405, none with a stack trace,
// report files stay inside the workspace, and a feature page answers in under 100 ms.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { featureData, syntheticWorkspace } from './fixtures.js';

let dir: string;
let srv: RunningServer;
let dashboardId: number;
let saeId: number;
const logged: string[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'saelab-serve-'));
  const w = syntheticWorkspace(dir, 64);
  dashboardId = w.dashboardId;
  saeId = w.saeId;
  writeFileSync(join(tmpdir(), 'saelab-outside-secret.json'), '{"secret":1}');
  symlinkSync(join(tmpdir(), 'saelab-outside-secret.json'), join(dir, 'reports', 'link.json'));
  srv = await startServer({ db: w.db, device: cpu, maxBody: 1024, maxText: 200, log: (l) => logged.push(l) });
});

after(async () => {
  await srv?.close();
  rmSync(dir, { recursive: true, force: true });
  rmSync(join(tmpdir(), 'saelab-outside-secret.json'), { force: true });
});

/** A raw request (no URL normalisation by the client), resolving with status, headers and body. */
function raw(path: string, opts: { method?: string; body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port: srv.port, path, method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => ok({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', fail);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

const noStack = (body: string) => assert.doesNotMatch(body, /\n\s+at |\.ts:\d+|\.js:\d+|Error:/, `a stack trace leaked: ${body}`);

test('binds 127.0.0.1 by default and sends a strict CSP with every answer', async () => {
  assert.equal(srv.host, '127.0.0.1');
  assert.equal((srv.server.address() as { address: string }).address, '127.0.0.1');
  const r = await raw('/');
  assert.equal(r.status, 200);
  assert.match(r.body, /<script type="module" src="\/ui\/main\.js"><\/script>/);
  assert.match(String(r.headers['content-security-policy']), /script-src 'self'/);
  assert.doesNotMatch(String(r.headers['content-security-policy']), /unsafe-inline'[^;]*script|script-src[^;]*unsafe/);
  assert.equal(r.headers['x-content-type-options'], 'nosniff');
});

test('the workspace answer lists the run, the SAE with its last metrics, and the dashboard', async () => {
  const r = await raw('/api/workspace');
  const ws = JSON.parse(r.body);
  assert.equal(ws.runs.length, 1);
  assert.equal(ws.runs[0].name, 'topk <i>test</i>');
  const sae = ws.runs[0].saes[0];
  assert.equal(sae.id, saeId);
  assert.equal(sae.lastStep, 30);
  assert.deepEqual(sae.train, { l0: 8, loss: 10 / 3 });
  assert.deepEqual(sae.dashboards, [dashboardId]);
  assert.equal(ws.dashboards[0].dSae, 64);
  const m = JSON.parse((await raw(`/api/saes/${saeId}/metrics`)).body);
  assert.deepEqual(m.metrics.loss, [[10, 1000, 10], [20, 2000, 5], [30, 3000, 10 / 3]]);
});

test('a feature page is the stored row, byte for byte in JSON', async () => {
  const r = await raw(`/api/dashboards/${dashboardId}/features/17`);
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  const f = JSON.parse(r.body);
  assert.equal(f.feature, 17);
  assert.equal(f.fires, 27);
  assert.deepEqual(f.data, featureData(17));
});

test('feature lists sort and page', async () => {
  const byDensity = JSON.parse((await raw(`/api/dashboards/${dashboardId}/features?order=density&limit=5&offset=2`)).body);
  assert.equal(byDensity.total, 64);
  assert.deepEqual(byDensity.features.map((f: { feature: number }) => f.feature), [61, 60, 59, 58, 57]);
  const byId = JSON.parse((await raw(`/api/dashboards/${dashboardId}/features?limit=3`)).body);
  assert.deepEqual(byId.features.map((f: { feature: number }) => f.feature), [0, 1, 2]);
  // Each listed feature carries its strongest example, as stored.
  assert.deepEqual(byId.features[2].top, featureData(2).top[0]);
  const bad = await raw(`/api/dashboards/${dashboardId}/features?order=drop%20table`);
  assert.equal(bad.status, 400);
  assert.equal((await raw(`/api/dashboards/${dashboardId}/features?limit=5000`)).status, 400);
});

test('unknown ids and paths give 404 with a one-line JSON error, never a stack trace', async () => {
  for (const p of [
    `/api/dashboards/999/features/1`, `/api/dashboards/${dashboardId}/features/64`, `/api/dashboards/${dashboardId}/features/-1`,
    `/api/dashboards/${dashboardId}/features/1e3`, `/api/dashboards/abc`, `/api/saes/999/metrics`, '/api/nothing', '/api/dashboards/1/features/1/extra',
    `/api/dashboards/99999999999999999999/features/1`, '/nothing', '/ui/missing.js', '/ui/../server.js', '/ui/%2e%2e%2fserver.js', '/ui/..%2F..%2Fpackage.json',
  ]) {
    const r = await raw(p);
    assert.equal(r.status, 404, p);
    noStack(r.body);
    if (p.startsWith('/api/')) assert.equal(typeof JSON.parse(r.body).error, 'string', p);
  }
});

test('report files: listed, served inertly; traversal, hidden files and links out give 404', async () => {
  const list = JSON.parse((await raw('/api/reports')).body);
  assert.deepEqual(list.files.map((f: { path: string }) => f.path), ['reports/eval/density.svg', 'reports/eval/metrics.json']);
  const svg = await raw('/files/reports/eval/density.svg');
  assert.equal(svg.status, 200);
  assert.equal(svg.headers['content-type'], 'image/svg+xml');
  assert.match(String(svg.headers['content-security-policy']), /sandbox/);
  assert.equal(JSON.parse((await raw('/files/reports/eval/metrics.json')).body).l0, 8);
  for (const p of [
    '/files/../../../etc/passwd', '/files/..%2f..%2f..%2fetc%2fpasswd', '/files/%2e%2e/%2e%2e/etc/passwd', '/files/reports/link.json', '/files/saelab.db',
    '/files//etc/passwd', '/files/reports/eval/../../saelab.db', '/files/reports%5c..%5csaelab.db', '/files/.hidden.json', '/files/reports/eval/none.svg',
  ]) {
    const r = await raw(p);
    assert.equal(r.status, 404, p);
    assert.doesNotMatch(r.body, /secret|root:|SQLite/);
    noStack(r.body);
  }
});

test('oversized bodies get 413, wrong methods 405, bad JSON 400, all without a stack trace', async () => {
  const big = await raw(`/api/dashboards/${dashboardId}/text`, { method: 'POST', body: Buffer.alloc(64 * 1024, 'a'), headers: { 'content-type': 'application/json' } });
  assert.equal(big.status, 413);
  noStack(big.body);
  const json = { 'content-type': 'application/json' };
  const longText = await raw(`/api/dashboards/${dashboardId}/text`, { method: 'POST', body: JSON.stringify({ text: 'x'.repeat(300) }), headers: json });
  assert.equal(longText.status, 413);
  assert.match(JSON.parse(longText.body).error, /over the limit of 200/);
  const notJson = await raw(`/api/dashboards/${dashboardId}/text`, { method: 'POST', body: '{nope', headers: json });
  assert.equal(notJson.status, 400);
  const noText = await raw(`/api/dashboards/${dashboardId}/text`, { method: 'POST', body: '{"text": 5}', headers: json });
  assert.equal(noText.status, 400);
  for (const [m, p] of [['POST', '/api/workspace'], ['DELETE', `/api/dashboards/${dashboardId}`], ['PUT', '/'], ['GET', `/api/dashboards/${dashboardId}/text`]] as const) {
    const r = await raw(p, { method: m });
    assert.equal(r.status, 405, `${m} ${p}`);
    noStack(r.body);
  }
  // The dashboard's model folder does not exist: a 404 naming it, not a crash.
  const gone = await raw(`/api/dashboards/${dashboardId}/text`, { method: 'POST', body: '{"text": "hello"}', headers: json });
  assert.equal(gone.status, 404);
  assert.match(JSON.parse(gone.body).error, /no longer there/);
  assert.deepEqual(logged, [], 'no internal errors were logged');
});

test('a feature page answers in under 100 ms from SQLite', async () => {
  const times: number[] = [];
  for (let k = 0; k < 40; k++) {
    const t0 = performance.now();
    const r = await raw(`/api/dashboards/${dashboardId}/features/${(k * 37) % 64}`);
    times.push(performance.now() - t0);
    assert.equal(r.status, 200);
  }
  times.sort((a, b) => a - b);
  const median = times[times.length >> 1]!;
  assert.ok(median < 100, `median ${median.toFixed(1)} ms`);
});
