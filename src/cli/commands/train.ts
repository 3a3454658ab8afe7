// `saelab train`: argument parsing over `trainRun` (src/sae/trainRun.ts), a progress bar, Ctrl-C as
// a graceful stop (checkpoint, then `--resume` continues), and a --config JSON file whose keys are
// the flags' names (`d-sae` or `dSae`); flags given on the command line win over the file.
// Widths: `--d-sae N` trains one width, `--d-saes A,B` sweeps several (folders then carry `-d<width>`).
// Hooks: `--hook a,b` (with --loss e2e / e2e+ds) splices one SAE per hook in together and trains them
// jointly; folders go under `<out>/<hook>/`.

import { readFileSync } from 'node:fs';
import type { Command, Option } from 'commander';
import type { LrDecay } from '../../sae/schedule.js';
import { defaultModel, trainRun, TRAIN_DEFAULTS, type TrainRunOptions } from '../../sae/trainRun.js';
import { parseHookList, TRAIN_LOSSES, type TrainLoss } from '../../sae/trainOptions.js';
import type { SaeArchitecture } from '../../sae/types.js';
import { deviceOption, openDeviceFromFlag } from '../deviceOption.js';
import { UsageError } from '../errors.js';
import { gracefulStop } from '../interrupt.js';
import { intFlag, numFlag, countFlag, choice, listOption, countItem, numItem } from '../flags.js';
import { emit } from '../output.js';
import { checkHooks, checkModelSpec, checkPath, resolveSaeDirs } from '../inputChecks.js';
import { startProgress, type Progress } from '../progress.js';
import { loadOptionsFromFlags, modelDtypeOption, streamOption } from '../modelLoadOptions.js';

/** --init-encoder-scale: a finite number > 0 (a zero encoder gives every latent the same pre-activation). */
function positiveScale(s: string): number {
  const n = numFlag('--init-encoder-scale', 0)(s);
  if (n === 0) throw new UsageError(`--init-encoder-scale must be a number > 0 (got '${s}')`);
  return n;
}

