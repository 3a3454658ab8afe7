// A site from saelab export-site in headless Chromium (Debian's, driven by playwright-core), served
// by a plain static file server (node:http here, no headers of ours: the CSP travels in the page's
// meta tag) under a sub-path, as GitHub Pages serves a project site. The synthetic workspace's
// feature examples hold raw <script>, onerror and svg onload HTML. The test walks home → dashboard
// list (paging across list files, another order) → feature page, checks that nothing went to
// /api/, that only the site's own files were asked for (one shard per feature), that no corpus HTML
// ran, that the CSP blocks an inline script, and that text → features says the model is not there.
// A second test checks the text page of a site with the model, against a test double of ui/localFeatures.js.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { test } from 'node:test';
import { chromium, type Page } from 'playwright-core';
import { exportSite } from '../../src/server/siteExport.js';
import { modelWorkspace, syntheticWorkspace } from '../server/fixtures.js';
import { needsAsset } from '../io/assets.js';
import { nodeTextFeatures } from './siteFixture.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = !existsSync(CHROMIUM) ? `needs Debian's chromium at ${CHROMIUM} (apt-get install chromium)` : false;
const FLAGS = ['--no-sandbox', '--disable-gpu-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'];
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.json': 'application/json' };
const PREFIX = '/pub/saelab/';

/** A static file server for `root` under PREFIX on 127.0.0.1 (a folder answers its index.html); every request path is logged with its status. */
async function staticServer(root: string, log: [string, number][]): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    let status = 404;
    let body: Buffer = Buffer.from('not found');
    let type = 'text/plain';
    if (path.startsWith(PREFIX) && !path.includes('..')) {
      const file = join(root, normalize(path.slice(PREFIX.length) || 'index.html'));
      if (existsSync(file) && statSync(file).isFile()) [status, body, type] = [200, readFileSync(file), TYPES[extname(file)] ?? 'application/octet-stream'];
    }
    log.push([path, status]);
    res.writeHead(status, { 'content-type': type, 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${PREFIX}` };
}

/** The site folder served on 127.0.0.1 (every request logged) and one Chromium page with its page errors collected; close() ends both. */
async function servedPage(site: string, viewport?: { width: number; height: number }) {
  const log: [string, number][] = [];
  const host = await staticServer(site, log);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS }).catch(async (e) => {
    await new Promise((ok) => host.server.close(ok));
    throw e;
  });
  const page = await browser.newPage(viewport ? { viewport } : {});
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const close = async () => {
    await browser.close();
    await new Promise((ok) => host.server.close(ok));
  };
  return { url: host.url, log, page, pageErrors, close };
}

