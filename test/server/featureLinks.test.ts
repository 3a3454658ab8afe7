// The feature page's "driven by" / "drives" links (saelab connect's feature_edges) through the API:
// edges into the feature come back ranked, edges out of it ordered by |attribution|, each with the
// other SAE's dashboard when it has one; a workspace without connect runs answers empty lists.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { insertConnectRun } from '../../src/analysis/connectDb.js';
import { insertDuplicatesRun } from '../../src/analysis/duplicatesDb.js';
import { openWorkspaceDb } from '../../src/io/workspaceDb.js';
import { startServer } from '../../src/server/server.js';
import { syntheticWorkspace } from './fixtures.js';

test('feature page API: driven by / drives links from connect runs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-links-'));
  try {
    const w = syntheticWorkspace(dir, 64);
    const here = join(dir, 'topk-k8-s0');
    const other = join(dir, 'L0-sae');
    const row = (path: string, hook: string) => ({ path, label: path.split('/').pop()!, architecture: 'topk', dIn: 16, dSae: 64, hook, cfg: {} });
    const edge = (source: number, attribution: number) => ({ source, attribution, perFiring: attribution / 10 });
    const ws = openWorkspaceDb(w.db);
    // other (blocks.0) → here (blocks.1): feature 3 of here is driven by 7, the error term and 2.
    insertConnectRun(ws, { model: 'tiny', config: {}, early: row(other, 'blocks.0.hook_resid_pre'), late: row(here, 'blocks.1.hook_resid_pre'),
      features: [{ feature: 3, fires: 10, activation: 5, edges: [edge(7, 4), edge(-1, -2), edge(2, 1)], error: -2, bias: 0, excluded: 0 }] });
    // here (blocks.1) → other2 (blocks.2): feature 3 of here drives 9 (weakly) and 12 (strongly).
    insertConnectRun(ws, { model: 'tiny', config: {}, early: row(here, 'blocks.1.hook_resid_pre'), late: row(join(dir, 'L2-sae'), 'blocks.2.hook_resid_pre'),
      features: [{ feature: 9, fires: 5, activation: 1, edges: [edge(3, 0.5)], error: 0, bias: 0, excluded: 0 }, { feature: 12, fires: 5, activation: 1, edges: [edge(3, -3)], error: 0, bias: 0, excluded: 0 }] });
    // saelab duplicates: feature 3 of here duplicates L0-sae's 8 (here is the later SAE of the pair).
    const dupRun = insertDuplicatesRun(ws, { model: 'tiny', config: {}, saes: [row(other, 'blocks.0.hook_resid_pre'), row(here, 'blocks.1.hook_resid_pre')],
      between: [{ a: 0, b: 1, pairs: [{ a: 8, b: 3, cosine: 0.95, correlation: 0.9 }, { a: 1, b: 4, cosine: 0.8, correlation: 0.75 }] }] }).runId;
    ws.close();
    const srv = await startServer({ db: w.db, device: cpu });
    try {
      const get = async (f: number) => (await (await fetch(`http://127.0.0.1:${srv.port}/api/dashboards/${w.dashboardId}/features/${f}`)).json()) as { duplicates: { feature: number; label: string; hook: string; cosine: number; correlation: number }[]; links: { drivenBy: { feature: number; label: string; hook: string; perFiring: number; dashboard: number | null }[]; drives: { feature: number; label: string }[] } };
      const p = await get(3);
      assert.deepEqual(p.links.drivenBy.map((l) => l.feature), [7, -1, 2]);
      assert.deepEqual(p.links.drivenBy.map((l) => [l.label, l.hook, l.dashboard]), Array(3).fill(['L0-sae', 'blocks.0.hook_resid_pre', null]));
      assert.equal(p.links.drivenBy[0]!.perFiring, 0.4);
      assert.deepEqual(p.links.drives.map((l) => [l.label, l.feature]), [['L2-sae', 12], ['L2-sae', 9]]);
      assert.deepEqual(p.duplicates.map((x) => [x.label, x.hook, x.feature, x.cosine, x.correlation]), [['L0-sae', 'blocks.0.hook_resid_pre', 8, 0.95, 0.9]]);
      const q = await get(4);
      assert.deepEqual(q.links, { drivenBy: [], drives: [] });
      assert.deepEqual(q.duplicates.map((x) => x.feature), [1]);
      assert.deepEqual((await get(5)).duplicates, []);
      const run = (await (await fetch(`http://127.0.0.1:${srv.port}/api/duplicates/${dupRun}`)).json()) as { saes: { label: string; dashboard: number | null }[]; pairs: number[][] };
      assert.deepEqual(run.saes.map((x) => [x.label, x.dashboard]), [['L0-sae', null], ['topk-k8-s0', w.dashboardId]]);
      assert.deepEqual(run.pairs, [[0, 8, 1, 3, 0.95, 0.9], [0, 1, 1, 4, 0.8, 0.75]]);
      assert.equal((await fetch(`http://127.0.0.1:${srv.port}/api/duplicates/1`)).status, 404, 'run 1 (a train run) is not a duplicates run');
    } finally {
      await srv.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
