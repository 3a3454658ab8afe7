// Run one part of `saelab bench all` as a child process with a time budget: its own process group
// (stopped whole when it overruns: SIGTERM, then SIGKILL 5 s later), its JSON rows parsed from stdout.

import { spawn } from 'node:child_process';
import type { BenchPart } from './parts.js';

/** The outcome of one part. */
export interface PartResult {
  name: string;
  side: 'saelab' | 'torch';
  /** The command as a shell line (what BENCHMARKS.md lists). */
  command: string;
  status: 'ok' | 'failed' | 'overran' | 'skipped';
  /** Why it was skipped, failed or stopped. */
  reason?: string;
  seconds: number;
  budgetS: number;
  /** The JSON rows it printed (saelab: the `rows` of its --json object, with `device` added; torch and scripts: one per line). */
  rows: Record<string, unknown>[];
}

/** A shell-quoted command line for display. */
export function commandLine(argv: string[]): string {
  return argv.map((a) => (/^[\w./:,=+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Rows from a part's stdout: one JSON object with `rows` (saelab --json), or JSON lines. */
export function parseRows(stdout: string): Record<string, unknown>[] {
  const text = stdout.trim();
  if (!text) return [];
  try {
    const obj = JSON.parse(text) as Record<string, unknown>;
    if (Array.isArray(obj.rows)) return (obj.rows as Record<string, unknown>[]).map((r) => ({ ...r, device: obj.device }));
    return [obj];
  } catch {
    const rows: Record<string, unknown>[] = [];
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        rows.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a row (a progress line that happens to start with a brace)
      }
    }
    return rows;
  }
}

/**
 * Run `part` (argv[0] `saelab` → this node + bin/saelab.js, `node` → this node) in `cwd` with at most
 * `budgetS` seconds; never throws for the child's failure (the result says it).
 */
export function runPart(part: BenchPart, o: { cwd: string; saelabBin: string; budgetS: number; env?: NodeJS.ProcessEnv }): Promise<PartResult> {
  const command = commandLine(part.argv);
  const base = { name: part.name, side: part.side, command, budgetS: o.budgetS };
  if (part.skip) return Promise.resolve({ ...base, status: 'skipped', reason: part.skip, seconds: 0, rows: [] });
  const [prog, ...args] = part.argv;
  const exe = prog === 'saelab' || prog === 'node' ? process.execPath : prog!;
  const argv = prog === 'saelab' ? [o.saelabBin, ...args] : args;
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(exe, argv, { cwd: o.cwd, env: o.env ?? process.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
    let overran = false;
    const kill = (sig: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig); // the part's process group, and only it
      } catch {
        // already gone
      }
    };
    let hard: NodeJS.Timeout | undefined;
    const soft = setTimeout(() => {
      overran = true;
      kill('SIGTERM');
      hard = setTimeout(() => kill('SIGKILL'), 5000);
    }, o.budgetS * 1000);
    const done = (status: PartResult['status'], reason?: string) => {
      clearTimeout(soft);
      if (hard) clearTimeout(hard);
      const seconds = (performance.now() - t0) / 1000;
      const r: PartResult = { ...base, status, seconds, rows: parseRows(out) };
      if (reason) r.reason = reason;
      resolve(r);
    };
    child.on('error', (e) => done('failed', `could not start ${exe}: ${e.message}`));
    child.on('close', (code, signal) => {
      const tail = err.trim().split('\n').slice(-3).join(' | ');
      if (overran) done('overran', `stopped after its budget of ${o.budgetS} s${tail ? ` (last output: ${tail})` : ''}`);
      else if (code === 0) done('ok');
      else done('failed', `exit ${code ?? signal}${tail ? `: ${tail}` : ''}`);
    });
  });
}
