// The downstream terms of an end-to-end run: `--downstream` resolved against the model, each with
// its coefficient (one for all, or one per hook), and the model checked to be able to give the
// objective (a causal LM's logits). Usage errors are TrainRunErrors (one line, exit 2). With SAEs at
// several hooks (a joint run), `all` / `next` / `next:N` count from the LAST SAE hook, and named
// hooks must come after it.

import type { ActivationSource } from './activationSource.js';
import { parseHook } from '../model/hooks.js';
import { downstreamHooks } from './e2eObjective.js';
import { TRAIN_DEFAULTS, TrainRunError, type TrainLoss, type TrainRunOptions } from './trainOptions.js';

/** The downstream hooks and coefficients of `loss` over `src` (empty for e2e). */
export function objectiveHooks(src: ActivationSource, loss: Exclude<TrainLoss, 'local'>, opts: Pick<TrainRunOptions, 'downstream' | 'downstreamCoefficients'>): { hook: string; coefficient: number }[] {
  const model = src.model;
  if (!model) throw new TrainRunError(`--loss ${loss} needs the model (train from --data)`);
  if (loss === 'reward') {
    if (model.config.head === 'lm') throw new TrainRunError(`--loss reward needs a sequence-classification (reward) model; ${src.modelName} is a causal LM (use --loss e2e)`);
    return [];
  }
  if (model.config.head !== 'lm') throw new TrainRunError(`--loss ${loss} needs a causal LM's output; ${src.modelName} is a sequence classifier (reward model: use --loss reward)`);
  if (loss === 'e2e') return [];
  let hooks: string[];
  try {
    // The last SAE hook in forward order: downstream terms read what every splice has changed.
    const last = src.hooks.reduce((a, h) => (parseHook(h, model.config).order > parseHook(a, model.config).order ? h : a));
    hooks = downstreamHooks(opts.downstream ?? 'all', last, model);
  } catch (e) {
    throw new TrainRunError((e as Error).message);
  }
  const cs = opts.downstreamCoefficients ?? [TRAIN_DEFAULTS.downstreamCoefficient];
  if (cs.length !== 1 && cs.length !== hooks.length) throw new TrainRunError(`--downstream-coefficients: ${cs.length} values for ${hooks.length} downstream hooks (${hooks.join(', ')}); give one, or one per hook`);
  return hooks.map((hook, i) => ({ hook, coefficient: cs.length === 1 ? cs[0]! : cs[i]! }));
}
