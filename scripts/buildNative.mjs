#!/usr/bin/env node
// Builds the optional OpenBLAS sgemm addon (native/ -> native/build/Release/saelab_blas.node).
// Runs as the package's `install` script, so it must never fail the install: every problem ends in
// one warning line and exit 0, and saelab then uses its pure-TypeScript matmul.
// Env: SAELAB_SKIP_NATIVE=1 skips the build.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const addonPath = join(nativeDir, 'build', 'Release', 'saelab_blas.node');
const logPath = join(nativeDir, 'build', 'build.log');
const fallbackNote = 'using the slower pure-TypeScript matmul';
const hint = 'install a C compiler and OpenBLAS (Debian/Ubuntu: apt-get install build-essential libopenblas-dev), then run `npm run build:native`';

/** node-gyp as npm ships it: npm tells install scripts where; else look beside this node's npm. */
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  for (const c of candidates) if (c && existsSync(c)) return c;
  try {
    return createRequire(join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return null;
  }
}

/** Local Node headers, so node-gyp need not download them (npm passes nodedir from .npmrc; direct runs do not). */
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [`--nodedir=${process.env.npm_config_nodedir}`];
  const prefix = join(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

/** The most telling line of a failed build log (compiler or linker error first). */
function reasonFrom(log) {
  const lines = log.split('\n').map((l) => l.trim()).filter(Boolean);
  const patterns = [/fatal error:.*/i, /cannot find -l\S+/i, /error:.*/i, /not found.*/i, /gyp ERR! stack Error:.*/];
  for (const p of patterns) {
    for (const l of lines) {
      const m = l.match(p);
      if (m) return m[0].replace(/^gyp ERR! stack /, '').slice(0, 200);
    }
  }
  return 'node-gyp failed';
}

function warn(reason) {
  console.log(`saelab: warning: native BLAS addon not built (${reason}); ${fallbackNote}. To enable it, ${hint}.`);
}

function main() {
  if (process.env.SAELAB_SKIP_NATIVE === '1') {
    console.log(`saelab: native BLAS addon skipped (SAELAB_SKIP_NATIVE=1); ${fallbackNote}.`);
    return;
  }
  const nodeGyp = findNodeGyp();
  if (!nodeGyp) return warn('node-gyp not found');
  const started = Date.now();
  const r = spawnSync(process.execPath, [nodeGyp, 'rebuild', '--release', ...nodedirArgs()], {
    cwd: nativeDir,
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, JOBS: '1' },
  });
  const log = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
  try {
    mkdirSync(dirname(logPath), { recursive: true });
    writeFileSync(logPath, log);
  } catch {
    // The log is a convenience; a read-only tree must not fail the install.
  }
  if (r.error || r.status !== 0 || !existsSync(addonPath)) {
    const reason = r.error ? r.error.message : reasonFrom(log);
    return warn(`${reason}; log: ${relative(process.cwd(), logPath) || logPath}`);
  }
  // Load it once here so a missing runtime library shows up now, not at first use.
  try {
    const addon = createRequire(import.meta.url)(addonPath);
    const { config, threads } = addon.info();
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`saelab: built native BLAS addon in ${secs} s (${config}, ${threads} threads): ${relative(root, addonPath)}`);
  } catch (e) {
    warn(`built but failed to load: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
}

try {
  main();
} catch (e) {
  warn(`unexpected error: ${e instanceof Error ? e.message : String(e)}`);
}
process.exit(0);
