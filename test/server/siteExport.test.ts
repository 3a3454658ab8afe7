// saelab export-site's exporter (src/server/siteExport.ts) on the synthetic workspace: the folder
// holds exactly the files the page can ask for (worked out here from site.json, independently of
// the exporter), the documents are the API's answers (lists pre-sorted per order and cut in chunks,
// feature pages in shards), no file holds a local path, the first page is small, and a failed or
// refused export leaves nothing behind.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { insertConnectRun } from '../../src/analysis/connectDb.js';
import { insertDuplicatesRun } from '../../src/analysis/duplicatesDb.js';
import { DashboardDb } from '../../src/io/dashboardDb.js';
import { openWorkspaceDb } from '../../src/io/workspaceDb.js';
import { exportSite } from '../../src/server/siteExport.js';
import type { FeatureShard, SiteInfo } from '../../src/server/ui/siteLayout.js';
import type { FeatureListPage, FeaturePage } from '../../src/server/ui/types.js';
import { WorkspaceReader } from '../../src/server/workspaceApi.js';
import { syntheticWorkspace } from './fixtures.js';

/** Every file under `dir`, relative, with '/'. */
function walk(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name), base) : [relative(base, join(dir, e.name)).split('\\').join('/')]));
}

// The UI's modules the page loads: every module of src/server/ui but types.ts (types only, erased).
const UI_MODULES = readdirSync('src/server/ui').filter((n) => n.endsWith('.ts') && n !== 'types.ts').map((n) => `ui/${n.replace(/\.ts$/, '.js')}`);

const read = <T>(site: string, rel: string): T => JSON.parse(readFileSync(join(site, rel), 'utf8')) as T;

