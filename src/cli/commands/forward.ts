// `saelab forward`: one forward pass on a text or on token ids — the next-token distribution after
// the last position (or a reward model's rewards), and optionally chosen hook values saved to a
// safetensors file under their hook names: the quickest look inside a model, and a way to hand
// activations to other tools.

import type { Command } from 'commander';
import type { Device } from '../../compute/device.js';
import type { Tensor } from '../../compute/tensor.js';
import { checkOutputFile } from '../../io/outputPaths.js';
import { writeSafetensors, type TensorToWrite } from '../../io/safetensorsWrite.js';
import { openModel, type OpenedModel } from '../../model/openModel.js';
import type { Tokenizer } from '../../model/tokenizers/index.js';
import { SAELAB_VERSION } from '../../version.js';
import { deviceOption, openDeviceFromFlag } from '../deviceOption.js';
import { UsageError } from '../errors.js';
import { anyString, intFlag, listOption } from '../flags.js';
import { emit, table } from '../output.js';
import { checkHooks, checkModelSpec } from '../inputChecks.js';
import { loadOptionsFromFlags, modelDtypeOption, streamOption } from '../modelLoadOptions.js';

/** Parse `--ids 1,2,3` into token ids. */
export function parseIds(s: string): number[] {
  const parts = s.split(/[\s,]+/).filter((p) => p !== '');
  const ids = parts.map(Number);
  const bad = parts.findIndex((p, i) => !/^\d+$/.test(p) || !Number.isSafeInteger(ids[i]));
  if (parts.length === 0 || bad >= 0) throw new UsageError(`--ids expects comma-separated non-negative integers (got '${parts[bad] ?? s}')`);
  return ids;
}

/**
 * The input ids: `ids` as given, or `text` through the tokenizer (with BOS when the model's own
 * tokenizer adds one by default). Longer than the context: an error, or with `truncate` the last nCtx
 * tokens (said through `note`).
 */
export function inputIds(
  opened: OpenedModel,
  input: { text?: string; ids?: number[] },
  opts: { truncate?: boolean; note?: (line: string) => void; what?: string } = {},
): { ids: Int32Array; truncatedFrom: number | null } {
  const what = opts.what ?? (input.text !== undefined ? '--text' : '--ids');
  let ids: number[];
  if (input.ids !== undefined) ids = input.ids;
  else {
    const tok = opened.tokenizer;
    if (!tok) throw new UsageError(`${what}: the model has no tokenizer; pass --ids`);
    ids = tok.encode(input.text ?? '', { bos: tok.defaultBos });
  }
  if (ids.length === 0) throw new UsageError(`${what} gives no tokens`);
  const nCtx = opened.model.config.nCtx;
  if (ids.length <= nCtx) return { ids: Int32Array.from(ids), truncatedFrom: null };
  if (!opts.truncate) throw new UsageError(`${what} is ${ids.length} tokens, longer than the model's context of ${nCtx} tokens (pass --truncate to keep the last ${nCtx})`);
  opts.note?.(`${what} is ${ids.length} tokens: truncated to the last ${nCtx} (the model's context)`);
  return { ids: Int32Array.from(ids.slice(ids.length - nCtx)), truncatedFrom: ids.length };
}

export interface NextToken {
  id: number;
  /** The token's text (null without a tokenizer). */
  token: string | null;
  logit: number;
  /** softmax probability over the whole vocabulary. */
  prob: number;
}

export interface ForwardReport {
  model: string;
  device: string;
  ids: number[];
  /** Each input token's text (null without a tokenizer). */
  tokens: (string | null)[] | null;
  /** The token count before --truncate cut it, or null. */
  truncatedFrom: number | null;
  /** LM: the most likely next tokens after the last position. */
  top: NextToken[] | null;
  /** Sequence classifier: its outputs for the input (one per label). */
  rewards: number[] | null;
  /** Each requested hook's shape. */
  hooks: { name: string; shape: number[] }[];
  /** The safetensors file written, or null. */
  out: string | null;
}

/** A token's text, or null when there is no tokenizer or the id is past its vocabulary (padded embeddings). */
function tokenText(tok: Tokenizer | null, id: number): string | null {
  return tok && id < tok.vocabSize ? tok.decode([id]) : null;
}

/** The `top` largest entries of `row` as next tokens, with softmax probabilities over all of `row`. */
export function topNextTokens(row: Float32Array, top: number, tok: Tokenizer | null): NextToken[] {
  let max = -Infinity;
  for (const v of row) if (v > max) max = v;
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  const order = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]! || a - b);
  return order.slice(0, top).map((id) => ({ id, token: tokenText(tok, id), logit: row[id]!, prob: Math.exp(row[id]! - max) / sum }));
}

