// Where the shared test assets are (../shared/assets next to the repo), and a skip reason when absent.

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repo root: the nearest folder above this file whose package.json names saelab (works from src and dist). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'saelab') return dir;
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

/** ../shared/assets relative to the repo root. */
export const ASSETS = resolve(repoRoot(), '..', 'shared', 'assets');

/** A `skip` option for node:test: false when `rel` exists under the assets, else the reason. */
export function needsAsset(rel: string): false | string {
  return existsSync(join(ASSETS, rel)) ? false : `needs ../shared/assets/${rel}`;
}

/** A fresh temp folder and its cleanup. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-io-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
