#!/usr/bin/env node
// Regenerate docs/e2e.md and its plots (docs/e2e/*.svg): Braun et al. 2024's local vs end-to-end
// SAE experiment (their Table 2) with saelab's CLI, on gpt2-corpus-tiny and stories260K.
// Per model, at one middle residual hook, TopK SAEs trained with --loss local, e2e and e2e+ds:
// a k sweep (seed 0) plus seeds 1, 2 at the middle k; e2e+ds ablations (--downstream next, next:2);
// a warm start (a local SAE fine-tuned with e2e) against e2e from scratch. Then `saelab eval`
// (L0, alive, CE increase, KL, FVU) on held-out text right after the training tokens, the
// downstream relative error at every later resid_post (src/eval/downstreamError.ts, which eval
// does not report), and `saelab compare` across the 3 seeds of each objective.
//
//   npx tsc -p tsconfig.json && node scripts/e2eDocs.mjs --scale full [--work DIR] [--fresh] [--redo-reports] [--doc PATH]
//
// --scale quick (the default) is a few-minute smoke run of the whole pipeline with toy sizes; it
// writes WORK/e2e.md, not docs/ (its numbers mean nothing). --scale full writes docs/e2e.md.
// Everything lands in WORK (default /tmp/saelab-e2e-docs-<scale>): a rerun reuses finished SAEs,
// resumes a killed training run from its checkpoint (--resume) and reuses the eval/compare reports
// (--redo-reports recomputes those). CPU only: reproducible bit for bit.

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cachedReport, readJson, saelabRunner, scriptArgs, stamp, writeAtomic } from './docsRun.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ASSETS = resolve(ROOT, '..', 'shared', 'assets');
const DATA = join(ASSETS, 'corpora', 'mixed-public-domain.txt.xz');

// ---- the scale knob: everything that sets the cost is here ----
// Full: sized for ~40 min of a 2-core CPU at ~700 tokens/s per e2e SAE on gpt2-corpus-tiny
// (measured: a step costs one clean forward plus ~1.4 ms per SAE-token at that speed; 13 e2e SAEs
// in 7 runs × 60k tokens ≈ 25 min; stories260K's 13 at ~3,400 tokens/s per SAE × 150k ≈ 10 min;
// local training, evals, downstream errors and compare the rest).
const SCALES = {
  quick: {
    context: 64, batch: 256,
    models: {
      tiny: { dSae: 192, tokens: 2_000, ks: [8, 32], kMid: 8, evalTokens: 512, compareTokens: 512 },
      stories: { dSae: 128, tokens: 5_000, ks: [4, 16], kMid: 4, evalTokens: 512, compareTokens: 512 },
    },
  },
  full: {
    context: 64, batch: 256,
    models: {
      tiny: { dSae: 768, tokens: 100_000, ks: [8, 16, 32], kMid: 16, evalTokens: 4096, compareTokens: 2048 },
      stories: { dSae: 256, tokens: 200_000, ks: [4, 8, 16], kMid: 8, evalTokens: 8192, compareTokens: 2048 },
    },
  },
};
const MODELS = {
  tiny: { name: 'gpt2-corpus-tiny', path: join(ASSETS, 'models', 'gpt2-corpus-tiny'), hook: 'blocks.3.hook_resid_pre' },
  stories: { name: 'stories260K', path: join(ASSETS, 'models', 'stories260k', 'stories260K.bin'), hook: 'blocks.2.hook_resid_pre' },
};
// Shared by every run: 4 windows of 64 tokens per step (an e2e step needs whole windows; small
// steps give more Adam steps per token), Adam at 1e-3 (short runs), TopK with AuxK, d_sae = 4 × d_in
// at full scale.
const LR = '1e-3';
const SEEDS = [0, 1, 2];
const OBJECTIVES = ['local', 'e2e', 'e2e+ds'];
// Braun et al. 2024, Table 2 (GPT-2 small, layer 6): the ordering this page checks.
const PAPER = { local: { l0: 69.4, ce: 0.144 }, e2e: { l0: 27.5, ce: 0.145 }, 'e2e+ds': { l0: 36.8, ce: 0.124 } };

