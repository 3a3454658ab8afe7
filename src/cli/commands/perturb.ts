// `saelab perturb`: argument parsing over `perturbRun` (src/analysis/perturbRun.ts) — KL and CE
// increase under random perturbations matched in cosine and norm, per hook, with SAE points —
// then a table or --json. Plots from src/report/perturbPlot.ts.

import { resolve } from 'node:path';
import type { Command } from 'commander';
import { perturbRun } from '../../analysis/perturbRun.js';
import { PerturbError } from '../../analysis/perturbation.js';
import { perturbCurveSvg, robustnessSvg } from '../../report/perturbPlot.js';
import { deviceOption, openDeviceFromFlag } from '../deviceOption.js';
import { evalTextOptions, sayHeldOut } from '../textOptions.js';
import { chooseSkip } from '../heldOut.js';
import { checkHooks, checkModelSpec, checkPath, resolveSaeDirs } from '../inputChecks.js';
import { defaultModel } from '../../sae/trainRun.js';
import { anyString, intFlag, listOption, numFlag, numItem } from '../flags.js';
import { emit, table } from '../output.js';
import { checkOutputDir } from '../../io/outputPaths.js';
import { batchProgress, formatDuration } from '../progress.js';
import type { PerturbPlan } from '../../analysis/perturbSweep.js';
import { loadOptionsFromFlags, modelDtypeOption, streamOption } from '../modelLoadOptions.js';

/** The cost of a sweep in one line: forwards × tokens. */
export function planLine(p: PerturbPlan): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const parts = [`1 clean`, `${p.hooks} hook${p.hooks > 1 ? 's' : ''} × ${p.targets} targets`, ...(p.saes ? [`2 × ${p.saes} SAE${p.saes > 1 ? 's' : ''}`] : [])];
  return `perturb: ${p.forwardsPerBatch} forwards per batch (${parts.join(' + ')}) × ${p.batches} batch${p.batches > 1 ? 'es' : ''} = ${n(p.forwards)} forwards of up to ${n(p.tokensPerForward)} tokens (${n(p.forwards * p.tokensPerForward)} token-forwards)`;
}

interface PerturbFlags {
  modelDtype?: string; stream?: boolean;
  model?: string; data?: string; hooks: string[]; sae: string[]; tokens: number; skipTokens?: number; contextSize?: number; batchSize: number; seed: number;
  targets?: number[]; normRatio: number; reference: number; out: string; download?: boolean; device: string; json?: boolean;
}

/** One --targets value: a 1 − cos in [0, 2). */
function targetItem(s: string): number {
  const x = Number(s);
  if (s.trim() === '' || !(x >= 0 && x < 2)) throw new PerturbError(`--targets must be 1 − cos values in [0, 2), i.e. cos in (−1, 1] (got '${s}')`);
  return x;
}

/** Register `saelab perturb`. */
export function registerPerturb(program: Command): void {
  evalTextOptions(program.command('perturb'), { tokens: 4096, contextSize: 64 })
    .description('is an SAE better than noise? KL(clean ‖ perturbed) and CE increase under random perturbations of matched cosine and norm, per hook, with each SAE\'s point and its token-matched random twin (docs/perturb.md)')
    .addOption(listOption('--hooks <names>', 'hooks to perturb; "all" = resid_pre, attn_out and mlp_out of every layer; "blocks.*.hook_attn_out" = that kind in every layer', anyString).makeOptionMandatory())
    .addOption(listOption('--sae <dir>', 'SAE folders to place on their hooks\' curves; or hf:OWNER/REPO[/FOLDER][@REV], or a SAELens release RELEASE/SAE_ID (downloaded into the HF cache)', anyString, { paths: true, default: [], defaultText: 'none' }))
    .addOption(listOption('--targets <list>', '1 − cos values to sweep (default: 9 log-spaced from 1e-4 to 0.5)', targetItem))
    .option('--norm-ratio <r>', '‖x′‖/‖x‖ of the swept perturbations', numFlag('--norm-ratio', 0), 1)
    .option('--reference <x>', 'the 1 − cos at which the layer-robustness summary reads KL', numFlag('--reference', 0), 0.01)
    .option('--seed <n>', 'seed of the random directions', intFlag('--seed', 0), 0)
    .requiredOption('--out <dir>', 'folder for perturb.json and the SVG plots')
    .option('--download', 'allow downloading --model from the hub')
    .addOption(modelDtypeOption())
    .addOption(streamOption())
    .addOption(deviceOption())
    .option('--json', 'print JSON')
    .action(async (_o: PerturbFlags, cmd: Command) => {
      const o = cmd.opts<PerturbFlags>();
      const targets = o.targets;
      const { dirs: saes } = await resolveSaeDirs('--sae', o.sae, { quiet: !!o.json });
      checkPath('--data', o.data);
      checkHooks(await checkModelSpec(o.model ?? defaultModel(), o.download), o.hooks);
      const held = chooseSkip(saes, o.data, o.skipTokens);
      sayHeldOut(held);
      checkOutputDir(o.out, '--out', { create: false });
      const device = await openDeviceFromFlag(o.device, !!o.json);
      const progress = batchProgress('perturb', !!o.json, 'forwards');
      const say = (line: string) => {
        if (!o.json) process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[K' : ''}${line}\n`);
      };
      let plan: PerturbPlan | null = null;
      let tPlan = 0;
      try {
        const r = await perturbRun({
          modelLoad: loadOptionsFromFlags(o),
          device, model: o.model, data: o.data, hooks: o.hooks, saes, tokens: o.tokens, skipTokens: held.skip, contextSize: o.contextSize, batchSize: o.batchSize,
          seed: o.seed, targets, normRatio: o.normRatio, reference: o.reference, out: resolve(o.out), download: o.download,
          plots: { curve: perturbCurveSvg, robustness: robustnessSvg },
          onPlan: (p) => {
            plan = p;
            tPlan = performance.now();
            say(planLine(p));
          },
          onProgress: (done, total) => {
            progress.onProgress(done, total);
            if (plan && done === plan.forwardsPerBatch && plan.batches > 1) {
              const s = (performance.now() - tPlan) / 1000;
              say(`perturb: the first batch took ${formatDuration(s)}, so about ${formatDuration(s * plan.batches)} for all ${plan.batches} batches`);
            }
          },
        });
        progress.stop();
        emit(!!o.json, r, () => {
          const f = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toExponential(2));
          console.log(`${r.hooks.length} hook(s) of ${r.model}: ${r.tokens.toLocaleString('en-US')} tokens, ${r.seconds.toFixed(1)} s`);
          console.log(table(['hook', `KL at 1−cos=${r.reference}`, ...r.hooks[0]!.curve.map((p) => `KL@${p.oneMinusCos.toPrecision(2)}`)], r.hooks.map((h) => [h.hook, f(h.klAtReference), ...h.curve.map((p) => f(p.kl.mean))])));
          const pts = r.hooks.flatMap((h) => h.saes.map((s) => [s.label, h.hook, f(s.oneMinusCos), f(s.kl.mean), f(s.randomMatched.kl.mean), (s.kl.mean / s.randomMatched.kl.mean).toFixed(2)]));
          if (pts.length) console.log(table(['SAE', 'hook', '1−cos', 'KL SAE', 'KL random matched', 'SAE/random'], pts));
          console.log(`report: ${r.json}; plots: ${r.plots.length} SVG in ${resolve(o.out)}`);
        });
      } finally {
        progress.stop();
        device.destroy();
      }
    });
}
