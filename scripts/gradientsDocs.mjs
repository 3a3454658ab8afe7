#!/usr/bin/env node
// Regenerate docs/gradients.md and its plots (docs/gradients/*.svg) from runs of saelab on
// gpt2-corpus-tiny: the KL and CE gradient spectra at every layer's resid_pre; local vs end-to-end
// TopK SAEs at one layer against the top gradient subspace; a worked `saelab connect` example between
// local SAEs at two consecutive layers (with each feature's top context from `saelab dashboard`); and
// the cross-layer near-duplicates of those two SAEs (`saelab duplicates`). Every sentence that states
// a result is computed from the reports.
//
//   npx tsc -p tsconfig.json && node scripts/gradientsDocs.mjs [--scale quick|full] [--work DIR] [--fresh] [--redo-reports]
//
// --scale quick (default) is for development: small budgets, the page goes to WORK/gradients.md;
// --scale full writes docs/gradients.md and docs/gradients/. Everything lands in WORK (default
// /tmp/saelab-gradients-docs-<scale>): a rerun reuses trained SAEs and every report whose inputs
// did not change (--redo-reports reruns the reports). CPU only: reproducible bit for bit.

import { copyFileSync, existsSync, mkdirSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cachedReport, readJson, saelabRunner, scriptArgs, stamp, writeAtomic } from './docsRun.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ASSETS = resolve(ROOT, '..', 'shared', 'assets');
const MODEL = join(ASSETS, 'models', 'gpt2-corpus-tiny');
const DATA = join(ASSETS, 'corpora', 'mixed-public-domain.txt.xz');

const SCALES = {
  quick: { gradTokens: 512, trainTokens: 4096, connectTokens: 512, topFeatures: 8, dashTokens: 4096, dupTokens: 1024 },
  full: { gradTokens: 4096, trainTokens: 50_000, connectTokens: 4096, topFeatures: 32, dashTokens: 32_768, dupTokens: 8192 },
};
const LAYERS = 6;
const HOOKS = Array.from({ length: LAYERS }, (_, l) => `blocks.${l}.hook_resid_pre`);
// The SAE settings (both scales): TopK k 16, 4 × d_in latents, windows of 64, 4 windows per step,
// Adam 1e-3 (short runs). The alignment compares local and e2e at ALIGN_LAYER; connect reads
// ALIGN_LAYER − 1 → ALIGN_LAYER (both local).
const D_SAE = 768;
const K = 16;
const CONTEXT = 64;
const BATCH = 256;
const LR = '1e-3';
const ALIGN_LAYER = 3;
// Held-out text for every analysis: after the tokens the SAEs trained on.
const SKIP = 200_000;