// ---- arguments and bad states: one line, exit 2 ----
const { die, flag, has } = scriptArgs('e2eDocs', ['--scale', '--work', '--fresh', '--redo-reports', '--doc']);
const SCALE = flag('--scale') ?? 'quick';
if (!(SCALE in SCALES)) die(`--scale must be quick or full (got ${SCALE})`);
const WORK = resolve(flag('--work') ?? `/tmp/saelab-e2e-docs-${SCALE}`);
const DOC = resolve(flag('--doc') ?? (SCALE === 'full' ? join(ROOT, 'docs', 'e2e.md') : join(WORK, 'e2e.md')));
const PLOTS = join(dirname(DOC), 'e2e');
const REDO = has('--redo-reports');
const CONTEXT = SCALES[SCALE].context;
const BATCH = SCALES[SCALE].batch;
for (const p of [DATA, MODELS.tiny.path, MODELS.stories.path]) if (!existsSync(p)) die(`needs ${p} (../shared/assets is missing or incomplete)`);
if (!existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'))) die('dist/ is not built: run npx tsc -p tsconfig.json first');
if (has('--fresh')) rmSync(WORK, { recursive: true, force: true });
mkdirSync(WORK, { recursive: true });

// ---- running saelab ----
const tStart = Date.now();
const saelab = saelabRunner('e2eDocs', (a) => (a.startsWith(ROOT) ? relative(ROOT, a) : a));
/** A report cached in WORK: reused unless --redo-reports or its inputs (`key`) changed. */
const cached = (path, key, produce) => cachedReport(path, key, REDO, produce);

/**
 * One `saelab train` run into `out` (folders topk-k<k>-s<seed>): skipped when every folder is
 * there, resumed from its checkpoint when one exists, else trained from scratch. Its JSON report
 * (SAE paths by log index) and wall time are kept in out/train.json.
 */
function train(out, flags, ks, seeds) {
  const folders = seeds.flatMap((s) => ks.map((k) => join(out, `topk-k${k}-s${s}`)));
  const argv = ['train', ...flags, '--arch', 'topk', '--ks', ks.join(','), '--seeds', seeds.join(','), '--context-size', String(CONTEXT), '--batch-size', String(BATCH), '--lr', LR, '--data', DATA, '--log-every', '2', '--out', out];
  const done = join(out, 'train.json');
  const same = existsSync(done) && JSON.stringify(readJson(done).argv) === JSON.stringify(argv);
  if (same && folders.every((f) => existsSync(join(f, 'cfg.json')))) return { ...readJson(done), folders };
  // A checkpoint of the same command resumes; anything else in `out` (another scale, other flags) goes.
  const ckpt = join(out, 'checkpoints');
  const resume = existsSync(join(out, 'argv.json')) && JSON.stringify(readJson(join(out, 'argv.json'))) === JSON.stringify(argv) && existsSync(ckpt) && readdirSync(ckpt).some((n) => n.startsWith('step-'));
  if (!resume) rmSync(out, { recursive: true, force: true });
  writeAtomic(join(out, 'argv.json'), argv);
  const { json, seconds } = saelab(resume ? [...argv, '--resume'] : argv);
  const r = { argv, report: json, seconds, resumed: resume };
  writeAtomic(done, r);
  return { ...r, folders };
}

const { openDeviceFromFlag } = await import(join(ROOT, 'dist', 'src', 'cli', 'deviceOption.js'));
const { openModel } = await import(join(ROOT, 'dist', 'src', 'model', 'openModel.js'));
const { loadSpec, lmWindows } = await import(join(ROOT, 'dist', 'src', 'eval', 'evalRun.js'));
const { downstreamErrors } = await import(join(ROOT, 'dist', 'src', 'eval', 'downstreamError.js'));
const { xyPlotSvg } = await import(join(ROOT, 'dist', 'src', 'report', 'svgPlot.js'));
const device = await openDeviceFromFlag('cpu', true);

/** Train, evaluate and compare everything for one model; returns what the page needs. */
async function experiment(id) {
  const m = MODELS[id];
  const c = SCALES[SCALE].models[id];
  const W = join(WORK, id);
  // Checkpoints every quarter: a SIGKILL loses at most a quarter of a run (SIGTERM saves one anyway).
  const base = ['--model', m.path, '--hook', m.hook, '--d-sae', String(c.dSae), '--tokens', String(c.tokens), '--checkpoint-every', String(Math.max(BATCH, Math.floor(c.tokens / 4)))];
  const others = SEEDS.filter((s) => s !== 0);
  const sae = (run, k, s) => join(W, run, `topk-k${k}-s${s}`);
  const runs = {};
  const walls = [];
  const record = (name, r) => ((runs[name] = r), walls.push({ name, seconds: r.seconds, resumed: r.resumed }));
  for (const obj of OBJECTIVES) {
    const loss = ['--loss', obj];
    record(`${obj}/sweep`, train(join(W, obj, 'sweep'), [...base, ...loss], c.ks, [0]));
    record(`${obj}/seeds`, train(join(W, obj, 'seeds'), [...base, ...loss], [c.kMid], others));
  }
  record('ds-next', train(join(W, 'ds-next'), [...base, '--loss', 'e2e+ds', '--downstream', 'next'], [c.kMid], [0]));
  record('ds-next2', train(join(W, 'ds-next2'), [...base, '--loss', 'e2e+ds', '--downstream', 'next:2'], [c.kMid], [0]));
  const localMid = sae('local/sweep', c.kMid, 0);
  record('warm', train(join(W, 'warm'), [...base, '--loss', 'e2e', '--init-from', localMid], [c.kMid], [0]));

  // Every SAE, labelled by objective, k and seed.
  const all = [];
  for (const obj of OBJECTIVES) {
    for (const k of c.ks) all.push({ group: obj, label: `${obj} k${k} s0`, obj, k, seed: 0, path: sae(`${obj}/sweep`, k, 0) });
    for (const s of others) all.push({ group: obj, label: `${obj} k${c.kMid} s${s}`, obj, k: c.kMid, seed: s, path: sae(`${obj}/seeds`, c.kMid, s) });
  }
  all.push({ group: 'variants', label: `e2e+ds next k${c.kMid} s0`, obj: 'e2e+ds next', k: c.kMid, seed: 0, path: sae('ds-next', c.kMid, 0) });
  all.push({ group: 'variants', label: `e2e+ds next:2 k${c.kMid} s0`, obj: 'e2e+ds next:2', k: c.kMid, seed: 0, path: sae('ds-next2', c.kMid, 0) });
  all.push({ group: 'variants', label: `e2e warm k${c.kMid} s0`, obj: 'e2e warm start', k: c.kMid, seed: 0, path: sae('warm', c.kMid, 0) });

  // Held out: the text right after the furthest any SAE read (warm: its local start read the same stream).
  const skip = Math.max(...all.map((s) => readJson(join(s.path, 'cfg.json')).metadata.training_stream_tokens ?? c.tokens));
  const groups = [...new Set(all.map((s) => s.group))];
  const evals = new Map();
  for (const g of groups) {
    const paths = all.filter((s) => s.group === g).map((s) => s.path);
    const key = { saes: paths.map(stamp), tokens: c.evalTokens, skip, context: CONTEXT };
    const r = cached(join(W, 'reports', `eval-${g.replace('+', 'p')}.json`), key, () => saelab(['eval', '--model', m.path, '--data', DATA, ...paths.flatMap((p) => ['--sae', p]), '--tokens', String(c.evalTokens), '--skip-tokens', String(skip), '--context-size', String(CONTEXT), '--out', join(W, 'reports', `eval-${g.replace('+', 'p')}`), '--db', join(W, 'eval.db')]).json);
    for (const s of r.saes) evals.set(s.path, s);
  }
  const ceClean = evals.get(all[0].path).metrics.ce_clean;

  // Downstream relative error at every later resid_post (in-process, through the library).
  const dsKey = { saes: all.map((s) => stamp(s.path)), tokens: c.evalTokens, skip, context: CONTEXT };
  const dsPath = join(W, 'reports', 'downstream.json');
  let downstream = null;
  if (!REDO && existsSync(dsPath) && JSON.stringify(readJson(dsPath).key) === JSON.stringify(dsKey)) downstream = readJson(dsPath).value;
  else {
    const t = Date.now();
    process.stderr.write(`downstream errors of ${all.length} SAEs on ${c.evalTokens} tokens …\n`);
    const opened = await openModel(m.path, device, { needTokenizer: true });
    const specs = [];
    for (const s of all) specs.push({ ...(await loadSpec(s.path, device, undefined)).spec, label: s.path });
    const windows = await lmWindows(DATA, opened.tokenizer, { contextSize: CONTEXT, prependBos: true, tokens: c.evalTokens, skip, textField: 'text' });
    const rows = await downstreamErrors({ model: opened.model, saes: specs, windows, batchSize: 8 });
    opened.model.dispose();
    downstream = { results: rows, seconds: (Date.now() - t) / 1000 };
    writeAtomic(dsPath, { key: dsKey, value: downstream });
    process.stderr.write(`  (${downstream.seconds.toFixed(1)} s)\n`);
  }
  const dsOf = new Map(downstream.results.map((r) => [r.label, r]));

  // Seeds of each objective at the middle k: decoder and encoder, max-cos both ways and matched.
  const compares = {};
  for (const obj of OBJECTIVES) {
    const paths = SEEDS.map((s) => (s === 0 ? sae(`${obj}/sweep`, c.kMid, 0) : sae(`${obj}/seeds`, c.kMid, s)));
    const out = join(W, 'reports', `compare-${obj.replace('+', 'p')}`);
    compares[obj] = cached(`${out}.json`, { saes: paths.map(stamp), tokens: c.compareTokens }, () => saelab(['compare', ...paths, '--by', 'decoder,encoder', '--alive-only', '--tokens', String(c.compareTokens), '--model', m.path, '--data', DATA, '--out', out]).json);
  }

  // Training-log KL of the warm start and of e2e from scratch (same k, seed, tokens, batches).
  const logKl = (run, path) => {
    const idx = runs[run].report.saes.find((s) => resolve(s.path) === resolve(path))?.index;
    const rows = readFileSync(join(W, run, 'train-log.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.saeIndex === idx && r.terms?.kl !== undefined);
    return { x: rows.map((r) => r.tokens), y: rows.map((r) => r.terms.kl) };
  };
  const warmCurve = logKl('warm', sae('warm', c.kMid, 0));
  const scratchCurve = logKl('e2e/sweep', sae('e2e/sweep', c.kMid, 0));
  const localStart = evals.get(localMid);

  return { id, m, c, all, evals, dsOf, compares, ceClean, skip, walls, warmCurve, scratchCurve, localStart, dsSeconds: downstream.seconds };
}

const results = [];
for (const id of ['tiny', 'stories']) results.push(await experiment(id));

// ---- plots ----
const plotTmp = `${PLOTS}.${process.pid}.tmp`;
rmSync(plotTmp, { recursive: true, force: true });
mkdirSync(plotTmp, { recursive: true });
const plotFiles = [];
const keep = (svg, name) => (writeFileSync(join(plotTmp, name), svg), plotFiles.push(name), `e2e/${name}`);

// ---- numbers ----
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs) => (xs.length < 2 ? NaN : Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / (xs.length - 1)));
const f = (v, d = 3) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(d));
const pm = (xs, d = 3) => (xs.length > 1 ? `${f(mean(xs), d)} ± ${f(sd(xs), d)}` : f(xs[0], d));
const n = (v) => v.toLocaleString('en-US');
const short = (h) => h.replace(/^blocks\.(\d+)\.hook_/, 'L$1 ');

