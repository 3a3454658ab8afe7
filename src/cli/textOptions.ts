// The options of commands that run a model over evaluation text (perturb, prune): which model and
// text, how many tokens after skipping how many, in windows of what length, batched how.

import type { Command } from 'commander';
import { countFlag, intFlag } from './flags.js';
import type { HeldOutChoice } from './heldOut.js';

/** Print the held-out choice's line on stderr (a warning even with --json: it changes what the numbers mean). */
export function sayHeldOut(h: HeldOutChoice): void {
  if (h.warning) process.stderr.write(`${h.warning}\n`);
  if (h.note) process.stderr.write(`${h.note}\n`);
}

/** Add --model, --data, --tokens, --skip-tokens, --context-size and --batch-size to `cmd` (defaults: tokens and context size as given). */
export function evalTextOptions(cmd: Command, d: { tokens: number; contextSize: number }): Command {
  return cmd
    .option('--model <model>', 'model folder or hub id (default: ../shared/assets/models/gpt2-corpus-tiny)')
    .option('--data <path>', 'text, a file or folder (default: the shared corpus)')
    .option('--tokens <n>', `evaluated tokens (BOS not counted), e.g. ${d.tokens / 1024}k`, countFlag('--tokens'), d.tokens)
    .option('--skip-tokens <n>', 'skip this many stream tokens of the data first (default: the tokens of this data the SAEs trained on, from their cfg.json; else 0)', countFlag('--skip-tokens', 0))
    .option('--context-size <n>', `tokens per window (default ${d.contextSize})`, intFlag('--context-size', 2))
    .option('--batch-size <n>', 'windows per forward', intFlag('--batch-size', 1), 8);
}
