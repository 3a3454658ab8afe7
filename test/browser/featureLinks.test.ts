// The feature page's cross-SAE links in headless Chromium: "Driven by" / "Drives" (saelab connect)
// and "Duplicates at other hooks" (saelab duplicates), on a synthetic workspace with two dashboards;
// and a duplicates run's page (#/duplicates/:run), reached from the workspace page.
// Links whose SAE has a dashboard are anchors that open that feature's page (and lead back); links to
// an SAE without a dashboard, and the error term, are plain text.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium, type Page } from 'playwright-core';
import { insertConnectRun } from '../../src/analysis/connectDb.js';
import { insertDuplicatesRun } from '../../src/analysis/duplicatesDb.js';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { DashboardDb } from '../../src/io/dashboardDb.js';
import { openWorkspaceDb } from '../../src/io/workspaceDb.js';
import { startServer } from '../../src/server/server.js';
import { featureData, syntheticWorkspace } from '../server/fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = !existsSync(CHROMIUM) ? `needs Debian's chromium at ${CHROMIUM} (apt-get install chromium)` : false;
const FLAGS = ['--no-sandbox', '--disable-gpu-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'];

/** Wait until the app has rendered `route`. */
async function ready(page: Page, route: string): Promise<void> {
  await page.waitForFunction((r) => document.getElementById('app')?.getAttribute('data-ready') === r, route, { timeout: 30_000 });
}

/** A table's rows below its header as cell texts, and its anchors' hrefs. */
async function tableOf(page: Page, id: string): Promise<{ rows: string[][]; hrefs: string[] }> {
  const rows = await page.$$eval(`#${id} tr`, (trs) => trs.slice(1).map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? '')));
  const hrefs = await page.$$eval(`#${id} a`, (as) => as.map((a) => a.getAttribute('href') ?? ''));
  return { rows, hrefs };
}

