// saelab's compute layer in a real browser: esbuild bundles it for the browser (the package's
// "browser" map swaps the native BLAS loader out), headless Chromium opens it from 127.0.0.1 (WebGPU
// needs a secure context), and the kernels run on navigator.gpu against their CPU twins in the page.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import type { BrowserParity } from './pageEntry.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `needs Debian's chromium at ${CHROMIUM} (apt-get install chromium)`;
const here = dirname(fileURLToPath(import.meta.url));

// Flags for this machine: no sandbox as root, no background networking (the network is closed),
// and WebGPU enabled (headless Chromium then offers its SwiftShader adapter).
const FLAGS = ['--no-sandbox', '--disable-gpu-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--enable-unsafe-webgpu'];

test('kernels run on navigator.gpu in headless Chromium and match their CPU twins', { skip, timeout: 120_000 }, async () => {
  const entry = join(here, existsSync(join(here, 'pageEntry.js')) ? 'pageEntry.js' : 'pageEntry.ts');
  const bundle = await build({ entryPoints: [entry], bundle: true, platform: 'browser', format: 'esm', write: false, external: ['webgpu'], logLevel: 'silent' });
  const js = bundle.outputFiles[0]!.text;
  assert.doesNotMatch(js, /saelab_blas\.node|node:fs/, 'the browser bundle must not pull in the native BLAS loader');
  const server = createServer((req, res) => {
    if (req.url === '/bundle.js') {
      res.setHeader('content-type', 'text/javascript');
      res.end(js);
    } else {
      res.setHeader('content-type', 'text/html');
      res.end('<!doctype html><meta charset="utf-8"><title>saelab</title><script type="module" src="/bundle.js"></script>');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  try {
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => 'saelabParity' in globalThis, undefined, { timeout: 30_000 });
    const r = (await page.evaluate(() => (globalThis as unknown as { saelabParity: () => Promise<unknown> }).saelabParity())) as BrowserParity;
    assert.deepEqual(pageErrors, []);
    assert.ok(r.ok, `no WebGPU in the page: ${r.reason}`);
    assert.match(r.cpu!, /pure TypeScript matmul/);
    assert.ok(r.errors!.relu === 0, `relu ${r.errors!.relu}`);
    assert.ok(r.errors!.matmul! < 1e-4, `matmul ${r.errors!.matmul}`);
    assert.ok(r.errors!.softmax! < 1e-6, `softmax ${r.errors!.softmax}`);
    assert.equal(r.errors!.topkValues, 0);
    assert.equal(r.errors!.topkIndices, 0);
  } finally {
    await browser.close();
    server.close();
  }
});
