// Text generation from a causal LM: greedy at temperature 0, else a draw from softmax(logits / T)
// (optionally over the top-k logits only) with a seeded Rng, so a seed fixes the text. There is no
// KV cache: each step re-runs the whole prefix (as `Transformer.greedy` does), which is plenty for
// the small models this package studies and keeps the forward the one the hooks and goldens test.

import { embeddingGather } from '../compute/ops/embedding.js';
import { matmul } from '../compute/ops/matmul.js';
import { Rng } from '../compute/random.js';
import { ModelError } from './errors.js';
import { FINAL_HOOK } from './hooks.js';
import type { Tokenizer } from './tokenizers/index.js';
import type { Transformer } from './transformer.js';

/** How the next token is picked from a row of logits. */
export interface SampleOptions {
  /** 0: argmax (greedy). Otherwise the softmax temperature (> 0). */
  temperature: number;
  /** Draw only among the k largest logits (ties: lower id first); absent or ≥ vocab: all. */
  topK?: number;
}

export interface GenerateOptions extends Partial<SampleOptions> {
  /** Most tokens to add (stops earlier at a stop token or the model's context). */
  maxTokens: number;
  /** Seed of the sampler (default 0); unused at temperature 0. */
  seed?: number;
  /** Ids that end the text (not included in the result), e.g. EOS. Default: none. */
  stopIds?: readonly number[];
  /** Called with each new token as soon as it is chosen (for streaming). */
  onToken?: (id: number, index: number) => void;
}

export interface GenerateResult {
  /** The new tokens (without the prompt, without a stop token). */
  ids: Int32Array;
  /** Why it stopped: the token budget, a stop token, or the model's context being full. */
  stoppedBy: 'max-tokens' | 'stop-token' | 'context';
  /** The stop token that ended it, when stoppedBy is 'stop-token'. */
  stopId: number | null;
}

/** Check sampling options; throws a ModelError that names the bad one. */
export function checkSampleOptions(opts: SampleOptions): void {
  if (!(Number.isFinite(opts.temperature) && opts.temperature >= 0)) throw new ModelError(`temperature must be a number ≥ 0 (got ${opts.temperature})`);
  if (opts.topK !== undefined && !(Number.isInteger(opts.topK) && opts.topK > 0)) throw new ModelError(`top-k must be a positive integer (got ${opts.topK})`);
}

/** Pick the next token from one row of logits: argmax at temperature 0, else a draw from softmax(logits / T) over the top-k. */
export function sampleToken(logits: ArrayLike<number>, opts: SampleOptions, rng: Rng): number {
  const V = logits.length;
  if (opts.temperature === 0) {
    let best = 0; // ties: the lower id, as Transformer.greedy and the argmax kernels
    for (let j = 1; j < V; j++) if (logits[j]! > logits[best]!) best = j;
    return best;
  }
  let candidates: number[];
  if (opts.topK !== undefined && opts.topK < V) {
    candidates = Array.from({ length: V }, (_, j) => j);
    candidates.sort((a, b) => logits[b]! - logits[a]! || a - b);
    candidates.length = opts.topK;
  } else {
    candidates = Array.from({ length: V }, (_, j) => j);
  }
  let max = -Infinity;
  for (const j of candidates) if (logits[j]! > max) max = logits[j]!;
  // Float64 weights and one uniform draw against their running sum: the same seed and logits give
  // the same id on every platform.
  const w = new Float64Array(candidates.length);
  let total = 0;
  for (let i = 0; i < candidates.length; i++) total += w[i] = Math.exp((logits[candidates[i]!]! - max) / opts.temperature);
  const u = rng.uniform() * total;
  let acc = 0;
  for (let i = 0; i < candidates.length; i++) {
    acc += w[i]!;
    if (u < acc) return candidates[i]!;
  }
  return candidates[candidates.length - 1]!; // u within rounding of the total
}

/** The logits after the last position of one row of token ids (the unembedding runs for that row only). */
export async function lastTokenLogits(model: Transformer, ids: Int32Array): Promise<Float32Array> {
  if (model.config.head !== 'lm') throw new ModelError('generation needs a causal LM (this model is a sequence classifier)');
  const T = ids.length;
  const { activations } = model.forward(ids, [1, T], { stopAt: FINAL_HOOK, keep: [FINAL_HOOK] });
  const h = activations.get(FINAL_HOOK)!;
  const row = model.device.fromArray(Int32Array.of(T - 1), [1]);
  const last = embeddingGather(h.reshape([T, model.config.dModel]), row);
  const logits = model.store.withUnembed((W, transB) => matmul(last, W, { transB }));
  const out = Float32Array.from((await logits.read()) as Float32Array);
  for (const t of [h, row, last, logits]) t.dispose();
  return out;
}

/** Continue `prompt` (one row of ids) by up to `maxTokens` tokens. */
export async function generate(model: Transformer, prompt: Int32Array, opts: GenerateOptions): Promise<GenerateResult> {
  const sample: SampleOptions = { temperature: opts.temperature ?? 0, topK: opts.topK };
  checkSampleOptions(sample);
  if (!(Number.isInteger(opts.maxTokens) && opts.maxTokens >= 0)) throw new ModelError(`max tokens must be an integer ≥ 0 (got ${opts.maxTokens})`);
  if (prompt.length === 0) throw new ModelError('the prompt has no tokens: give at least one (e.g. the BOS token)');
  const nCtx = model.config.nCtx;
  if (prompt.length > nCtx) throw new ModelError(`the prompt of ${prompt.length} tokens is longer than the model's context of ${nCtx} tokens`);
  const rng = new Rng(opts.seed ?? 0);
  const stop = new Set(opts.stopIds ?? []);
  const seq = Array.from(prompt);
  const out: number[] = [];
  while (out.length < opts.maxTokens) {
    if (seq.length >= nCtx) return { ids: Int32Array.from(out), stoppedBy: 'context', stopId: null };
    const id = sampleToken(await lastTokenLogits(model, Int32Array.from(seq)), sample, rng);
    if (stop.has(id)) return { ids: Int32Array.from(out), stoppedBy: 'stop-token', stopId: id };
    seq.push(id);
    out.push(id);
    opts.onToken?.(id, out.length - 1);
  }
  return { ids: Int32Array.from(out), stoppedBy: 'max-tokens', stopId: null };
}

/** Turns tokens into text as they come: each push returns the new text, holding back a partial UTF-8 character. */
export interface TextStream {
  /** Add a token; the text it completes (may be empty). */
  push(id: number): string;
  /** Whatever is still held back (a dangling partial character decodes to U+FFFD). */
  flush(): string;
}

/**
 * A TextStream after `prompt`. Decoding the whole sequence each time (not token by token) keeps what
 * depends on neighbours right: byte-level tokens that split a character, and llama2.c's rule that
 * drops the space of the first piece after BOS.
 */
export function textStream(tok: Pick<Tokenizer, 'decode'>, prompt: ArrayLike<number>): TextStream {
  const ids = Array.from(prompt);
  const start = tok.decode(ids).length;
  let emitted = 0;
  const take = (text: string): string => {
    const s = text.slice(start + emitted);
    emitted += s.length;
    return s;
  };
  return {
    push(id) {
      ids.push(id);
      const text = tok.decode(ids);
      return text.endsWith('\uFFFD') ? '' : take(text);
    },
    flush: () => take(tok.decode(ids)),
  };
}
