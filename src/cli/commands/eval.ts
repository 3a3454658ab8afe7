// `saelab eval`: argument parsing over `evalRun` (src/eval/evalRun.ts), then the SVG plots
// (firing-density histogram per SAE, CE increase per position) and a table or --json. Several
// --sae folders in one call share the clean (and ablation) forward passes.

import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { evalRun, type EvalRunReport } from '../../eval/evalRun.js';
import { EVAL_BATCH_SIZE } from '../../eval/evalSae.js';
import { writeFileAtomic } from '../../io/atomicWrite.js';
import { checkOutputDir } from '../../io/outputPaths.js';
import { workspaceDbPath } from '../../io/workspaceDb.js';
import { densityHistogramSvg } from '../../report/densityHistogram.js';
import { ceIncreaseByPositionSvg } from '../../report/positionPlot.js';
import { deviceOption, openDeviceFromFlag } from '../deviceOption.js';
import { UsageError } from '../errors.js';
import { anyString, countFlag, intFlag, listOption, numFlag } from '../flags.js';
import { emit, table } from '../output.js';
import { batchProgress } from '../progress.js';
import { chooseSkip } from '../heldOut.js';
import { checkHooks, checkModelSpec, checkPath, resolveSaeDirs } from '../inputChecks.js';
import { sayHeldOut } from '../textOptions.js';
import { loadOptionsFromFlags, modelDtypeOption, streamOption } from '../modelLoadOptions.js';

interface EvalFlags {
  sae: string[]; model?: string; data?: string; hook?: string; tokens: number; skipTokens?: number; contextSize?: number; batchSize: number;
  denseThreshold: number; out?: string; db?: string; prependBos: boolean; textField: string; download?: boolean; device: string; json?: boolean; downstream?: string; modelDtype?: string; stream?: boolean;
}

/** A label as a file-name stem. */
function stem(label: string): string {
  return label.replace(/[^A-Za-z0-9._-]+/g, '_');
}

/** Write the plots of a report into `out`; returns the paths by SAE label and the shared plot. */
export async function writeEvalPlots(r: EvalRunReport, out: string): Promise<{ density: Record<string, string>; ceIncreaseByPosition: string | null }> {
  await mkdir(out, { recursive: true });
  const density: Record<string, string> = {};
  for (const s of r.saes) {
    const p = join(out, `${stem(s.label)}-density.svg`);
    await writeFileAtomic(p, densityHistogramSvg({ label: s.label, log10Frequencies: s.log10Frequencies, tokens: s.metrics.tokens, deadCount: s.metrics.dead_count }));
    density[s.label] = p;
  }
  let ce: string | null = null;
  if (r.head === 'lm') {
    ce = join(out, 'ce-increase-by-position.svg');
    await writeFileAtomic(ce, ceIncreaseByPositionSvg(r.saes));
  }
  return { density, ceIncreaseByPosition: ce };
}