/** Go to a route of the app and wait until the view for it has rendered. */
async function open(page: Page, base: string, route: string): Promise<void> {
  await page.goto(base + route);
  await page.waitForFunction((r) => document.getElementById('app')?.getAttribute('data-ready') === r, route.replace(/^#/, '') || '/', { timeout: 30_000 });
}

const firstColumn = (page: Page) => page.$$eval('table.features tr', (rs) => rs.slice(1).map((r) => Number(r.children[0]!.textContent!.slice(1))));

test('an exported site renders from a static host: pages, paging, feature shards, inert corpus HTML, CSP, no /api/', { skip, timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-static-ui-'));
  const shots = join(dir, 'screenshots');
  mkdirSync(shots);
  let served: Awaited<ReturnType<typeof servedPage>> | null = null;
  try {
    const { db, dashboardId: d } = syntheticWorkspace(join(dir, 'ws'), 300);
    const site = join(dir, 'site');
    await exportSite({ db, dashboard: d, out: site, featuresPerShard: 16, listChunk: 64 });
    served = await servedPage(site, { width: 1200, height: 1000 });
    const { page, log, pageErrors, url } = served;
    const dialogs: string[] = [];
    const foreign: string[] = [];
    let violations = 0;
    page.on('dialog', (x) => (dialogs.push(x.message()), void x.dismiss()));
    page.on('request', (r) => {
      if (!r.url().startsWith(url) && !r.url().startsWith('data:')) foreign.push(r.url());
    });
    await page.exposeFunction('__violation', () => void violations++);
    await page.addInitScript(() => document.addEventListener('securitypolicyviolation', () => void (window as unknown as { __violation: () => void }).__violation()));

    // Home: the dashboard and its SAE; no reports section, no link to the reward pages.
    await open(page, url, '#/');
    assert.equal(await page.locator('table.dashboards a', { hasText: `#${d}` }).count(), 1);
    assert.match((await page.textContent('table.saes')) ?? '', /topk-k8-s0/);
    assert.equal(await page.locator('h2', { hasText: 'Reports' }).count(), 0);
    assert.equal(await page.locator('a[href="#/attributions"]').count(), 0);
    await page.screenshot({ path: join(shots, 'home.png') });

    // The list, densest first (the fixture's density grows with the id), by clicking; then page 2,
    // whose rows 50–99 come from two list files; then the id order near its end.
    await page.click(`table.dashboards a:text("#${d}")`);
    await page.waitForFunction((r) => document.getElementById('app')?.getAttribute('data-ready') === r, `/dashboards/${d}`);
    assert.deepEqual(await firstColumn(page), Array.from({ length: 50 }, (_, i) => 299 - i));
    assert.equal(await page.locator('table.features .example .tok.peak').count(), 50, 'each row shows its strongest example');
    await page.screenshot({ path: join(shots, 'list.png') });
    await page.click('.pager a:text("next →")');
    await page.waitForFunction((r) => document.getElementById('app')?.getAttribute('data-ready') === r, `/dashboards/${d}?order=density&offset=50`);
    assert.deepEqual(await firstColumn(page), Array.from({ length: 50 }, (_, i) => 249 - i));
    assert.match((await page.textContent('.pager')) ?? '', /51–100 of 300/);
    await open(page, url, `#/dashboards/${d}?order=feature&offset=250`);
    assert.deepEqual(await firstColumn(page), Array.from({ length: 50 }, (_, i) => 250 + i));

    // A feature page costs one shard; its examples hold raw HTML, shown as text.
    const before = log.length;
    await open(page, url, `#/dashboards/${d}/features/157`);
    assert.equal(await page.textContent('#feature-title'), 'Feature 157');
    assert.deepEqual(log.slice(before).filter(([p]) => p.startsWith(PREFIX + 'data/')), [[`${PREFIX}data/dashboards/${d}/features/9.json`, 200]]);
    assert.equal(await page.locator('.top-examples .example').count(), 20);
    const texts = await page.$$eval('.top-examples .example', (es) => es.map((e) => e.textContent ?? ''));
    for (const hostile of ['<script>window.__xss=1</script>', '<img src=x onerror="window.__xss=2">', '"><svg onload=alert(1)>']) assert.ok(texts.some((t) => t.includes(hostile)), `shown as text: ${hostile}`);
    assert.equal(await page.locator('main script, main img, main [onerror], main [onload]').count(), 0);
    assert.equal(await page.evaluate(() => document.querySelectorAll('script').length), 1, 'only the app module');
    assert.ok((await page.$$eval('svg.histogram rect.bar', (rs) => rs.length)) > 0);
    await page.screenshot({ path: join(shots, 'feature.png'), fullPage: true });
    // The next feature in the same shard: no fetch at all.
    const mark = log.length;
    await page.click('main a:text("#158")');
    await page.waitForFunction((r) => document.getElementById('app')?.getAttribute('data-ready') === r, `/dashboards/${d}/features/158`);
    assert.deepEqual(log.slice(mark), []);

    // The meta CSP holds: an inline script is refused.
    violations = 0;
    await page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.__inline = 1';
      document.head.appendChild(s);
    });
    await page.waitForFunction(() => true);
    assert.equal(await page.evaluate(() => (window as unknown as { __inline?: number }).__inline), undefined, 'the CSP blocks inline scripts');
    assert.ok(violations >= 1, 'a CSP violation was reported');

    // What the site does not hold: an error line, not a request to a server.
    await open(page, url, `#/dashboards/${d}/text`);
    assert.match((await page.textContent('#text-unavailable')) ?? '', /without the model/);
    assert.equal(await page.locator('#text-run').count(), 0, 'no Run button');
    await open(page, url, `#/dashboards/${d + 1}`);
    assert.match((await page.textContent('main .error')) ?? '', /not part of this static site/);
    await open(page, url, `#/dashboards/${d}/features/299`);
    assert.equal(await page.textContent('#feature-title'), 'Feature 299');
    await open(page, url, `#/dashboards/${d}/features/300`);
    assert.match((await page.textContent('main .error')) ?? '', /has no feature 300/);

    assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined, 'no corpus script ran');
    assert.deepEqual(dialogs, []);
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(foreign, [], 'nothing fetched from outside');
    assert.deepEqual(log.filter(([p]) => !p.startsWith(PREFIX) || p.includes('/api/')), [], 'every request stays in the site; none goes to /api/');
    // Feature 300 is past the end of shard 18 (features 288–299), already in memory: no request missed.
    assert.deepEqual(log.filter(([, s]) => s !== 200), []);
    for (const s of ['home.png', 'list.png', 'feature.png']) assert.ok(statSync(join(shots, s)).size > 5000, s);
  } finally {
    await served?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

// The in-browser model itself comes from src/browser/localFeatures.ts (bundled as ui/localFeatures.js
// by --with-model); here a test double with its contract stands in for it, to check the text page's
// side: it loads the module only on Run, once, passes the site's model-data/ URL, shows progress and
// the backend, and renders the answer (raw HTML in it as text) with the server path's render().
const FAKE_LOCAL_FEATURES = `
export async function openLocalFeatures(base, opts) {
  window.__opened = (window.__opened ?? 0) + 1;
  window.__base = base;
  opts?.onProgress?.(1000000, 2000000, 'model/model.safetensors');
  await new Promise((r) => setTimeout(r, 20));
  return {
    backend: 'cpu', reason: 'no WebGPU adapter',
    async run(text) {
      const words = text.split(' ');
      return { tokens: words.map((w, i) => ({ text: (i ? ' ' : '') + w, special: false, features: i === 1 ? [{ feature: 5, act: 2 }] : [] })), features: [{ feature: 5, maxAct: 2, count: 1 }], truncated: false };
    },
    dispose() {},
  };
}
`;

test('a site with the model runs text → features in the page through ui/localFeatures.js', { skip, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-static-text-'));
  let served: Awaited<ReturnType<typeof servedPage>> | null = null;
  try {
    const { db, dashboardId: d } = syntheticWorkspace(join(dir, 'ws'), 8);
    const site = join(dir, 'site');
    await exportSite({ db, dashboard: d, out: site });
    // What --with-model adds, as far as the page is concerned: site.json says 'local', the module is in ui/.
    const info = JSON.parse(readFileSync(join(site, 'site.json'), 'utf8')) as { textFeatures: string };
    writeFileSync(join(site, 'site.json'), JSON.stringify({ ...info, textFeatures: 'local' }));
    writeFileSync(join(site, 'ui', 'localFeatures.js'), FAKE_LOCAL_FEATURES);
    served = await servedPage(site);
    const { page, log, pageErrors, url } = served;
    await open(page, url, `#/dashboards/${d}/text`);
    assert.equal(log.filter(([p]) => p.endsWith('/localFeatures.js')).length, 0, 'the module loads only on Run');
    await page.fill('#text-input', 'hello <script>window.__xss=9</script> world');
    await page.click('#text-run');
    await page.waitForSelector('#text-tokens .tok');
    assert.match((await page.textContent('#text-status')) ?? '', /ran in this page on the CPU \(no WebGPU adapter\)/);
    assert.equal(await page.evaluate(() => (window as unknown as { __base: string }).__base), `${url}model-data/`);
    assert.equal(await page.textContent('#text-tokens'), 'hello <script>window.__xss=9</script> world');
    assert.equal(await page.locator('table.text-features a[href$="/features/5"]').count(), 1);
    await page.click('#text-run');
    await page.waitForSelector('#text-tokens .tok');
    assert.equal(await page.evaluate(() => (window as unknown as { __opened: number }).__opened), 1, 'the model opens once');
    assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);
    assert.deepEqual(log.filter(([p]) => p.includes('/api/')), []);
    assert.deepEqual(pageErrors, []);
  } finally {
    await served?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('export-site --with-model: the exported page computes text → features itself, equal to Node, under the site CSP', { skip: skip || needsAsset('models/gpt2-corpus-tiny'), timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-static-model-'));
  let served: Awaited<ReturnType<typeof servedPage>> | null = null;
  try {
    mkdirSync(join(dir, 'ws'));
    const { db, dashboardId: d } = await modelWorkspace(join(dir, 'ws'));
    const site = join(dir, 'site');
    const r = await exportSite({ db, dashboard: d, out: site, withModel: true });
    assert.ok(r.files.some((f) => f.path === 'model-data/manifest.json') && r.files.some((f) => f.path === 'ui/localFeatures.js'));
    for (const f of r.files) assert.equal(statSync(join(site, f.path)).size, f.bytes, f.path);
    served = await servedPage(site);
    const { page, log, pageErrors, url } = served;
    const posts: string[] = [];
    page.on('request', (q) => void (q.method() !== 'GET' && posts.push(`${q.method()} ${q.url()}`)));
    await open(page, url, `#/dashboards/${d}/text`);
    const text = 'The old man walked to the market and bought bread.';
    await page.fill('#text-input', text);
    await page.click('#text-run');
    await page.waitForSelector('#text-tokens .tok', { timeout: 180_000 });
    const ids = await page.$$eval('table.text-features a', (as) => as.map((a) => Number(a.textContent!.slice(1))));
    assert.ok(ids.length > 0, 'features fired');
    const want = await nodeTextFeatures(join(dir, 'ws', 'random-sae'), text);
    assert.deepEqual(ids, want.features.map((f) => f.feature));
    assert.equal(await page.textContent('#text-tokens'), want.tokens.map((t) => t.text).join(''));
    assert.deepEqual(posts, [], 'the page computes locally: no POST');
    assert.deepEqual(log.filter(([p, s]) => p.includes('/api/') || s !== 200), []);
    assert.deepEqual(pageErrors, []);
  } finally {
    await served?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
