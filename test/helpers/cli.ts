// Running the built `saelab` command from tests, as a user would.

import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BIN = resolve('bin/saelab.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run saelab with `args`; resolves with the exit code and output (never rejects on a non-zero exit). */
export async function saelab(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 240_000): Promise<CliResult> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 64 << 20 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** stderr without Dawn's own start-up warnings (its C++ logging, not ours). */
export function userLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.trim() && !l.startsWith('Warning:') && !l.includes('third_party/dawn'));
}
