// `saelab prune`: argument parsing over `pruneRun` (src/analysis/pruneRun.ts) — pruned copies of an
// SAE at target L0s against comparison SAEs (larger L1), CE loss recovered and KL on the same
// held-out tokens — then a table or --json, and the plot from src/report/prunePlot.ts.

import { resolve } from 'node:path';
import type { Command } from 'commander';
import { pruneRun } from '../../analysis/pruneRun.js';
import { pruneSvg } from '../../report/prunePlot.js';
import { deviceOption, openDeviceFromFlag } from '../deviceOption.js';
import { evalTextOptions, sayHeldOut } from '../textOptions.js';
import { chooseSkip } from '../heldOut.js';
import { checkHooks, checkModelSpec, checkPath, resolveSaeDirs } from '../inputChecks.js';
import { anyString, listOption, numItem } from '../flags.js';
import { emit, table } from '../output.js';
import { checkOutputDir } from '../../io/outputPaths.js';
import { batchProgress } from '../progress.js';
import { loadOptionsFromFlags, modelDtypeOption, streamOption } from '../modelLoadOptions.js';

interface PruneFlags {
  modelDtype?: string; stream?: boolean;
  sae: string; hook?: string; l0: number[]; compare: string[]; model?: string; data?: string; tokens: number; skipTokens?: number; contextSize?: number; batchSize: number;
  out: string; download?: boolean; device: string; json?: boolean;
}

/** Register `saelab prune`. */
export function registerPrune(program: Command): void {
  evalTextOptions(program.command('prune'), { tokens: 8192, contextSize: 128 })
    .description('prune an SAE to target L0s (most frequent latents first) and compare with SAEs trained with larger L1: CE loss recovered and KL on held-out tokens')
    .requiredOption('--sae <dir>', 'the SAE folder to prune; or hf:OWNER/REPO[/FOLDER][@REV], or a SAELens release RELEASE/SAE_ID (downloaded into the HF cache)')
    .option('--hook <name>', "the hook of the SAEs (default: each SAE's metadata.hook_name)")
    .addOption(listOption('--l0 <x>', 'target L0s, e.g. --l0 8 16 32', numItem('--l0 targets', 0)).makeOptionMandatory())
    .addOption(listOption('--compare <dir>', 'SAEs of the same hook to evaluate beside the pruned ones (e.g. the folders of one `saelab train --l1s` run)', anyString, { paths: true, default: [], defaultText: 'none' }))
    .requiredOption('--out <dir>', 'folder for prune.json and the plot')
    .option('--download', 'allow downloading --model from the hub')
    .addOption(modelDtypeOption())
    .addOption(streamOption())
    .addOption(deviceOption())
    .option('--json', 'print JSON')
    .action(async (_o: PruneFlags, cmd: Command) => {
      const o = cmd.opts<PruneFlags>();
      const l0 = o.l0;
      const sae = (await resolveSaeDirs('--sae', [o.sae], { quiet: !!o.json })).dirs[0]!;
      const { dirs: compare } = await resolveSaeDirs('--compare', o.compare, { quiet: !!o.json });
      checkPath('--data', o.data);
      checkHooks(await checkModelSpec(o.model, o.download), [o.hook]);
      const held = chooseSkip([sae, ...compare], o.data, o.skipTokens);
      sayHeldOut(held);
      checkOutputDir(o.out, '--out', { create: false });
      const device = await openDeviceFromFlag(o.device, !!o.json);
      const progress = batchProgress('prune', !!o.json);
      try {
        const r = await pruneRun({
          modelLoad: loadOptionsFromFlags(o),
          device, sae, hook: o.hook, l0, compare, model: o.model, data: o.data, tokens: o.tokens, skipTokens: held.skip, contextSize: o.contextSize, batchSize: o.batchSize,
          out: resolve(o.out), download: o.download, plot: pruneSvg,
          onProgress: progress.onProgress,
        });
        progress.stop();
        emit(!!o.json, r, () => {
          const f = (v: number | null, d: number) => (v === null || !Number.isFinite(v) ? '-' : v.toFixed(d));
          console.log(`${r.hook} on ${r.model}: ${r.tokens.toLocaleString('en-US')} tokens; the unpruned SAE has L0 ${r.baseL0.toFixed(2)}`);
          console.log(table(['SAE', 'strategy', 'removed', 'L0', 'CE loss recovered', 'KL', 'CE increase'], r.rows.map((x) => [x.label, x.strategy, x.removed ?? '-', f(x.l0, 2), f(x.ce_loss_recovered, 4), f(x.kl_sae, 4), f(x.ce_increase, 4)])));
          console.log(`report: ${r.json}${r.plot ? `; plot: ${r.plot}` : ''}`);
        });
      } finally {
        progress.stop();
        device.destroy();
      }
    });
}
