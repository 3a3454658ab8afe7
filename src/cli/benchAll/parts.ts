// The plan of `saelab bench all`: every benchmark with a GPU goal in BENCHMARKS.md as one child
// command each (the very commands BENCHMARKS.md lists), with a time budget, plus the PyTorch
// reference on the same device when python3 has torch. Full shapes for a GPU; `quick` shapes for
// lavapipe and the CPU (tests). Order = priority: the later parts are the first to go when the
// call's total budget runs out.

import { join } from 'node:path';

/** One child command of the plan. */
export interface BenchPart {
  /** Stable name, e.g. `sae.24576` or `torch.lm.128`. */
  name: string;
  /** `saelab` (one of our benchmarks) or `torch` (the reference). */
  side: 'saelab' | 'torch';
  /** The program and its arguments (program: `saelab`, `node`, or a python). */
  argv: string[];
  /** Seconds it may run before it is stopped (and reported as overrun). */
  budgetS: number;
  /** Why it cannot run here (asset or tool missing), or null. */
  skip: string | null;
  /** A part whose output this one reads (it is skipped unless that one finished). */
  after?: string;
}

/** What the plan needs to know about this machine. */
export interface BenchEnv {
  device: 'cpu' | 'webgpu' | 'auto';
  quick: boolean;
  /** Folder with models/gpt2-corpus-tiny and corpora/mixed-public-domain.txt.xz, or null when absent. */
  assets: string | null;
  /** A python with numpy (and scipy) for the matching data, or a reason it is missing. */
  numpyPython: string | { reason: string };
  /** The torch reference script and its python, or a reason it cannot run. */
  torch: { python: string; script: string; kind: 'cuda' | 'cpu' } | { reason: string };
  /** Scratch folder for the trained SAE of the dashboard part. */
  scratch: string;
}

