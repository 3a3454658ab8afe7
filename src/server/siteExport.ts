// saelab export-site: one dashboard of a workspace as a folder of static files that any static
// host serves (python3 -m http.server, GitHub Pages, a bucket): index.html (the UI's page, with its
// CSP as a meta tag), ui/ (the same compiled modules `saelab serve` sends, only those main.js
// reaches), site.json and data/ (siteLayout.ts: the API's answers as files, feature lists
// pre-sorted per order and cut in chunks, feature pages in shards, so a page fetches only what it
// shows). The site is written into a temp folder beside --out and renamed into place at the end: a
// failed or killed export never leaves a half-written site. It holds no local paths (siteDocuments.ts).

import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanStaleTemps, tempPathFor } from '../io/atomicWrite.js';
import { checkOutputDir } from '../io/outputPaths.js';
import { resolveModel } from '../io/resolveModel.js';
import { packageRoot } from '../compute/packageRoot.js';
import { writeSiteModel } from '../report/siteModel.js';
import { SAELAB_VERSION } from '../version.js';
import { siteDashboard, siteFeature, siteListChunks, siteSaes, siteWorkspace } from './siteDocuments.js';
import { indexHtml, uiDir } from './staticAssets.js';
import { dashboardFile, featureShardFile, LIST_ORDERS, listChunkFile, saeMetricsFile, SITE_FILE, workspaceFile, type SiteInfo } from './ui/siteLayout.js';
import { UI_STYLE } from './uiStyle.js';
import { WorkspaceReader } from './workspaceApi.js';

/** Bad input to the exporter (no such dashboard, an output folder in the way): one line, exit 2 in the CLI. */
export class SiteExportError extends Error {
  override name = 'SiteExportError';
}

export interface ExportSiteOptions {
  /** The workspace database. */
  db: string;
  /** The dashboard to publish. */
  dashboard: number;
  /** The site's folder: absent or empty, or (with `force`) a site exported before. */
  out: string;
  /** Replace `out` when it holds a site exported before. */
  force?: boolean;
  /** Add the model, SAE, tokenizer and the bundled inference, for text → features computed in the page. */
  withModel?: boolean;
  /** Feature pages per shard file (default: as many as fit about 256 KB, a power of two, at most 256). */
  featuresPerShard?: number;
  /** Feature rows per list file (default 200). */
  listChunk?: number;
  /** Called as feature pages are written. */
  onProgress?: (done: number, total: number) => void;
}

export interface ExportedSite {
  /** The site's folder (absolute). */
  dir: string;
  /** Every file written, relative to `dir` with '/', sorted, and its size in bytes. */
  files: { path: string; bytes: number }[];
  bytes: number;
  /** Bytes the home page (#/) fetches: index.html, the UI, site.json, the workspace page. */
  homeBytes: number;
  /** Bytes the dashboard's feature list (#/dashboards/D) fetches when opened first: the UI, site.json, the dashboard and its first list file. */
  listBytes: number;
  /** Bytes of the largest feature shard: what opening one feature page costs at most. */
  largestShardBytes: number;
  features: number;
  featuresPerShard: number;
  listChunk: number;
}

const SHARD_TARGET = 256 * 1024;
const DEFAULT_LIST_CHUNK = 200;

