// "Text → features" in headless Chromium from a static folder on 127.0.0.1: the page imports the
// bundle (dist/browser/localFeatures.js), loads a model-data folder written by writeSiteModel and
// computes in the page, on SwiftShader's WebGPU and on the CPU path; the answers equal Node's. Every
// request the page makes is recorded: no POST, nothing outside the served folder, and a second load
// reads the weights from the Cache API. A missing weights file and a lost GPU device are errors.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { TextFeatures } from '../../src/report/dashboardText.js';
import { needsAsset, tempDir } from '../io/assets.js';
import { nodeTextFeatures, staticSiteServer, writeSiteFixture } from './siteFixture.js';

const CHROMIUM = '/usr/bin/chromium';
const here = dirname(fileURLToPath(import.meta.url));
const BUNDLE = join(here, '..', '..', 'browser', 'localFeatures.js'); // dist/browser, from dist/test/browser
const skip = !existsSync(CHROMIUM) ? `needs Debian's chromium at ${CHROMIUM} (apt-get install chromium)` : needsAsset('models/gpt2-corpus-tiny');
const FLAGS = ['--no-sandbox', '--disable-gpu-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--enable-unsafe-webgpu'];
const TEXT = 'The ship sailed across the ocean while the captain spoke of whales, and the crew sang songs of home.';

/** Ids equal, activations within 1e-4, per token and in the summary. */
function assertSameFeatures(got: TextFeatures, want: TextFeatures, what: string): void {
  assert.equal(got.truncated, want.truncated, what);
  assert.deepEqual(got.tokens.map((t) => [t.text, t.special]), want.tokens.map((t) => [t.text, t.special]), what);
  got.tokens.forEach((t, i) => {
    assert.deepEqual(t.features.map((f) => f.feature), want.tokens[i]!.features.map((f) => f.feature), `${what}: token ${i}`);
    t.features.forEach((f, j) => assert.ok(Math.abs(f.act - want.tokens[i]!.features[j]!.act) <= 1e-4, `${what}: token ${i} feature ${f.feature}: ${f.act} vs ${want.tokens[i]!.features[j]!.act}`));
  });
  assert.deepEqual(got.features.map((f) => [f.feature, f.count]), want.features.map((f) => [f.feature, f.count]), what);
  got.features.forEach((f, j) => assert.ok(Math.abs(f.maxAct - want.features[j]!.maxAct) <= 1e-4, `${what}: feature ${f.feature} maxAct`));
}

test('text → features computes in the page (WebGPU on SwiftShader and CPU), equals Node, posts nothing, caches the weights', { skip, timeout: 600_000 }, async () => {
  assert.ok(existsSync(BUNDLE), 'run scripts/bundleBrowser.mjs first (npm run build)');
  const t = tempDir();
  const missing = new Set<string>();
  const server = staticSiteServer(t.dir, BUNDLE, missing);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  try {
    const { saeDir } = await writeSiteFixture(t.dir);
    const want = await nodeTextFeatures(saeDir, TEXT);
    assert.ok(want.tokens.length > 20 && want.features.length > 0, 'the text fires features');
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const page = await browser.newPage();
    const requests: { method: string; url: string }[] = [];
    page.on('request', (r) => void requests.push({ method: r.method(), url: r.url() }));
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => 'openLocalFeatures' in globalThis, undefined, { timeout: 30_000 });

    const runIn = (device: string) =>
      page.evaluate(async ({ device, text }) => {
        const open = (globalThis as unknown as { openLocalFeatures: (b: string, o: object) => Promise<{ backend: string; reason: string; run(t: string): Promise<unknown>; dispose(): void }> }).openLocalFeatures;
        let progress = [0, 0];
        const lf = await open('/site/model-data/', { device, onProgress: (l: number, tot: number) => (progress = [l, tot]) });
        const out = await lf.run(text);
        lf.dispose();
        return { backend: lf.backend, reason: lf.reason, out, progress };
      }, { device, text: TEXT });
    const weightRequests = () => requests.filter((r) => /\/site\/model-data\/(model|sae)\//.test(r.url)).length;

    const cpuRun = await runIn('cpu');
    assert.equal(cpuRun.backend, 'cpu');
    assertSameFeatures(cpuRun.out as TextFeatures, want, 'cpu');
    const firstWeights = weightRequests();
    assert.ok(firstWeights > 5, `the first load fetches the weights by range (${firstWeights} requests)`);
    assert.ok(cpuRun.progress[0] === cpuRun.progress[1] && cpuRun.progress[1] > 20e6, `progress ${cpuRun.progress}`);

    const gpuRun = await runIn('webgpu');
    assert.equal(gpuRun.backend, 'webgpu', gpuRun.reason);
    assert.match(gpuRun.reason, /WebGPU on .*swiftshader/i);
    assertSameFeatures(gpuRun.out as TextFeatures, want, 'webgpu');
    assert.equal(weightRequests(), firstWeights, 'the second load reads every weight file from the Cache API');
    assert.equal(gpuRun.progress[0], gpuRun.progress[1], 'cached bytes count as progress too');

    // Nothing but GETs of the served files.
    assert.deepEqual(requests.filter((r) => r.method !== 'GET'), []);
    for (const r of requests) assert.ok(r.url === `${origin}/` || r.url === `${origin}/lib/localFeatures.js` || r.url.startsWith(`${origin}/site/model-data/`), r.url);

    // A lost GPU device: the run rejects with a line the page can show (the caller then opens 'cpu').
    const lost = await page.evaluate(async (text) => {
      const orig = GPUAdapter.prototype.requestDevice;
      let dev: GPUDevice | null = null;
      GPUAdapter.prototype.requestDevice = async function (d) {
        dev = await orig.call(this, d);
        return dev;
      };
      const open = (globalThis as unknown as { openLocalFeatures: (b: string, o: object) => Promise<{ run(t: string): Promise<unknown> }> }).openLocalFeatures;
      const lf = await open('/site/model-data/', { device: 'webgpu' });
      GPUAdapter.prototype.requestDevice = orig;
      (dev as GPUDevice | null)!.destroy();
      return lf.run(text).then(() => 'no error', (e: Error) => `${e.name}: ${e.message}`);
    }, TEXT);
    assert.match(lost, /^LocalFeaturesError: the WebGPU device was lost \(destroyed.*\); open again with device 'cpu'$/);

    // A failed weight download: an error naming the file, not a hang (the cache is cleared first).
    missing.add('/site/model-data/model/model-00002-of-00002.safetensors');
    const failed = await page.evaluate(async () => {
      await caches.delete('saelab-weights-v1');
      const open = (globalThis as unknown as { openLocalFeatures: (b: string, o: object) => Promise<unknown> }).openLocalFeatures;
      return open('/site/model-data/', { device: 'cpu' }).then(() => 'no error', (e: Error) => `${e.name}: ${e.message}`);
    });
    assert.match(failed, /^LocalFeaturesError: http:\/\/127\.0\.0\.1:\d+\/site\/model-data\/model\/model-00002-of-00002\.safetensors: .*HTTP 404 Not Found$/);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    server.close();
    t.cleanup();
  }
});
