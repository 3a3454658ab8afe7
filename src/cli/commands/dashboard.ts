// `saelab dashboard`: argument parsing over `buildDashboard` (src/report/dashboardBuild.ts), a
// progress bar, Ctrl-C as a graceful stop (checkpoint, then `--resume` continues), and
// `--neuronpedia FILE` to also export the dashboard in Neuronpedia's batch JSON format.

import type { Command } from 'commander';
import { buildDashboard, DASHBOARD_DEFAULTS } from '../../report/dashboardBuild.js';
import { exportNeuronpedia } from '../../report/neuronpediaExport.js';
import { checkOutputFile } from '../../io/outputPaths.js';
import { deviceOption, openDeviceFromFlag } from '../deviceOption.js';
import { UsageError } from '../errors.js';
import { gracefulStop } from '../interrupt.js';
import { countFlag, intFlag } from '../flags.js';
import { emit } from '../output.js';
import { checkModelSpec, checkPath, resolveSaeDirs } from '../inputChecks.js';
import { startProgress, type Progress } from '../progress.js';

interface DashboardFlags {
  sae?: string; model?: string; data?: string; tokens: number; db?: string; hook?: string; contextSize?: number; batchSize: number;
  topK: number; window: number; reservoir: number; logitK: number; neighbours: number; seed: number; resume?: boolean;
  checkpointEvery: number; textField: string; neuronpedia?: string; device: string; json?: boolean;
}

/** Register `saelab dashboard`. */
export function registerDashboard(program: Command): void {
  const D = DASHBOARD_DEFAULTS;
  program
    .command('dashboard')
    .description('feature dashboards of an SAE: one pass over N tokens (top-k contexts, quantile samples, histograms, density) plus logit effects and neighbours, into the workspace database (see docs/dashboard.md)')
    .option('--sae <dir>', 'the SAE folder (SAELens layout, or any folder saelab can load); or hf:OWNER/REPO[/FOLDER][@REV], or a SAELens release RELEASE/SAE_ID (downloaded into the HF cache)')
    .option('--model <model>', "model folder or hub id (default: the SAE's model when it is here: its saelab_model_path, else model_name in the HF cache; else ../shared/assets/models/gpt2-corpus-tiny)")
    .option('--data <path>', "corpus file or folder (default: the SAE's dataset_path, else the shared corpus)")
    .option('--tokens <n>', 'tokens to run over, e.g. 200k or 1M (whole windows); memory does not grow with it', countFlag('--tokens'), 1_000_000)
    .option('--db <file>', 'workspace database (default: saelab.db in the SAE folder or its parent)')
    .option('--hook <name>', "hook the SAE reads (default: the SAE's cfg.json hook_name)")
    .option('--context-size <n>', "tokens per window (default: the SAE's context_size, else 128)", intFlag('--context-size', 2))
    .option('--batch-size <n>', 'windows per model forward; memory grows with it: a batch\'s SAE code is windows × context × d_sae floats (25 MB at 8 × 128 × 6,144)', intFlag('--batch-size', 1), D.batchSize)
    .option('--top-k <n>', 'top activating examples kept per feature', intFlag('--top-k', 1), D.topK)
    .option('--window <n>', 'context tokens on each side of the firing token', intFlag('--window', 0), D.window)
    .option('--reservoir <n>', 'firing examples sampled per feature (quantile samples come from these); with --top-k and --window it sets the per-feature statistics\' memory, ~8 × (top-k + reservoir) × (2·window + 1) bytes a feature (60 MB for 6,144 features at the defaults)', intFlag('--reservoir', 1), D.reservoir)
    .option('--logit-k <n>', 'boosted and suppressed tokens per feature', intFlag('--logit-k', 1), D.logitK)
    .option('--neighbours <n>', 'nearest features by decoder cosine', intFlag('--neighbours', 0), D.neighbours)
    .option('--seed <n>', 'seed of the reservoir sampling', intFlag('--seed', 0), D.seed)
    .option('--resume', 'continue the unfinished dashboard of this SAE with the same options from its checkpoint')
    .option('--checkpoint-every <n>', 'windows between checkpoints', intFlag('--checkpoint-every', 1), D.checkpointEvery)
    .option('--text-field <name>', 'the field holding the text in JSON lines', 'text')
    .option('--neuronpedia <file>', "also write the dashboard in Neuronpedia's batch JSON format")
    .addOption(deviceOption())
    .option('--json', 'print JSON')
    .action(async (_o: DashboardFlags, cmd: Command) => {
      const o = cmd.opts<DashboardFlags>();
      if (!o.sae) throw new UsageError('--sae <dir> is required (the SAE folder)');
      const sae = (await resolveSaeDirs('--sae', [o.sae], { quiet: !!o.json })).dirs[0]!;
      checkPath('--data', o.data);
      await checkModelSpec(o.model);
      if (o.neuronpedia !== undefined) checkOutputFile(o.neuronpedia, '--neuronpedia');
      const device = await openDeviceFromFlag(o.device, !!o.json);
      // Ctrl-C or SIGTERM: finish the batch, checkpoint, exit 130/143; a second signal kills at once.
      const stop = gracefulStop('after this batch (checkpointing)');
      let bar = null as Progress | null;
      let phase = '';
      try {
        const r = await buildDashboard(
          {
            device, sae, model: o.model, data: o.data, tokens: o.tokens, db: o.db, hook: o.hook, contextSize: o.contextSize, batchSize: o.batchSize,
            topK: o.topK, window: o.window, reservoir: o.reservoir, logitK: o.logitK, neighbours: o.neighbours, seed: o.seed, resume: !!o.resume,
            checkpointEvery: o.checkpointEvery, textField: o.textField, signal: stop.signal,
          },
          {
            onNote: (line) => process.stderr.write(line + '\n'),
            onProgress: (p) => {
              bar ??= startProgress('dashboard', p.totalWindows, { unit: 'windows', quiet: !!o.json, fields: ['tokens_s'] });
              bar.update(p.windows, { tokens_s: Math.round(p.tokensPerSecond) });
            },
            // After the pass: one bar per weight-only phase (logit effects take ~50 s on a 2-core CPU).
            onWeightsProgress: (p) => {
              if (phase !== p.phase) {
                bar?.stop();
                bar = startProgress(p.phase, p.total, { unit: 'features', quiet: !!o.json });
                phase = p.phase;
              }
              bar!.update(p.done);
            },
          },
        );
        bar?.stop();
        let neuronpedia: string | null = null;
        if (o.neuronpedia && !r.aborted) neuronpedia = await exportNeuronpedia({ db: r.db, dashboardId: r.dashboardId, out: o.neuronpedia });
        emit(!!o.json, { ...r, neuronpedia }, () => {
          if (r.aborted) {
            console.log(`stopped after ${r.windows} windows; run the same command with --resume to continue`);
            return;
          }
          console.log(`dashboard ${r.dashboardId} of ${r.sae}: ${r.dSae} features (${r.aliveFeatures} fired) over ${r.tokens.toLocaleString('en-US')} tokens of ${r.data}`);
          console.log(`pass ${r.passSeconds.toFixed(1)} s, logit effects + neighbours ${r.weightsSeconds.toFixed(1)} s, write ${r.writeSeconds.toFixed(1)} s; workspace db ${r.db}`);
          if (neuronpedia) console.log(`neuronpedia batch JSON ${neuronpedia}`);
          console.log(`view: saelab serve --db ${r.db}`);
        });
        if (r.aborted) stop.throwIfStopped();
      } finally {
        bar?.stop();
        stop.dispose();
        device.destroy();
      }
    });
}