/** Run one row of ids through the model; keep `hooks`, and with `out` write them (plus logits or rewards) to safetensors. */
export async function runForward(opened: OpenedModel, ids: Int32Array, opts: { hooks?: string[]; out?: string; top?: number; truncatedFrom?: number | null } = {}): Promise<ForwardReport> {
  const { model, tokenizer: tok } = opened;
  const hooks = [...new Set(opts.hooks ?? [])];
  const T = ids.length;
  const r = model.forward(ids, [1, T], { keep: hooks });
  const report: ForwardReport = {
    model: opened.path,
    device: model.device.describe(),
    ids: [...ids],
    tokens: tok ? [...ids].map((id) => tokenText(tok, id)) : null,
    truncatedFrom: opts.truncatedFrom ?? null,
    top: null,
    rewards: null,
    hooks: hooks.map((name) => ({ name, shape: [...r.activations.get(name)!.shape] })),
    out: null,
  };
  // Read everything before freeing anything: two hook names can hold one tensor
  // (blocks.L.hook_resid_post is blocks.L+1.hook_resid_pre).
  const tensors = new Map<string, TensorToWrite>();
  const outputs: [string, Tensor][] = [...hooks.map((name): [string, Tensor] => [name, r.activations.get(name)!]), r.logits ? ['logits', r.logits] : ['rewards', r.rewards!]];
  for (const [name, t] of outputs) tensors.set(name, { dtype: 'F32', shape: [...t.shape], data: Float32Array.from((await t.read()) as Float32Array) });
  for (const t of new Set(outputs.map(([, t]) => t))) t.dispose();
  const head = tensors.get(r.logits ? 'logits' : 'rewards')!.data as Float32Array;
  if (r.logits) {
    const V = model.config.vocabSize;
    report.top = topNextTokens(head.subarray((T - 1) * V, T * V), opts.top ?? 5, tok);
  } else {
    report.rewards = [...head];
  }
  if (opts.out) {
    tensors.set('input_ids', { dtype: 'I32', shape: [1, T], data: Int32Array.from(ids) });
    await writeSafetensors(opts.out, tensors, {
      model: opened.path,
      input_ids: JSON.stringify([...ids]),
      device: report.device,
      saelab_version: SAELAB_VERSION,
    });
    report.out = opts.out;
  }
  return report;
}

/** Register `saelab forward`. */
export function registerForward(program: Command): void {
  program
    .command('forward')
    .description('one forward pass: the most likely next tokens (or a reward model\'s rewards), and hook values saved to safetensors')
    .requiredOption('--model <model>', 'an HF model folder, a llama2.c .bin (tokenizer beside it), or a hub id in the HF cache')
    .option('--text <text>', 'input text (tokenized with the model\'s tokenizer; BOS as it adds by default)')
    .option('--ids <ids>', 'input token ids, comma-separated')
    .addOption(listOption('--hooks <names>', 'hook names to keep (e.g. blocks.1.hook_resid_pre)', anyString))
    .option('--out <file>', 'write the hooks, logits (or rewards) and input_ids to this .safetensors file (F32)')
    .option('--top <n>', 'how many next tokens to show', intFlag('--top', 1), 5)
    .option('--truncate', 'keep the last context-length tokens of a longer input instead of failing')
    .option('--download', 'download the model from the hub when it is not local or cached')
    .addOption(deviceOption())
    .addOption(modelDtypeOption())
    .addOption(streamOption())
    .option('--json', 'print JSON')
    .action(async (o: { model: string; text?: string; ids?: string; hooks?: string[]; out?: string; top: number; truncate?: boolean; download?: boolean; device: string; modelDtype: string; stream?: boolean; json?: boolean }) => {
      if ((o.text === undefined) === (o.ids === undefined)) throw new UsageError('give exactly one of --text or --ids');
      const hooks = o.hooks ?? [];
      const given = o.ids === undefined ? undefined : parseIds(o.ids);
      const load = loadOptionsFromFlags(o);
      checkHooks(await checkModelSpec(o.model, o.download), hooks);
      const note = (line: string) => process.stderr.write(`${line}\n`);
      if (o.out !== undefined) checkOutputFile(o.out, '--out');
      const device = await openDeviceFromFlag(o.device);
      const opened = await openModel(o.model, device, { download: o.download, needTokenizer: o.text !== undefined, note, load });
      try {
        const { ids, truncatedFrom } = inputIds(opened, { text: o.text, ids: given }, { truncate: o.truncate, note });
        const r = await runForward(opened, ids, { hooks, out: o.out, top: o.top, truncatedFrom });
        emit(!!o.json, r, () => printForward(r));
      } finally {
        opened.model.dispose();
        device.destroy();
      }
    });
}

function printForward(r: ForwardReport): void {
  console.log(`${r.model}: ${r.ids.length} tokens${r.truncatedFrom !== null ? ` (truncated from ${r.truncatedFrom})` : ''}`);
  console.log(`ids: ${r.ids.join(' ')}`);
  if (r.tokens) console.log(`tokens: ${r.tokens.map((t) => JSON.stringify(t)).join(' ')}`);
  if (r.top) {
    console.log(`next token after position ${r.ids.length - 1}:`);
    console.log(table(['id', 'token', 'logit', 'prob'], r.top.map((t) => [t.id, t.token === null ? '-' : JSON.stringify(t.token), t.logit.toFixed(4), t.prob.toFixed(4)])));
  }
  if (r.rewards) console.log(`reward${r.rewards.length > 1 ? 's' : ''}: ${r.rewards.map((x) => x.toFixed(6)).join(' ')}`);
  for (const h of r.hooks) console.log(`hook ${h.name} [${h.shape.join(', ')}]`);
  if (r.out) console.log(`wrote ${r.out}`);
}
