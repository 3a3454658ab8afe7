// `saelab generate`: continue a prompt with a causal LM — greedy at temperature 0, else seeded
// sampling (optionally top-k), so the same seed gives the same text. Streams the text to stdout as
// tokens come, or prints one JSON document with --json.

import type { Command } from 'commander';
import { generate, textStream, type GenerateResult } from '../../model/generate.js';
import { deviceOption, openDeviceFromFlag } from '../deviceOption.js';
import { UsageError } from '../errors.js';
import { emit } from '../output.js';
import { checkModelSpec } from '../inputChecks.js';
import { loadOptionsFromFlags, modelDtypeOption, streamOption } from '../modelLoadOptions.js';
import { intFlag } from '../flags.js';
import { openModel, type OpenedModel } from '../../model/openModel.js';
import { inputIds } from './forward.js';

export interface GenerateRequest {
  prompt: string;
  maxTokens: number;
  temperature?: number;
  topK?: number;
  seed?: number;
  /** Keep the last context-length tokens of a longer prompt instead of failing. */
  truncate?: boolean;
  /** Keep going past EOS (and, for models whose text starts with BOS, past BOS). */
  ignoreEos?: boolean;
  /** Receives the text as it is generated. */
  onText?: (s: string) => void;
  note?: (line: string) => void;
}

export interface GenerateReport extends Omit<GenerateResult, 'ids'> {
  model: string;
  prompt: string;
  promptIds: number[];
  ids: number[];
  /** The continuation's text (without the prompt). */
  text: string;
  temperature: number;
  topK: number | null;
  seed: number;
}

/** Continue `req.prompt` with an opened model (which must have a tokenizer). */
export async function runGenerate(opened: OpenedModel, req: GenerateRequest): Promise<GenerateReport> {
  const tok = opened.tokenizer!;
  const { model } = opened;
  let ids = tok.encode(req.prompt, { bos: tok.defaultBos });
  // An empty prompt for a tokenizer without a default BOS (GPT-2): start from BOS as HF generate does.
  if (ids.length === 0 && model.config.bosTokenId !== null) ids = [model.config.bosTokenId];
  const { ids: prompt } = inputIds(opened, { ids }, { truncate: req.truncate, note: req.note, what: '--prompt' });
  // A model whose documents start with BOS (llama2.c) marks the next document with it: run.c stops there.
  const stopIds = req.ignoreEos ? [] : [...new Set([tok.eosId ?? model.config.eosTokenId, tok.defaultBos ? tok.bosId : null].filter((x): x is number => x !== null))];
  const stream = textStream(tok, prompt);
  const temperature = req.temperature ?? 0;
  const seed = req.seed ?? 0;
  const r = await generate(model, prompt, {
    maxTokens: req.maxTokens, temperature, topK: req.topK, seed, stopIds,
    onToken: req.onText ? (id) => req.onText!(stream.push(id)) : undefined,
  });
  if (req.onText) req.onText(stream.flush());
  const text = tok.decode([...prompt, ...r.ids]).slice(tok.decode(prompt).length);
  return {
    model: opened.path, prompt: req.prompt, promptIds: [...prompt], ids: [...r.ids], text,
    stoppedBy: r.stoppedBy, stopId: r.stopId, temperature, topK: req.topK ?? null, seed,
  };
}

function temperatureFlag(s: string): number {
  const t = Number(s);
  if (s.trim() === '' || !Number.isFinite(t) || t < 0) throw new UsageError(`--temperature must be a number ≥ 0 (got '${s}')`);
  return t;
}

/** Register `saelab generate`. */
export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description('continue a prompt: greedy at temperature 0, else seeded sampling (same seed, same text)')
    .requiredOption('--model <model>', 'an HF model folder, a llama2.c .bin (tokenizer beside it), or a hub id in the HF cache')
    .requiredOption('--prompt <text>', 'the text to continue (BOS added as the model\'s tokenizer does by default)')
    .requiredOption('--max-tokens <n>', 'most tokens to generate', intFlag('--max-tokens', 1))
    .option('--temperature <t>', '0: greedy; else the softmax temperature', temperatureFlag, 0)
    .option('--top-k <k>', 'sample only among the k most likely tokens', intFlag('--top-k', 1))
    .option('--seed <s>', 'seed of the sampler', intFlag('--seed', 0), 0)
    .option('--ignore-eos', 'do not stop at the end-of-text token')
    .option('--truncate', 'keep the last context-length tokens of a longer prompt instead of failing')
    .option('--download', 'download the model from the hub when it is not local or cached')
    .addOption(deviceOption())
    .addOption(modelDtypeOption())
    .addOption(streamOption())
    .option('--json', 'print JSON')
    .action(async (o: { model: string; prompt: string; maxTokens: number; temperature: number; topK?: number; seed: number; ignoreEos?: boolean; truncate?: boolean; download?: boolean; device: string; modelDtype: string; stream?: boolean; json?: boolean }) => {
      const load = loadOptionsFromFlags(o);
      await checkModelSpec(o.model, o.download);
      const note = (line: string) => process.stderr.write(`${line}\n`);
      const device = await openDeviceFromFlag(o.device);
      const opened = await openModel(o.model, device, { download: o.download, needTokenizer: true, note, load });
      try {
        if (opened.model.config.head !== 'lm') throw new UsageError(`${opened.path} is a sequence classifier (a reward model): generate needs a causal LM`);
        const r = await runGenerate(opened, {
          prompt: o.prompt, maxTokens: o.maxTokens, temperature: o.temperature, topK: o.topK, seed: o.seed,
          ignoreEos: o.ignoreEos, truncate: o.truncate, note,
          onText: o.json ? undefined : (s) => process.stdout.write(s),
        });
        emit(!!o.json, r, () => process.stdout.write('\n'));
      } finally {
        opened.model.dispose();
        device.destroy();
      }
    });
}
