// `saelab gradients`: argument parsing over `gradientsRun` (src/analysis/gradientsRun.ts) — the
// spectrum of per-token gradients of a downstream objective at hooks, and how SAE directions sit in
// the top gradient subspace — then a table or --json. Plots from src/report/gradientPlots.ts.

import { resolve } from 'node:path';
import type { Command } from 'commander';
import { gradientsRun } from '../../analysis/gradientsRun.js';
import { GRADIENT_OBJECTIVES, type GradientObjective } from '../../analysis/hookGradients.js';
import { alignmentSvg, gradientSpectrumSvg } from '../../report/gradientPlots.js';
import { checkOutputDir } from '../../io/outputPaths.js';
import { defaultModel } from '../../sae/trainRun.js';
import { deviceOption, openDeviceFromFlag } from '../deviceOption.js';
import { anyString, choice, countFlag, intFlag, listOption } from '../flags.js';
import { chooseSkip } from '../heldOut.js';
import { checkHooks, checkModelSpec, checkPath, checkSaeDirs } from '../inputChecks.js';
import { emit, table } from '../output.js';
import { batchProgress } from '../progress.js';
import { evalTextOptions, sayHeldOut } from '../textOptions.js';
import { loadOptionsFromFlags, modelDtypeOption, streamOption } from '../modelLoadOptions.js';

interface GradientsFlags {
  modelDtype?: string; stream?: boolean;
  model?: string; data?: string; pairs?: string; hook: string[]; objective: GradientObjective; sae: string[]; tokens: number; skipTokens?: number; contextSize?: number;
  batchSize: number; seed: number; rank?: number; randomDirections: number; out: string; download?: boolean; device: string; json?: boolean; resume?: boolean;
}

/** Register `saelab gradients`. */
export function registerGradients(program: Command): void {
  evalTextOptions(program.command('gradients'), { tokens: 4096, contextSize: 64 })
    .description('which directions at a hook matter downstream: the spectrum of per-token gradients of KL, CE or a reward (streamed d×d Gram, eigendecomposed), and how SAE decoder rows and encoder columns sit in the top gradient subspace (docs/gradients.md)')
    .addOption(listOption('--hook <names>', 'hooks (default: the --sae folders\' hooks)', anyString, { default: [], defaultText: 'the SAEs\' hooks' }))
    .option('--objective <o>', 'kl (Fisher form: see docs/gradients.md), ce (next-token cross-entropy) or reward (a reward model, with --pairs)', choice('--objective', GRADIENT_OBJECTIVES), 'kl')
    .option('--pairs <file>', 'preference pairs JSONL for --objective reward (each text a row)')
    .addOption(listOption('--sae <dir>', 'SAE folders whose decoder rows and encoder columns to score against the gradient subspace', anyString, { paths: true, default: [], defaultText: 'none' }))
    .option('--rank <r>', 'rank r of the gradient subspace (default: the effective rank at 99 % energy)', intFlag('--rank', 1))
    .option('--random-directions <n>', 'random directions for the baseline', countFlag('--random-directions'), 4096)
    .option('--seed <n>', 'seed of the KL samples and the random directions', intFlag('--seed', 0), 0)
    .requiredOption('--out <dir>', 'folder for gradients.json and the SVG plots')
    .option('--resume', 'continue an interrupted run from the checkpoint in --out (written every 30 s; same settings)')
    .option('--download', 'allow downloading --model from the hub')
    .addOption(modelDtypeOption())
    .addOption(streamOption())
    .addOption(deviceOption())
    .option('--json', 'print JSON')
    .action(async (_o: GradientsFlags, cmd: Command) => {
      const o = cmd.opts<GradientsFlags>();
      checkSaeDirs('--sae', o.sae);
      checkPath('--data', o.data);
      checkPath('--pairs', o.pairs);
      checkHooks(await checkModelSpec(o.model ?? defaultModel(), o.download), o.hook);
      const held = o.objective === 'reward' ? { skip: o.skipTokens ?? 0 } : chooseSkip(o.sae, o.data, o.skipTokens);
      if (o.objective !== 'reward') sayHeldOut(held as ReturnType<typeof chooseSkip>);
      checkOutputDir(o.out, '--out', { create: false });
      const device = await openDeviceFromFlag(o.device, !!o.json);
      const progress = batchProgress('gradients', !!o.json);
      try {
        const r = await gradientsRun({
          modelLoad: loadOptionsFromFlags(o),
          device, model: o.model, data: o.data, pairs: o.pairs, hooks: o.hook, objective: o.objective, tokens: o.tokens, skipTokens: held.skip, contextSize: o.contextSize,
          batchSize: o.batchSize, seed: o.seed, saes: o.sae, rank: o.rank, randomCount: o.randomDirections, out: resolve(o.out), download: o.download, resume: !!o.resume,
          onProgress: progress.onProgress, plots: { spectrum: gradientSpectrumSvg, alignment: alignmentSvg },
        });
        progress.stop();
        emit(!!o.json, r, () => {
          const f = (v: number) => v.toFixed(3);
          console.log(`${r.objective} gradients of ${r.model}: ${r.hooks[0]!.spectrum.tokens.toLocaleString('en-US')} tokens, ${r.seconds.toFixed(1)} s`);
          console.log(table(['hook', 'rank 90%', 'rank 99%', 'rank 99.9%', 'entropy rank', '<1e-3·σ1', 'E‖g‖²'], r.hooks.map((h) => {
            const s = h.spectrum;
            return [h.hook, String(s.effectiveRank['0.9']), String(s.effectiveRank['0.99']), String(s.effectiveRank['0.999']), s.entropyRank.toFixed(1), f(s.fractionBelow1e3), s.meanSquaredNorm.toExponential(2)];
          })));
          if (r.saes.length) {
            console.log(table(['SAE', 'hook', 'r', 'dec energy', 'enc energy', 'random', 'dec sens.', 'enc sens.'], r.saes.map((a) => [
              a.label, a.hook, String(a.rank), f(a.decoder.energy.mean), f(a.encoder.energy.mean), f(a.random.energy.mean), f(a.decoder.sensitivity.mean), f(a.encoder.sensitivity.mean),
            ])));
          }
          console.log(`report: ${r.json}; plots: ${r.plots.length} SVG in ${resolve(o.out)}`);
        });
      } finally {
        progress.stop();
        device.destroy();
      }
    });
}
