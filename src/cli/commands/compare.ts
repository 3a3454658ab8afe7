// `saelab compare A B [C…]`: argument parsing over `compareSaes` (src/analysis/compareSaes.ts):
// max cosine both ways and the exact one-to-one matching, by decoder/encoder directions or by
// activations, printed as a table (or --json) and written as a report with --out.

import type { Command } from 'commander';
import { COMPARE_BY, compareSaes, type CompareBy, type CompareResult } from '../../analysis/compareSaes.js';
import { compareJson, writeCompareReport } from '../../report/compareReport.js';
import { deviceOption, openDeviceFromFlag } from '../deviceOption.js';
import { UsageError } from '../errors.js';
import { choice, countFlag, intFlag, listOption, numFlag } from '../flags.js';
import { emit, table } from '../output.js';
import { checkOutputDir } from '../../io/outputPaths.js';
import { chooseSkip, firstSaeData } from '../heldOut.js';
import { checkModelSpec, checkPath, resolveSaeDirs } from '../inputChecks.js';
import { sayHeldOut } from '../textOptions.js';

interface CompareFlags {
  by: CompareBy[];
  aliveOnly?: boolean;
  force?: boolean;
  json?: boolean;
  out?: string;
  model?: string;
  data?: string;
  tokens: number;
  skipTokens?: number;
  contextSize?: number;
  candidates: number;
  tol: number;
  device: string;
}


/** The human summary: one block per pair and kind, then the pairwise table for 3+ SAEs. */
function printHuman(r: CompareResult, reportPath: string | null): void {
  if (r.forced.length) for (const f of r.forced) console.log(`forced: ${f}`);
  if (r.evalTokens) {
    console.log(`evaluation tokens: ${r.evalTokens.tokens} of ${r.evalTokens.hooks.join(', ')} (${r.evalTokens.data}${r.evalTokens.skipTokens ? `, after its first ${r.evalTokens.skipTokens.toLocaleString('en-US')} tokens` : ''})`);
    for (const s of r.saes) console.log(`  ${s.label}: ${s.alive} of ${s.dSae} features fired (${s.dSae - s.alive!} never)`);
  }
  const f3 = (x: number) => x.toFixed(3);
  for (const p of r.pairs) {
    const la = r.saes[p.a]!.label;
    const lb = r.saes[p.b]!.label;
    const c = p.matching.certificate;
    console.log(`\n${la} vs ${lb} by ${p.by}${r.aliveOnly ? ` (alive only: dropped ${p.droppedA} of ${la}, ${p.droppedB} of ${lb})` : ''}`);
    console.log(table(['', 'features', 'mean', 'p10', 'median', 'p90'], [
      [`max ${la}→${lb}`, p.nA, f3(p.maxAtoB.mean), f3(p.maxAtoB.p10), f3(p.maxAtoB.median), f3(p.maxAtoB.p90)],
      [`max ${lb}→${la}`, p.nB, f3(p.maxBtoA.mean), f3(p.maxBtoA.p10), f3(p.maxBtoA.median), f3(p.maxBtoA.p90)],
      ['one-to-one', p.matching.pairs.a.length, f3(p.matching.meanMatchedCos), f3(p.matching.matchedCos.p10), f3(p.matching.matchedCos.median), f3(p.matching.matchedCos.p90)],
    ]));
    const fa = p.matching.fractionAbove;
    console.log(`matched pairs above 0.5 / 0.7 / 0.9: ${(fa['0.5'] * 100).toFixed(1)}% / ${(fa['0.7'] * 100).toFixed(1)}% / ${(fa['0.9'] * 100).toFixed(1)}%`);
    console.log(`why the maxes differ: ${p.asymmetry}`);
    console.log(c.certified
      ? `optimal: certified over all ${p.nA}×${p.nB} pairs (max violation ${c.maxViolation.toExponential(2)} ≤ tol ${c.tol}; total within ${c.gapBound.toExponential(2)} of the best), ${c.rounds} round(s), ${c.addedPairs} pairs added`
      : `NOT certified after ${c.rounds} rounds (max violation ${c.maxViolation.toExponential(2)} > tol ${c.tol}): the matching may be suboptimal`);
  }
  if (r.saes.length > 2) {
    console.log('\npairwise');
    console.log(table(['a', 'b', 'by', 'max a→b', 'max b→a', 'one-to-one', '>0.7'], r.pairs.map((p) => [
      r.saes[p.a]!.label, r.saes[p.b]!.label, p.by, f3(p.maxAtoB.mean), f3(p.maxBtoA.mean), f3(p.matching.meanMatchedCos), `${(p.matching.fractionAbove['0.7'] * 100).toFixed(1)}%`,
    ])));
  }
  if (reportPath) console.log(`\nreport: ${reportPath}`);
}