/** Rows of the Table-2-like table: one per objective and k (seeds pooled: mean ± sd). */
function tableRows(r) {
  const rows = [];
  for (const obj of [...OBJECTIVES, 'e2e+ds next', 'e2e+ds next:2', 'e2e warm start']) {
    for (const k of r.c.ks) {
      const ss = r.all.filter((s) => s.obj === obj && s.k === k);
      if (!ss.length) continue;
      const mets = ss.map((s) => r.evals.get(s.path).metrics);
      const ds = ss.map((s) => r.dsOf.get(s.path).rows);
      rows.push({ obj, k, seeds: ss.length, l0: mets.map((x) => x.l0), alive: mets.map((x) => x.alive_fraction * r.c.dSae), ce: mets.map((x) => x.ce_increase), kl: mets.map((x) => x.kl_sae), fvu: mets.map((x) => x.fvu), ds: ds[0].map((row, i) => ({ hook: row.hook, rel: ds.map((d) => d[i].relative_error) })) });
    }
  }
  return rows;
}
/** L0 at which an objective's k sweep (seed 0) reaches CE increase `ce` (log-L0 interpolation); null outside its range. */
function l0AtCe(r, obj, ce) {
  const pts = r.c.ks.map((k) => r.all.find((s) => s.obj === obj && s.k === k && s.seed === 0)).map((s) => ({ l0: r.evals.get(s.path).metrics.l0, ce: r.evals.get(s.path).metrics.ce_increase })).sort((a, b) => a.l0 - b.l0);
  for (let i = 0; i + 1 < pts.length; i++) {
    const [a, b] = [pts[i], pts[i + 1]];
    const lo = Math.min(a.ce, b.ce);
    const hi = Math.max(a.ce, b.ce);
    if (ce >= lo && ce <= hi && hi > lo) return Math.exp(Math.log(a.l0) + ((ce - a.ce) / (b.ce - a.ce)) * (Math.log(b.l0) - Math.log(a.l0)));
  }
  return null;
}
const matchedMean = (cmp, by) => mean(cmp.pairs.filter((p) => p.by === by).map((p) => p.matching.meanMatchedCos));