/** The parts to run, in order. `families` (kernels, forward, sae, e2e, match, dashboard, torch) filters them. */
export function benchAllParts(env: BenchEnv, families?: string[]): BenchPart[] {
  const q = env.quick;
  const dev = ['--device', env.device];
  const saelab = (...a: string[]) => ['saelab', ...a, ...dev, '--json'];
  const parts: (BenchPart & { family: string })[] = [];
  const add = (family: string, name: string, side: 'saelab' | 'torch', argv: string[], budgetS: number, skip: string | null = null) =>
    parts.push({ family, name, side, argv, budgetS, skip });
  const model = env.assets ? join(env.assets, 'models', 'gpt2-corpus-tiny') : null;
  const corpus = env.assets ? join(env.assets, 'corpora', 'mixed-public-domain.txt.xz') : null;
  const noAssets = 'gpt2-corpus-tiny and the corpus are not here (pass --assets DIR holding models/gpt2-corpus-tiny and corpora/mixed-public-domain.txt.xz)';
  const torchSkip = 'reason' in env.torch ? env.torch.reason : null;
  const torch = (name: string, args: string[], budgetS: number) => {
    if ('reason' in env.torch) return add('torch', name, 'torch', [], budgetS, torchSkip);
    add('torch', name, 'torch', [env.torch.python, env.torch.script, ...args], budgetS);
  };
  const cudaTorch = !('reason' in env.torch) && env.torch.kind === 'cuda';

  // Kernels: matmul (3 shapes), row top-k, cosine max both ways (cos.maxsim, 32,768² on a GPU).
  add('kernels', 'kernels', 'saelab', q
    ? saelab('bench', 'kernels', '--matmul', '128x192x512;128x512x192', '--topk-rows', '32', '--cos-n', '512', '--min-ms', '1')
    : saelab('bench', 'kernels', '--min-ms', '1000'), q ? 60 : 60);
  // The SAE step at 24,576 (TopK sparse and dense, ReLU+L1) and its torch reference.
  const dSmall = q ? '512' : '24576';
  const saeQuick = q ? ['--batch', '128', '--min-ms', '1'] : ['--min-ms', '2000'];
  if (cudaTorch) torch(`torch.sae.${dSmall}`, ['--only', 'sae', '--d-sae', dSmall, ...(q ? ['--batch', '128'] : [])], 60);
  else torch(`torch.sae.${dSmall}`, ['--only', 'sae', '--d-sae', dSmall, '--reps', '2', ...(q ? ['--batch', '128'] : [])], 60);
  add('sae', `sae.${dSmall}`, 'saelab', saelab('bench', 'sae', '--arch', 'topk,standard', '--d-sae', dSmall, '--dense-topk', ...saeQuick), 60);
  // The GPT-2-small-shaped forward at ctx 128 and 1024 (quick: ctx 16, two layers, small vocabulary).
  const ctxs = q ? ['16'] : ['128', '1024'];
  add('forward', 'forward', 'saelab', q
    ? saelab('bench', 'forward', '--ctx', '16', '--batch-tokens', '32', '--stop-at-layer', '2', '--vocab', '1000', '--min-ms', '1')
    : saelab('bench', 'forward', '--ctx', '128,1024', '--min-ms', '2000'), q ? 60 : 50);
  for (const c of ctxs) {
    if (cudaTorch) torch(`torch.lm.${c}`, ['--only', 'lm', '--ctx', c], 45);
    else torch(`torch.lm.${c}`, ['--only', 'lm', '--ctx', c, '--reps', '2', ...(q ? ['--batch-tokens', '32', '--layer', '2'] : [])], 45);
  }
  // cos.maxsim's torch reference (the saelab side is the kernels part).
  if (cudaTorch) torch('torch.cos', ['--only', 'cos', '--cos-n', q ? '512' : '32768'], 30);
  // The SAE step at 98,304 (quick: 2,048).
  const dLarge = q ? '2048' : '98304';
  add('sae', `sae.${dLarge}`, 'saelab', saelab('bench', 'sae', '--arch', 'topk', '--d-sae', dLarge, '--dense-topk', ...saeQuick), 75);
  if (cudaTorch) torch(`torch.sae.${dLarge}`, ['--only', 'sae', '--d-sae', dLarge, ...(q ? ['--batch', '128'] : [])], 60);
  // One-to-one matching at 8,192 (against scipy in the same call) and 98,304 (goal: under 60 s).
  const py = typeof env.numpyPython === 'string' ? null : env.numpyPython.reason;
  const match = (n: string, scipy: boolean, budgetS: number) =>
    add('match', `match.${n}`, 'saelab', ['node', 'scripts/benchMatch.mjs', '--n', n, '--d', '96', ...(scipy ? ['--scipy'] : []), '--device', env.device], budgetS, py);
  match(q ? '512' : '8192', true, 45);
  match(q ? '1024' : '98304', false, 90);
  // End-to-end steps: GPT-2-small shape (random weights) and gpt2-corpus-tiny (when here).
  add('e2e', 'e2e.gpt2-small-shape', 'saelab', q
    ? saelab('bench', 'sae', '--loss', 'e2e,e2e+ds', '--model', 'gpt2-small-shape', '--vocab', '1000', '--hook', 'blocks.1.hook_resid_pre', '--d-sae', '1536', '--batch', '16', '--context-size', '16', '--min-ms', '1')
    : saelab('bench', 'sae', '--loss', 'e2e,e2e+ds', '--model', 'gpt2-small-shape', '--batch', '1024', '--context-size', '128', '--min-ms', '2000'), 60);
  add('e2e', 'e2e.gpt2-corpus-tiny', 'saelab', model
    ? saelab('bench', 'sae', '--loss', 'e2e,e2e+ds', '--model', model, '--arch', 'topk', '--d-sae', q ? '384' : '6144', '--batch', q ? '64' : '1024', '--context-size', q ? '32' : '128', '--min-ms', q ? '1' : '1000')
    : [], 45, model ? null : noAssets);
  // A dashboard pass: train a small SAE on gpt2-corpus-tiny (its tokens/s is a row too), then the pass.
  const ws = join(env.scratch, 'ws');
  add('dashboard', 'train', 'saelab', model && corpus
    ? saelab('train', '--model', model, '--data', corpus, '--tokens', q ? '8k' : '400k', '--d-sae', q ? '384' : '6144', '--batch-size', q ? '1024' : '4096', '--out', ws)
    : [], 60, model && corpus ? null : noAssets);
  add('dashboard', 'dashboard', 'saelab', model && corpus
    ? saelab('dashboard', '--sae', join(ws, 'topk-k32-s0'), '--model', model, '--data', corpus, '--tokens', q ? '2k' : '200k')
    : [], 60, model && corpus ? null : noAssets);
  parts[parts.length - 1]!.after = 'train';
  return parts.filter((p) => !families || families.includes(p.family)).map(({ family: _f, ...p }) => p);
}

/** The part families `--only` accepts. */
export const BENCH_FAMILIES = ['kernels', 'forward', 'sae', 'e2e', 'match', 'dashboard', 'torch'] as const;
