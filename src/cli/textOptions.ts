// The options of commands that run a model over evaluation text (perturb, prune): which model and
// text, how many tokens after skipping how many, in windows of what length, batched how.

import type { Command } from 'commander';
import { countFlag, intFlag } from './flags.js';

/** Add --model, --data, --tokens, --skip-tokens, --context-size and --batch-size to `cmd` (defaults: tokens and context size as given). */
export function evalTextOptions(cmd: Command, d: { tokens: number; contextSize: number }): Command {
  return cmd
    .option('--model <model>', 'model folder or hub id (default: ../shared/assets/models/gpt2-corpus-tiny)')
    .option('--data <path>', 'text, a file or folder (default: the shared corpus)')
    .option('--tokens <n>', `evaluated tokens (BOS not counted), e.g. ${d.tokens / 1024}k`, countFlag('--tokens'), d.tokens)
    .option('--skip-tokens <n>', 'skip this many stream tokens of the data first (e.g. the text the SAEs trained on)', countFlag('--skip-tokens'), 0)
    .option('--context-size <n>', `tokens per window (default ${d.contextSize})`, intFlag('--context-size', 2))
    .option('--batch-size <n>', 'windows per forward', intFlag('--batch-size', 1), 8);
}
