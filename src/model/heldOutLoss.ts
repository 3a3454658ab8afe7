// Held-out loss of a causal LM on a token stream: the mean next-token cross-entropy over windows of
// the context size taken at seeded random offsets (as nanoGPT's estimate_loss samples its val split),
// with the per-window losses, so a caller can state the sampling error of a small sample.

import { crossEntropy } from '../compute/ops/crossEntropy.js';
import { Rng } from '../compute/random.js';
import { ModelError } from './errors.js';
import { nextTokenTargets, type Transformer } from './transformer.js';

export interface WindowLosses {
  /** Each window's mean next-token CE (nats/token), over its ctx − 1 predicted tokens. */
  losses: number[];
  /** The mean of the window losses. */
  mean: number;
  /** Its standard error: sample standard deviation of the window losses / √windows (0 for one window). */
  se: number;
  /** Tokens predicted in all. */
  tokens: number;
}

/** `n` window starts in [0, length − ctx], drawn with a seeded Rng. */
export function windowStarts(length: number, n: number, ctx: number, seed: number): number[] {
  if (length < ctx) throw new ModelError(`a stream of ${length} tokens is shorter than one window of ${ctx}`);
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => rng.int(length - ctx + 1));
}

/** Mean next-token CE of each window `tokens[s, s + ctx)` for s in `starts`, run `batch` windows at a time. */
export async function windowLosses(model: Transformer, tokens: Int32Array, starts: readonly number[], ctx: number, batch = 8): Promise<WindowLosses> {
  if (model.config.head !== 'lm') throw new ModelError('a held-out loss needs a causal LM (this model is a sequence classifier)');
  if (ctx < 2) throw new ModelError('a next-token loss needs windows of at least 2 tokens');
  const losses: number[] = [];
  for (let i = 0; i < starts.length; i += batch) {
    const B = Math.min(batch, starts.length - i);
    const ids = new Int32Array(B * ctx);
    for (let b = 0; b < B; b++) {
      const s = starts[i + b]!;
      if (!(s >= 0 && s + ctx <= tokens.length)) throw new ModelError(`window [${s}, ${s + ctx}) is outside the stream of ${tokens.length} tokens`);
      ids.set(tokens.subarray(s, s + ctx), b * ctx);
    }
    const { logits } = model.forward(ids, [B, ctx]);
    const targets = model.device.fromArray(nextTokenTargets(ids, B, ctx), [B, ctx]);
    const perToken = crossEntropy(logits!, targets, -1); // [B, ctx]; 0 at each row's ignored last position
    const v = (await perToken.read()) as Float32Array;
    for (const t of [logits!, targets, perToken]) t.dispose();
    for (let b = 0; b < B; b++) {
      let s = 0;
      for (let t = 0; t < ctx - 1; t++) s += v[b * ctx + t]!;
      losses.push(s / (ctx - 1));
    }
  }
  const n = losses.length;
  const mean = losses.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? losses.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1) : 0;
  return { losses, mean, se: Math.sqrt(variance / n), tokens: n * (ctx - 1) };
}
