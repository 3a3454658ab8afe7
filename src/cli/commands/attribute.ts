// `saelab attribute`: argument parsing over `attributeRun` (src/analysis/attributeRun.ts) — which SAE
// features make a reward model prefer one completion over another — then a table or --json.
// Plots from src/report/rewardPlots.ts. A text flag may be `@FILE` to read the text from a file.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { attributeRun } from '../../analysis/attributeRun.js';
import { workspaceDbPath } from '../../io/workspaceDb.js';
import { pairSetPlots, twoPlots } from '../../report/rewardPlots.js';
import { deviceOption, openDeviceFromFlag } from '../deviceOption.js';
import { UsageError } from '../errors.js';
import { intFlag, numFlag } from '../flags.js';
import { emit, table } from '../output.js';
import { resolveSaeDirs } from '../inputChecks.js';
import { batchProgress } from '../progress.js';
import { loadOptionsFromFlags, modelDtypeOption, streamOption } from '../modelLoadOptions.js';

interface AttributeFlags {
  sae: string[]; model?: string; pairs: string[]; prompt?: string; a?: string; b?: string; baseline?: string; edit?: boolean; anyModel?: boolean;
  top: number; batchPairs: number; exactTop: number; exactRandom: number; exactPairs: number; highFrequency: number; duplicateCosine: number; seed: number;
  out: string; db?: string; noDb?: boolean; download?: boolean; device: string; json?: boolean; modelDtype?: string; stream?: boolean;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** A text flag's value: the text itself, or the contents of FILE for `@FILE`. */
export function textArg(flag: string, v: string | undefined): string | undefined {
  if (v === undefined || !v.startsWith('@')) return v;
  try {
    return readFileSync(v.slice(1), 'utf8');
  } catch (e) {
    throw new UsageError(`${flag} ${v}: cannot read the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

const f3 = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(3));

/** Register `saelab attribute`. */
export function registerAttribute(program: Command): void {
  program
    .command('attribute')
    .description('which SAE features make a reward model prefer one completion over another: gradient × activation with the error term, exact ablations, over a pair set (--pairs) or two completions (--a/--b, --edit, --baseline)')
    .option('--sae <dir>', 'an SAE folder (repeat for several hooks); its cfg.json names the hook and the model; or hf:OWNER/REPO[/FOLDER][@REV], or a SAELens release RELEASE/SAE_ID (downloaded into the HF cache)', collect, [])
    .option('--model <dir>', 'the reward model (default: the first SAE\'s metadata.model_name)')
    .option('--pairs <file[:start-end]>', 'JSONL pairs (HH transcripts or {prompt,chosen,rejected}), optionally a range start ≤ i < end; repeat for several splits', collect, [])
    .option('--prompt <text>', 'the prompt both completions follow (@FILE reads a file); default empty')
    .option('--a <text>', 'completion a (@FILE reads a file)')
    .option('--b <text>', 'completion b (@FILE reads a file)')
    .option('--baseline <text>', 'a control completion: each listed feature\'s effect on its reward (@FILE reads a file)')
    .option('--edit', 'a counterfactual: --a is the original, --b the edited text; list what the edit added and removed')
    .option('--any-model', 'use SAEs whose cfg.json names another model')
    .option('--top <n>', 'features listed per SAE', intFlag('--top', 1), 30)
    .option('--batch-pairs <n>', 'pairs per forward', intFlag('--batch-pairs', 1), 8)
    .option('--exact-top <n>', 'top candidates ablated exactly', intFlag('--exact-top', 0), 8)
    .option('--exact-random <n>', 'random active features ablated exactly (pairs mode)', intFlag('--exact-random', 0), 8)
    .option('--exact-pairs <n>', 'pairs the exact ablations run on (the first ones)', intFlag('--exact-pairs', 0), 16)
    .option('--high-frequency <x>', 'a feature firing on more than this fraction of completion tokens is flagged', numFlag('--high-frequency', 0), 0.1)
    .option('--duplicate-cosine <x>', 'decoder cosine at which a feature at another hook counts as a near-duplicate', numFlag('--duplicate-cosine', 0), 0.9)
    .option('--seed <n>', 'seed of the random sample', intFlag('--seed', 0), 0)
    .requiredOption('--out <dir>', 'folder for attribution.json and the SVG plots')
    .option('--db <file>', 'workspace database (default: <folder of the first SAE>/saelab.db)')
    .option('--no-db', 'record nothing in a database')
    .option('--download', 'allow downloading --model from the hub')
    .addOption(modelDtypeOption())
    .addOption(streamOption())
    .addOption(deviceOption())
    .option('--json', 'print JSON')
    .action(async (_o: AttributeFlags, cmd: Command) => {
      const o = cmd.opts<Omit<AttributeFlags, 'db'> & { db?: string | false }>();
      if (o.sae.length === 0) throw new UsageError('give at least one --sae DIR');
      const { dirs: saes, fromHub } = await resolveSaeDirs('--sae', o.sae, { quiet: !!o.json });
      const device = await openDeviceFromFlag(o.device, !!o.json);
      const progress = batchProgress('attribute', !!o.json);
      try {
        const r = await attributeRun({
          modelLoad: loadOptionsFromFlags(o),
          device, saes, model: o.model, pairs: o.pairs, prompt: textArg('--prompt', o.prompt), a: textArg('--a', o.a), b: textArg('--b', o.b), baseline: textArg('--baseline', o.baseline),
          edit: o.edit, anyModel: o.anyModel, top: o.top, batchPairs: o.batchPairs, exactTop: o.exactTop, exactRandom: o.exactRandom, exactPairs: o.exactPairs,
          highFrequency: o.highFrequency, duplicateCosine: o.duplicateCosine, seed: o.seed, out: resolve(o.out), db: o.db === false ? null : (o.db ?? (fromHub[0] ? workspaceDbPath(process.cwd()) : undefined)), download: o.download,
          plots: { pairs: pairSetPlots, two: twoPlots }, onProgress: progress.onProgress,
        });
        progress.stop();
        emit(!!o.json, r, () => {
          if (r.pairs) {
            const p = r.pairs;
            console.log(`${p.all.pairs} pairs, ${r.seconds.toFixed(1)} s${p.skipped.length ? `, ${p.skipped.length} skipped` : ''}`);
            console.log(table(['split', 'pairs', 'mean Δr', 'accuracy', 'truncated', 'completion cut'], [...p.splits, ...(p.splits.length > 1 ? [p.all] : [])].map((s) => [s.label, s.pairs, f3(s.meanDeltaR), f3(s.accuracy), s.truncated, s.completionTruncated])));
            for (const s of p.saes) {
              console.log(`\n${s.label} (${s.hook}): mean Σ effects ${f3(s.meanSumEffects)}, error ${f3(s.meanError)}, b_dec ${f3(s.meanBias)}, prompt ${f3(s.meanPrompt)}, rest ${f3(s.meanRest)}; exact vs linear: Spearman ${f3(s.exact.spearman)} (top ${f3(s.exact.spearmanTop)}, random ${f3(s.exact.spearmanRandom)}), slope ${f3(s.exact.slope)}`);
              console.log(table(['rank', 'feature', 'mean effect', 'sign cons.', 'pairs', 'firing', 'flags'], s.top.slice(0, 15).map((f, i) => [i + 1, f.feature, f3(f.meanEffect), f3(f.signConsistency), f.pairsActive, f.firingFrequency.toExponential(1), [f.highFrequency ? 'high-freq' : '', ...f.nearest.filter((n) => n.duplicate).map((n) => `dup ${n.sae}:${n.feature}`)].filter(Boolean).join(' ')])));
              if (s.groups.length) console.log(`groups: ${s.groups.map((g) => `{${g.features.join(',')}} cos ${f3(g.withinCosine)}`).join('; ')} (random pairs: mean ${f3(s.groups[0]!.randomCosineMean)}, p95 ${f3(s.groups[0]!.randomCosineP95)})`);
            }
          } else if (r.two) {
            const t = r.two;
            console.log(`r(a) ${f3(t.rewardA)}, r(b) ${f3(t.rewardB)}, Δr ${f3(t.deltaR)}${t.rewardBaseline !== undefined ? `, r(baseline) ${f3(t.rewardBaseline)}` : ''}`);
            const cut = Object.entries(t.truncated).filter(([, n]) => (n ?? 0) > 0);
            if (cut.length) console.log(`note: cut from the left to the model's context: ${cut.map(([k, n]) => `${k} ${n} tokens`).join(', ')} (the prompt's start is not seen)`);
            for (const s of t.saes) {
              console.log(`\n${s.label} (${s.hook}): ${s.added} added, ${s.removed} removed, ${s.changed} changed; Σ effects ${f3(s.sumEffects)}, error ${f3(s.error)}, b_dec ${f3(s.bias)}, prompt ${f3(s.prompt)}, rest ${f3(s.rest)}`);
              console.log(table(['feature', r.edit ? 'edit' : 'kind', 'act a', 'act b', 'effect', 'exact', ...(t.rewardBaseline !== undefined ? ['baseline effect'] : [])], s.features.slice(0, 20).map((f) => [f.feature, f.kind + (f.highFrequency ? ' (high-freq)' : ''), f3(f.actA), f3(f.actB), f3(f.effect), f3(f.exact), ...(t.rewardBaseline !== undefined ? [f3(f.baselineEffect)] : [])])));
            }
          }
          console.log(`report: ${r.json}; plots: ${r.plots.length} SVG${r.db ? `; db: ${r.db} (run ${r.runId})` : ''}`);
        });
      } finally {
        progress.stop();
        device.destroy();
      }
    });
}
