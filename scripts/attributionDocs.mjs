#!/usr/bin/env node
// Regenerate docs/attribution.md and its plots (docs/attribution/*.svg): which SAE features make the
// shared reward model gpt2-corpus-tiny-rm-hh prefer the chosen HH answer, with TopK SAEs trained on
// its residual stream at two neighbouring layers (blocks.3 and blocks.4 hook_resid_pre) on the HH
// transcripts themselves (both sides, twice over: scripts/hhTrainText.mjs), then
//   saelab pairs stats   reward statistics per split (the RM's training pairs 0–1849, held out 1850–2311)
//   saelab attribute     over all 2,312 pairs (both SAEs), and a worked two-completion example (+ edit)
//   saelab pairs grep    how often the phrases the features point at occur
//
//   npx tsc -p tsconfig.json && node scripts/attributionDocs.mjs [--work DIR] [--fresh] [--reuse]
//
// --reuse re-renders the page from the JSON already in WORK. CPU only: reproducible bit for bit.

import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'saelab.js');
const ASSETS = resolve(ROOT, '..', 'shared', 'assets');
const RM = join(ASSETS, 'models', 'gpt2-corpus-tiny-rm-hh');
const HH = join(ASSETS, 'preference', 'hh-harmless-base-test.jsonl.gz');
const DOC = join(ROOT, 'docs', 'attribution.md');
const PLOTS = join(ROOT, 'docs', 'attribution');
const LAYERS = [3, 4];
const TRAIN = { k: 32, dSae: 3072, batch: 2048, lr: '1e-3', context: 256 };
// Training tokens per layer (the second SAE got fewer: the 2-core machine was shared when these were made).
const TOKENS = { 3: '1M', 4: '500k' };

const args = process.argv.slice(2);
const WORK = resolve(args.includes('--work') ? args[args.indexOf('--work') + 1] : '/tmp/saelab-attr-docs');
if (args.includes('--fresh')) rmSync(WORK, { recursive: true, force: true });
mkdirSync(WORK, { recursive: true });
const reuse = args.includes('--reuse');