// ---- the page ----
const L = [];
const P = (...lines) => L.push(...lines);
P('# End-to-end SAEs: local vs e2e vs e2e+ds (Braun et al. 2024, on small models)', '');
P(`Generated by \`scripts/e2eDocs.mjs\` (do not edit by hand): \`npx tsc -p tsconfig.json && node scripts/e2eDocs.mjs --scale ${SCALE}\`${SCALE === 'quick' ? ' — **QUICK SCALE: a smoke run of the pipeline with toy sizes; its numbers mean nothing.**' : '.'}`, '');
P('## The question', '');
P('Braun et al. 2024 ("Identifying Functionally Important Features with End-to-End Sparse Dictionary Learning") train SAEs on GPT-2 small\'s layer-6 residual stream with three objectives ([training.md](training.md) has our formulas): **local** (MSE at the hook), **e2e** (KL(P_clean ‖ P_spliced) at the output) and **e2e+ds** (e2e plus the reconstruction error at every later layer). Their Table 2, at about equal CE loss increase:', '');
P('| objective | L0 | CE increase |', '|---|---:|---:|');
for (const [o, v] of Object.entries(PAPER)) P(`| ${o} | ${v.l0} | ${v.ce} |`);
P('', 'Their claims this page checks: (1) for the same CE increase, e2e and e2e+ds need far fewer active latents than local; (2) e2e+ds keeps most of that gain; (3) e2e\'s reconstructions of the later layers are poor, e2e+ds\'s much better; (4) e2e\'s features differ more from seed to seed than local\'s and e2e+ds\'s. Each verdict below is computed from the numbers on this page.', '');
P('## Setup and budget', '');
P(`Every SAE is TopK (saelab\'s default; AuxK against dead latents), so L0 = k exactly and the sparsity sweep is a k sweep: this removes the L1-coefficient tuning the paper needed, but it is not their ReLU+L1 SAE (training.md notes that an e2e TopK SAE\'s decoder directions outside what the output reads are not constrained). Per model: a k sweep with seed 0 for each objective plus seeds ${SEEDS.slice(1).join(', ')} at the middle k; \`--downstream next\` and \`next:2\` ablations of e2e+ds; a warm start. Windows of ${CONTEXT} tokens, ${BATCH / CONTEXT} windows (${BATCH} tokens) per step, Adam lr ${LR} with linear decay over the last 20%, corpus \`mixed-public-domain.txt.xz\` (both models). Evaluation on held-out text: the windows right after the furthest training token.`, '');
P('| model | hook | d_in | d_sae | training tokens per SAE | ks (seed 0) | seeds at k | eval tokens |', '|---|---|---:|---:|---:|---|---|---:|');
for (const r of results) P(`| ${r.m.name} | ${r.m.hook} | ${r.evals.get(r.all[0].path).dIn} | ${r.c.dSae} | ${n(r.c.tokens)} | ${r.c.ks.join(', ')} | ${SEEDS.join(', ')} at ${r.c.kMid} | ${n(r.evals.get(r.all[0].path).metrics.tokens)} |`);
P('', `**The budget is tiny.** The paper trains dictionaries of 60 × d_model latents on the order of 10^8 tokens on a GPU; here each SAE sees ${results.map((r) => `${n(r.c.tokens)} tokens (${r.m.name}, ${n(Math.round(r.c.tokens / BATCH))} Adam steps)`).join(' and ')}, because an e2e step on gpt2-corpus-tiny runs the whole model forward and backward (its 50,257-token unembedding dominates) on a shared 2-core CPU. Local SAEs get the same tokens and steps as e2e ones, as in the paper, so neither is converged; conclusions are about this regime.`, '');

