#!/usr/bin/env node
// Regenerate docs/eval-results.md: train small SAEs on gpt2-corpus-tiny (two layers; TopK and a sweep
// of ReLU L1 coefficients, so one of them lands near the TopK's L0), evaluate them all with
// `saelab eval` on text after the training tokens, and write the table.
//
//   npx tsc -p tsconfig.json && node scripts/evalTable.mjs [--work DIR] [--fresh]
//
// SAE folders already in WORK (default /tmp/saelab-eval-table) are reused, so a rerun only
// re-evaluates; --fresh retrains everything. CPU only: the numbers are reproducible bit for bit.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'saelab.js');
const MODEL = resolve(ROOT, '..', 'shared', 'assets', 'models', 'gpt2-corpus-tiny');
const DATA = resolve(ROOT, '..', 'shared', 'assets', 'corpora', 'mixed-public-domain.txt.xz');
const OUT_DOC = join(ROOT, 'docs', 'eval-results.md');

// The recipe (kept small: a few CPU minutes in all).
const LAYERS = [2, 4];
const D_SAE = 768;
const K = 16;
const L1S = [2, 5, 7, 10, 20];
const TRAIN_TOKENS = 400_000;
const BATCH = 1024;
const LR = 1e-3;
const CONTEXT = 128;
// Evaluation text starts after the windows the training could have read (400k tokens plus the
// shuffle buffer's look-ahead of 8 batches), so it is held out from every SAE here.
const SKIP_TOKENS = 600_000;
const EVAL_TOKENS = 16_384;

const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const WORK = resolve(flag('--work') ?? '/tmp/saelab-eval-table');
const fresh = args.includes('--fresh');

for (const p of [MODEL, DATA]) if (!existsSync(p)) throw new Error(`needs ${p} (../shared/assets)`);
if (!existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'))) throw new Error('build first: npx tsc -p tsconfig.json');
if (fresh) rmSync(WORK, { recursive: true, force: true });
mkdirSync(WORK, { recursive: true });

/** Run saelab with `argv`, returning stdout (stderr passes through for progress). */
function saelab(argv) {
  return execFileSync(process.execPath, [BIN, ...argv], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 256 << 20 });
}

const common = ['--device', 'cpu', '--model', MODEL, '--data', DATA, '--d-sae', String(D_SAE), '--tokens', String(TRAIN_TOKENS), '--batch-size', String(BATCH), '--lr', String(LR), '--context-size', String(CONTEXT), '--json'];
const saeDirs = [];
for (const layer of LAYERS) {
  const hook = `blocks.${layer}.hook_resid_pre`;
  const runs = [
    { out: join(WORK, `L${layer}-topk`), argv: ['--arch', 'topk', '--k', String(K)], folders: [`topk-k${K}-s0`] },
    { out: join(WORK, `L${layer}-relu`), argv: ['--arch', 'standard', '--l1s', L1S.join(',')], folders: L1S.map((l1) => `standard-l1_${l1}-s0`) },
  ];
  for (const r of runs) {
    const dirs = r.folders.map((f) => join(r.out, f));
    if (!dirs.every((d) => existsSync(join(d, 'cfg.json')))) {
      rmSync(r.out, { recursive: true, force: true });
      process.stderr.write(`training ${r.argv.join(' ')} on ${hook} → ${r.out}\n`);
      saelab(['train', ...common, '--hook', hook, ...r.argv, '--out', r.out]);
    }
    saeDirs.push(...dirs);
  }
}
if (args.includes('--train-only')) process.exit(0);

// One eval call for all SAEs: the clean and ablation forwards are shared per hook.
const evalOut = join(WORK, 'eval');
const evalArgv = ['eval', '--device', 'cpu', '--model', MODEL, '--data', DATA, '--tokens', String(EVAL_TOKENS), '--skip-tokens', String(SKIP_TOKENS), '--context-size', String(CONTEXT), '--out', evalOut, '--db', join(WORK, 'saelab.db'), '--json'];
for (const d of saeDirs) evalArgv.push('--sae', d);
const t0 = Date.now();
const report = JSON.parse(saelab(evalArgv));
const evalSeconds = (Date.now() - t0) / 1000;

