// `saelab connect`: argument parsing over `connectRun` (src/analysis/connectRun.ts) — which earlier
// SAE features drive each later feature (gradient × activation through the blocks in between, the
// earlier SAE's error term as a node, the strongest edges checked by exact ablation) — then a table
// or --json. The top-k edges per later feature go to the workspace database.

import { resolve } from 'node:path';
import type { Command } from 'commander';
import { connectRun } from '../../analysis/connectRun.js';
import { checkOutputDir } from '../../io/outputPaths.js';
import { deviceOption, openDeviceFromFlag } from '../deviceOption.js';
import { anyString, countFlag, countItem, intFlag, listOption } from '../flags.js';
import { chooseSkip } from '../heldOut.js';
import { checkModelSpec, checkPath, checkSaeDirs } from '../inputChecks.js';
import { emit, table } from '../output.js';
import { batchProgress } from '../progress.js';
import { evalTextOptions, sayHeldOut } from '../textOptions.js';
import { loadOptionsFromFlags, modelDtypeOption, streamOption } from '../modelLoadOptions.js';

interface ConnectFlags {
  modelDtype?: string; stream?: boolean;
  model?: string; data?: string; sae: string[]; tokens: number; skipTokens?: number; contextSize?: number; batchSize: number; features?: number[]; topFeatures: number;
  topK: number; checkEdges: number; out: string; db?: string; download?: boolean; device: string; json?: boolean; resume?: boolean;
}

/** Register `saelab connect`. */
export function registerConnect(program: Command): void {
  evalTextOptions(program.command('connect'), { tokens: 4096, contextSize: 64 })
    .description('which features of an earlier SAE drive each feature of a later one: gradient × activation through the blocks in between, with the earlier SAE\'s error as its own node and exact ablation of the strongest edges (docs/gradients.md)')
    .addOption(listOption('--sae <dir>', 'the earlier SAE folder, then the later one', anyString, { paths: true }).makeOptionMandatory())
    .addOption(listOption('--features <list>', 'later features to attribute (default: the --top-features most active)', countItem('--features', 0)))
    .option('--top-features <n>', 'later features to attribute when --features is not given', countFlag('--top-features'), 64)
    .option('--top-k <n>', 'edges kept per later feature', countFlag('--top-k'), 10)
    .option('--check-edges <n>', 'strongest edges checked by exact ablation', intFlag('--check-edges', 0), 8)
    .requiredOption('--out <dir>', 'folder for connect.json')
    .option('--db <file>', 'workspace database (default: saelab.db next to the earlier SAE folder)')
    .option('--resume', 'continue an interrupted run from the checkpoint in --out (written every 30 s; same settings)')
    .option('--download', 'allow downloading --model from the hub')
    .addOption(modelDtypeOption())
    .addOption(streamOption())
    .addOption(deviceOption())
    .option('--json', 'print JSON')
    .action(async (_o: ConnectFlags, cmd: Command) => {
      const o = cmd.opts<ConnectFlags>();
      checkSaeDirs('--sae', o.sae);
      checkPath('--data', o.data);
      if (o.model) await checkModelSpec(o.model, o.download);
      const held = chooseSkip(o.sae, o.data, o.skipTokens);
      sayHeldOut(held);
      checkOutputDir(o.out, '--out', { create: false });
      const device = await openDeviceFromFlag(o.device, !!o.json);
      const progress = batchProgress('connect', !!o.json);
      try {
        const r = await connectRun({
          modelLoad: loadOptionsFromFlags(o),
          device, saes: o.sae, model: o.model, data: o.data, tokens: o.tokens, skipTokens: held.skip, contextSize: o.contextSize, batchSize: o.batchSize,
          features: o.features, topFeatures: o.topFeatures, topK: o.topK, checkEdges: o.checkEdges, out: resolve(o.out), db: o.db, download: o.download, resume: !!o.resume, onProgress: progress.onProgress,
        });
        progress.stop();
        emit(!!o.json, r, () => {
          const f = (v: number) => v.toExponential(2);
          const src = (s: number) => (s < 0 ? 'error' : String(s));
          console.log(`${r.early.label} (${r.early.hook}) → ${r.late.label} (${r.late.hook}): ${r.tokens.toLocaleString('en-US')} tokens, ${r.features.length} later features, ${r.seconds.toFixed(1)} s`);
          console.log(table(['later', 'fires', 'top edges (source: attribution per firing)'], r.features.slice(0, 20).map((x) => [String(x.feature), String(x.fires), x.edges.slice(0, 4).map((e) => `${src(e.source)}: ${f(e.perFiring)}`).join('  ')])));
          if (r.checks.length) console.log(table(['edge', 'linear', 'exact ablation'], r.checks.map((c) => [`${c.source} → ${c.target}`, f(c.linear), f(c.exact)])));
          console.log(`report: ${r.json}${r.db ? `; database: ${r.db} (run ${r.runId})` : ''}`);
        });
      } finally {
        progress.stop();
        device.destroy();
      }
    });
}