// "In short" goes here once every model's verdicts are known (filled after the loop).
const summaryAt = L.length;
const summary = [];

for (const r of results) {
  const name = r.m.name;
  const rows = tableRows(r);
  P(`## ${name}`, '');
  if (rows.some((row) => row.ce.some((c) => c < 0))) {
    P(`**Read the CE column with care here:** some SAEs *lower* the cross-entropy (a negative increase) — with them spliced in, ${name} predicts this evaluation text better than the clean model does. That happens when the text is far from what the model was trained on (stories260K learnt TinyStories; the shared corpus is public-domain books): any change to the model can then help by chance. KL(P_clean ‖ P_spliced), which is 0 only for a faithful splice, is the measure to compare here.`, '');
  }
  P(`Clean CE on the evaluation text: ${f(r.ceClean, 3)} nats/token. Columns: L0 and alive latents (fired at least once on the ${n(r.evals.get(r.all[0].path).metrics.tokens)} evaluation tokens, of ${r.c.dSae}); CE increase and KL(P_clean ‖ P_spliced) in nats/token; FVU at the hook ([metrics.md](metrics.md)); then the relative error Σ‖a_spliced − a_clean‖² / Σ‖a_clean‖² at the hook and at each later resid_post (\`src/eval/downstreamError.ts\`; the \`e2e+ds\` training term\'s ratio). Several seeds: mean ± sd.`, '');
  const dsHooks = rows[0].ds.map((d) => short(d.hook));
  P(`| objective | k | seeds | L0 | alive | CE increase | KL | FVU | ${dsHooks.map((h) => `rel. err. ${h}`).join(' | ')} |`);
  P(`|---|---:|---:|---:|---:|---:|---:|---:|${dsHooks.map(() => '---:').join('|')}|`);
  for (const row of rows) P(`| ${row.obj} | ${row.k} | ${row.seeds} | ${pm(row.l0, 1)} | ${pm(row.alive, 0)} | ${pm(row.ce)} | ${pm(row.kl)} | ${pm(row.fvu)} | ${row.ds.map((d) => pm(d.rel)).join(' | ')} |`);
  P('');

  // Frontier plot: seed-0 sweep per objective, band over seeds at kMid, variants as points.
  const series = OBJECTIVES.map((obj) => {
    const pts = r.c.ks.map((k) => rows.find((x) => x.obj === obj && x.k === k));
    return { name: obj, x: pts.map((p) => mean(p.l0)), y: pts.map((p) => mean(p.ce)), lo: pts.map((p) => Math.min(...p.ce)), hi: pts.map((p) => Math.max(...p.ce)), kind: 'line' };
  });
  for (const obj of ['e2e+ds next', 'e2e+ds next:2', 'e2e warm start']) {
    const p = rows.find((x) => x.obj === obj);
    series.push({ name: obj, x: [mean(p.l0)], y: [mean(p.ce)], kind: 'points' });
  }
  const frontier = keep(xyPlotSvg({ title: `${name} ${r.m.hook}: CE increase vs L0`, xLabel: 'L0 (active latents per token)', yLabel: 'CE increase (nats/token)', series, xLog: true, width: 680, legend: 'right' }), `${r.id}-frontier.svg`);
  P(`![CE increase vs L0, ${name}](${frontier})`, '');
  P(`Lines: each objective\'s k sweep (seed 0 at each k; the band at k = ${r.c.kMid} spans the ${SEEDS.length} seeds). Points: the e2e+ds ablations and the warm start at k = ${r.c.kMid}.`, '');

  // Downstream plot at kMid, seed 0.
  const dsSeries = [...OBJECTIVES, 'e2e+ds next', 'e2e+ds next:2', 'e2e warm start'].map((obj) => {
    const row = rows.find((x) => x.obj === obj && x.k === r.c.kMid);
    return { name: obj, x: row.ds.map((_, i) => i), y: row.ds.map((d) => d.rel[0]), kind: 'line' };
  });
  const dsPlot = keep(xyPlotSvg({ title: `${name}: relative error downstream of the splice (k = ${r.c.kMid}, seed 0)`, xLabel: `0 = ${short(r.m.hook)}, i = the i-th later resid_post (${dsHooks.slice(1).join(', ')})`, yLabel: 'Σ‖spliced − clean‖² / Σ‖clean‖²', series: dsSeries, yLog: true, width: 680, legend: 'right' }), `${r.id}-downstream.svg`);
  P(`![downstream relative error, ${name}](${dsPlot})`, '');

  // ---- verdicts, from the numbers ----
  const at = (obj, k = r.c.kMid) => rows.find((x) => x.obj === obj && x.k === k);
  P(`### Does ${name} agree with the paper?`, '');
  // At each local sweep point's CE increase (seed 0), the L0 each end-to-end sweep needs.
  const matches = r.c.ks.map((k) => {
    const ce = mean(at('local', k).ce.slice(0, 1));
    return { k, ce, l0: Object.fromEntries(['e2e', 'e2e+ds'].map((o) => [o, l0AtCe(r, o, ce)])) };
  });
  const found = matches.flatMap((mt) => ['e2e', 'e2e+ds'].filter((o) => mt.l0[o] !== null).map((o) => ({ o, k: mt.k, l0: mt.l0[o] })));
  const fewer = found.filter((x) => x.l0 < x.k).length;
  const ceRange = (o) => `${f(Math.min(...r.c.ks.map((k) => at(o, k).ce[0])))}–${f(Math.max(...r.c.ks.map((k) => at(o, k).ce[0])))}`;
  const claim1 = matches.map((mt) => `local k = ${mt.k} (CE increase ${f(mt.ce)}): ${['e2e', 'e2e+ds'].map((o) => `${o} ${mt.l0[o] === null ? 'out of its sweep\'s range' : `L0 ≈ ${f(mt.l0[o], 1)}`}`).join(', ')}`);
  const v1 = found.length === 0 ? `Cannot be checked with these ks: the end-to-end sweeps\' CE increases (e2e ${ceRange('e2e')}, e2e+ds ${ceRange('e2e+ds')}) do not overlap local\'s (${ceRange('local')}).` : fewer === found.length ? `In ${found.length === 1 ? 'the one match' : `all ${found.length} matches`} the end-to-end SAE needs fewer latents: agrees with the paper.` : fewer === 0 ? `In ${found.length === 1 ? 'the one match' : `none of the ${found.length} matches`} does the end-to-end SAE need fewer latents: does not agree with the paper.` : `In ${fewer} of ${found.length} matches the end-to-end SAE needs fewer latents: partly agrees.`;
  const ceAt = (o) => mean(at(o).ce);
  const sdAt = (o) => (at(o).ce.length > 1 ? sd(at(o).ce) : 0);
  /** a vs b at kMid: 'lower', 'higher' or 'within the seed spread' (|Δ| < the larger seed sd). */
  const vs = (a, b) => (Math.abs(ceAt(a) - ceAt(b)) < Math.max(sdAt(a), sdAt(b)) ? 'within the seed spread of' : ceAt(a) < ceAt(b) ? 'lower than' : 'higher than');
  P(`1. **Fewer latents for the same CE increase.** Interpolating each end-to-end k sweep (seed 0, log L0) at the CE increase of each local SAE of the sweep: ${claim1.join('; ')}. ${v1} At equal L0 (k = ${r.c.kMid}, ${SEEDS.length} seeds): CE increase local ${pm(at('local').ce)}, e2e ${pm(at('e2e').ce)}, e2e+ds ${pm(at('e2e+ds').ce)}; e2e is ${vs('e2e', 'local')} local, e2e+ds ${vs('e2e+ds', 'local')} local (the paper: both lower).`);
  const klAt = (o) => mean(at(o).kl);
  const klSd = (o) => (at(o).kl.length > 1 ? sd(at(o).kl) : 0);
  const klVs = (a, b) => (Math.abs(klAt(a) - klAt(b)) < Math.max(klSd(a), klSd(b)) ? 'within the seed spread of' : klAt(a) < klAt(b) ? 'lower than' : 'higher than');
  P(`   The same at equal L0 by KL (nats/token): local ${pm(at('local').kl)}, e2e ${pm(at('e2e').kl)}, e2e+ds ${pm(at('e2e+ds').kl)}; e2e is ${klVs('e2e', 'local')} local, e2e+ds ${klVs('e2e+ds', 'local')} local.`);
  const ds2 = vs('e2e+ds', 'e2e');
  P(`2. **e2e+ds keeps the gain.** In the paper e2e+ds needs somewhat more latents than e2e but has the lowest CE increase. Here at k = ${r.c.kMid}, e2e+ds\'s CE increase is ${ds2} e2e\'s (${ds2.startsWith('lower') ? 'as in the paper' : ds2.startsWith('within') ? 'the paper\'s gap is not resolved here' : 'the reverse of the paper'}) and ${vs('e2e+ds', 'local')} local\'s (${vs('e2e+ds', 'local').startsWith('lower') ? 'as in the paper' : 'unlike the paper'}).`);
  const lastDs = (o) => mean(at(o).ds[at(o).ds.length - 1].rel);
  const hookErr = (o) => mean(at(o).ds[0].rel);
  const worstE2e = at('e2e').ds.slice(1).every((d, i) => mean(d.rel) > mean(at('e2e+ds').ds[i + 1].rel) && mean(d.rel) > mean(at('local').ds[i + 1].rel));
  P(`3. **e2e\'s intermediate reconstructions are poor.** Relative error at the hook: local ${f(hookErr('local'))}, e2e ${f(hookErr('e2e'))}, e2e+ds ${f(hookErr('e2e+ds'))}; at the last resid_post: local ${f(lastDs('local'))}, e2e ${f(lastDs('e2e'))}, e2e+ds ${f(lastDs('e2e+ds'))}. ${worstE2e ? 'e2e is the worst at every later layer: agrees with the paper.' : 'e2e is not the worst at every later layer: this part does not agree with the paper.'}`);
  const stab = Object.fromEntries(OBJECTIVES.map((o) => [o, { dec: matchedMean(r.compares[o], 'decoder'), enc: matchedMean(r.compares[o], 'encoder') }]));
  const e2eLeast = (by) => stab.e2e[by] < stab.local[by] && stab.e2e[by] < stab['e2e+ds'][by];
  const stable = e2eLeast('dec') && e2eLeast('enc') ? 'both' : e2eLeast('dec') ? 'decoder only' : e2eLeast('enc') ? 'encoder only' : 'neither';
  summary.push({ name, k: r.c.kMid, v1, ce: { local: ceAt('local'), e2e: ceAt('e2e'), ds: ceAt('e2e+ds') }, kl: { local: klAt('local'), e2e: klAt('e2e'), ds: klAt('e2e+ds') }, klE2e: klVs('e2e', 'local'), klDs: klVs('e2e+ds', 'local'), worstE2e, stable, warm: null });
  P(`4. **e2e\'s features vary more across seeds.** Mean one-to-one matched cosine over the ${SEEDS.length} seed pairs at k = ${r.c.kMid}, decoder / encoder: local ${f(stab.local.dec)} / ${f(stab.local.enc)}, e2e ${f(stab.e2e.dec)} / ${f(stab.e2e.enc)}, e2e+ds ${f(stab['e2e+ds'].dec)} / ${f(stab['e2e+ds'].enc)}. ${e2eLeast('dec') && e2eLeast('enc') ? 'e2e is the least stable by both: agrees with the paper.' : e2eLeast('dec') || e2eLeast('enc') ? `e2e is the least stable by ${e2eLeast('dec') ? 'decoder' : 'encoder'} directions only: partly agrees.` : 'e2e is not the least stable: does not agree with the paper.'}`);
  P('');

  // Seeds compare tables.
  P(`### Seeds: \`saelab compare\` at k = ${r.c.kMid}`, '');
  P(`\`saelab compare s0 s1 s2 --by decoder,encoder --alive-only --tokens ${r.c.compareTokens}\` per objective (alive: fired on the first ${n(r.c.compareTokens)} corpus tokens). Max a→b: each feature of a, its best cosine in b (mean); one-to-one: the certified optimal matching\'s mean cosine and the fraction of matched pairs above 0.5 / 0.7 / 0.9 ([compare.md](compare.md)).`, '');
  P('| objective | pair | by | alive a / b | max a→b | max b→a | one-to-one | > 0.5 | > 0.7 | > 0.9 |', '|---|---|---|---|---:|---:|---:|---:|---:|---:|');
  const pct = (x) => `${(x * 100).toFixed(1)}%`;
  for (const obj of OBJECTIVES) {
    for (const p of r.compares[obj].pairs) {
      const fa = p.matching.fractionAbove;
      const alive = `${p.nA} / ${p.nB}`;
      P(`| ${obj} | ${p.a.replace(/^topk-/, '')} – ${p.b.replace(/^topk-/, '')} | ${p.by} | ${alive} | ${f(p.maxAtoB.mean)} | ${f(p.maxBtoA.mean)} | ${f(p.matching.meanMatchedCos)} | ${pct(fa['0.5'])} | ${pct(fa['0.7'])} | ${pct(fa['0.9'])} |`);
    }
  }
  P('');

  // Downstream ablations.
  P(`### e2e+ds: which downstream layers (k = ${r.c.kMid}, seed 0)`, '');
  P('| objective | CE increase | KL | FVU | ' + dsHooks.map((h) => `rel. err. ${h}`).join(' | ') + ' |', '|---|---:|---:|---:|' + dsHooks.map(() => '---:|').join(''));
  for (const obj of ['e2e', 'e2e+ds next', 'e2e+ds next:2', 'e2e+ds']) {
    const row = at(obj);
    P(`| ${obj === 'e2e+ds' ? 'e2e+ds (all)' : obj} | ${f(row.ce[0])} | ${f(row.kl[0])} | ${f(row.fvu[0])} | ${row.ds.map((d) => f(d.rel[0])).join(' | ')} |`);
  }
  const nextGain = hookErr('e2e') - mean(at('e2e+ds next').ds[0].rel);
  const ceCost = mean(at('e2e+ds next').ce) - ceAt('e2e');
  P('', `Reading: adding only the next layer\'s term changes the relative error at the hook by ${f(-nextGain)} (e2e ${f(hookErr('e2e'))} → next ${f(mean(at('e2e+ds next').ds[0].rel))}) and the CE increase by ${ceCost >= 0 ? '+' : ''}${f(ceCost)} nats/token; all later layers: CE increase ${f(ceAt('e2e+ds'))}, relative error at the hook ${f(hookErr('e2e+ds'))}.`, '');

  // Warm start.
  P(`### Warm start vs scratch (e2e, k = ${r.c.kMid}, seed 0)`, '');
  const warm = at('e2e warm start');
  const scratch = at('e2e');
  const ls = r.localStart.metrics;
  summary[summary.length - 1].warm = { local: ls.kl_sae, warm: warm.kl[0], scratch: scratch.kl[0], localCe: ls.ce_increase, warmCe: warm.ce[0], scratchCe: scratch.ce[0] };
  P('| SAE | e2e training tokens | CE increase | KL | FVU |', '|---|---:|---:|---:|---:|');
  P(`| local (the warm start\'s starting point) | 0 | ${f(ls.ce_increase)} | ${f(ls.kl_sae)} | ${f(ls.fvu)} |`);
  P(`| e2e from the local SAE | ${n(r.c.tokens)} | ${f(warm.ce[0])} | ${f(warm.kl[0])} | ${f(warm.fvu[0])} |`);
  P(`| e2e from scratch | ${n(r.c.tokens)} | ${f(scratch.ce[0])} | ${f(scratch.kl[0])} | ${f(scratch.fvu[0])} |`);
  const warmPlot = keep(xyPlotSvg({ title: `${name}: KL of each new training batch (before its step)`, xLabel: 'e2e training tokens', yLabel: 'KL(P_clean ‖ P_spliced), nats/token', series: [{ name: 'warm start (local SAE)', x: r.warmCurve.x, y: r.warmCurve.y, kind: 'line' }, { name: 'from scratch', x: r.scratchCurve.x, y: r.scratchCurve.y, kind: 'line' }], yLog: true, width: 680, legend: 'right' }), `${r.id}-warm-start.svg`);
  P('', `![warm start vs scratch, ${name}](${warmPlot})`, '');
  // Both runs see the same batches in the same order, so the logged KLs compare step by step
  // (text difficulty varies a lot from batch to batch; absolute levels and crossing points do not).
  const byTokens = new Map(r.scratchCurve.x.map((x, i) => [x, r.scratchCurve.y[i]]));
  const pairs = r.warmCurve.x.map((x, i) => [r.warmCurve.y[i], byTokens.get(x)]).filter(([, sc]) => sc !== undefined);
  const below = pairs.filter(([w, sc]) => w < sc).length;
  const lastQuarter = pairs.slice(Math.floor(pairs.length * 0.75)).map(([w, sc]) => w / sc).sort((u, v) => u - v);
  const medianRatio = lastQuarter.length ? lastQuarter[Math.floor(lastQuarter.length / 2)] : NaN;
  P(`The curves are the train-log KL of each step\'s batch, computed before the step on it (every batch is new text, so this is a running held-out estimate; its level moves with the text, so compare the two curves step by step, not by level). Reading: after the same ${n(r.c.tokens)} tokens the warm start\'s held-out CE increase is ${f(warm.ce[0])} against ${f(scratch.ce[0])} from scratch (${warm.ce[0] < scratch.ce[0] ? 'the warm start is better' : 'scratch is as good or better'}); the local SAE it started from had ${f(ls.ce_increase)} (KL ${f(ls.kl_sae)}; after e2e fine-tuning ${f(warm.kl[0])}). On the same batches, the warm start\'s logged KL is below scratch\'s on ${below} of ${pairs.length} logged steps, and over the last quarter of training it is ${f(medianRatio, 2)}× scratch\'s (median ratio).`, '');
}

