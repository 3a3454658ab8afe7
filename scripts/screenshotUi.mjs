// Screenshot a feature page of `saelab serve` in headless Chromium (the README's picture).
//   node scripts/screenshotUi.mjs --db WORKSPACE/saelab.db [--dashboard 1] [--feature N] [--out docs/img/feature-page.png] [--route '#/...']
// Needs `npx tsc -p tsconfig.json` first (it imports dist/) and Debian's chromium.

import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { cpu } from '../dist/src/compute/cpu/cpuDevice.js';
import { startServer } from '../dist/src/server/server.js';

const { values: a } = parseArgs({ options: { db: { type: 'string' }, dashboard: { type: 'string', default: '1' }, feature: { type: 'string' }, out: { type: 'string', default: 'docs/img/feature-page.png' }, route: { type: 'string' }, width: { type: 'string', default: '1200' }, height: { type: 'string', default: '1400' } } });
if (!a.db) {
  console.error('usage: node scripts/screenshotUi.mjs --db WORKSPACE/saelab.db [--dashboard 1] [--feature N] [--out FILE]');
  process.exit(2);
}
const FLAGS = ['--no-sandbox', '--disable-gpu-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'];
const srv = await startServer({ db: resolve(a.db), device: cpu });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: FLAGS });
try {
  let feature = a.feature;
  if (feature === undefined) {
    // A feature with clear examples: the 20th densest (the densest are often positional or generic).
    const r = await fetch(`${srv.url}api/dashboards/${a.dashboard}/features?order=density&limit=1&offset=20`).then((x) => x.json());
    feature = String(r.features[0].feature);
  }
  const route = a.route ?? `#/dashboards/${a.dashboard}/features/${feature}`;
  const page = await browser.newPage({ viewport: { width: Number(a.width), height: Number(a.height) } });
  await page.goto(srv.url + route);
  await page.waitForSelector('#app[data-ready]');
  mkdirSync(dirname(resolve(a.out)), { recursive: true });
  await page.screenshot({ path: a.out, fullPage: false });
  console.log(`${a.out}: ${route}`);
} finally {
  await browser.close();
  await srv.close();
}