// ---- arguments: one line, exit 2 ----
const { die, flag, has } = scriptArgs('gradientsDocs', ['--scale', '--work', '--fresh', '--redo-reports']);
const SCALE = flag('--scale') ?? 'quick';
if (!(SCALE in SCALES)) die(`--scale must be quick or full (got ${SCALE})`);
const C = SCALES[SCALE];
const WORK = resolve(flag('--work') ?? `/tmp/saelab-gradients-docs-${SCALE}`);
const DOC = SCALE === 'full' ? join(ROOT, 'docs', 'gradients.md') : join(WORK, 'gradients.md');
const PLOTS = join(dirname(DOC), 'gradients');
const REDO = has('--redo-reports');
for (const p of [MODEL, DATA]) if (!existsSync(p)) die(`needs ${p} (../shared/assets is missing or incomplete)`);
if (!existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'))) die('dist/ is not built: run npx tsc -p tsconfig.json first');
if (has('--fresh')) rmSync(WORK, { recursive: true, force: true });
mkdirSync(WORK, { recursive: true });

// ---- running saelab ----
const saelab = saelabRunner('gradientsDocs', (a) => (a.startsWith(WORK) ? `WORK${a.slice(WORK.length)}` : a.startsWith(ASSETS) ? a.slice(ASSETS.length + 1) : a));
/** A report (with its wall time) cached in WORK/reports: reused unless --redo-reports or its inputs (`key`) changed. */
const cached = (name, key, produce) => cachedReport(join(WORK, 'reports', `${name}.json`), key, REDO, produce);

/** One TopK SAE trained with `loss` at `layer` into WORK/train-<name>; reached as WORK/saes/<name> (the name is the label every report shows). */
function train(name, layer, loss, seed) {
  const out = join(WORK, `train-${name}`);
  const folder = join(out, `topk-k${K}-s${seed}`);
  const link = join(WORK, 'saes', name);
  let seconds = null;
  const timeFile = join(out, 'seconds.json');
  if (!existsSync(join(folder, 'cfg.json'))) {
    const argv = ['train', '--model', MODEL, '--data', DATA, '--hook', `blocks.${layer}.hook_resid_pre`, '--loss', loss, '--arch', 'topk', '--k', String(K), '--d-sae', String(D_SAE),
      '--tokens', String(C.trainTokens), '--context-size', String(CONTEXT), '--batch-size', String(BATCH), '--lr', LR, '--seeds', String(seed), '--checkpoint-every', String(Math.max(BATCH, Math.floor(C.trainTokens / 4))), '--out', out];
    seconds = saelab(existsSync(join(out, 'checkpoints')) ? [...argv, '--resume'] : argv).seconds;
    writeAtomic(timeFile, { seconds });
  } else if (existsSync(timeFile)) seconds = readJson(timeFile).seconds;
  mkdirSync(dirname(link), { recursive: true });
  if (!existsSync(link)) symlinkSync(folder, link);
  return { name, path: link, layer, loss, seed, seconds };
}

// The earlier SAE gets another seed: with the same seed two SAEs start from the same random decoder
// and short runs keep much of it, which would show up as spurious i → i edges and duplicates. Local
// and e2e at one layer share a seed (the same start), so their difference is the objective's.
const localPrev = train(`L${ALIGN_LAYER - 1}-local`, ALIGN_LAYER - 1, 'local', 1);
const local = train(`L${ALIGN_LAYER}-local`, ALIGN_LAYER, 'local', 0);
const e2e = train(`L${ALIGN_LAYER}-e2e`, ALIGN_LAYER, 'e2e', 0);

const text = ['--model', MODEL, '--data', DATA, '--skip-tokens', String(SKIP), '--context-size', String(CONTEXT)];
const spectra = {};
for (const objective of ['kl', 'ce']) {
  const argv = ['gradients', ...text, '--hook', HOOKS.join(','), '--objective', objective, '--tokens', String(C.gradTokens), '--seed', '0', '--out', join(WORK, `gradients-${objective}`)];
  spectra[objective] = cached(`gradients-${objective}`, argv, () => saelab(argv));
}
const alignArgv = ['gradients', ...text, '--hook', `blocks.${ALIGN_LAYER}.hook_resid_pre`, '--objective', 'kl', '--sae', local.path, '--sae', e2e.path, '--tokens', String(C.gradTokens), '--seed', '0', '--out', join(WORK, 'align')];
const align = cached('align', { argv: alignArgv, saes: [stamp(local.path), stamp(e2e.path)] }, () => saelab(alignArgv));
const DB = join(WORK, 'workspace.db');
const dashes = {};
for (const s of [localPrev, local]) {
  const argv = ['dashboard', '--sae', s.path, '--model', MODEL, '--data', DATA, '--tokens', String(C.dashTokens), '--context-size', String(CONTEXT), '--top-k', '3', '--db', DB];
  dashes[s.name] = cached(`dashboard-${s.name}`, { argv, sae: stamp(s.path) }, () => saelab(argv));
}
const connectArgv = ['connect', '--sae', localPrev.path, '--sae', local.path, ...text, '--tokens', String(C.connectTokens), '--top-features', String(C.topFeatures), '--top-k', '6', '--check-edges', '8', '--db', DB, '--out', join(WORK, 'connect')];
const connect = cached('connect', { argv: connectArgv, saes: [stamp(localPrev.path), stamp(local.path)] }, () => saelab(connectArgv));
// The default thresholds, and looser ones (short runs at different seeds share few directions).
const DUP_THRESHOLDS = [0.7, 0.5];
const dupRuns = DUP_THRESHOLDS.map((t) => {
  const argv = ['duplicates', '--sae', localPrev.path, '--sae', local.path, '--cosine', String(t), '--correlation', String(t), '--model', MODEL, '--data', DATA, '--tokens', String(C.dupTokens), '--context-size', String(CONTEXT), '--db', DB, '--out', join(WORK, `duplicates-${t}`)];
  return cached(`duplicates-${t}`, { argv, saes: [stamp(localPrev.path), stamp(local.path)] }, () => saelab(argv));
});

// ---- each feature's strongest context, from the dashboards in the workspace database ----
const { openWorkspaceDb } = await import(join(ROOT, 'dist', 'src', 'io', 'workspaceDb.js'));
const { DashboardDb } = await import(join(ROOT, 'dist', 'src', 'io', 'dashboardDb.js'));
const ws = openWorkspaceDb(DB);
const dashDb = new DashboardDb(ws);
const dashIds = Object.fromEntries([localPrev, local].map((s) => [s.name, dashDb.listDashboards().filter((d) => (d.saePath === s.path || d.saePath === realpathSync(s.path)) && d.status === 'done').sort((a, b) => b.id - a.id)[0]?.id ?? null]));
/** The top example of `feature` of SAE `name` as "…left [token] right…", or null. */
function context(name, feature) {
  const id = dashIds[name];
  if (id === null || feature < 0) return null;
  const f = dashDb.getFeature(id, feature);
  const e = f?.data?.top?.[0];
  if (!e) return null;
  const piece = (t) => JSON.stringify(t).slice(1, -1).replace(/\|/g, '\\|').replace(/`/g, "'");
  const lo = Math.max(0, e.at - 6);
  return `${e.tokens.slice(lo, e.at).map(piece).join('')}**[${piece(e.tokens[e.at])}]**${e.tokens.slice(e.at + 1, e.at + 4).map(piece).join('')}`;
}

// ---- plots ----
const { gradientSpectrumSvg } = await import(join(ROOT, 'dist', 'src', 'report', 'gradientPlots.js'));
rmSync(PLOTS, { recursive: true, force: true });
mkdirSync(PLOTS, { recursive: true });
const keep = (svg, name) => (writeAtomic(join(PLOTS, name), svg), `gradients/${name}`);
const plotKl = keep(gradientSpectrumSvg(spectra.kl.json.hooks, 'kl'), 'spectrum-kl.svg');
const plotCe = keep(gradientSpectrumSvg(spectra.ce.json.hooks, 'ce'), 'spectrum-ce.svg');
const alignPlots = [];
for (const p of align.json.plots.filter((x) => /alignment-.*\.svg$/.test(x))) {
  const name = p.split('/').pop();
  copyFileSync(p, join(PLOTS, name));
  alignPlots.push(`gradients/${name}`);
}

// ---- the page ----
const n = (v) => Number(v).toLocaleString('en-US');
const f = (v, d = 3) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(d));
const e = (v) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toExponential(2));
const pct = (v) => `${(100 * v).toFixed(1)} %`;
const L = [];
const P = (...lines) => L.push(...lines);
const kl = spectra.kl.json;
const ce = spectra.ce.json;
const d = kl.hooks[0].spectrum.d;
const tok = kl.hooks[0].spectrum.tokens;

P('# Gradient spectra, feature connections and cross-layer duplicates', '');
P(`Generated by \`scripts/gradientsDocs.mjs --scale ${SCALE}\` (do not edit by hand): \`npx tsc -p tsconfig.json && node scripts/gradientsDocs.mjs --scale full\`. Code: \`src/analysis/hookGradients.ts\`, \`gradientGram.ts\`, \`symmetricEigen.ts\`, \`gradientAlignment.ts\`, \`gradientsRun.ts\`, \`connectFeatures.ts\`, \`connectRun.ts\`, \`connectDb.ts\`; duplicates: [compare.md](compare.md#near-duplicates-across-layers-saelab-duplicates).`, '');
P('Two analyses of what matters downstream of a hook: `saelab gradients` (which directions of a hook\'s activation move the output at all) and `saelab connect` (which features of an earlier SAE drive each feature of a later one).', '');

P('## `saelab gradients`', '');
P('```', 'saelab gradients --model M --hook blocks.3.hook_resid_pre[,…] --objective kl|ce|reward [--pairs FILE]', '                 --tokens N [--sae DIR…] [--rank r] --out DIR [--json]', '```', '');
P('**Per-token gradients.** One forward and one backward per batch (`model/backward.ts` with `collect`: every `--hook` from the same pass). For position s of a window, g_s = d(objective)/d x_s, where x_s is the hook\'s activation there (after the hook point, as the forward went on with it):', '');
P('| objective | g_s | positions counted |', '|---|---|---|');
P('| `ce` | d(Σ_t CE_t)/d x_s, the next-token cross-entropy summed over predicted positions | all but BOS and each window\'s last position (its gradient is 0 by causality) |');
P('| `kl` | **Fisher form**, see below | all but BOS |');
P('| `reward` | d r/d x_s of a reward model\'s reward; each text of each `--pairs` pair is a row | the text\'s tokens (not padding) |', '');
P('**KL: why the Fisher form.** KL(P_clean ‖ P_x) has gradient exactly 0 at the clean activation, so the first-order picture is empty, and a gradient at a perturbed point depends on an arbitrary perturbation (its size and direction). The second-order term is what decides how much KL a perturbation δ of x_s costs: KL ≈ ½ δᵀ H δ, and at the clean point the Hessian is exactly H = Σ_t J_tsᵀ F_t J_ts, with F_t = diag(p_t) − p_t p_tᵀ the Fisher information of the softmax and J_ts = d logits_t / d x_s (the term with KL\'s own gradient vanishes there). We estimate H without forming F: sample y_t ~ P_clean(·|t) at every position, and backpropagate Σ_t −log q_t(y_t) (its logit gradient at the clean point is p_t − e_{y_t}, zero-mean with covariance F_t, independent across t). Then E[g_s g_sᵀ] = H. So the Gram of these samples is an unbiased estimate of the KL\'s curvature, and its spectrum says in how many directions a perturbation costs KL. The samples are drawn from one seeded generator (`--seed`).', '');
P('**Streamed Gram.** G = Σ_s g_s g_sᵀ is accumulated in f64 (d×d, upper triangle) as batches come; no N×d matrix is held. σ_i = √(λ_i(G)/N) are the singular values of the N×d gradient matrix over √N (the RMS gradient along eigendirection i).', '');
P('**Eigendecomposition: ml-matrix.** `symmetricEigen.ts` calls `EigenvalueDecomposition` of the npm package `ml-matrix` with `assumeSymmetric: true`. It serves because: it is maintained and widely used; for a symmetric input it runs the JAMA/EISPACK Householder tridiagonalisation + implicit QL algorithm (tred2/tql2) in f64, which returns real eigenvalues and an orthonormal eigenbasis and is stable for repeated and zero eigenvalues (exactly our case: gradient Grams are rank-deficient); and d is small (192 here, 768–4096 for real models: O(d³) is milliseconds to seconds). We symmetrise, sort descending and test it on matrices with known spectra (repeated, zero and negative eigenvalues; eigenvector orthonormality and A u = λ u to 1e-12).', '');
P('**Figures** (per hook, in `gradients.json`): `singularValues`, `cumulativeEnergy` (Σ_{j≤i} λ_j / Σ λ), `effectiveRank` at 0.9/0.99/0.999 (the fewest directions holding that share of the energy), `entropyRank` (exp of the entropy of λ/Σλ), `fractionBelow1e3` (share of the d directions with σ_i < 1e-3 σ_1), `meanSquaredNorm` (Σλ/N).', '');
P('**Long runs.** A progress bar on a terminal, and a checkpoint every 30 s (`gradients.checkpoint` in `--out`: each hook\'s Gram sums, the batches done, the KL sampler\'s generator state and the settings that shape the run, written atomically). After a kill the same command with `--resume` continues from it and writes the same report, bit for bit, as an uninterrupted run (`test/analysis/gradientsResume.test.ts`); a resume with other settings names the one that differs, and without `--resume` a leftover checkpoint is refused. The checkpoint is removed when the run finishes.', '');
P('**SAE alignment** (`--sae DIR…`, each at its own hook). For each latent, its decoder row and its encoder column, normalised to v̂: `energy` = ‖U_rᵀ v̂‖² (share inside the top-r gradient subspace; r = `--rank`, default the effective rank at 99 %) and `sensitivity` = v̂ᵀ C v̂ / (tr C / d) with C = G/N (mean squared gradient along v̂ relative to a random direction\'s expectation 1). The baseline is `--random-directions` seeded Gaussian directions (E[energy] = r/d). Reported per latent and summarised (mean, median, p10, p90, share above the random baseline\'s 99th percentile); plots: `gradient-spectrum.svg` and per SAE `alignment-LABEL-decoder.svg` / `-encoder.svg` (histograms of energy).', '');
P('**Checks (tests).** `test/analysis/gradientSpectrum.test.ts`: the eigensolver on known spectra; the streamed Gram equals the dense GᵀG; the figures of a known spectrum; the per-token CE gradient equals B(T−1) × HF\'s golden mean-loss gradient; and a planted-subspace model (gpt2-tiny-random whose tied embedding is projected onto a random 5-dim subspace, hook `ln_final.hook_normalized`) gives exactly 5 non-zero singular values (σ_6/σ_1 < 1e-5), recovers the subspace (its directions score energy 1, orthogonal ones 0), for both `kl` and `ce`.', '');

P('### gpt2-corpus-tiny, every layer\'s resid_pre', '');
P(`${n(tok)} held-out tokens (windows of ${CONTEXT}, BOS excluded, after the first ${n(SKIP)} of \`mixed-public-domain.txt.xz\`), seed 0, CPU (OpenBLAS), d = ${d}:`, '');
P('```', `saelab gradients --model gpt2-corpus-tiny --hook ${HOOKS[0]},…,${HOOKS[LAYERS - 1]} --objective kl --tokens ${C.gradTokens} --skip-tokens ${SKIP} --context-size ${CONTEXT} --out OUT`, '```', '');
P(`Wall time for all ${LAYERS} hooks: ${f(spectra.kl.seconds, 1)} s (kl), ${f(spectra.ce.seconds, 1)} s (ce).`, '');
P('| hook | KL rank 90 % | 99 % | 99.9 % | entropy rank | dead (< 1e-3·σ₁) | E‖g‖² | CE rank 90 % | 99 % | 99.9 % |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
kl.hooks.forEach((h, i) => {
  const s = h.spectrum;
  const c = ce.hooks[i].spectrum;
  P(`| ${h.hook} | ${s.effectiveRank['0.9']} | ${s.effectiveRank['0.99']} | ${s.effectiveRank['0.999']} | ${f(s.entropyRank, 1)} | ${Math.round(s.fractionBelow1e3 * d)} | ${Number(s.meanSquaredNorm.toPrecision(3))} | ${c.effectiveRank['0.9']} | ${c.effectiveRank['0.99']} | ${c.effectiveRank['0.999']} |`);
});
P('', `![KL gradient spectra per layer](${plotKl})`, '', `![CE gradient spectra per layer](${plotCe})`, '');
{
  const dead = kl.hooks.map((h) => Math.round(h.spectrum.fractionBelow1e3 * d));
  const r90 = kl.hooks.map((h) => h.spectrum.effectiveRank['0.9']);
  const minAt = r90.indexOf(Math.min(...r90));
  const maxAt = r90.indexOf(Math.max(...r90));
  const diff = Math.max(...kl.hooks.map((h, i) => Math.abs(h.spectrum.effectiveRank['0.9'] - ce.hooks[i].spectrum.effectiveRank['0.9'])));
  const deadText = new Set(dead).size === 1 ? `${dead[0]} of ${d} directions ${dead[0] === 1 ? 'is' : 'are'} dead (σ < 1e-3 σ₁) at every hook` : `the dead directions (σ < 1e-3 σ₁) per hook are ${dead.join(', ')} of ${d}`;
  P(`Reading: ${deadText}. A LayerNorm subtracts the mean of its input, so moving x along the all-ones direction changes no output and one dead direction per residual hook is expected from the architecture${dead.every((x) => x === 1) ? '; that is all there is here' : ''}. The rank holding 90 % of the energy ranges from ${r90[minAt]} (${kl.hooks[minAt].hook}) to ${r90[maxAt]} (${kl.hooks[maxAt].hook}) of ${d} (${pct(r90[minAt] / d)}–${pct(r90[maxAt] / d)} of the directions), and at 99.9 % from ${Math.min(...kl.hooks.map((h) => h.spectrum.effectiveRank['0.999']))} to ${Math.max(...kl.hooks.map((h) => h.spectrum.effectiveRank['0.999']))}: ${Math.min(...kl.hooks.map((h) => h.spectrum.effectiveRank['0.999'])) > 0.75 * d ? 'apart from the dead direction, the spectrum decays but almost every direction matters a little' : 'a sizeable share of the directions carries almost no gradient energy'}. KL (Fisher) and CE ranks at 90 % differ by at most ${diff} (CE\'s gradient is the Fisher sample at the observed token instead of a sampled one).`, '');
}

P('### Local vs end-to-end SAEs against the gradient subspace', '');
const trainLine = (s) => `${s.name}: \`saelab train --hook blocks.${s.layer}.hook_resid_pre --loss ${s.loss} --arch topk --k ${K} --d-sae ${D_SAE} --tokens ${C.trainTokens} --context-size ${CONTEXT} --batch-size ${BATCH} --lr ${LR} --seeds ${s.seed}\`${s.seconds !== null ? ` (${f(s.seconds, 0)} s, ${n(Math.round(C.trainTokens / s.seconds))} tokens/s)` : ''}`;
P(`Budget: three TopK SAEs (k ${K}, ${D_SAE} latents = 4 × d_in) trained on ${n(C.trainTokens)} tokens each of the corpus start, on this 2-core CPU (shared with other work, so the rates are lower bounds):`, '');
for (const s of [localPrev, local, e2e]) P(`- ${trainLine(s)}`);
P('', `${localPrev.name} has another seed than ${local.name}: with one seed two SAEs start from the same random decoder, and short runs keep much of it, which would show up below as spurious i → i edges and duplicates. ${local.name} and ${e2e.name} share seed ${local.seed} (the same start), so their difference is the objective's.`);
P('', `These are short runs (an e2e step is a full forward and backward of the model), far from converged; the comparison below is between equally short runs. Alignment: \`saelab gradients --objective kl --hook blocks.${ALIGN_LAYER}.hook_resid_pre --sae ${local.name} --sae ${e2e.name}\` over the same ${n(tok)} held-out tokens; r = the effective rank at 99 %.`, '');
P('| SAE | r | decoder energy mean | median | > random p99 | encoder energy mean | median | > random p99 | decoder sensitivity | encoder sensitivity |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const a of align.json.saes) P(`| ${a.label} | ${a.rank} | ${f(a.decoder.energy.mean)} | ${f(a.decoder.energy.median)} | ${pct(a.decoder.energy.aboveRandomP99)} | ${f(a.encoder.energy.mean)} | ${f(a.encoder.energy.median)} | ${pct(a.encoder.energy.aboveRandomP99)} | ${f(a.decoder.sensitivity.mean)} | ${f(a.encoder.sensitivity.mean)} |`);
{
  const a0 = align.json.saes[0];
  P(`| random directions | ${a0.rank} | ${f(a0.random.energy.mean)} | ${f(a0.random.energy.median)} | – | | | | ${f(a0.random.sensitivity.mean)} | |`, '');
}
for (const p of alignPlots) P(`![alignment histogram](${p})`);
P('');
{
  const [la, ea] = [align.json.saes.find((s) => s.label === local.name), align.json.saes.find((s) => s.label === e2e.name)];
  const cmp = (x, y, what) => (Math.abs(x - y) < 0.01 * Math.max(Math.abs(x), Math.abs(y), 1e-12) ? `about the same ${what} as` : x > y ? `more ${what} than` : `less ${what} than`);
  P(`Reading: with r = ${la.rank} of ${d} directions (a random direction holds ${f(la.randomExpected)} of its energy there), the e2e SAE's decoder rows hold ${f(ea.decoder.energy.mean)} on average against ${f(la.decoder.energy.mean)} for the local SAE's — ${cmp(ea.decoder.energy.mean, la.decoder.energy.mean, 'energy')} local — and its encoder columns ${f(ea.encoder.energy.mean)} against ${f(la.encoder.energy.mean)}. By sensitivity (mean squared KL-gradient along the direction, random = 1) the e2e decoder rows score ${f(ea.decoder.sensitivity.mean)} and the local ones ${f(la.decoder.sensitivity.mean)}; the encoders ${f(ea.encoder.sensitivity.mean)} and ${f(la.encoder.sensitivity.mean)}. Decoder / encoder sensitivity: ${f(ea.decoder.sensitivity.mean / ea.encoder.sensitivity.mean, 2)} for e2e, ${f(la.decoder.sensitivity.mean / la.encoder.sensitivity.mean, 2)} for local${ea.decoder.sensitivity.mean / ea.encoder.sensitivity.mean < la.decoder.sensitivity.mean / la.encoder.sensitivity.mean ? ' (the e2e decoder sits relatively further from the directions the output reads than its encoder does)' : ''}; ${ea.decoder.sensitivity.mean < la.decoder.sensitivity.mean ? 'the e2e decoder rows are the less sensitive ones' : 'the e2e decoder rows are not less sensitive than the local ones'} at this budget.`, '');
}

P('## `saelab connect`', '');
P('```', 'saelab connect --sae EARLY --sae LATE [--features i,j,… | --top-features 64] [--top-k 10]', '               [--check-edges 8] --tokens N --out DIR [--db FILE] [--json]', '```', '');
P('At the early hook x₁ = Σ_i f₁ᵢ dᵢ/s₁ + b₁/s₁ + e₁ (dᵢ the decoder rows, s₁ the input scale, e₁ the error term). For a later feature j, F_j = Σ_{t: f₂ⱼ[t] > 0} f₂ⱼ[t] has gradient W_enc₂[:, j]·s₂ at the tokens where it fires (ReLU, TopK, BatchTopK and JumpReLU all have slope 1 there), and one backward through the blocks in between only (`model/backward.ts` `backwardBetween`: no head, no parameter gradients) gives g = dF_j/dx₁ at every position. Then', '');
P('- edge(i → j) = Σ_s (f₁ᵢ[s]/s₁)(g[s]·dᵢ)   (gradient × activation, summed over tokens)', '- edge(error → j) = Σ_s g[s]·e₁[s]   (the early SAE\'s error as its own node, source −1)', '- `bias` = Σ_s g[s]·b₁/s₁ and `excluded` = Σ over BOS positions of g·x₁ (reported, not ranked).', '');
P('Edges are ranked by |attribution| (also given per firing token of j). Cost: one forward with a cache per batch, then one partial backward per attributed later feature that fires in the batch — so later features are chosen (`--features`, or the `--top-features` with the most activation, found by a cheap forward pass stopping at the later hook). The strongest `--check-edges` edges of the first batch are checked by exact ablation: remove f₁ᵢdᵢ/s₁ at every position, rerun to the later hook, and compare the drop of Σ_t f₂ⱼ with the linear edge (`checks` in `connect.json`).', '');
P('**Long runs.** A progress bar on a terminal and a checkpoint every 30 s (`connect.checkpoint` in `--out`: the batches done, the attributed later features with their edge sums, the first batch\'s edges for the ablation checks, and the settings); after a kill the same command with `--resume` continues and reports the same edges bit for bit (`test/analysis/connectResume.test.ts`). Checkpoint format shared with `gradients`: `src/analysis/runCheckpoint.ts`.', '');
P('Refused with one line (exit 2): hooks in the wrong order, a later SAE off the residual stream, SAEs of different models (metadata `model_name` or `d_in`), a token budget of 0, not exactly two `--sae`.', '');
P('The top-k edges per later feature go to the workspace database (`feature_edges`, docs/workspace-db.md), and the web UI\'s feature page shows them as "Driven by" and "Drives" links (to the other SAE\'s dashboard when it has one).', '');
P('**Check (test).** `test/analysis/connectFeatures.test.ts`: gpt2-tiny-random with block 1 made the identity (attention and MLP outputs zeroed), an early SAE with orthonormal decoder rows, and a later SAE whose feature i reads 2·d_{π(i)}, so f₂ᵢ = 2 f₁π(i) exactly: the edge π(i) → i ranks first for every i, equals f₂ᵢ\'s total activation, every other edge is 0, and exact ablation agrees with the linear edge to 1e-3.', '');

P('### Worked example: real features of gpt2-corpus-tiny', '');
const cj = connect.json;
P(`\`saelab connect --sae ${localPrev.name} --sae ${local.name} --top-features ${C.topFeatures} --top-k 6 --check-edges 8 --tokens ${C.connectTokens} --skip-tokens ${SKIP}\`: ${n(cj.tokens)} held-out tokens, the ${cj.features.length} most active features of ${local.name} (${cj.late.hook}), each with its 6 strongest sources in ${localPrev.name} (${cj.early.hook}); ${f(connect.seconds, 1)} s. Contexts: each feature's strongest activation in \`saelab dashboard\` over the first ${n(C.dashTokens)} corpus tokens (the firing token in brackets).`, '');
{
  const errShare = cj.features.map((x) => {
    const tot = x.edges.reduce((s, ed) => s + Math.abs(ed.attribution), 0);
    const er = x.edges.find((ed) => ed.source < 0);
    return tot > 0 ? Math.abs(er ? er.attribution : 0) / tot : 0;
  });
  const errTop = cj.features.filter((x) => x.edges[0]?.source < 0).length;
  // The example: the most active later feature whose strongest source is an earlier feature.
  const ex = cj.features.find((x) => x.edges[0] && x.edges[0].source >= 0) ?? cj.features[0];
  P(`Later feature **${ex.feature}** of ${local.name} (fires on ${n(ex.fires)} tokens${context(local.name, ex.feature) ? `; strongest context: ${context(local.name, ex.feature)}` : ''}) is driven by:`, '');
  P('| source in ' + localPrev.name + ' | attribution | per firing | strongest context of the source |', '|---|---:|---:|---|');
  for (const ed of ex.edges) P(`| ${ed.source < 0 ? 'error term' : `#${ed.source}`} | ${e(ed.attribution)} | ${e(ed.perFiring)} | ${ed.source < 0 ? '' : context(localPrev.name, ed.source) ?? '(no dashboard example)'} |`);
  P('');
  const top1 = ex.edges[0];
  const rest = ex.edges.slice(1).reduce((s, ed) => s + Math.abs(ed.attribution), 0);
  P(`Reading: the strongest source carries ${f(Math.abs(top1.attribution) / (Math.abs(top1.attribution) + rest), 2)} of the |attribution| among this feature's top ${ex.edges.length} edges. Over all ${cj.features.length} attributed features, the earlier SAE's error term is the strongest source of ${errTop}, and holds on average ${pct(errShare.reduce((s, x) => s + x, 0) / Math.max(1, errShare.length))} of the |attribution| of the top edges (the part of x₁ the earlier SAE does not explain).`, '');
  const checks = cj.checks;
  if (checks.length) {
    const same = checks.filter((c) => Math.sign(c.linear) === Math.sign(c.exact)).length;
    const ratios = checks.filter((c) => c.linear !== 0).map((c) => c.exact / c.linear).sort((a, b) => a - b);
    P('Exact ablation of the strongest edges (first batch):', '');
    P('| edge | linear (gradient × activation) | exact ablation |', '|---|---:|---:|');
    for (const c of checks) P(`| ${c.source < 0 ? 'error' : c.source} → ${c.target} | ${e(c.linear)} | ${e(c.exact)} |`);
    P('', `The linear estimate has the sign of the exact ablation for ${same} of ${checks.length} edges; exact / linear ranges ${f(ratios[0], 2)}–${f(ratios[ratios.length - 1], 2)} (median ${f(ratios[Math.floor(ratios.length / 2)], 2)}): ${ratios[0] > 0.5 && ratios[ratios.length - 1] < 2 ? 'within a factor of 2 everywhere, so gradient × activation ranks these edges as ablation would' : 'the block in between is non-linear enough that the linear edge is a ranking, not a measurement, for some edges'}.`, '');
  }
}

P('## Cross-layer duplicates of the same two SAEs', '');
for (const dups of dupRuns) {
  const w = dups.json.between[0];
  const [A, B] = dups.json.saes;
  P(`\`saelab duplicates --sae ${localPrev.name} --sae ${local.name} --cosine ${dups.json.thresholds.cosine} --correlation ${dups.json.thresholds.correlation} --tokens ${C.dupTokens}\` (${n(dups.json.tokens)} tokens; ${f(dups.seconds, 1)} s): ${w.pairs.length} pairs; ${w.featuresA} of ${A.dSae} features of ${A.label} (${A.alive} fired) and ${w.featuresB} of ${B.dSae} of ${B.label} (${B.alive} fired) have a duplicate at the other layer; ${w.cosinePairs} pairs pass the cosine alone, so ${w.cosinePairs - w.pairs.length} share a direction without firing together.`, '');
  if (w.pairs.length) {
    P(`| ${A.label} | ${B.label} | cosine | correlation | context (${A.label}) | context (${B.label}) |`, '|---:|---:|---:|---:|---|---|');
    for (const p of w.pairs.slice(0, 8)) P(`| ${p.a} | ${p.b} | ${f(p.cosine)} | ${f(p.correlation)} | ${context(localPrev.name, p.a) ?? ''} | ${context(local.name, p.b) ?? ''} |`);
    P('');
  }
}
ws.close();
{
  const steps = [localPrev.seconds, local.seconds, e2e.seconds, spectra.kl.seconds, spectra.ce.seconds, align.seconds, ...Object.values(dashes).map((x) => x.seconds), connect.seconds, ...dupRuns.map((x) => x.seconds)];
  P(`Wall time of the steps above, added up: ${f(steps.reduce((a, x) => a + (x ?? 0), 0), 0)} s on this machine (each step's own time is given where it is used).`, '');
}
writeAtomic(DOC, L.join('\n'));
process.stderr.write(`wrote ${relative(process.cwd(), DOC) || DOC}\n`);