test('export-site writes exactly the files the page needs, the API answers as files, and no local path', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-site-'));
  try {
    const ws = join(dir, 'ws');
    mkdirSync(ws);
    const { db, dashboardId: d, saeId } = syntheticWorkspace(ws, 300);
    const out = join(dir, 'site');
    const seen: number[] = [];
    const r = await exportSite({ db, dashboard: d, out, featuresPerShard: 16, listChunk: 64, onProgress: (done) => seen.push(done) });
    assert.equal(r.dir, out);
    assert.equal(seen.at(-1), 300);

    // The files: what the exporter says it wrote, what is there, and what the page can ask for.
    const there = walk(out).sort();
    assert.deepEqual(r.files.map((f) => f.path), there);
    const info = read<SiteInfo>(out, 'site.json');
    assert.deepEqual({ ...info, generator: '' }, { format: 1, generator: '', dashboard: d, listChunk: 64, orders: ['density', 'maxAct', 'feature'], featuresPerShard: 16, saes: [saeId], textFeatures: 'none' });
    const expected = ['index.html', 'site.json', 'ui/style.css', ...UI_MODULES, 'data/workspace.json', `data/saes/${saeId}/metrics.json`, `data/dashboards/${d}/dashboard.json`];
    for (const o of info.orders) for (let c = 0; c < Math.ceil(300 / 64); c++) expected.push(`data/dashboards/${d}/list-${o}/${c}.json`);
    for (let k = 0; k < Math.ceil(300 / 16); k++) expected.push(`data/dashboards/${d}/features/${k}.json`);
    assert.deepEqual(there, expected.sort());
    for (const f of r.files) assert.equal(f.bytes, readFileSync(join(out, f.path)).length, f.path);

    // No local path anywhere: not the workspace folder, the temp folder, the home folder or /work/ (this machine's checkouts).
    for (const f of there) {
      const text = readFileSync(join(out, f), 'utf8');
      for (const p of [ws, dir, tmpdir(), homedir(), '/work/', 'sourceMappingURL']) assert.ok(!text.includes(p), `${f} holds ${p}`);
    }

    // The page: the static marker and a strict CSP in a meta tag; scripts only from its own ui/ folder.
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'self';/);
    assert.match(html, /<meta name="saelab-site" content="static">/);
    assert.deepEqual([...html.matchAll(/<script[^>]*>/g)].map((m) => m[0]), ['<script type="module" src="ui/main.js">']);
    assert.ok(!html.includes('/api/') && !html.includes('"/ui/'), 'paths relative to the page');

    // The documents are the API's answers.
    const reader = new WorkspaceReader(db);
    try {
      for (const o of info.orders) {
        const rows = Array.from({ length: Math.ceil(300 / 64) }, (_, c) => read<FeatureListPage>(out, `data/dashboards/${d}/list-${o}/${c}.json`)).flatMap((p) => p.features);
        const api = (reader.featureList(d, o, 1000, 0) as FeatureListPage).features;
        assert.deepEqual(rows.map((x) => [x.feature, x.density, x.maxAct]), api.map((x) => [x.feature, x.density, x.maxAct]), o);
        for (const [i, x] of rows.entries()) {
          const t = api[i]!.top!;
          assert.ok(x.top!.tokens.length <= 9 && x.top!.tokens[x.top!.at] === t.tokens[t.at], 'the strongest example, cut to ±4 tokens');
        }
      }
      for (const f of [0, 15, 16, 157, 299]) {
        const shard = read<FeatureShard>(out, `data/dashboards/${d}/features/${Math.floor(f / 16)}.json`);
        assert.equal(shard.first, Math.floor(f / 16) * 16);
        const page = shard.features[f - shard.first] as FeaturePage;
        const api = reader.feature(d, f) as FeaturePage;
        assert.deepEqual(page.data, api.data, `feature ${f}`);
        assert.equal(page.fires, api.fires);
        assert.equal(page.dashboard.saePath, 'topk-k8-s0', 'the SAE folder by name only');
      }
      assert.equal(read<{ features: number }>(out, `data/dashboards/${d}/dashboard.json`).features, 300);
    } finally {
      reader.close();
    }
    const wsPage = read<{ runs: { saes: { path: string; dashboards: number[] }[] }[]; dashboards: { id: number; saePath: string; model: string }[] }>(out, 'data/workspace.json');
    assert.deepEqual(wsPage.dashboards.map((x) => [x.id, x.saePath, x.model]), [[d, 'topk-k8-s0', 'no-model']]);
    assert.deepEqual(wsPage.runs.flatMap((x) => x.saes.map((s) => [s.path, s.dashboards])), [['topk-k8-s0', [d]]]);

    // Sizes: the first pages are small, and a feature costs one shard.
    assert.ok(r.homeBytes < 1_000_000 && r.listBytes < 1_000_000, `first page ${r.homeBytes} / ${r.listBytes} bytes`);
    assert.equal(r.largestShardBytes, Math.max(...r.files.filter((f) => f.path.includes('/features/')).map((f) => f.bytes)));
    assert.equal(r.bytes, r.files.reduce((a, f) => a + f.bytes, 0));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('export-site picks shards of about 256 KB by default and cuts lists in 200 rows', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-site-'));
  try {
    const { db, dashboardId: d } = syntheticWorkspace(join(dir, 'ws'), 600);
    const r = await exportSite({ db, dashboard: d, out: join(dir, 'site') });
    assert.equal(Math.log2(r.featuresPerShard) % 1, 0, 'a power of two');
    assert.ok(r.largestShardBytes <= 256 * 1024 && r.largestShardBytes * 2 > 256 * 1024, `${r.featuresPerShard} per shard, largest ${r.largestShardBytes} bytes`);
    assert.equal(r.listChunk, 200);
    assert.equal(r.files.filter((f) => f.path.includes('/list-density/')).length, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('export-site refuses a folder in the way, replaces a site with force, and never leaves a half-written site', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-site-'));
  try {
    const { db, dashboardId: d } = syntheticWorkspace(join(dir, 'ws'), 40);
    const out = join(dir, 'site');
    // A folder with other files: refused, with or without force, and untouched.
    mkdirSync(out);
    writeFileSync(join(out, 'notes.txt'), 'mine');
    await assert.rejects(exportSite({ db, dashboard: d, out }), { name: 'SiteExportError', message: /--out .*not empty .*--force/ });
    await assert.rejects(exportSite({ db, dashboard: d, out, force: true }), { name: 'SiteExportError', message: /not a site exported by saelab/ });
    assert.deepEqual(readdirSync(out), ['notes.txt']);
    rmSync(out, { recursive: true });
    // An empty folder is fine; a second export over the site needs force, and replaces it whole.
    mkdirSync(out);
    await exportSite({ db, dashboard: d, out, featuresPerShard: 4 });
    await assert.rejects(exportSite({ db, dashboard: d, out }), /not empty/);
    const again = await exportSite({ db, dashboard: d, out, force: true, featuresPerShard: 8 });
    assert.deepEqual(walk(out).sort(), again.files.map((f) => f.path));
    // A failure half way (here: in the progress callback after some shards): no site, no temp folder.
    const fresh = join(dir, 'fresh');
    let calls = 0;
    const boom = () => {
      if (++calls === 3) throw new Error('stopped half way');
    };
    await assert.rejects(exportSite({ db, dashboard: d, out: fresh, featuresPerShard: 4, onProgress: boom }), /half way/);
    assert.equal(existsSync(fresh), false);
    // …and over an existing site, the old site stays whole.
    calls = 0;
    await assert.rejects(exportSite({ db, dashboard: d, out, force: true, featuresPerShard: 4, onProgress: boom }), /half way/);
    assert.deepEqual(walk(out).sort(), again.files.map((f) => f.path));
    assert.deepEqual(readdirSync(dir).sort(), ['site', 'ws'], 'no temp folder left');
    // Bad input.
    await assert.rejects(exportSite({ db, dashboard: d + 5, out: fresh }), { name: 'SiteExportError', message: new RegExp(`--dashboard ${d + 5}: no such dashboard .*\\(it has ${d}\\)`) });
    await assert.rejects(exportSite({ db: join(dir, 'nope.db'), dashboard: d, out: fresh }), { name: 'SiteExportError', message: /--db .*no such file/ });
    assert.equal(existsSync(fresh), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a site of one dashboard: links to other dashboards become plain text, other runs and dashboards stay out', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-site-'));
  try {
    const w = syntheticWorkspace(dir, 64);
    const here = join(dir, 'topk-k8-s0');
    const other = join(dir, 'L0-sae');
    const row = (path: string, hook: string) => ({ path, label: path.split('/').pop()!, architecture: 'topk', dIn: 16, dSae: 64, hook, cfg: {} });
    const ws = openWorkspaceDb(w.db);
    // L0-sae has a dashboard of its own (no feature rows needed), drives feature 3 and duplicates it.
    const otherDash = new DashboardDb(ws).insertDashboard({ saeId: null, saePath: other, model: 'tiny', hook: 'blocks.0.hook_resid_pre', data: 'corpus.txt', dSae: 64, config: {} });
    new DashboardDb(ws).setStatus(otherDash, 'done', 10);
    insertConnectRun(ws, { model: 'tiny', config: {}, early: row(other, 'blocks.0.hook_resid_pre'), late: row(here, 'blocks.1.hook_resid_pre'),
      features: [{ feature: 3, fires: 10, activation: 5, edges: [{ source: 7, attribution: 4, perFiring: 0.4 }], error: 0, bias: 0, excluded: 0 }] });
    insertDuplicatesRun(ws, { model: 'tiny', config: {}, saes: [row(other, 'blocks.0.hook_resid_pre'), row(here, 'blocks.1.hook_resid_pre')], between: [{ a: 0, b: 1, pairs: [{ a: 8, b: 3, cosine: 0.95, correlation: 0.9 }] }] });
    ws.close();
    const reader = new WorkspaceReader(w.db);
    const api = reader.feature(w.dashboardId, 3) as FeaturePage;
    reader.close();
    assert.equal(api.links!.drivenBy[0]!.dashboard, otherDash, 'the server links to the other dashboard');
    assert.equal(api.duplicates![0]!.dashboard, otherDash);
    const out = join(dir, 'site');
    await exportSite({ db: w.db, dashboard: w.dashboardId, out, featuresPerShard: 64 });
    const page = read<FeatureShard>(out, `data/dashboards/${w.dashboardId}/features/0.json`).features[3] as FeaturePage;
    assert.deepEqual(page.links!.drivenBy.map((l) => [l.label, l.feature, l.dashboard]), [['L0-sae', 7, null]]);
    assert.deepEqual(page.duplicates!.map((x) => [x.label, x.feature, x.dashboard]), [['L0-sae', 8, null]]);
    const wsPage = read<{ runs: { kind: string }[]; dashboards: { id: number }[] }>(out, 'data/workspace.json');
    assert.deepEqual(wsPage.runs.map((r) => r.kind), ['train'], 'the connect and duplicates runs are not in the site');
    assert.deepEqual(wsPage.dashboards.map((x) => x.id), [w.dashboardId]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