/** Fill options not given on the command line from a --config JSON object (keys: flag names or their camelCase). */
export function applyConfigFile(cmd: Command, path: string): void {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`--config ${path}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UsageError(`--config ${path}: expected a JSON object of flag names to values`);
  const opts = cmd.options as readonly Option[];
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    const opt = opts.find((o) => o.attributeName() === key || o.long === `--${key}` || (o.negate && o.long === `--no-${key}`));
    if (!opt || key === 'config') throw new UsageError(`--config ${path}: unknown key "${key}" (keys are the flag names, e.g. "d-sae", "seeds", "arch")`);
    const name = opt.attributeName();
    if (cmd.getOptionValueSource(name) === 'cli') continue; // the command line wins
    let v: unknown;
    if (opt.isBoolean()) {
      if (typeof value !== 'boolean') throw new UsageError(`--config ${path}: "${key}" must be true or false`);
      v = value;
    } else {
      const text = Array.isArray(value) ? value.join(',') : String(value);
      v = opt.parseArg ? opt.parseArg(text, undefined) : text;
    }
    cmd.setOptionValueWithSource(name, v, 'config');
  }
}

interface TrainFlags {
  modelDtype?: string; stream?: boolean;
  model?: string; hook?: string; data?: string; store?: string; arch: SaeArchitecture; k?: number; l1?: number; ks?: number[]; l1s?: number[];
  dSae?: number; dSaes?: number[]; tokens: number; seeds: number[]; batchSize: number; lr: number; lrDecay: LrDecay; contextSize: number; out?: string; db?: string;
  resume?: boolean; checkpointEvery: number; logEvery: number; bDecInit: 'zeros' | 'mean' | 'geometric_median'; decoderUnitNorm?: boolean; initEncoderScale?: number; storeChunkRows?: number;
  normalize: boolean; sparsityTokens: number; deadTokens?: number; harvestBatchSize: number; bufferBatches: number; dataSeed: number; textField: string;
  prependBos: boolean; download?: boolean; device: string; json?: boolean; config?: string;
  loss: TrainLoss; rewardCoefficient?: number; rewardDifference?: boolean; klCoefficient?: number; localCoefficient?: number; downstream?: string; downstreamCoefficients?: number[]; initFrom?: string;
}

/** Register `saelab train`. */
export function registerTrain(program: Command): void {
  const D = TRAIN_DEFAULTS;
  program
    .command('train')
    .description('train SAEs (seeds × widths × ks or × l1s, one activation stream) on a hook of a model; saves SAELens folders, a JSONL log, the workspace db and resumable checkpoints')
    .option('--model <model>', 'an HF model folder, a llama2.c .bin or a hub id (default: ../shared/assets/models/gpt2-corpus-tiny when present, else gpt2 from the HF cache/hub)')
    .option('--hook <name>', 'hook to train on (default: blocks.⌊layers/2⌋.hook_resid_pre, i.e. blocks.3.hook_resid_pre for gpt2-corpus-tiny); with --loss e2e or e2e+ds, several separated by commas (e.g. blocks.1.hook_resid_pre,blocks.3.hook_resid_pre) are spliced in together and trained jointly, one SAE per hook per sweep point, saved as <out>/<hook>/<name>; --downstream then counts from the last of them')
    .option('--data <path>', 'corpus file or folder (default: ../shared/assets/corpora/mixed-public-domain.txt.xz when present)')
    .option('--store <dir>', 'train from a harvested activation store (saelab harvest) instead of streaming from the model')
    .option('--arch <arch>', 'topk, standard (ReLU + L1) or batchtopk', choice('--arch', ['topk', 'standard', 'batchtopk'] as const), 'topk')
    .option('--k <n>', `active latents per token for topk/batchtopk (default ${D.k})`, intFlag('--k', 1))
    .addOption(listOption('--ks <list>', 'several k values, e.g. 16,32 (one SAE each per seed)', countItem('--ks', 1)))
    .option('--l1 <x>', `L1 coefficient for standard (default ${D.l1})`, numFlag('--l1', 0))
    .addOption(listOption('--l1s <list>', 'several L1 coefficients, e.g. 1,5 (one SAE each per seed)', numItem('--l1s', 0)))
    .option('--d-sae <n>', 'latents per SAE (default 32 × d_in: 6144 for gpt2-corpus-tiny)', intFlag('--d-sae', 1))
    .addOption(listOption('--d-saes <list>', 'several widths, e.g. 1536,6144 (one SAE each per k/l1 per seed; folders named like topk-k32-d6144-s0); not with --d-sae', countItem('--d-saes', 1)))
    .option('--tokens <n>', 'tokens to train on, e.g. 500k or 20M; memory does not grow with it (--buffer-batches, --batch-size and d_sae set it)', countFlag('--tokens'), 20_000_000)
    .addOption(listOption('--seeds <list>', 'SAE initialisation seeds, e.g. 0,1,2', countItem('--seeds', 0), { default: [...D.seeds], defaultText: D.seeds.join(',') }))
    .option('--batch-size <n>', 'tokens per training step; memory grows with it: each SAE\'s encoder output is batch × d_sae floats (100 MB at 4096 × 6,144)', intFlag('--batch-size', 1), D.batchSize)
    .option('--lr <x>', 'Adam learning rate', numFlag('--lr', 0), D.lr)
    .option('--lr-decay <kind>', 'none, linear (over the last 20% of steps) or cosine', choice('--lr-decay', ['none', 'linear', 'cosine'] as const), 'linear')
    .option('--context-size <n>', 'tokens per window', intFlag('--context-size', 2), D.contextSize)
    .option('--b-dec-init <how>', 'geometric_median (of the first batches, normalised), mean or zeros', choice('--b-dec-init', ['geometric_median', 'mean', 'zeros'] as const), D.bDecInit)
    .option('--decoder-unit-norm', 'keep decoder rows at unit norm (default for topk and batchtopk)')
    .option('--no-decoder-unit-norm', 'do not (default for standard, whose L1 is weighted by the decoder norms)')
    .option('--init-encoder-scale <x>', 'norm of every encoder column at initialisation (default: topk/batchtopk 0.45 with unit decoder rows; standard 0.1 = its decoder rows, W_enc = W_decᵀ; docs/training.md)', positiveScale)
    .option('--no-normalize', 'do not scale activations to E‖x‖² = d_in (default: scale, factor in cfg.json)')
    .option('--out <dir>', 'output folder: SAE folders, train-log.jsonl, checkpoints/, saelab.db')
    .option('--db <file>', 'workspace database (default: <out>/saelab.db)')
    .option('--resume', 'continue from the newest checkpoint in <out>/checkpoints (same options; replays the harvest up to it)')
    .option('--checkpoint-every <n>', 'tokens between checkpoints, e.g. 2M', countFlag('--checkpoint-every'), D.checkpointEvery)
    .option('--log-every <n>', 'steps between log rows', intFlag('--log-every', 1), D.logEvery)
    .option('--sparsity-tokens <n>', 'sparsity.safetensors counts firings over the last this many tokens', countFlag('--sparsity-tokens'), D.sparsityTokens)
    .option('--dead-tokens <n>', 'a latent is dead after this many tokens without firing (AuxK, dead fraction), e.g. 10M (default 10M)', countFlag('--dead-tokens'))
    .option('--harvest-batch-size <n>', 'windows per model forward', intFlag('--harvest-batch-size', 1), D.harvestBatchSize)
    .option('--buffer-batches <n>', `shuffle buffer in batches: n × --batch-size rows of d_in float32 (default ${D.bufferBatches}: ${(D.bufferBatches * D.batchSize).toLocaleString('en-US')} rows, ${(D.bufferBatches * D.batchSize * 192 * 4) / 2 ** 20} MiB at d_in 192, ${(D.bufferBatches * D.batchSize * 768 * 4) / 2 ** 20} MiB at d_in 768); with --store it mixes chunks of 256 rows from all over the store (within 0.5 % of a full permutation, docs/training.md), and a buffer of at least the store's rows is a full permutation (the whole store in memory)`, intFlag('--buffer-batches', 2), D.bufferBatches)
    .option('--store-chunk-rows <n>', 'with --store: rows per chunk of the store\'s random chunk order (default 256)', intFlag('--store-chunk-rows', 1))
    .option('--data-seed <n>', 'seed of the shuffle (the same for every SAE)', intFlag('--data-seed', 0), D.dataSeed)
    .option('--text-field <name>', 'the field holding the text in JSON lines', 'text')
    .option('--no-prepend-bos', 'do not start each window with BOS')
    .option('--download', 'allow downloading --model from the hub')
    .option('--loss <objective>', 'local (MSE at the hook), e2e (KL(P_clean ‖ P_spliced) + sparsity), e2e+ds (e2e + downstream reconstruction) or reward (reward models: MSE + λ·reward change; --data is JSONL pairs); docs/training.md', choice('--loss', TRAIN_LOSSES), 'local')
    .option('--kl-coefficient <x>', `e2e: weight of the KL term (default ${D.klCoefficient})`, numFlag('--kl-coefficient', 0))
    .option('--local-coefficient <x>', `e2e: weight of an MSE term at the hook mixed in (default ${D.localCoefficient})`, numFlag('--local-coefficient', 0))
    .option('--downstream <hooks>', 'e2e+ds: all (every later hook_resid_post, the default), next, next:N, or hook names separated by commas')
    .addOption(listOption('--downstream-coefficients <list>', `e2e+ds: one weight for every downstream term or one per hook (default ${D.downstreamCoefficient})`, numItem('--downstream-coefficients', 0)))
    .option('--reward-coefficient <x>', `reward: weight λ of the reward term (default ${D.rewardCoefficient})`, numFlag('--reward-coefficient', 0))
    .option('--reward-difference', 'reward: preserve each pair\'s r(chosen) − r(rejected) instead of each reward')
    .option('--init-from <dir>', 'start every SAE from this SAE folder (same arch, d_in, d_sae, hook), e.g. a local SAE to fine-tune end to end; or hf:OWNER/REPO[/FOLDER][@REV], or a SAELens release RELEASE/SAE_ID')
    .option('--config <file>', 'a JSON file of options (keys as the flags: "d-sae", "seeds", …); flags override it')
    .addOption(modelDtypeOption())
    .addOption(streamOption())
    .addOption(deviceOption())
    .option('--json', 'print JSON')
    .action(async (_o: TrainFlags, cmd: Command) => {
      const o0 = cmd.opts<TrainFlags>();
      if (o0.config) applyConfigFile(cmd, o0.config);
      const o = cmd.opts<TrainFlags>();
      if (!o.out) throw new UsageError('--out <dir> is required (where the SAEs, log and checkpoints go)');
      if (o.dSae !== undefined && o.dSaes !== undefined) throw new UsageError('give --d-sae (one width) or --d-saes (several), not both');
      checkPath('--data', o.data);
      checkPath('--store', o.store, 'dir');
      // Without --model, trainRun may download its default (gpt2): a missing cache entry is not an error here.
      checkHooks(await checkModelSpec(o.model ?? (o.store ? undefined : defaultModel()), o.download || o.model === undefined), o.store || o.hook === undefined ? [] : (parseHookList(o.hook) ?? []));
      const initFrom = o.initFrom === undefined ? undefined : (await resolveSaeDirs('--init-from', [o.initFrom], { quiet: !!o.json })).dirs[0];
      const device = await openDeviceFromFlag(o.device, !!o.json);
      // Ctrl-C or SIGTERM: finish the step, checkpoint, mark the run aborted, exit 130/143; a second signal kills at once.
      const stop = gracefulStop('after this step (checkpointing)');
      // Created at the first step, once the run knows its total (after the model, hook and first batches check out).
      let bar = null as Progress | null;
      const req: TrainRunOptions = {
        device, model: o.model, hook: o.hook, data: o.data, store: o.store, arch: o.arch, k: o.k, ks: o.ks, l1: o.l1, l1s: o.l1s, dSae: o.dSae, dSaes: o.dSaes,
        tokens: o.tokens, seeds: o.seeds, batchSize: o.batchSize, lr: o.lr, lrDecay: o.lrDecay, contextSize: o.contextSize, out: o.out, db: o.db,
        resume: !!o.resume, checkpointEvery: o.checkpointEvery, logEvery: o.logEvery, bDecInit: o.bDecInit, decoderUnitNorm: o.decoderUnitNorm, encoderScale: o.initEncoderScale, storeChunkRows: o.storeChunkRows,
        normalize: o.normalize, sparsityTokens: o.sparsityTokens, deadTokensThreshold: o.deadTokens, harvestBatchSize: o.harvestBatchSize, bufferBatches: o.bufferBatches,
        dataSeed: o.dataSeed, textField: o.textField, prependBos: o.prependBos, download: o.download, modelLoad: loadOptionsFromFlags(o),
        loss: o.loss, klCoefficient: o.klCoefficient, localCoefficient: o.localCoefficient, downstream: o.downstream, downstreamCoefficients: o.downstreamCoefficients, initFrom,
        rewardCoefficient: o.rewardCoefficient, rewardDifference: o.rewardDifference,
      };
      try {
        const r = await trainRun(req, {
          signal: stop.signal,
          onNote: (line) => process.stderr.write(`${line}\n`),
          onProgress: (p) => {
            const e2e = o.loss !== 'local';
            bar ??= startProgress('train', p.totalTokens, { unit: 'tokens', quiet: !!o.json, fields: ['tokens_s', 'loss', ...(e2e ? ['KL'] : []), 'L0', 'dead'] });
            const f = (v: number | undefined, d: number) => (v === undefined ? '-' : v.toFixed(d));
            bar.update(p.tokens, { tokens_s: Math.round(p.tokensPerSecond), loss: f(p.loss, 3), ...(e2e ? { KL: f(p.kl, 4) } : {}), L0: f(p.l0, 1), dead: p.deadFraction === undefined ? '-' : `${(p.deadFraction * 100).toFixed(1)}%` });
          },
        });
        bar?.stop();
        emit(!!o.json, r, () => {
          if (r.aborted) {
            console.log(`stopped at step ${r.steps} of ${r.totalSteps}; checkpoint in ${r.out}/checkpoints — run the same command with --resume to continue`);
            return;
          }
          const resumed = r.resumedFromStep > 0 ? ` (resumed at step ${r.resumedFromStep})` : '';
          console.log(`${r.saes.length} SAE(s) on ${r.hooks.join(', ')}${r.hooks.length > 1 ? ' (trained jointly)' : ''} of ${r.model}: ${r.tokens.toLocaleString('en-US')} tokens, ${r.steps} steps${resumed}, ${r.seconds.toFixed(1)} s, ${Math.round(r.tokensPerSecond).toLocaleString('en-US')} tokens/s (harvest + train)`);
          for (const s of r.saes) console.log(`  ${s.path}  loss ${s.loss?.toFixed(4) ?? '-'}  L0 ${s.l0?.toFixed(1) ?? '-'}  dead ${s.deadFraction === null ? '-' : (s.deadFraction * 100).toFixed(1) + '%'}`);
          console.log(`log ${r.logFile}, workspace db ${r.db} (run ${r.runId})`);
        });
        if (r.aborted) stop.throwIfStopped();
      } finally {
        bar?.stop();
        stop.dispose();
        device.destroy();
      }
    });
}
