// `saelab bench all`: every benchmark with a GPU goal in BENCHMARKS.md, plus the PyTorch reference,
// in one call on one device within a total time budget (a lent GPU machine is there for minutes),
// writing one JSON and one markdown table of ratios into --out. Each part is a child process (the
// command BENCHMARKS.md lists) stopped when it overruns its budget; the files are rewritten
// atomically after every part, so a call cut short still leaves what it measured.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { BENCH_FAMILIES, benchAllParts, type BenchEnv } from '../benchAll/parts.js';
import { ratioMarkdown } from '../benchAll/ratioTable.js';
import { runPart, type PartResult } from '../benchAll/runPart.js';
import { deviceOption } from '../deviceOption.js';
import { UsageError } from '../errors.js';
import { choice, intFlag, listOption, numFlag } from '../flags.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

interface BenchAllFlags { device: string; quick?: boolean; out: string; budget: number; partBudgetScale: number; only?: string[]; assets?: string; python?: string; torchDir?: string; torch: boolean }

/** Does `python` run `code` (exit 0 within `timeoutS`)? Its stdout, or null. */
function pythonSays(python: string, code: string, timeoutS: number): string | null {
  try {
    return execFileSync(python, ['-c', code], { encoding: 'utf8', timeout: timeoutS * 1000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** Where the torch reference can run, or why not. */
function findTorch(o: BenchAllFlags, device: string): BenchEnv['torch'] {
  if (!o.torch) return { reason: '--no-torch' };
  const cuda = device !== 'cpu';
  const file = cuda ? 'torch_reference.py' : 'torch_cpu_reference.py';
  const dirs = o.torchDir ? [o.torchDir] : [join(ROOT, '.device'), join(ROOT, '..', 'shared', 'bench')];
  const script = dirs.map((d) => join(d, file)).find((p) => existsSync(p));
  if (!script) return { reason: `${file} not found in ${dirs.join(' or ')}` };
  const pythons = o.python ? [o.python] : [...new Set(['python3', '/usr/bin/python3'])];
  let seen = false;
  for (const py of pythons) {
    const says = pythonSays(py, "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')", 120);
    if (says === null) continue;
    seen = true;
    if (!cuda || says.endsWith('cuda')) return { python: py, script: relative(ROOT, script), kind: cuda ? 'cuda' : 'cpu' };
  }
  return { reason: seen ? `torch has no CUDA device here (${file} needs one)` : `no python with torch (tried ${pythons.join(', ')})` };
}

/** Write `text` to `path` atomically (temp file + rename). */
function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Register `saelab bench all` under `bench`. */
export function registerBenchAll(bench: Command): void {
  bench
    .command('all')
    .description('every benchmark with a GPU goal in BENCHMARKS.md (kernels, forward, SAE steps at 24,576 and 98,304 latents, matching, e2e steps, a dashboard pass) plus torch_reference.py when python3 has torch, in one call within --budget seconds: one JSON and one markdown table of saelab/torch ratios in --out')
    .addOption(deviceOption())
    .option('--quick', 'small shapes (a test on lavapipe or the CPU; timings mean little)')
    .option('--out <dir>', 'output folder for bench-all.json and bench-all.md', 'bench-all')
    .option('--budget <s>', 'total seconds for the whole call; each part also has its own budget and is stopped when it overruns', intFlag('--budget', 10), 450)
    .option('--part-budget-scale <x>', "multiply every part's own budget (e.g. 5 on a slow or busy machine, with a larger --budget)", numFlag('--part-budget-scale', 0.01), 1)
    .addOption(listOption('--only <families>', `part families to run: ${BENCH_FAMILIES.join(', ')}`, choice('--only', BENCH_FAMILIES)))
    .option('--assets <dir>', 'folder with models/gpt2-corpus-tiny and corpora/mixed-public-domain.txt.xz (default: .device/assets, else ../shared/assets)')
    .option('--python <exe>', 'the python that has torch (default: python3, else /usr/bin/python3)')
    .option('--torch-dir <dir>', 'folder of torch_reference.py / torch_cpu_reference.py (default: .device, else ../shared/bench)')
    .option('--no-torch', 'do not run the PyTorch reference')
    .action(async (o: BenchAllFlags) => {
      if (!['auto', 'cpu', 'webgpu'].includes(o.device)) throw new UsageError(`--device must be auto, cpu or webgpu for bench all (got '${o.device}')`);
      const outDir = resolve(o.out);
      if (existsSync(outDir) && !statSync(outDir).isDirectory()) throw new UsageError(`--out ${outDir} is not a folder`);
      mkdirSync(outDir, { recursive: true });
      const assetDirs = o.assets ? [resolve(o.assets)] : [join(ROOT, '.device', 'assets'), join(ROOT, '..', 'shared', 'assets')];
      if (o.assets && !existsSync(join(assetDirs[0]!, 'models', 'gpt2-corpus-tiny'))) throw new UsageError(`--assets ${assetDirs[0]}: no models/gpt2-corpus-tiny in it`);
      const assets = assetDirs.find((d) => existsSync(join(d, 'models', 'gpt2-corpus-tiny'))) ?? null;
      const families = o.only;
      const wantTorch = !families || families.includes('torch');
      const numpy = !families || families.includes('match') ? pythonSays('python3', 'import numpy, scipy', 60) : '';
      const scratch = mkdtempSync(join(tmpdir(), 'saelab-bench-all-'));
      const env: BenchEnv = {
        device: o.device as BenchEnv['device'], quick: !!o.quick, assets, scratch,
        numpyPython: numpy !== null ? 'python3' : { reason: 'python3 with numpy and scipy is not here (the matching data come from numpy)' },
        torch: wantTorch ? findTorch(o, o.device) : { reason: 'not in --only' },
      };
      const parts = benchAllParts(env, families);
      const t0 = performance.now();
      const results: PartResult[] = [];
      const date = new Date().toISOString();
      const gpu = o.device !== 'cpu' && !o.quick;
      const save = () => {
        const device = String(results.flatMap((r) => r.rows).find((r) => typeof r.device === 'string')?.device ?? o.device);
        const totalSeconds = (performance.now() - t0) / 1000;
        writeAtomic(join(outDir, 'bench-all.json'), JSON.stringify({ date, device, quick: !!o.quick, budgetS: o.budget, totalSeconds, parts: results }, null, 1) + '\n');
        writeAtomic(join(outDir, 'bench-all.md'), ratioMarkdown({ device, date, quick: !!o.quick, totalSeconds, budgetS: o.budget, results, gpu }));
      };
      try {
        for (const [i, part] of parts.entries()) {
          const left = o.budget - (performance.now() - t0) / 1000;
          const budgetS = Math.floor(Math.min(part.budgetS * o.partBudgetScale, left));
          const before = part.after === undefined ? null : results.find((r) => r.name === part.after);
          const p = part.skip ? part
            : budgetS < 5 ? { ...part, skip: `not run: the call's budget of ${o.budget} s was spent` }
            : before && before.status !== 'ok' ? { ...part, skip: `not run: it needs the output of ${before.name}, which ${before.status}` }
            : part;
          process.stderr.write(`[${i + 1}/${parts.length}] ${part.name} `);
          const r = await runPart(p, { cwd: ROOT, saelabBin: join(ROOT, 'bin', 'saelab.js'), budgetS: Math.max(1, budgetS) });
          results.push(r);
          process.stderr.write(`${r.status}${r.reason ? ` (${r.reason})` : ''} ${r.seconds.toFixed(1)} s\n`);
          save();
        }
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
      save();
      process.stderr.write(`wrote ${join(outDir, 'bench-all.md')} and bench-all.json\n`);
      if (results.some((r) => r.status === 'failed' && r.side === 'saelab')) process.exitCode = 1;
    });
}
