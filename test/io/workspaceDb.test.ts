// The workspace database on a temp file: schema and WAL, runs, SAEs, metrics in and out.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openWorkspaceDb, WORKSPACE_DB_SCHEMA_VERSION, workspaceDbPath } from '../../src/io/workspaceDb.js';
import type { TrainLogRow } from '../../src/sae/trainLog.js';

async function withDb(fn: (path: string) => void | Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'saelab-db-'));
  try {
    await fn(workspaceDbPath(join(dir, 'ws')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('create, WAL mode, schema version; reopening keeps the data', () =>
  withDb((path) => {
    const db = openWorkspaceDb(path);
    assert.equal(db.db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.schemaVersion(), WORKSPACE_DB_SCHEMA_VERSION);
    const tables = (db.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
    for (const t of ['runs', 'saes', 'schema_version', 'train_metrics']) assert.ok(tables.includes(t), t);
    const id = db.insertRun({ kind: 'train', config: { lr: 1e-3 } });
    db.close();
    const again = openWorkspaceDb(path);
    assert.equal(again.schemaVersion(), WORKSPACE_DB_SCHEMA_VERSION);
    assert.equal((again.db.prepare('SELECT COUNT(*) AS n FROM schema_version').get() as { n: number }).n, 1);
    assert.deepEqual(again.getRun(id)!.config, { lr: 1e-3 });
    again.close();
  }));

test('a file from a newer schema is refused', () =>
  withDb((path) => {
    const db = openWorkspaceDb(path);
    db.db.prepare('UPDATE schema_version SET version = 99').run();
    db.close();
    assert.throws(() => openWorkspaceDb(path), /schema version 99 is newer/);
  }));

test('runs and SAEs: insert, status, list, read back', () =>
  withDb((path) => {
    const db = openWorkspaceDb(path);
    const run = db.insertRun({ kind: 'train', name: 'sweep k', config: { totalSteps: 100, ks: [16, 32] } });
    const other = db.insertRun({ kind: 'harvest', config: {} });
    const r = db.getRun(run)!;
    assert.equal(r.kind, 'train');
    assert.equal(r.name, 'sweep k');
    assert.equal(r.status, 'running');
    assert.ok(!Number.isNaN(Date.parse(r.createdAt)));
    db.setRunStatus(run, 'done');
    assert.equal(db.getRun(run)!.status, 'done');
    assert.throws(() => db.setRunStatus(12345, 'done'), /no run/);
    assert.throws(() => db.db.prepare("UPDATE runs SET status = 'weird' WHERE id = ?").run(run), /CHECK/);
    assert.deepEqual(db.listRuns().map((x) => x.id), [other, run]);
    assert.deepEqual(db.listRuns({ kind: 'train' }).map((x) => x.id), [run]);
    assert.equal(db.getRun(999), null);

    const cfg = { architecture: 'topk', dIn: 64, dSae: 512, k: 16 };
    const s1 = db.insertSae({ runId: run, saeIndex: 1, architecture: 'topk', dIn: 64, dSae: 512, hook: 'blocks.3.hook_resid_post', model: 'gpt2', cfg });
    const s0 = db.insertSae({ runId: run, saeIndex: 0, architecture: 'topk', dIn: 64, dSae: 256, cfg: { ...cfg, dSae: 256 } });
    db.setSaePath(s0, '/ws/saes/0');
    assert.deepEqual(db.getSae(s1), { id: s1, runId: run, saeIndex: 1, path: null, architecture: 'topk', dIn: 64, dSae: 512, hook: 'blocks.3.hook_resid_post', model: 'gpt2', cfg });
    assert.deepEqual(db.listSaes(run).map((s) => [s.id, s.path]), [[s0, '/ws/saes/0'], [s1, null]]);
    assert.throws(() => db.insertSae({ runId: 999, architecture: 'topk', dIn: 1, dSae: 1, cfg: {} }), /FOREIGN KEY/);
    db.close();
  }));

test('metrics: one transaction in, read back by SAE, name and step range; replace on rewrite; cascade delete', () =>
  withDb((path) => {
    const db = openWorkspaceDb(path);
    const run = db.insertRun({ kind: 'train', config: {} });
    const a = db.insertSae({ runId: run, saeIndex: 0, architecture: 'standard', dIn: 4, dSae: 8, cfg: {} });
    const b = db.insertSae({ runId: run, saeIndex: 1, architecture: 'standard', dIn: 4, dSae: 8, cfg: {} });
    const row = (step: number, saeIndex: number, loss: number): TrainLogRow => ({
      step, tokens: step * 10, saeIndex, loss, mse: loss / 2, l1: 0.1, l0: 3, deadFraction: 0, lr: 1e-3, tokensPerSecond: 1000,
    });
    db.insertTrainLogRows([a, b], [row(10, 0, 1), row(10, 1, 2), row(20, 0, 0.5), row(20, 1, 1.5)]);
    assert.deepEqual(db.metricNames(a), ['deadFraction', 'l0', 'l1', 'loss', 'lr', 'mse', 'tokensPerSecond']);
    assert.deepEqual(db.readMetrics(a, { name: 'loss' }), [
      { saeId: a, step: 10, tokens: 100, name: 'loss', value: 1 },
      { saeId: a, step: 20, tokens: 200, name: 'loss', value: 0.5 },
    ]);
    assert.deepEqual(db.readMetrics(b, { name: 'mse', fromStep: 15 }).map((r) => r.value), [0.75]);
    assert.equal(db.readMetrics(b, { toStep: 10 }).length, 7);
    // a resumed run rewrites step 20: replaced, not duplicated; NaN is stored as NULL
    db.insertTrainLogRows([a, b], [row(20, 0, Number.NaN)]);
    assert.deepEqual(db.readMetrics(a, { name: 'loss' }).map((r) => r.value), [1, null]);
    // a failing batch leaves nothing behind
    assert.throws(() => db.insertMetrics([{ saeId: a, step: 30, tokens: 300, name: 'x', value: 1 }, { saeId: 999, step: 30, tokens: 300, name: 'x', value: 1 }]), /FOREIGN KEY/);
    assert.equal(db.readMetrics(a, { name: 'x' }).length, 0);
    assert.throws(() => db.insertTrainLogRows([a], [row(10, 1, 1)]), /saeIndex 1/);
    db.deleteRun(run);
    assert.equal(db.getSae(a), null);
    assert.equal(db.readMetrics(a).length, 0);
    db.close();
  }));

test('a version-5 file (before feature_edges and feature_duplicates) migrates: the tables and their indexes appear, rows kept', () =>
  withDb((path) => {
    const db = openWorkspaceDb(path);
    const run = db.insertRun({ kind: 'eval', config: {} });
    db.db.exec('DROP INDEX feature_duplicates_other; DROP TABLE feature_duplicates; DROP INDEX feature_edges_early; DROP TABLE feature_edges; UPDATE schema_version SET version = 5');
    db.close();
    const again = openWorkspaceDb(path);
    assert.equal(again.schemaVersion(), WORKSPACE_DB_SCHEMA_VERSION);
    assert.equal(WORKSPACE_DB_SCHEMA_VERSION, 7);
    const names = (again.db.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'feature_edges%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
    assert.deepEqual(names, ['feature_edges', 'feature_edges_early']);
    const dup = (again.db.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'feature_duplicates%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
    assert.deepEqual(dup, ['feature_duplicates', 'feature_duplicates_other']);
    assert.equal(again.getRun(run)!.kind, 'eval');
    again.close();
  }));