// ---- in short: the verdicts of every model, computed above ----
const shortLines = ['## In short', ''];
for (const x of summary) {
  const w = x.warm;
  shortLines.push(`- **${x.name}** (k = ${x.k}, mean over seeds). KL to the clean model at equal L0: local ${f(x.kl.local)}, e2e ${f(x.kl.e2e)}, e2e+ds ${f(x.kl.ds)} nats/token — e2e ${x.klE2e} local, e2e+ds ${x.klDs} local; CE increase local ${f(x.ce.local)}, e2e ${f(x.ce.e2e)}, e2e+ds ${f(x.ce.ds)}. Fewer latents at equal CE: ${x.v1.replace(/:.*$/, '').replace(/^In /, 'in ').replace(/^Cannot/, 'cannot')}${/agree|partly/.test(x.v1) ? ` (${x.v1.match(/(does not agree|partly agrees|agrees) with the paper|partly agrees/)?.[0] ?? ''})` : ''}. e2e has the worst intermediate reconstructions: ${x.worstE2e ? 'yes, as in the paper' : 'no, unlike the paper'}. e2e the least stable across seeds: ${x.stable === 'both' ? 'yes, by decoder and encoder (as in the paper)' : x.stable === 'neither' ? 'no' : `by ${x.stable.replace(' only', '')} directions only`}. Warm start (local → e2e): KL ${f(w.local)} → ${f(w.warm)} (scratch e2e: ${f(w.scratch)}), CE increase ${f(w.localCe)} → ${f(w.warmCe)} (scratch: ${f(w.scratchCe)}).`);
}
const lagging = summary.filter((x) => x.kl.e2e > x.kl.local).map((x) => x.name);
const warmBetter = summary.filter((x) => x.warm.warm < x.warm.local).map((x) => x.name);
shortLines.push('', `${lagging.length ? `At this budget (hundreds of Adam steps), e2e trained from scratch ends with a higher KL than local training on ${lagging.join(' and ')}` : 'e2e trained from scratch matches or beats local training by KL on every model here'}; ${warmBetter.length ? `fine-tuning the local SAE with the e2e loss lowers its KL on ${warmBetter.join(' and ')}` : 'fine-tuning the local SAE with the e2e loss did not lower its KL'}. Testing claim (1) at convergence needs far longer runs than this CPU affords (a GPU).`, '');
L.splice(summaryAt, 0, ...shortLines);

P('## Cost', '');
P('Wall time of each command on this machine (cached runs keep the time of the run that made them):', '');
P('| model | run | seconds |', '|---|---|---:|');
for (const r of results) for (const w of r.walls) P(`| ${r.m.name} | ${w.name}${w.resumed ? ' (resumed)' : ''} | ${f(w.seconds, 0)} |`);
for (const r of results) P(`| ${r.m.name} | downstream errors (${r.all.length} SAEs) | ${f(r.dsSeconds, 0)} |`);
const wallTotal = results.reduce((a, r) => a + r.walls.reduce((b, w) => b + w.seconds, 0) + r.dsSeconds, 0);
P('', `Total of the commands above: ${f(wallTotal / 60, 0)} min on a machine shared with other jobs; this regeneration of the page took ${f((Date.now() - tStart) / 1000, 0)} s (work already in the work folder is reused).`, '');

// ---- write: plots folder swapped in, then the page, each atomically ----
rmSync(PLOTS, { recursive: true, force: true });
renameSync(plotTmp, PLOTS);
writeAtomic(DOC, L.join('\n'));
process.stderr.write(`wrote ${DOC} and ${plotFiles.length} plots in ${PLOTS}\n`);
