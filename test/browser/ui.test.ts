// The web UI of `saelab serve` in headless Chromium (Debian's, driven by playwright-core), against a
// small real workspace built here: a tiny `trainRun` and a dashboard of it over a corpus whose spam
// lines hold raw <script> and onerror HTML. The test walks workspace → dashboard → feature page,
// checks that shaded tokens and the histogram render, that none of the corpus's HTML runs, uses
// "text → features", and saves screenshots to a temp folder. A second test builds an attribution run
// (attributeRun on the shared reward model, a random SAE, pairs whose completions hold raw HTML and
// a character split across tokens) and walks #/attributions → the run: ranked features, shaded
// pair tokens, no HTML run, no "��".

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium, type Page } from 'playwright-core';
import { attributeRun } from '../../src/analysis/attributeRun.js';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { initSaeParams } from '../../src/sae/initSae.js';
import { saveSae } from '../../src/sae/saeFiles.js';
import { buildDashboard } from '../../src/report/dashboardBuild.js';
import { startServer } from '../../src/server/server.js';
import { ASSETS, needsAsset } from '../io/assets.js';
import { SCRIPT_LINE, trainTinySae, writeCorpus } from '../report/dashboardFixture.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = !existsSync(CHROMIUM) ? `needs Debian's chromium at ${CHROMIUM} (apt-get install chromium)` : needsAsset('models/gpt2-corpus-tiny');
// Flags for this machine (as in webgpuBrowser.test.ts): no sandbox as root, no background networking.
const FLAGS = ['--no-sandbox', '--disable-gpu-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'];

/** Go to a route of the app and wait until the view for it has rendered. */
async function open(page: Page, base: string, route: string): Promise<void> {
  await page.goto(base + route);
  await page.waitForFunction((r) => document.getElementById('app')?.getAttribute('data-ready') === r, route.replace(/^#/, '') || '/', { timeout: 30_000 });
}

test('the UI shows real features in Chromium, escapes corpus HTML, and runs text → features', { skip, timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-ui-'));
  const shots = join(dir, 'screenshots');
  mkdirSync(shots);
  let srv: Awaited<ReturnType<typeof startServer>> | null = null;
  let browser: Awaited<ReturnType<typeof chromium.launch>> | null = null;
  try {
    const corpus = writeCorpus(join(dir, 'corpus.txt'), 120);
    const ws = join(dir, 'ws');
    const sae = await trainTinySae(ws, corpus);
    const dash = await buildDashboard({ device: cpu, sae, tokens: 3072, batchSize: 8, topK: 8, window: 6 });
    // A report plot carrying a script: shown as an image, it must not run either.
    mkdirSync(join(ws, 'reports'));
    writeFileSync(join(ws, 'reports', 'plot.svg'), '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><script>parent.__xss=3;window.__xss=3</script><rect width="40" height="20" fill="#888"/></svg>');

    srv = await startServer({ db: join(ws, 'saelab.db'), device: cpu });
    const ui = await fetch(srv.url + 'ui/main.js');
    assert.equal(ui.status, 200, 'the UI modules are built by tsc (run `npx tsc -p tsconfig.json`)');
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
    const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
    const dialogs: string[] = [];
    const pageErrors: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    // Nothing may leave the machine: every request goes to our server.
    const foreign: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(srv!.url) && !r.url().startsWith('data:')) foreign.push(r.url());
    });

    // Workspace page: the run, its SAE, the dashboard, the report plot.
    await open(page, srv.url, '#/');
    assert.match(await page.textContent('table.saes') ?? '', /topk-k8-s0/);
    assert.equal(await page.locator('table.dashboards a', { hasText: `#${dash.dashboardId}` }).count(), 1);
    await page.waitForFunction(() => Array.from(document.querySelectorAll(".reports img")).every((i) => (i as HTMLImageElement).complete));
    await page.screenshot({ path: join(shots, 'workspace.png') });

    // Dashboard → the densest feature's page, by clicking.
    await page.click(`table.dashboards a:text("#${dash.dashboardId}")`);
    await page.waitForFunction((r) => document.getElementById('app')?.getAttribute('data-ready') === r, `/dashboards/${dash.dashboardId}`);
    const first = page.locator('table.features a').first();
    const feature = Number((await first.textContent())!.slice(1));
    await first.click();
    await page.waitForFunction((r) => document.getElementById('app')?.getAttribute('data-ready') === r, `/dashboards/${dash.dashboardId}/features/${feature}`);
    assert.equal(await page.textContent('#feature-title'), `Feature ${feature}`);
    const api = (await (await fetch(`${srv.url}api/dashboards/${dash.dashboardId}/features/${feature}`)).json()) as { fires: number; data: { top: { tokens: string[] }[] } };
    // Highlighted tokens: the top examples' tokens, shaded where the feature is active, one peak per line.
    const shaded = await page.$$eval('.top-examples .tok', (ts) => ts.filter((t) => Number(t.getAttribute('data-act')) > 0 && getComputedStyle(t).backgroundColor !== 'rgba(0, 0, 0, 0)').length);
    assert.ok(shaded >= api.data.top.length, `${shaded} shaded tokens`);
    assert.equal(await page.locator('.top-examples .tok.peak').count(), api.data.top.length);
    assert.equal(await page.locator('.top-examples .tok').count(), api.data.top.reduce((a, e) => a + e.tokens.length, 0));
    // The histogram: bars whose counts add up to the feature's firings.
    const bars = await page.$$eval('svg.histogram rect.bar', (rs) => rs.map((r) => [Number(r.getAttribute('data-count')), r.getBoundingClientRect().height]));
    assert.ok(bars.length > 0);
    assert.equal(bars.reduce((a, b) => a + b[0]!, 0), api.fires);
    assert.ok(bars.some((b) => b[1]! > 10), 'bars are drawn');
    await page.screenshot({ path: join(shots, 'feature.png'), fullPage: true });

    // A feature whose top examples hold the spam's raw HTML: shown as text, never run.
    const list = (await (await fetch(`${srv.url}api/dashboards/${dash.dashboardId}/features?order=density&limit=128`)).json()) as { features: { feature: number }[] };
    let spamFeature: number | null = null;
    // The text the page must show literally: '<script>' and what follows it in that top example
    // (how much of the spam line an example holds depends on the trained features).
    let marker = '';
    for (const f of list.features) {
      const page1 = (await (await fetch(`${srv.url}api/dashboards/${dash.dashboardId}/features/${f.feature}`)).json()) as { data: { top: { tokens: string[] }[] } };
      const hit = page1.data.top.map((e) => e.tokens.join('')).find((t) => t.includes('<script>'));
      if (hit !== undefined) {
        spamFeature = f.feature;
        marker = hit.slice(hit.indexOf('<script>')).split('\n')[0]!;
        break;
      }
    }
    assert.notEqual(spamFeature, null, 'some feature fires on the spam lines');
    await open(page, srv.url, `#/dashboards/${dash.dashboardId}/features/${spamFeature}`);
    const texts = await page.$$eval('.top-examples .example', (es) => es.map((e) => e.textContent ?? ''));
    assert.ok(texts.some((t) => t.includes(marker)), `the script tag shows as text: ${JSON.stringify(marker)}`);
    assert.equal(await page.locator('main script, main img[src="x"], main [onerror]').count(), 0);
    assert.equal(await page.evaluate(() => document.querySelectorAll('script').length), 1, 'only the app module');

    // Text → features: the server runs the model and SAE on pasted text.
    await open(page, srv.url, `#/dashboards/${dash.dashboardId}/text`);
    await page.fill('#text-input', `the ship sailed across the ocean and the crew sang. ${SCRIPT_LINE}`);
    await page.click('#text-run');
    await page.waitForSelector('#text-tokens .tok', { timeout: 60_000 });
    const tokens = await page.$$eval('#text-tokens .tok', (ts) => ts.map((t) => t.textContent ?? ''));
    assert.ok(tokens.join('').includes(`ship sailed across the ocean`));
    assert.ok(tokens.join('').includes('<script>window.__xss=1;alert("x")</script>'));
    const rows = await page.locator('table.text-features tr').count();
    assert.ok(rows > 1, 'features fired on the text');
    const lit = await page.$$eval('#text-tokens .tok', (ts) => ts.filter((t) => getComputedStyle(t).backgroundColor !== 'rgba(0, 0, 0, 0)').length);
    assert.ok(lit > 0, 'the strongest feature shades its tokens');
    await page.locator('#text-tokens .tok').nth(3).click();
    assert.match((await page.textContent('#token-detail')) ?? '', /token 3/);
    await page.screenshot({ path: join(shots, 'text.png'), fullPage: true });

    assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined, 'no corpus script ran');
    assert.deepEqual(dialogs, []);
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(foreign, [], 'nothing fetched from outside');
    for (const s of ['workspace.png', 'feature.png', 'text.png']) assert.ok(statSync(join(shots, s)).size > 5000, s);
  } finally {
    await browser?.close();
    await srv?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

const skipReward = !existsSync(CHROMIUM) ? `needs Debian's chromium at ${CHROMIUM} (apt-get install chromium)` : needsAsset('models/gpt2-corpus-tiny-rm-hh');

test('the reward-attribution page lists a run, ranks features, shades pair tokens, escapes completions', { skip: skipReward, timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-ui-rm-'));
  let srv: Awaited<ReturnType<typeof startServer>> | null = null;
  let browser: Awaited<ReturnType<typeof chromium.launch>> | null = null;
  try {
    const rm = join(ASSETS, 'models/gpt2-corpus-tiny-rm-hh');
    const ws = join(dir, 'ws');
    const saeDir = join(ws, 'sae');
    const cfg = { architecture: 'topk' as const, dIn: 192, dSae: 128, k: 8, applyBDecToInput: true, decoderUnitNorm: true, normalizeActivations: 'none' as const, seed: 3 };
    await saveSae(saeDir, cfg, await initSaeParams(cfg, cpu, { decoderNorm: 1 }), { metadata: { model_name: rm, hook_name: 'blocks.2.hook_resid_pre' } });
    // Completions with raw HTML, and "漢字 🍕": characters whose bytes fall in several BPE tokens.
    const pairsFile = join(dir, 'pairs.jsonl');
    const prompt = '\n\nHuman: Can you show me some HTML?\n\nAssistant:';
    writeFileSync(pairsFile, [0, 1, 2].map((i) => JSON.stringify({ prompt, chosen: ` Sure: <script>window.__xss=4</script> 漢字 🍕 ${i}`, rejected: ` No. <img src=x onerror="window.__xss=5"> bye ${i}` })).join('\n') + '\n');
    const top = 6;
    const run = await attributeRun({ device: cpu, saes: [saeDir], pairs: [pairsFile], top, exactTop: 2, exactRandom: 1, exactPairs: 1, out: join(dir, 'out'), db: join(ws, 'saelab.db') });
    assert.notEqual(run.runId, null);

    srv = await startServer({ db: join(ws, 'saelab.db'), device: cpu, log: () => {} });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
    const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
    const dialogs: string[] = [];
    const pageErrors: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));

    // The run list, then the run by clicking.
    await open(page, srv.url, '#/attributions');
    const link = page.locator(`main a:text("#${run.runId}")`);
    assert.equal(await link.count(), 1, 'the run is listed');
    await link.click();
    await page.waitForFunction((r) => document.getElementById('app')?.getAttribute('data-ready') === r, `/attributions/${run.runId}`, { timeout: 30_000 });
    // Ranked features: one row per top feature, as in the report.
    const ranked = await page.$$eval('table.ranked tr', (rs) => rs.slice(1).map((r) => Number(r.children[1]!.textContent)));
    assert.deepEqual(ranked, run.pairs!.saes[0]!.top.map((f) => f.feature));
    assert.equal(ranked.length, top);
    // The pair view: chosen and rejected tokens, shaded by their effect on Δr.
    const view = run.pairs!.pairViews[0]!.saes[0]!;
    assert.equal(await page.locator('.pairview .tok').count(), view.chosen.tokens.length + view.rejected.tokens.length);
    const shaded = await page.$$eval('.pairview .tok', (ts) => ts.filter((t) => Number(t.getAttribute('data-effect')) !== 0 && getComputedStyle(t).backgroundColor !== 'rgba(0, 0, 0, 0)').length);
    assert.ok(shaded > 0, `${shaded} shaded tokens`);
    const text = (await page.textContent('.pairview')) ?? '';
    assert.ok(text.includes('<script>window.__xss=4</script>'), 'the script tag shows as text');
    assert.ok(text.includes('onerror="window.__xss=5"'), 'the onerror attribute shows as text');
    assert.ok(text.includes('漢字 🍕'), 'split characters shown whole');
    assert.ok(!text.includes('\uFFFD'), 'no replacement characters');
    assert.equal(await page.locator('main script, main img[src="x"], main [onerror]').count(), 0);
    assert.equal(await page.evaluate(() => document.querySelectorAll('script').length), 1, 'only the app module');
    await page.screenshot({ path: join(dir, 'attribution.png'), fullPage: true });
    assert.ok(statSync(join(dir, 'attribution.png')).size > 5000);
    assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined, 'no completion script ran');
    assert.deepEqual(dialogs, []);
    assert.deepEqual(pageErrors, []);
  } finally {
    await browser?.close();
    await srv?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
