// `saelab export-site` as a user runs it: a site and its sizes (--json); bad input (no such
// dashboard, a workspace without dashboards, a folder in the way, a bad id) is one line, exit 2,
// and writes nothing.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openWorkspaceDb, workspaceDbPath } from '../../src/io/workspaceDb.js';
import { saelab, userLines } from '../helpers/cli.js';
import { syntheticWorkspace } from '../server/fixtures.js';

test('export-site writes a site and reports its size', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-site-cli-'));
  try {
    const { db, dashboardId } = syntheticWorkspace(join(dir, 'ws'), 50);
    const out = join(dir, 'site');
    const r = await saelab(['export-site', '--db', db, '--dashboard', String(dashboardId), '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { dir: string; files: number; bytes: number; homeBytes: number; features: number };
    assert.equal(j.features, 50);
    assert.ok(j.files > 20 && j.bytes > j.homeBytes && j.homeBytes > 10_000);
    assert.ok(existsSync(join(out, 'index.html')) && existsSync(join(out, 'site.json')));
    const human = await saelab(['export-site', '--db', db, '--dashboard', String(dashboardId), '--out', out, '--force']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /saelab export-site: .*: \d+ files, [\d.]+ MiB; 50 features/);
    assert.match((await saelab(['export-site', '--help'])).stdout, /--force[\s\S]*--with-model/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('export-site: bad input is one line, exit 2, and nothing written', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-site-cli-'));
  try {
    const { db, dashboardId } = syntheticWorkspace(join(dir, 'ws'), 8);
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    openWorkspaceDb(workspaceDbPath(empty)).close(); // a workspace database with no dashboards
    const busy = join(dir, 'busy');
    mkdirSync(busy);
    writeFileSync(join(busy, 'keep.txt'), 'x');
    const out = join(dir, 'site');
    const cases: [string[], RegExp][] = [
      [['--db', db, '--dashboard', String(dashboardId + 7), '--out', out], new RegExp(`--dashboard ${dashboardId + 7}: no such dashboard`)],
      [['--db', workspaceDbPath(empty), '--dashboard', '1', '--out', out], /the workspace has no dashboards/],
      [['--db', db, '--dashboard', String(dashboardId), '--out', busy], /--out .*busy: the folder is not empty \(use --force/],
      [['--db', db, '--dashboard', String(dashboardId), '--out', busy, '--force'], /not a site exported by saelab/],
      [['--db', db, '--dashboard', 'x', '--out', out], /--dashboard/],
      [['--db', join(dir, 'none.db'), '--dashboard', '1', '--out', out], /--db .*no such file/],
    ];
    for (const [args, line] of cases) {
      const r = await saelab(['export-site', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      const lines = userLines(r.stderr);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, line);
      assert.equal(existsSync(out), false, 'no site written');
      assert.deepEqual(readdirSync(busy), ['keep.txt']);
      assert.equal(readFileSync(join(busy, 'keep.txt'), 'utf8'), 'x');
    }
    assert.deepEqual(readdirSync(dir).sort(), ['busy', 'empty', 'ws'], 'no temp folder left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