/** Check the input and the output folder (before anything is written); returns the open reader. */
function openChecked(o: ExportSiteOptions): { reader: WorkspaceReader; out: string } {
  const db = resolve(o.db);
  if (!existsSync(db) || !statSync(db).isFile()) throw new SiteExportError(`--db ${o.db}: no such file (a workspace database written by saelab train / dashboard)`);
  const out = resolve(o.out);
  if (existsSync(out)) {
    if (!statSync(out).isDirectory()) throw new SiteExportError(`--out ${o.out}: is a file, not a folder`);
    if (readdirSync(out).length > 0) {
      if (!o.force) throw new SiteExportError(`--out ${o.out}: the folder is not empty (use --force to replace a site exported before)`);
      if (!existsSync(join(out, SITE_FILE))) throw new SiteExportError(`--out ${o.out}: not a site exported by saelab (no ${SITE_FILE}); --force replaces only such a folder, so pick a new or empty one`);
    }
  }
  const reader = new WorkspaceReader(db);
  try {
    const ids = reader.has('dashboards') ? reader.dash.listDashboards().map((d) => d.id) : [];
    if (ids.length === 0) throw new SiteExportError(`--db ${o.db}: the workspace has no dashboards (make one with saelab dashboard --sae DIR)`);
    if (!ids.includes(o.dashboard)) throw new SiteExportError(`--dashboard ${o.dashboard}: no such dashboard in ${o.db} (it has ${ids.slice().sort((a, b) => a - b).join(', ')})`);
    if (o.featuresPerShard !== undefined && !(Number.isSafeInteger(o.featuresPerShard) && o.featuresPerShard >= 1)) throw new RangeError(`featuresPerShard must be a whole number ≥ 1 (got ${o.featuresPerShard})`);
    if (o.listChunk !== undefined && !(Number.isSafeInteger(o.listChunk) && o.listChunk >= 1 && o.listChunk <= 1000)) throw new RangeError(`listChunk must be a whole number in 1…1000 (got ${o.listChunk})`);
  } catch (e) {
    reader.close();
    throw e;
  }
  checkOutputDir(dirname(out), '--out');
  return { reader, out };
}

/** The compiled UI modules the page loads: main.js and every module it reaches through relative imports. */
async function uiModules(dir: string): Promise<Map<string, string>> {
  if (!existsSync(join(dir, 'main.js'))) throw new SiteExportError(`the UI is not built (no ${join(dir, 'main.js')}): run npx tsc -p tsconfig.json`);
  const found = new Map<string, string>();
  const todo = ['main.js'];
  while (todo.length) {
    const name = todo.pop()!;
    if (found.has(name)) continue;
    const text = withoutSourceMap(await readFile(join(dir, name), 'utf8'));
    found.set(name, text);
    for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"]\.\/([A-Za-z0-9_-]+\.js)['"]/g)) todo.push(m[1]!);
  }
  return found;
}

/** A module's text without its source-map comment: the site carries no maps (nor the paths in them). */
function withoutSourceMap(text: string): string {
  return text.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
}

/** The site's folder of the model, SAE and tokenizer (the page reads it as ../model-data/ from ui/). */
const MODEL_DATA_DIR = 'model-data';

/** The browser bundle of the inference (scripts/bundleBrowser.mjs, part of `npm run build`), or null when it was not built. */
function localFeaturesBundle(): string | null {
  const root = packageRoot();
  const candidates = [join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'browser', 'localFeatures.js'), ...(root ? [join(root, 'dist', 'browser', 'localFeatures.js')] : [])];
  return candidates.find((p) => existsSync(p)) ?? null;
}

/** Feature pages per shard: the largest power of two (≤ 256) whose shard of average pages fits SHARD_TARGET, from a sample of the pages. */
function shardSize(reader: WorkspaceReader, d: number, ids: number[]): number {
  if (ids.length === 0) return 256;
  const step = Math.max(1, Math.floor(ids.length / 64));
  let bytes = 0;
  let n = 0;
  for (let i = 0; i < ids.length; i += step) (bytes += Buffer.byteLength(JSON.stringify(siteFeature(reader, d, ids[i]!)))), n++;
  const fit = Math.max(1, Math.floor(SHARD_TARGET / (bytes / n)));
  return Math.min(256, 2 ** Math.floor(Math.log2(fit)));
}