const run = (argv, opts = {}) => execFileSync(process.execPath, [BIN, ...argv], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'inherit'], ...opts });
const runJson = (argv, file) => {
  if (reuse && existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'));
  const t0 = Date.now();
  const out = run([...argv, '--json', ...(argv[0] === 'pairs' && argv[1] === 'grep' ? [] : ['--device', 'cpu'])]);
  const v = JSON.parse(out);
  v.wallSeconds = (Date.now() - t0) / 1000;
  writeFileSync(file + '.tmp', JSON.stringify(v));
  renameSync(file + '.tmp', file);
  return v;
};

// ---- SAEs ----
const text = join(WORK, 'hh-train.txt');
if (!existsSync(text)) execFileSync(process.execPath, [join(ROOT, 'scripts', 'hhTrainText.mjs'), HH, text, '2'], { stdio: 'inherit' });
const saeDir = (L) => join(WORK, `sae-L${L}`, `topk-k${TRAIN.k}-s0`);
for (const L of LAYERS) {
  if (existsSync(join(saeDir(L), 'cfg.json'))) continue;
  console.error(`training the SAE at blocks.${L}.hook_resid_pre`);
  run(['train', '--device', 'cpu', '--model', RM, '--hook', `blocks.${L}.hook_resid_pre`, '--data', text, '--no-prepend-bos', '--context-size', String(TRAIN.context), '--arch', 'topk', '--k', String(TRAIN.k), '--d-sae', String(TRAIN.dSae), '--tokens', TOKENS[L], '--batch-size', String(TRAIN.batch), '--lr', TRAIN.lr, '--out', join(WORK, `sae-L${L}`)], { stdio: ['ignore', 'ignore', 'inherit'] });
}
const trainLog = (L) => readFileSync(join(WORK, `sae-L${L}`, 'train-log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).at(-1);

// ---- statistics, attribution, examples ----
const saeFlags = LAYERS.flatMap((L) => ['--sae', saeDir(L)]);
const pairs = runJson(['attribute', ...saeFlags, '--pairs', `${HH}:0-1850`, '--pairs', `${HH}:1850-2312`, '--top', '30', '--out', join(WORK, 'pairs'), '--db', join(WORK, 'saelab.db')], join(WORK, 'pairs.json'));
const PROMPT = '\n\nHuman: Where can I find a good bread recipe?\n\nAssistant:';
const A = ' You can find a simple recipe at http://www.example.com/bread, it takes about two hours.';
const B = ' You can find a simple recipe in most cookbooks, it takes about two hours.';
const BASE = ' I am not sure, sorry.';
const edit = runJson(['attribute', ...saeFlags, '--prompt', PROMPT, '--a', A, '--b', B, '--baseline', BASE, '--edit', '--out', join(WORK, 'edit'), '--db', join(WORK, 'saelab.db')], join(WORK, 'edit.json'));
const REFUSE = ' I\'m sorry, I can\'t help with that.';
const HELP = ' Mix flour, water, yeast and salt, let it rise for an hour, then bake it at 220 degrees for 30 minutes.';
const two = runJson(['attribute', ...saeFlags, '--prompt', PROMPT, '--a', HELP, '--b', REFUSE, '--out', join(WORK, 'two'), '--db', join(WORK, 'saelab.db')], join(WORK, 'two.json'));
const grep = (phrase, file) => runJson(['pairs', 'grep', phrase, `${HH}:0-1850`, `${HH}:1850-2312`, '-i'], join(WORK, file));
const grepUrl = grep('http', 'grep-http.json');
const grepSorry = grep('sorry', 'grep-sorry.json');

// ---- plots ----
mkdirSync(PLOTS, { recursive: true });
for (const f of readdirSync(PLOTS)) rmSync(join(PLOTS, f));
const copy = (from, to) => copyFileSync(from, join(PLOTS, to));
LAYERS.forEach((L, k) => {
  copy(join(WORK, 'pairs', `features-${k}.svg`), `features-L${L}.svg`);
  copy(join(WORK, 'pairs', `linear-vs-exact-${k}.svg`), `linear-vs-exact-L${L}.svg`);
  copy(join(WORK, 'edit', `diff-${k}.svg`), `edit-L${L}.svg`);
});

// ---- the page ----
const f3 = (v) => (v === undefined || v === null || !Number.isFinite(v) ? '–' : Number(v).toFixed(3));
const pc = (v) => `${(100 * v).toFixed(1)}%`;
const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, '↵').replace(/`/g, 'ʼ');
// The HH pairs are red-team text: contexts are three tokens before and one after, with profanity and slurs masked.
const MASK = /\b(fuck\w*|shit\w*|whores?|bitch\w*|cunts?|nigg\w*|fagg?\w*|dicks?|cocks?|pussy|butt ?holes?|assholes?|poop)\b/gi;
const mask = (t) => t.replace(MASK, (w) => '▇'.repeat(Math.min(4, w.length)));
const tail = (t, n) => t.split(/(?=\s)/).slice(-n).join('');
const ex = (e) => `\`${mask(cell(tail(e.before, 3)))}[${mask(cell(e.token))}]${mask(cell(e.after.split(/(?=\s)/).slice(0, 1).join('')))}\``;
const P = pairs.pairs;
const L = [];
L.push('# Reward attribution: which SAE features make the reward model prefer an answer');
L.push('');
L.push('*Generated by `node scripts/attributionDocs.mjs` (CPU, deterministic); numbers below are from that run.*');
L.push('The HH data is red-team material: contexts are kept to a few words, with profanity masked (▇).');
L.push('');
L.push('## Setup');
L.push('');
L.push(`- Reward model: \`gpt2-corpus-tiny-rm-hh\` (GPT-2 architecture, 6 layers, d_model 192, context 256; a Bradley–Terry head fine-tuned on HH pairs 0–1849).`);
L.push(`- SAEs: TopK (k ${TRAIN.k}, ${TRAIN.dSae} latents) at \`blocks.3.hook_resid_pre\` (${TOKENS[3]} tokens) and \`blocks.4.hook_resid_pre\` (${TOKENS[4]} tokens), trained on the HH transcripts (chosen and rejected, twice over; no BOS, windows of 256), batch ${TRAIN.batch}, lr ${TRAIN.lr}.`);
L.push(`  Final training MSE (normalised units, E‖x‖² = 192): ${LAYERS.map((l) => `L${l} ${f3(trainLog(l).mse)}`).join(', ')}. These are small, briefly trained SAEs: the error term is large, and the report says so.`);
L.push('- Pairs: all 2,312 of `preference/hh-harmless-base-test.jsonl.gz`, in two splits (the RM\'s training pairs 0–1849 and its held-out pairs 1850–2311). A transcript longer than 256 tokens is cut from the left (the reward is read at the end); the completion is the last Assistant turn.');
L.push('');
L.push('## Method');
L.push('');
L.push('At the hook, x = x̂ + e with x̂ = (Σ_i f_i d_i + b_dec)/s. Splicing x̂ + e is the identity, so one forward and one backward of the rewards (each row\'s reward: rows do not interact) give');
L.push('the gradient g for every feature: effect_i = Σ over completion tokens of f_i (g·d_i)/s, chosen minus rejected; the error term g·e and b_dec likewise; **prompt** = Σ over the prompt positions of g·x (equal activations in both texts, different gradients);');
L.push('**rest** = Δr − Σ effects − error − b_dec − prompt is what the first-order picture misses (the nonlinearity). Σ effects + error + b_dec + prompt + rest = Δr exactly. Exact ablation removes f_i d_i/s at the completion tokens and runs the model on.');
L.push('');
L.push('## Rewards per split');
L.push('');
L.push('| split | pairs | mean Δr | accuracy | r(chosen) | r(rejected) | cut to 256 tokens | completion cut too |');
L.push('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const s of [...pairs.pairs.splits, pairs.pairs.all]) L.push(`| ${s.label.replace(HH, 'hh')} | ${s.pairs} | ${f3(s.meanDeltaR)} | ${pc(s.accuracy)} | ${f3(s.meanRewardChosen)} | ${f3(s.meanRewardRejected)} | ${s.truncated} | ${s.completionTruncated} |`);
L.push('');
L.push('(From the attribution run; `saelab pairs stats hh.jsonl.gz --ranges 0-1850,1850- --model RM` gives the same per range with the standard deviation and token counts, without SAEs.)');
L.push('The mean reward difference depends on the subset: it is larger on the pairs the model was trained on than on the held-out ones, so a feature\'s share of Δr should be read per split.');
L.push('');
L.push(`## Features over all pairs (\`saelab attribute --pairs\`, ${f3(pairs.wallSeconds / 60)} min on 2 CPU cores for both SAEs)`);
L.push('');
P.saes.forEach((s, k) => {
  L.push(`### ${s.label} (\`${s.hook}\`)`);
  L.push('');
  L.push(`Mean over pairs: Σ feature effects ${f3(s.meanSumEffects)}, error term ${f3(s.meanError)}, b_dec ${f3(s.meanBias)}, prompt positions ${f3(s.meanPrompt)}, rest ${f3(s.meanRest)} (mean |rest| ${f3(s.meanAbsRest)}); mean Δr ${f3(P.all.meanDeltaR)}.`);
  L.push(`Exact ablation vs the linear estimate, ${s.exact.entries.length} (pair, feature) entries on the first ${s.exact.pairs} pairs: Spearman **${f3(s.exact.spearman)}** (top candidates ${f3(s.exact.spearmanTop)}, random sample ${f3(s.exact.spearmanRandom)}), slope of exact on linear ${f3(s.exact.slope)}.`);
  L.push('');
  L.push(`![top features](attribution/features-L${LAYERS[k]}.svg) ![linear vs exact](attribution/linear-vs-exact-L${LAYERS[k]}.svg)`);
  L.push('');
  L.push('| # | feature | mean effect on Δr | sign consistency | pairs active | firing | flags | strongest activations (chosen/rejected, [token]) |');
  L.push('| --- | --- | --- | --- | --- | --- | --- | --- |');
  s.top.slice(0, 15).forEach((f, i) => {
    const flags = [f.highFrequency ? 'high-frequency' : '', ...f.nearest.filter((n) => n.duplicate).map((n) => `dup of ${n.sae}:${n.feature} (${f3(n.cosine)})`)].filter(Boolean).join(', ');
    L.push(`| ${i + 1} | ${f.feature} | ${f3(f.meanEffect)} | ${pc(f.signConsistency)} | ${f.pairsActive} | ${pc(f.firingFrequency)} | ${flags || '–'} | ${f.examples.slice(0, 3).map((e) => `${e.side[0]} ${ex(e)}`).join('<br>')} |`);
  });
  L.push('');
  const best = s.top.slice(0, 30).map((f) => f.nearest[0]?.cosine ?? NaN).filter(Number.isFinite);
  const same = s.top.slice(0, 30).filter((f) => f.nearest[0]?.feature === f.feature).length;
  if (best.length) L.push(`Nearest decoder direction at the other layer, top 30: median cosine ${f3(best.sort((a, b) => a - b)[Math.floor(best.length / 2)])}, ${s.top.slice(0, 30).filter((f) => f.nearest.some((n) => n.duplicate)).length} at ≥ 0.9 (flagged near-duplicates); ${same} of the 30 have their nearest partner at the same index — both SAEs started from the same seed-0 initialisation, and neighbouring residual streams kept the features where they started.`);
  L.push('');
  if (s.groups.length) {
    L.push(`Groups among the top 30 (decoder cosine ≥ 0.5 or correlation ≥ 0.5 of the mean activation per token over completions, joined transitively; random feature pairs of this SAE: mean cosine ${f3(s.groups[0].randomCosineMean)}, 95th percentile ${f3(s.groups[0].randomCosineP95)}):`);
    L.push('');
    for (const g of s.groups) L.push(`- {${g.features.join(', ')}}: within-group cosine ${f3(g.withinCosine)}, co-activation ${f3(g.withinCorrelation)}`);
  } else L.push('No groups among the top 30 at these thresholds.');
  L.push('');
});
L.push('## Worked example: a counterfactual edit (`saelab attribute --edit`)');
L.push('');
L.push(`Prompt \`${cell(PROMPT)}\`; original \`${cell(A)}\`; edited (URL removed) \`${cell(B)}\`; baseline \`${cell(BASE)}\`.`);
L.push(`r(original) ${f3(edit.two.rewardA)}, r(edited) ${f3(edit.two.rewardB)}, Δr ${f3(edit.two.deltaR)}; r(baseline) ${f3(edit.two.rewardBaseline)}.`);
L.push('');
edit.two.saes.forEach((s, k) => {
  L.push(`**${s.label}**: the edit removed ${s.removed} features, added ${s.added} and changed ${s.changed}. Σ effects ${f3(s.sumEffects)}, error ${f3(s.error)}, b_dec ${f3(s.bias)}, prompt ${f3(s.prompt)}, rest ${f3(s.rest)}.`);
  L.push('');
  L.push(`![edit](attribution/edit-L${LAYERS[k]}.svg)`);
  L.push('');
  L.push('| feature | change | act original | act edited | effect on Δr | exact | effect on the baseline |');
  L.push('| --- | --- | --- | --- | --- | --- | --- |');
  for (const f of s.features.slice(0, 10)) L.push(`| ${f.feature} | ${f.kind} | ${f3(f.actA)} | ${f3(f.actB)} | ${f3(f.effect)} | ${f3(f.exact)} | ${f3(f.baselineEffect)} |`);
  L.push('');
});
L.push('## Worked example: an answer vs a refusal (`--a/--b`)');
L.push('');
L.push(`a = \`${cell(HELP)}\`, b = \`${cell(REFUSE)}\`: r(a) ${f3(two.two.rewardA)}, r(b) ${f3(two.two.rewardB)}, Δr ${f3(two.two.deltaR)}.`);
L.push('');
for (const s of two.two.saes) {
  L.push(`- ${s.label}: ${s.features.length} features differ; largest effects ${s.features.slice(0, 5).map((f) => `${f.feature} (${f.kind}, ${f3(f.effect)}, exact ${f3(f.exact)})`).join(', ')}; error term ${f3(s.error)}, rest ${f3(s.rest)}.`);
}
L.push('');
L.push('## Phrase counts (`saelab pairs grep -i`)');
L.push('');
L.push('| phrase | split | chosen | rejected | only chosen | only rejected | assistant turns |');
L.push('| --- | --- | --- | --- | --- | --- | --- |');
for (const [ph, g] of [['http', grepUrl], ['sorry', grepSorry]]) for (const c of g.ranges) L.push(`| ${ph} | ${c.label.replace(HH, 'hh')} | ${c.chosen} | ${c.rejected} | ${c.onlyChosen} | ${c.onlyRejected} | ${c.assistantTurns}/${c.assistantTurnsTotal} |`);
L.push('');
L.push('## What is and is not found');
L.push('');
const meanDr = P.all.meanDeltaR;
for (const s of P.saes) {
  const peak = new Map();
  for (const f of s.top.slice(0, 10)) for (const e of f.examples) peak.set(e.token, (peak.get(e.token) ?? 0) + 1);
  const peaks = [...peak.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([t, n]) => `\`${cell(t)}\` ×${n}`).join(', ');
  const hf = s.top.slice(0, 15).filter((f) => f.highFrequency).length;
  const dup = s.top.slice(0, 30).filter((f) => f.nearest.some((n) => n.duplicate)).length;
  const big = s.groups.filter((g) => g.withinCosine > g.randomCosineP95);
  L.push(`- **${s.label}**: the strongest activations of the top 10 features sit on ${peaks} (of 50 examples). ` +
    `Σ feature effects explain ${f3(s.meanSumEffects)} of the mean Δr ${f3(meanDr)}; the error term ${f3(s.meanError)}, b_dec ${f3(s.meanBias)}, the prompt positions ${f3(s.meanPrompt)} and the nonlinear rest ${f3(s.meanRest)} carry the remainder` +
    `${Math.abs(s.meanSumEffects) < 0.5 * Math.abs(meanDr) ? ' — most of Δr is not a sum of first-order completion-feature effects at this layer' : ''}. ` +
    `Single-feature effects, on the other hand, are predicted well by the linear estimate (Spearman ${f3(s.exact.spearman)}, slope ${f3(s.exact.slope)} against exact ablation): the ranking is a ranking of what removing one feature does. ` +
    `${hf} of the top 15 are high-frequency (> 10% of completion tokens); ${dup} of the top 30 have a near-duplicate (cosine ≥ 0.9) at the other layer; ` +
    `${s.groups.length} groups, ${big.length} with a within-group decoder cosine above the 95th percentile of random pairs.`);
}
const top10 = P.saes.flatMap((s) => s.top.slice(0, 10));
const sc = top10.map((f) => f.signConsistency).sort((a, b) => a - b)[Math.floor(top10.length / 2)];
const act = top10.map((f) => f.pairsActive / P.all.pairs).sort((a, b) => a - b)[Math.floor(top10.length / 2)];
L.push(`- The top 10 features of both SAEs have a median sign consistency of ${pc(sc)} and are active in a median ${pc(act)} of the pairs` +
  `${sc < 0.8 && act > 0.5 ? ': they fire on both sides of almost every pair, and their mean effect is a small average of effects of both signs — a length or punctuation effect rather than the quality the data meant to reward. This is the spurious-candidate pattern the tool is meant to surface' : ''}. ` +
  `The URL edit moved ${edit.two.saes.map((s) => `${s.removed + s.added + s.changed} (${s.label})`).join(' and ')} features, not one: a hand-made counterfactual does not isolate a feature.`);
L.push('- The reward model is weak (see the held-out split), trained on pairs 0–1849: numbers on that split describe what it fitted, the held-out split what generalised.');
L.push('');
L.push('## Reproduce');
L.push('');
L.push('```');
L.push('npx tsc -p tsconfig.json && node scripts/attributionDocs.mjs            # trains the two SAEs if absent (~10 min each on 2 cores)');
L.push(`saelab attribute --sae WORK/sae-L3/topk-k32-s0 --sae WORK/sae-L4/topk-k32-s0 --pairs hh.jsonl.gz:0-1850 --pairs hh.jsonl.gz:1850-2312 --out WORK/pairs`);
L.push('saelab serve --db WORK/saelab.db                                        # the reward page: #/attributions');
L.push('```');
writeFileSync(DOC + '.tmp', L.join('\n') + '\n');
renameSync(DOC + '.tmp', DOC);
console.error(`wrote ${DOC} and ${readdirSync(PLOTS).length} plots`);
