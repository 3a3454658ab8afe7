// What the generated-docs scripts (e2eDocs.mjs, gradientsDocs.mjs) share: running the built CLI,
// atomic writes, and reports cached in a work folder keyed on their inputs.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'saelab.js');

/**
 * A runner of `saelab ARGV --device cpu --json` for the script `script`: prints the command (through
 * `show` for its arguments), passes progress through, returns { json, seconds }; a failure stops the
 * script with saelab's exit code class (2: bad input) and says that a rerun resumes.
 */
export function saelabRunner(script, show = (a) => a) {
  return (argv) => {
    const t = Date.now();
    process.stderr.write(`$ saelab ${argv.map(show).join(' ')}\n`);
    let out;
    try {
      out = execFileSync(process.execPath, [BIN, ...argv, '--device', 'cpu', '--json'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 256 << 20 });
    } catch (e) {
      process.stderr.write(`${script}: saelab ${argv[0]} failed (exit ${e.status}); rerun this script to resume\n`);
      process.exit(e.status === 2 ? 2 : 1);
    }
    const seconds = (Date.now() - t) / 1000;
    process.stderr.write(`  (${seconds.toFixed(1)} s)\n`);
    return { json: JSON.parse(out), seconds };
  };
}

/** Write text (or JSON) atomically: a temp file renamed into place. */
export function writeAtomic(path, content) {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, typeof content === 'string' ? content : JSON.stringify(content, null, 1));
  renameSync(tmp, path);
}

export const readJson = (p) => JSON.parse(readFileSync(p, 'utf8'));

/** What identifies a trained SAE folder's contents for the report caches: its weights file's time and size. */
export function stamp(dir) {
  const st = statSync(join(dir, 'sae_weights.safetensors'));
  return `${dir}@${st.mtimeMs}:${st.size}`;
}

/** The report at `path`: reused when its inputs (`key`) are unchanged and `redo` is off, else produced and saved. */
export function cachedReport(path, key, redo, produce) {
  if (!redo && existsSync(path)) {
    const r = readJson(path);
    if (JSON.stringify(r.key) === JSON.stringify(key)) return r.value;
  }
  const value = produce();
  writeAtomic(path, { key, value });
  return value;
}

/**
 * The command line of the docs script `script`: `die` (one line, exit 2), `flag(name)` (its value),
 * `has(name)`; an option outside `known` is refused up front.
 */
export function scriptArgs(script, known) {
  const args = process.argv.slice(2);
  const die = (msg) => {
    process.stderr.write(`${script}: ${msg}\n`);
    process.exit(2);
  };
  const flag = (name) => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    if (i + 1 >= args.length || args[i + 1].startsWith('--')) die(`${name} needs a value`);
    return args[i + 1];
  };
  const allowed = new Set(known);
  for (const a of args) if (a.startsWith('--') && !allowed.has(a)) die(`unknown option ${a} (options: ${known.join(', ')})`);
  return { die, flag, has: (name) => args.includes(name) };
}
