// The in-browser "text → features" benchmark (BENCHMARKS.md, "In-browser text → features"): the
// first answer for 64 tokens on gpt2-corpus-tiny with a 6,144-latent TopK SAE, in headless Chromium
// from a static server on 127.0.0.1, cold (a fresh browser context: the weights come from the local
// server) and warm (the same context again: the weights come from the Cache API), on the CPU path
// and on SwiftShader's WebGPU. Needs `npm run build`, Debian's chromium and ../shared/assets.
// Usage: node scripts/browserBench.mjs [--repeats 2]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { loadTokenizer } from '../dist/src/model/tokenizers/index.js';
import { TINY_MODEL } from '../dist/test/report/dashboardFixture.js';
import { staticSiteServer, writeSiteFixture } from '../dist/test/browser/siteFixture.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const repeats = Number(process.argv[process.argv.indexOf('--repeats') + 1] || 2) || 2;
const FLAGS = ['--no-sandbox', '--disable-gpu-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--enable-unsafe-webgpu'];

// 64 tokens: BOS + 63 of text.
const tok = await loadTokenizer(TINY_MODEL);
const words = 'the ship sailed across the ocean while the captain spoke of whales and the crew sang songs of home'.split(' ');
let text = '';
for (let i = 0; tok.encode(text).length < 63; i++) text += (i ? ' ' : '') + words[i % words.length];
if (tok.encode(text).length !== 63) throw new Error(`text is ${tok.encode(text).length} tokens, not 63`);

const dir = mkdtempSync(join(tmpdir(), 'saelab-browser-bench-'));
const server = staticSiteServer(dir, join(root, 'dist/browser/localFeatures.js'));
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: FLAGS });
try {
  const site = await writeSiteFixture(dir, 6144);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  const once = (page, device) =>
    page.evaluate(async ({ device, text }) => {
      const t0 = performance.now();
      const lf = await globalThis.openLocalFeatures('/site/model-data/', { device });
      const t1 = performance.now();
      const out = await lf.run(text);
      const t2 = performance.now();
      lf.dispose();
      return { backend: lf.backend, reason: lf.reason, load: t1 - t0, run: t2 - t1, total: t2 - t0, tokens: out.tokens.length };
    }, { device, text });
  const rows = [];
  for (let rep = 0; rep < repeats; rep++) {
    for (const device of ['cpu', 'webgpu']) {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${origin}/`);
      await page.waitForFunction(() => 'openLocalFeatures' in globalThis);
      const cold = await once(page, device);
      const warm = await once(page, device);
      await context.close();
      for (const [kind, r] of [['cold', cold], ['warm', warm]]) rows.push({ device, kind, ...r });
      console.error(`${device} cold ${cold.total.toFixed(0)} ms (load ${cold.load.toFixed(0)}, run ${cold.run.toFixed(0)}), warm ${warm.total.toFixed(0)} ms (load ${warm.load.toFixed(0)}, run ${warm.run.toFixed(0)}); ${cold.tokens} tokens; ${cold.reason}`);
    }
  }
  console.log(JSON.stringify({ downloadBytes: site.bytes, text, rows }, null, 1));
} finally {
  await browser.close();
  server.close();
  rmSync(dir, { recursive: true, force: true });
}
