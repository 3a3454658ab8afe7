// The web UI's files. The front end is plain TypeScript DOM code under src/server/ui/, compiled by
// the normal `tsc` build into dist/src/server/ui/*.js and loaded by the browser as native ES
// modules: no bundler step, no framework, nothing from a CDN. Only names of the form `name.js`
// (letters, digits, - and _) directly in that folder are served, so no path reaches anything else.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../compute/packageRoot.js';
import { STATIC_PAGE_CSP } from './http.js';
import { UI_STYLE } from './uiStyle.js';

/**
 * The page, for `saelab serve` ('server') or a static site ('static'): the app's module and
 * stylesheet, nothing inline (the CSP forbids inline scripts), and an empty icon (no /favicon.ico request). The static page names its files
 * relative to itself (a host may serve the site under a sub-path), carries the CSP as a meta tag
 * (a static host sets no headers of ours) and the saelab-site marker the UI's data layer reads
 * (siteData.ts), and has no link to the reward pages (a site holds one dashboard).
 */
export function indexHtml(mode: 'server' | 'static'): string {
  const s = mode === 'static';
  const ui = s ? 'ui/' : '/ui/';
  const head = s ? `<meta http-equiv="Content-Security-Policy" content="${STATIC_PAGE_CSP}">\n<meta name="saelab-site" content="static">\n` : '';
  const nav = s ? '<a href="#/">dashboard</a>' : '<a href="#/">workspace</a><a href="#/attributions">reward attributions</a>';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
${head}<meta name="viewport" content="width=device-width, initial-scale=1">
<title>saelab</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${ui}style.css">
<script type="module" src="${ui}main.js"></script>
</head>
<body>
<header><a href="#/" class="brand">saelab</a><nav>${nav}</nav></header>
<main id="app"><p class="muted">loading…</p></main>
</body>
</html>
`;
}

/** The page `saelab serve` answers at /. */
export const INDEX_HTML = indexHtml('server');

/** The folder of the compiled UI modules: ./ui beside this module when built, else the package's dist/src/server/ui. */
export function uiDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  if (existsSync(join(here, 'ui', 'main.js'))) return join(here, 'ui');
  const root = packageRoot();
  return root ? join(root, 'dist', 'src', 'server', 'ui') : join(here, 'ui');
}

const UI_NAME = /^[A-Za-z0-9_-]+\.js$/;

/** A UI file by name: [content type, body], or null when there is no such file. */
export async function uiFile(dir: string, name: string): Promise<[string, Buffer] | null> {
  if (name === 'style.css') return ['text/css; charset=utf-8', Buffer.from(UI_STYLE, 'utf8')];
  if (!UI_NAME.test(name)) return null;
  try {
    return ['text/javascript; charset=utf-8', await readFile(join(dir, name))];
  } catch {
    return null;
  }
}
