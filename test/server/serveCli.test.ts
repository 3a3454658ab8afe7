// `saelab serve` as a user runs it: it prints its URL, answers (its own names and --allowed-hosts,
// not a foreign Host), stops on SIGTERM; a missing database, a bad port or a bad --allowed-hosts
// is one line and exit code 2.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { saelab, userLines } from '../helpers/cli.js';
import { syntheticWorkspace } from './fixtures.js';
import { rawRequest, requestText } from './rawHttp.js';

test('serve prints its 127.0.0.1 URL, answers the API, and exits 0 on SIGTERM', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-serve-cli-'));
  try {
    const { db, dashboardId } = syntheticWorkspace(dir, 8);
    const child = spawn(process.execPath, [resolve('bin/saelab.js'), 'serve', '--db', db, '--port', '0', '--allowed-hosts', 'saelab.lan, [fd00::5]'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const url = await new Promise<string>((ok, fail) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
        if (m) ok(m[1]!);
      });
      child.on('exit', (code) => fail(new Error(`serve exited ${code} before listening: ${out}`)));
    });
    const r = await fetch(`${url}api/dashboards/${dashboardId}/features/3`);
    assert.equal(r.status, 200);
    assert.equal(((await r.json()) as { feature: number }).feature, 3);
    const port = Number(new URL(url).port);
    for (const [host, status] of [['saelab.lan', 200], [`[fd00::5]:${port}`, 200], [`localhost:${port}`, 200], ['evil.example', 421]] as const) {
      assert.equal((await rawRequest(port, requestText('GET', '/api/workspace', { host }))).status, status, host);
    }
    const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serve: a missing database and a bad port are one line, exit 2', { timeout: 60_000 }, async () => {
  const missing = await saelab(['serve', '--db', '/nonexistent/saelab.db']);
  assert.equal(missing.code, 2);
  assert.deepEqual(userLines(missing.stderr), ['saelab: --db /nonexistent/saelab.db: no such file (a workspace database written by saelab train / dashboard)']);
  const port = await saelab(['serve', '--db', '/nonexistent/saelab.db', '--port', '70000']);
  assert.equal(port.code, 2);
  assert.deepEqual(userLines(port.stderr), ['saelab: --port must be at most 65535 (got 70000)']);
  const hosts = await saelab(['serve', '--db', '/nonexistent/saelab.db', '--allowed-hosts', 'ok.lan,box.lan:8017']);
  assert.equal(hosts.code, 2);
  assert.deepEqual(userLines(hosts.stderr), ["saelab: --allowed-hosts: 'box.lan:8017' is not a host name or IP address (list names without ports, comma-separated)"]);
});
