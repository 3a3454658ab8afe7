// Bundle the browser's "text → features" (dist/src/browser/localFeatures.js, from `tsc`) into one ES
// module, dist/browser/localFeatures.js, for static sites. esbuild honours the package's "browser"
// map, which swaps the BLAS addon loader and the local-file byte source for their browser twins, so
// no Node built-in can enter the bundle: a module that imports one fails the build here.

import { mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist/src/browser/localFeatures.js');
const out = join(root, 'dist/browser/localFeatures.js');
mkdirSync(dirname(out), { recursive: true });
const r = await build({
  entryPoints: [entry],
  outfile: out,
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  // Dawn's npm package is Node's WebGPU; in a page openGpu.ts uses navigator.gpu and never imports it.
  external: ['webgpu'],
  logLevel: 'warning',
  metafile: true,
});
const inputs = Object.keys(r.metafile.inputs);
const node = inputs.filter((p) => p.startsWith('node:') || /(^|\/)(fs|path|crypto|os)$/.test(p));
if (node.length > 0) throw new Error(`the browser bundle pulls in Node built-ins: ${node.join(', ')}`);
console.log(`dist/browser/localFeatures.js: ${(statSync(out).size / 1024).toFixed(0)} KiB from ${inputs.length} modules`);
