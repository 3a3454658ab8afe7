// `saelab duplicates --sae A --sae B [--sae C …]`: argument parsing over `duplicatesRun`
// (src/analysis/duplicatesRun.ts): pairs of near-duplicate features between residual SAEs at several
// layers (decoder cosine and activation correlation on the same tokens), as a table or --json; the
// pairs go to the workspace database (the web UI's feature page lists them).

import type { Command } from 'commander';
import { duplicatesRun, duplicatesText } from '../../analysis/duplicatesRun.js';
import { checkOutputDir } from '../../io/outputPaths.js';
import { deviceOption, openDeviceFromFlag } from '../deviceOption.js';
import { anyString, countFlag, intFlag, listOption, numFlag } from '../flags.js';
import { chooseSkip, firstSaeData } from '../heldOut.js';
import { checkModelSpec, checkPath, resolveSaeDirs } from '../inputChecks.js';
import { emit } from '../output.js';
import { sayHeldOut } from '../textOptions.js';

interface DuplicatesFlags {
  sae: string[]; cosine: number; correlation: number; adjacent?: boolean; model?: string; data?: string; tokens: number; skipTokens?: number; contextSize?: number;
  out?: string; db?: string; device: string; json?: boolean; limit: number;
}

/** Register `saelab duplicates`. */
export function registerDuplicates(program: Command): void {
  program
    .command('duplicates')
    .description('near-duplicate features of residual SAEs at several layers: pairs with decoder cosine and activation correlation (same tokens) above thresholds (docs/compare.md)')
    .addOption(listOption('--sae <dir>', 'SAE folders (two or more, any order; residual-stream hooks of one model)', anyString, { paths: true }).makeOptionMandatory())
    .option('--cosine <x>', 'minimum decoder cosine', numFlag('--cosine', -1), 0.7)
    .option('--correlation <x>', 'minimum activation correlation (Pearson, over the evaluation tokens)', numFlag('--correlation', -1), 0.7)
    .option('--adjacent', 'only SAEs next to each other in hook order (default: every pair)')
    .option('--model <model>', 'model for the evaluation tokens (default: the SAE\'s cfg.json metadata model_name)')
    .option('--data <path>', 'corpus for the evaluation tokens (default: the SAE\'s metadata dataset_path)')
    .option('--tokens <n>', 'evaluation tokens', countFlag('--tokens'), 4096)
    .option('--skip-tokens <n>', 'skip this many stream tokens of the data first (default: the tokens of it the SAEs trained on, from their cfg.json; else 0)', countFlag('--skip-tokens', 0))
    .option('--context-size <n>', 'tokens per window (default: the SAE\'s metadata context_size)', intFlag('--context-size', 2))
    .option('--out <dir>', 'write duplicates.json and duplicates.txt')
    .option('--db <file>', 'workspace database (default: saelab.db next to the earliest SAE folder)')
    .option('--limit <n>', 'pairs printed per SAE pair (all are in --out and the database)', countFlag('--limit'), 20)
    .addOption(deviceOption())
    .option('--json', 'print JSON')
    .action(async (_o: DuplicatesFlags, cmd: Command) => {
      const o = cmd.opts<DuplicatesFlags>();
      const { dirs } = await resolveSaeDirs('--sae', o.sae, { quiet: !!o.json });
      checkPath('--data', o.data);
      await checkModelSpec(o.model);
      const held = chooseSkip(dirs, o.data ?? firstSaeData(dirs), o.skipTokens);
      sayHeldOut(held);
      if (o.out !== undefined) checkOutputDir(o.out, '--out', { create: false });
      const device = await openDeviceFromFlag(o.device, !!o.json);
      try {
        const r = await duplicatesRun(
          { saes: dirs, cosine: o.cosine, correlation: o.correlation, adjacent: !!o.adjacent, model: o.model, data: o.data, tokens: o.tokens, skipTokens: held.skip, contextSize: o.contextSize, device, out: o.out, db: o.db },
          (line) => {
            if (!o.json) process.stderr.write(line + '\n');
          },
        );
        emit(!!o.json, r, () => {
          process.stdout.write(duplicatesText(r, o.limit));
          console.log(`\n${r.seconds.toFixed(1)} s${r.json ? `; report: ${r.json}` : ''}${r.db ? `; database: ${r.db} (run ${r.runId})` : ''}`);
        });
      } finally {
        device.destroy();
      }
    });
}
