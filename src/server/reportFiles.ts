// Report files of a workspace (the JSON and plots that `eval`, `compare` and `perturb` write, e.g.
// <workspace>/reports/** or <sae>/eval/*.svg), found generically: every .json, .svg and .png under
// the workspace folder, except SAE configs, hidden files and the checkpoint/dashboard-state folders.
// A file is served only when it is one of these: the path is resolved and its real path (symlinks
// followed) must stay inside the workspace, so `..` and links out give 404.

import { realpathSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, relative, resolve, sep } from 'node:path';
import { HttpError } from './http.js';

const TYPES: Record<string, string> = { '.json': 'application/json; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png' };
const SKIP_DIRS = new Set(['checkpoints', 'dashboards', 'node_modules']);
const SKIP_FILES = new Set(['cfg.json', 'manifest.json', 'config.json']);
const MAX_DEPTH = 6;
const MAX_FILES = 2000;
/** Report files larger than this are not served (a report is small; anything bigger is not one). */
const MAX_BYTES = 32 << 20;

export interface ReportFile {
  /** Path relative to the workspace, with '/' separators. */
  path: string;
  kind: 'json' | 'svg' | 'png';
  bytes: number;
  modified: string;
}

/** Whether a workspace-relative path names a report file by its name alone. */
function reportName(name: string): boolean {
  return !name.startsWith('.') && !SKIP_FILES.has(name) && TYPES[extname(name).toLowerCase()] !== undefined;
}

/** The report files under `root`, sorted by path. */
export async function listReportFiles(root: string): Promise<ReportFile[]> {
  const out: ReportFile[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > MAX_DEPTH || out.length >= MAX_FILES) return;
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (out.length >= MAX_FILES) return;
      if (e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name)) await walk(p, depth + 1);
      } else if (e.isFile() && reportName(e.name)) {
        const st = await stat(p).catch(() => null);
        if (!st || st.size > MAX_BYTES) continue;
        out.push({ path: relative(root, p).split(sep).join('/'), kind: extname(e.name).slice(1).toLowerCase() as ReportFile['kind'], bytes: st.size, modified: st.mtime.toISOString() });
      }
    }
  };
  await walk(root, 0);
  return out;
}

/** Read report file `rel` of `root` (404 for anything that is not a report file inside it). */
export async function readReportFile(root: string, rel: string): Promise<{ type: string; body: Buffer }> {
  const notFound = () => new HttpError(404, 'no such report file');
  if (rel.includes('\0') || rel.includes('\\') || rel.split('/').some((p) => p === '..' || p.startsWith('.') || p === '')) throw notFound();
  const name = rel.split('/').pop()!;
  if (!reportName(name)) throw notFound();
  const rootReal = realpathSync(root);
  const p = resolve(rootReal, rel);
  if (!p.startsWith(rootReal + sep)) throw notFound();
  let real: string;
  try {
    real = realpathSync(p);
  } catch {
    throw notFound();
  }
  if (!real.startsWith(rootReal + sep)) throw notFound();
  const segs = relative(rootReal, real).split(sep);
  if (segs.slice(0, -1).some((d) => SKIP_DIRS.has(d))) throw notFound();
  const st = await stat(real).catch(() => null);
  if (!st || !st.isFile() || st.size > MAX_BYTES) throw notFound();
  return { type: TYPES[extname(real).toLowerCase()]!, body: await readFile(real) };
}