test('feature page: driven by / drives / duplicates links render and navigate between dashboards', { skip, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-links-ui-'));
  let srv: Awaited<ReturnType<typeof startServer>> | null = null;
  let browser: Awaited<ReturnType<typeof chromium.launch>> | null = null;
  try {
    const w = syntheticWorkspace(dir, 16);
    const here = join(dir, 'topk-k8-s0');
    const early = join(dir, 'L0-sae');
    const late = join(dir, 'L2-sae');
    const ws = openWorkspaceDb(w.db);
    // A second dashboard, for the earlier SAE.
    const dash = new DashboardDb(ws);
    const earlyDash = dash.insertDashboard({ saeId: null, saePath: early, model: 'tiny', hook: 'blocks.0.hook_resid_pre', data: 'corpus.txt', dSae: 16, config: { contextSize: 32 } });
    dash.writeFeatures(earlyDash, Array.from({ length: 16 }, (_, i) => ({ feature: i, fires: 5, density: 0.001, maxAct: 5, meanAct: 2, data: featureData(i, 2) })));
    dash.setStatus(earlyDash, 'done', 5000);
    const row = (path: string, hook: string) => ({ path, label: path.split('/').pop()!, architecture: 'topk', dIn: 16, dSae: 16, hook, cfg: {} });
    const edge = (source: number, attribution: number) => ({ source, attribution, perFiring: attribution / 10 });
    insertConnectRun(ws, { model: 'tiny', config: {}, early: row(early, 'blocks.0.hook_resid_pre'), late: row(here, 'blocks.1.hook_resid_pre'),
      features: [{ feature: 3, fires: 10, activation: 5, edges: [edge(7, 4), edge(-1, -2)], error: -2, bias: 0, excluded: 0 }] });
    insertConnectRun(ws, { model: 'tiny', config: {}, early: row(here, 'blocks.1.hook_resid_pre'), late: row(late, 'blocks.2.hook_resid_pre'),
      features: [{ feature: 12, fires: 5, activation: 1, edges: [edge(3, -3)], error: 0, bias: 0, excluded: 0 }] });
    const dupRun = insertDuplicatesRun(ws, { model: 'tiny', config: { tokens: 4096, cosine: 0.7, correlation: 0.7 }, saes: [row(early, 'blocks.0.hook_resid_pre'), row(here, 'blocks.1.hook_resid_pre'), row(late, 'blocks.2.hook_resid_pre')],
      between: [{ a: 0, b: 1, pairs: [{ a: 8, b: 3, cosine: 0.95, correlation: 0.9 }] }, { a: 1, b: 2, pairs: [{ a: 5, b: 6, cosine: 0.8, correlation: 0.75 }, { a: 2, b: 1, cosine: 0.99, correlation: 0.98 }] }] }).runId;
    ws.close();

    srv = await startServer({ db: w.db, device: cpu });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
    const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));

    const f3 = `/dashboards/${w.dashboardId}/features/3`;
    await page.goto(`${srv.url}#${f3}`);
    await ready(page, f3);
    const drivenBy = await tableOf(page, 'links-drivenBy');
    assert.deepEqual(drivenBy.rows.map((r) => r.slice(0, 2)), [['L0-sae #7', 'blocks.0.hook_resid_pre'], ['L0-sae error', 'blocks.0.hook_resid_pre']]);
    assert.deepEqual(drivenBy.hrefs, [`#/dashboards/${earlyDash}/features/7`], 'the error term is not a link');
    const drives = await tableOf(page, 'links-drives');
    assert.deepEqual(drives.rows.map((r) => r.slice(0, 2)), [['L2-sae #12', 'blocks.2.hook_resid_pre']]);
    assert.deepEqual(drives.hrefs, [], 'L2-sae has no dashboard: text, not a link');
    const dups = await tableOf(page, 'duplicates');
    assert.deepEqual(dups.rows.map((r) => r.slice(0, 2)), [['L0-sae #8', 'blocks.0.hook_resid_pre']]);
    assert.ok(Math.abs(Number(dups.rows[0]![2]) - 0.95) < 1e-9 && Math.abs(Number(dups.rows[0]![3]) - 0.9) < 1e-9, dups.rows[0]!.join(' '));
    assert.deepEqual(dups.hrefs, [`#/dashboards/${earlyDash}/features/8`]);

    // Follow "driven by" to the earlier SAE's feature 7: its "drives" leads back to feature 3.
    await page.click('#links-drivenBy a');
    const f7 = `/dashboards/${earlyDash}/features/7`;
    await ready(page, f7);
    assert.equal(await page.textContent('#feature-title'), 'Feature 7');
    const back = await tableOf(page, 'links-drives');
    assert.deepEqual(back.rows.map((r) => r[0]), ['topk-k8-s0 #3']);
    assert.equal(await page.locator('#links-drivenBy').count(), 0, 'nothing drives it: no table');
    await page.click('#links-drives a');
    await ready(page, f3);
    // The duplicate's page lists feature 3 back.
    await page.click('#duplicates a');
    await ready(page, `/dashboards/${earlyDash}/features/8`);
    assert.deepEqual((await tableOf(page, 'duplicates')).hrefs, [`#${f3}`]);

    // The run's page, from the workspace page's "pairs" link: a table per SAE pair, strongest first.
    await page.goto(`${srv.url}#/`);
    await ready(page, '/');
    await page.click(`a[href="#/duplicates/${dupRun}"]`);
    await ready(page, `/duplicates/${dupRun}`);
    const heads = await page.$$eval('h2', (hs) => hs.map((h) => h.textContent ?? ''));
    assert.deepEqual(heads, ['L0-sae (blocks.0.hook_resid_pre) → topk-k8-s0 (blocks.1.hook_resid_pre): 1 pairs', 'topk-k8-s0 (blocks.1.hook_resid_pre) → L2-sae (blocks.2.hook_resid_pre): 2 pairs']);
    const second = await page.$$eval('table.duplicates[data-pair="1|2"] tr', (trs) => trs.slice(1).map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? '').slice(0, 2)));
    assert.deepEqual(second, [['#2', '#1'], ['#5', '#6']]);
    // topk-k8-s0 has a dashboard, L2-sae none: only the first column links.
    assert.deepEqual(await page.$$eval('table.duplicates[data-pair="1|2"] a', (as) => as.map((a) => a.getAttribute('href'))), [`#/dashboards/${w.dashboardId}/features/2`, `#/dashboards/${w.dashboardId}/features/5`]);
    await page.click('table.duplicates[data-pair="0|1"] a >> nth=0');
    await ready(page, `/dashboards/${earlyDash}/features/8`);
    assert.deepEqual(pageErrors, []);
  } finally {
    await browser?.close();
    await srv?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