// ---- the table ----
const fmt = (v, d) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(d));
const rows = report.saes.map((s) => ({ ...s, label: s.architecture === 'topk' ? `TopK k=${s.cfg.k}` : `ReLU L1=${s.cfg.l1Coefficient}` }));
// Per hook: the ReLU SAE whose L0 is closest to the TopK SAE's (the matched pair).
const matched = new Set();
for (const layer of LAYERS) {
  const hook = `blocks.${layer}.hook_resid_pre`;
  const topk = rows.find((r) => r.hook === hook && r.architecture === 'topk');
  const relus = rows.filter((r) => r.hook === hook && r.architecture === 'standard');
  if (!topk || relus.length === 0) continue;
  const best = relus.reduce((a, b) => (Math.abs(b.metrics.l0 - topk.metrics.l0) < Math.abs(a.metrics.l0 - topk.metrics.l0) ? b : a));
  matched.add(topk.path).add(best.path);
}
const cols = [
  ['l0', 1], ['mse', 3], ['fvu', 4], ['explained_variance', 4], ['cosine', 4], ['l2_ratio', 3],
  ['ce_clean', 4], ['ce_sae', 4], ['ce_zero_ablation', 3], ['ce_mean_ablation', 3], ['ce_loss_recovered', 4], ['ce_increase', 4],
  ['kl_sae', 4], ['kl_score', 4], ['alive_fraction', 3], ['dense_count', 0],
];
const lines = [];
lines.push('# SAE evaluation results: gpt2-corpus-tiny');
lines.push('');
lines.push('Generated by `scripts/evalTable.mjs` (do not edit by hand). To regenerate:');
lines.push('');
lines.push('```');
lines.push('npx tsc -p tsconfig.json && node scripts/evalTable.mjs --fresh');
lines.push('```');
lines.push('');
lines.push('The eval step it ran (SAE folders under the work folder, default /tmp/saelab-eval-table):');
lines.push('');
lines.push('```');
lines.push(`saelab ${evalArgv.map((a) => (a.startsWith(WORK) ? a.replace(WORK, 'WORK') : a.startsWith(ROOT) ? a.replace(resolve(ROOT, '..'), '..') : a)).join(' ')}`);
lines.push('```');
lines.push('');
lines.push(`Model \`gpt2-corpus-tiny\` (6 layers, d_model 192). SAEs: d_sae ${D_SAE}, trained on ${TRAIN_TOKENS.toLocaleString('en-US')} tokens of the shared corpus `
  + `(batch ${BATCH}, lr ${LR}, context ${CONTEXT}, inputs normalised to E‖x‖² = d_in), one TopK (k = ${K}) and ReLU SAEs at L1 coefficients ${L1S.join(', ')} per hook. `
  + `Evaluated on ${report.tokens.toLocaleString('en-US')} tokens (${report.windows} windows of ${CONTEXT}, BOS excluded) starting after the first ${SKIP_TOKENS.toLocaleString('en-US')} tokens of the corpus, which no SAE trained on (the model itself was trained on the whole corpus, so \`ce_clean\` is below its 2.98 held-out loss). `
  + `Metric names and formulas: [metrics.md](metrics.md). ★ marks the TopK SAE and the ReLU SAE with the nearest L0 on each hook (the matched pair). `
  + `Eval wall time ${evalSeconds.toFixed(0)} s on CPU for all ${rows.length} SAEs.`);
lines.push('');
lines.push(`| hook | SAE | ${cols.map(([c]) => `\`${c}\``).join(' | ')} |`);
lines.push(`|---|---|${cols.map(() => '---:').join('|')}|`);
for (const r of rows) {
  lines.push(`| ${r.hook} | ${matched.has(r.path) ? '★ ' : ''}${r.label} | ${cols.map(([c, d]) => fmt(r.metrics[c], d)).join(' | ')} |`);
}
lines.push('');
lines.push(`Error-term check (x̂ + (x − x̂) spliced in gives the clean output): largest |Δ logit| ${report.saes.map((s) => s.checks.error_term_max_abs_diff.toExponential(1)).join(', ')}.`);
lines.push('');
const tmp = `${OUT_DOC}.${process.pid}.tmp`;
writeFileSync(tmp, lines.join('\n'));
renameSync(tmp, OUT_DOC);
process.stderr.write(`wrote ${OUT_DOC}\n`);