/** Export dashboard `o.dashboard` of workspace `o.db` as a static site in `o.out` (see the file comment). */
export async function exportSite(o: ExportSiteOptions): Promise<ExportedSite> {
  const { reader, out } = openChecked(o);
  const tmp = tempPathFor(out);
  const files: { path: string; bytes: number }[] = [];
  const put = async (rel: string, body: string): Promise<number> => {
    const path = join(tmp, ...rel.split('/'));
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, body);
    const bytes = Buffer.byteLength(body);
    files.push({ path: rel, bytes });
    return bytes;
  };
  const json = (rel: string, v: unknown) => put(rel, JSON.stringify(v));
  try {
    await cleanStaleTemps(dirname(out));
    await mkdir(tmp);
    const d = o.dashboard;
    const ui = await uiModules(uiDir());
    if (o.withModel) {
      // The model, SAE and tokenizer for text → features in the page (report/siteModel.ts; it
      // refuses, one line, a model too large for a browser) and the bundled inference module.
      const bundle = localFeaturesBundle();
      if (!bundle) throw new SiteExportError('--with-model: the browser bundle dist/browser/localFeatures.js is missing (run `npm run build`)');
      const rec = reader.dashboard(d);
      const modelDir = await resolveModel(rec.model, { download: false });
      const m = await writeSiteModel(modelDir, rec.saePath, rec.hook, join(tmp, MODEL_DATA_DIR));
      for (const f of m.files) files.push({ path: `${MODEL_DATA_DIR}/${f}`, bytes: statSync(join(tmp, MODEL_DATA_DIR, ...f.split('/'))).size });
      await put('ui/localFeatures.js', withoutSourceMap(await readFile(bundle, 'utf8')));
    }
    const ids = (reader.dash.listFeatures(d, { order: 'feature', limit: -1 }) as { feature: number }[]).map((r) => r.feature);
    const dSae = reader.dashboard(d).dSae;
    const perShard = o.featuresPerShard ?? shardSize(reader, d, ids);
    const listChunk = o.listChunk ?? DEFAULT_LIST_CHUNK;
    const workspace = siteWorkspace(reader, d);
    const saes = siteSaes(workspace);
    const info: SiteInfo = { format: 1, generator: `saelab ${SAELAB_VERSION}`, dashboard: d, listChunk, orders: [...LIST_ORDERS], featuresPerShard: perShard, saes, textFeatures: o.withModel ? 'local' : 'none' };

    let home = await put('index.html', indexHtml('static'));
    home += await put('ui/style.css', UI_STYLE);
    for (const [name, text] of [...ui].sort()) home += await put(`ui/${name}`, text);
    home += await json(SITE_FILE, info);
    let list = home;
    home += await json(workspaceFile(), workspace);
    for (const s of saes) await json(saeMetricsFile(s), reader.metrics(s));
    list += await json(dashboardFile(d), siteDashboard(reader, d));
    for (const order of LIST_ORDERS) {
      for (const [c, page] of siteListChunks(reader, d, order, listChunk).entries()) {
        const b = await json(listChunkFile(d, order, c), page);
        if (order === 'density' && c === 0) list += b; // dashboardView opens in density order
      }
    }
    // Feature pages: shards over 0 … dSae−1 (a feature without a row is null in its shard).
    const have = new Set(ids);
    let largest = 0;
    const shards = Math.ceil(Math.max(dSae, ids.length ? ids[ids.length - 1]! + 1 : 0) / perShard);
    for (let k = 0; k < shards; k++) {
      const first = k * perShard;
      const pages: unknown[] = [];
      for (let f = first; f < first + perShard; f++) pages.push(have.has(f) ? siteFeature(reader, d, f) : null);
      while (pages.length && pages[pages.length - 1] === null) pages.pop();
      if (pages.length === 0) continue;
      largest = Math.max(largest, await json(featureShardFile(d, k), { first, features: pages }));
      o.onProgress?.(Math.min(ids.length, first + perShard), ids.length);
    }
    await placeSite(tmp, out);
    files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return { dir: out, files, bytes: files.reduce((a, f) => a + f.bytes, 0), homeBytes: home, listBytes: list, largestShardBytes: largest, features: ids.length, featuresPerShard: perShard, listChunk };
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  } finally {
    reader.close();
  }
}

/** Put the finished folder `tmp` at `out`: renamed into place; a previous site there is moved aside first and removed after. */
async function placeSite(tmp: string, out: string): Promise<void> {
  if (!existsSync(out)) return rename(tmp, out);
  const old = tempPathFor(out);
  await rename(out, old);
  try {
    await rename(tmp, out);
  } catch (e) {
    await rename(old, out);
    throw e;
  }
  await rm(old, { recursive: true, force: true });
}