/** Register `saelab eval`. */
export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('evaluate SAEs spliced into a model on held-out text: the metrics of docs/metrics.md (L0, MSE, FVU, CE loss recovered, KL, …), SVG plots and a workspace-db row')
    .addOption(listOption('--sae <dir>', 'SAE folders (SAELens, sparsify or dictionary_learning); or hf:OWNER/REPO[/FOLDER][@REV], or a SAELens release RELEASE/SAE_ID (downloaded into the HF cache); several share the clean forward passes', anyString, { paths: true }).makeOptionMandatory())
    .option('--model <model>', "model folder or hub id (default: the SAE's model when it is here: its saelab_model_path, else model_name in the HF cache; else ../shared/assets/models/gpt2-corpus-tiny)")
    .option('--data <path>', 'held-out text (file or folder; for a reward model, JSONL preference pairs {chosen, rejected}) (default: the shared corpus)')
    .option('--hook <name>', "hook to splice every SAE into (default: each SAE's metadata.hook_name)")
    .option('--tokens <n>', 'evaluated tokens (BOS and padding not counted), e.g. 20k', countFlag('--tokens'), 16_384)
    .option('--skip-tokens <n>', 'skip this many stream tokens (reward model: pairs) of the data first (default: the tokens of this data the SAEs trained on, from their cfg.json; else 0)', countFlag('--skip-tokens', 0))
    .option('--context-size <n>', "tokens per window (default: the SAE's metadata.context_size, else 128)", intFlag('--context-size', 2))
    .option('--batch-size <n>', `windows per forward; peak memory grows with it, not with --tokens (~110 MB a 128-token window of a 50,257-token vocabulary: peak RSS 340–460 MB at 1 on gpt2-corpus-tiny, 603 MB at 2, 1.6 GB at 8)`, intFlag('--batch-size', 1), EVAL_BATCH_SIZE)
    .option('--downstream <hooks>', 'also the reconstruction error at later residual hooks with each SAE spliced in: all (every later hook_resid_post), next, next:N, or hook names separated by commas (Braun et al.: e2e SAEs keep the output, not the layers in between)')
    .option('--dense-threshold <x>', 'a latent firing on more than this fraction of tokens is dense', numFlag('--dense-threshold', 0), 0.1)
    .option('--out <dir>', 'folder for the SVG plots (default: eval/ beside the first --sae folder, e.g. runs/x/eval for runs/x/topk-k32-s0; ./eval for an SAE from the hub)')
    .option('--db <file>', 'workspace database (default: saelab.db beside the first --sae folder, e.g. runs/x/saelab.db for runs/x/topk-k32-s0 — the train --out database; ./saelab.db for an SAE from the hub)')
    .option('--no-prepend-bos', 'do not start each window with BOS')
    .option('--text-field <name>', 'the field holding the text in JSON lines', 'text')
    .option('--download', 'allow downloading --model from the hub')
    .addOption(modelDtypeOption())
    .addOption(streamOption())
    .addOption(deviceOption())
    .option('--json', 'print JSON (metrics by their docs/metrics.md names)')
    .action(async (_o: EvalFlags, cmd: Command) => {
      const o = cmd.opts<EvalFlags>();
      if (o.sae.length === 0) throw new UsageError('--sae <dir> is required');
      const { dirs: saes, fromHub } = await resolveSaeDirs('--sae', o.sae, { quiet: !!o.json });
      // The plot folder is checked before the work (the default sits beside the first SAE, or in
      // the current folder for an SAE from the hub: the HF cache is not a workspace).
      const home = fromHub[0] ? process.cwd() : dirname(resolve(saes[0]!));
      const outDir = resolve(o.out ?? join(home, 'eval'));
      checkOutputDir(outDir, '--out', { create: false });
      checkPath('--data', o.data);
      checkHooks(await checkModelSpec(o.model, o.download), [o.hook]);
      const held = chooseSkip(saes, o.data, o.skipTokens);
      sayHeldOut(held);
      const device = await openDeviceFromFlag(o.device, !!o.json);
      const progress = batchProgress('eval', !!o.json);
      try {
        const r = await evalRun({
          modelLoad: loadOptionsFromFlags(o),
          device, saes, model: o.model, data: o.data, hook: o.hook, tokens: o.tokens, skipTokens: held.skip, contextSize: o.contextSize,
          batchSize: o.batchSize, denseThreshold: o.denseThreshold, downstream: o.downstream, db: o.db ?? (fromHub[0] ? workspaceDbPath(home) : undefined), prependBos: o.prependBos, textField: o.textField, download: o.download,
          onProgress: progress.onProgress,
        });
        progress.stop();
        const out = outDir;
        const plots = await writeEvalPlots(r, out);
        const json = {
          spec: 'docs/metrics.md', model: r.model, data: r.data, head: r.head, tokens: r.tokens, windows: r.windows, contextSize: r.contextSize, skipTokens: r.skipTokens,
          seconds: r.seconds, db: r.db, runId: r.runId, plots: { ceIncreaseByPosition: plots.ceIncreaseByPosition },
          saes: r.saes.map((s) => ({ label: s.label, path: s.path, hook: s.hook, architecture: s.architecture, dIn: s.dIn, dSae: s.dSae, cfg: s.cfg, metrics: s.metrics, checks: s.checks, ...(s.downstream ? { downstream: s.downstream } : {}), plots: { density: plots.density[s.label] } })),
        };
        emit(!!o.json, json, () => {
          console.log(`${r.saes.length} SAE(s) on ${r.model}: ${r.tokens.toLocaleString('en-US')} tokens in ${r.windows} windows of ${r.contextSize}, ${r.seconds.toFixed(1)} s`);
          const f = (v: number | undefined, d: number) => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(d));
          if (r.head === 'lm') {
            console.log(table(['SAE', 'hook', 'L0', 'MSE', 'FVU', 'cos', 'CE clean', 'CE sae', 'CE zero', 'CE rec', 'KL sae', 'alive'],
              r.saes.map((s) => { const m = s.metrics; return [s.label, s.hook, f(m.l0, 1), f(m.mse, 3), f(m.fvu, 4), f(m.cosine, 3), f(m.ce_clean, 4), f(m.ce_sae, 4), f(m.ce_zero_ablation, 3), f(m.ce_loss_recovered, 4), f(m.kl_sae, 4), f(m.alive_fraction, 3)]; })));
          } else {
            console.log(table(['SAE', 'hook', 'L0', 'FVU', 'reward clean', 'reward sae', '|Δ reward|', 'pair diff clean', 'pair diff sae'],
              r.saes.map((s) => { const m = s.metrics; return [s.label, s.hook, f(m.l0, 1), f(m.fvu, 4), f(m.reward_clean, 4), f(m.reward_sae, 4), f(m.reward_abs_delta, 4), f(m.pair_diff_clean, 4), f(m.pair_diff_sae, 4)]; })));
          }
          const down = r.saes.flatMap((s) => (s.downstream ?? []).map((d) => [s.label, d.hook, f(d.relative_error, 4), f(d.fvu, 4), f(d.cosine, 3)]));
          if (down.length > 0) {
            console.log('reconstruction with the SAE spliced in, at its hook and downstream (relative error = Σ‖spliced − clean‖² / Σ‖clean‖²):');
            console.log(table(['SAE', 'hook', 'rel. error', 'FVU', 'cos'], down));
          }
          console.log(`plots in ${out}; workspace db ${r.db ?? '-'} (run ${r.runId ?? '-'})`);
        });
      } finally {
        progress.stop();
        device.destroy();
      }
    });
}