/** Register `saelab compare`. */
export function registerCompare(program: Command): void {
  program
    .command('compare')
    .description('compare SAEs (seeds, objectives): max cosine both ways and the exact one-to-one matching, by decoder or encoder directions or by activations')
    .argument('<saes...>', 'two or more SAE folders; or hf:OWNER/REPO[/FOLDER][@REV], or a SAELens release RELEASE/SAE_ID (downloaded into the HF cache)')
    // Not variadic: `--by decoder A B` must leave A and B to <saes...>.
    .addOption(listOption('--by <kind>', `what to compare: ${COMPARE_BY.join(', ')}, e.g. decoder,encoder`, choice('--by', COMPARE_BY), { default: ['decoder'], variadic: false }))
    .option('--alive-only', 'drop features that never fired on the evaluation tokens (and report how many)')
    .option('--force', 'compare SAEs trained on different hooks or models (different d_in: --by activations only)')
    .option('--out <dir>', 'write the report: compare.json, SVG histograms, the matchings as CSV')
    .option('--model <model>', 'model for the evaluation tokens (default: the first SAE\'s cfg.json metadata model_name)')
    .option('--data <path>', 'corpus for the evaluation tokens (default: the first SAE\'s metadata dataset_path)')
    .option('--tokens <n>', 'evaluation tokens for --by activations and --alive-only', countFlag('--tokens'), 2048)
    .option('--skip-tokens <n>', 'skip this many stream tokens of the data first (default: the tokens of it the SAEs trained on, from their cfg.json; else 0)', countFlag('--skip-tokens', 0))
    .option('--context-size <n>', 'tokens per window (default: the SAE\'s metadata context_size)', intFlag('--context-size', 2))
    .option('--candidates <k>', 'candidate partners per feature for the matching (more are added until optimality is certified)', intFlag('--candidates', 1), 32)
    .option('--tol <x>', 'optimality tolerance per pair (cosine units)', numFlag('--tol', 0), 1e-6)
    .addOption(deviceOption())
    .option('--json', 'print JSON')
    .action(async (specs: string[], _o: CompareFlags, cmd: Command) => {
      const o = cmd.opts<CompareFlags>();
      if (specs.length < 2) throw new UsageError(`compare needs at least two SAE folders (got ${specs.length}: ${specs.join(' ')})`);
      const { dirs: saes } = await resolveSaeDirs('compare', specs, { quiet: !!o.json });
      checkPath('--data', o.data);
      await checkModelSpec(o.model);
      const needsText = !!o.aliveOnly || o.by.includes('activations');
      const held = needsText ? chooseSkip(saes, o.data ?? firstSaeData(saes), o.skipTokens) : { skip: o.skipTokens ?? 0, note: null, warning: null };
      sayHeldOut(held);
      if (o.out !== undefined) checkOutputDir(o.out, '--out', { create: false });
      const device = await openDeviceFromFlag(o.device, !!o.json);
      try {
        const r = await compareSaes(
          {
            saes, by: o.by, aliveOnly: !!o.aliveOnly, force: !!o.force, device,
            eval: { model: o.model, data: o.data, tokens: o.tokens, skipTokens: held.skip, contextSize: o.contextSize },
            match: { k: o.candidates, tol: o.tol },
          },
          (line) => {
            if (!o.json) process.stderr.write(line + '\n');
          },
        );
        const written = o.out ? await writeCompareReport(r, o.out) : null;
        emit(!!o.json, { ...compareJson(r, written?.files), ...(written ? { report: written.path } : {}) }, () => printHuman(r, written?.path ?? null));
      } finally {
        device.destroy();
      }
    });
}
