// Hook points, named as in TransformerLens. Each is a tensor [B, T, dModel] in the residual
// stream's coordinates (the golden meaning, checked against HF):
//   blocks.L.hook_resid_pre   input of block L (HF hidden_states[L])
//   blocks.L.hook_attn_out    output of block L's attention module, before the residual add
//   blocks.L.hook_resid_mid   resid_pre + attn_out (sequential blocks only: a parallel-residual
//                             block adds attention and MLP to resid_pre at once, so there is no mid)
//   blocks.L.hook_mlp_out     output of block L's MLP module, before the residual add
//   blocks.L.hook_resid_post  output of block L (= blocks.L+1.hook_resid_pre)
//   ln_final.hook_normalized  the final norm's output (HF hidden_states[-1]), what the unembedding reads
// A hook function sees the value and may return nothing (read), or a tensor of the same shape that
// replaces it (to add, return add(x, delta)).

import type { Tensor } from '../compute/tensor.js';
import type { ModelConfig } from './config.js';
import { ModelError } from './errors.js';

/** The per-block hook kinds, in the order the forward reaches them. */
export const BLOCK_HOOKS = ['hook_resid_pre', 'hook_attn_out', 'hook_resid_mid', 'hook_mlp_out', 'hook_resid_post'] as const;
export type BlockHookKind = (typeof BLOCK_HOOKS)[number];
export const FINAL_HOOK = 'ln_final.hook_normalized';

/**
 * Read, replace or add: return void to leave the value alone, or a tensor of the same shape (on the
 * same device) to use instead. The forward owns the argument (copy it, or ask for it in `keep`, to
 * keep it past the call; `x.read()` may be started inside the hook) and takes ownership of a
 * returned tensor other than `x`.
 */
export type HookFn = (x: Tensor, name: string) => Tensor | void;

/** A parsed, valid hook name. */
export interface HookPoint {
  name: string;
  /** The block, or null for ln_final.hook_normalized. */
  layer: number | null;
  kind: BlockHookKind | typeof FINAL_HOOK;
  /** Position in the forward: hooks with a smaller order run earlier. */
  order: number;
}

/** Every hook name of a model, in forward order. */
export function hookNames(cfg: ModelConfig): string[] {
  const names: string[] = [];
  for (let l = 0; l < cfg.nLayers; l++) {
    for (const k of BLOCK_HOOKS) if (!(k === 'hook_resid_mid' && cfg.parallelResidual)) names.push(`blocks.${l}.${k}`);
  }
  names.push(FINAL_HOOK);
  return names;
}

/** Parse a hook name for this model; a ModelError says why it is wrong and suggests the nearest name. */
export function parseHook(name: string, cfg: ModelConfig): HookPoint {
  if (name === FINAL_HOOK) return { name, layer: null, kind: FINAL_HOOK, order: cfg.nLayers * BLOCK_HOOKS.length };
  const m = /^blocks\.(\d+)\.(hook_[a-z_]+)$/.exec(name);
  if (m) {
    const layer = Number(m[1]);
    const kind = m[2] as BlockHookKind;
    const k = BLOCK_HOOKS.indexOf(kind);
    if (k >= 0) {
      if (layer >= cfg.nLayers) throw new ModelError(`unknown hook "${name}": the model has ${cfg.nLayers} blocks (0–${cfg.nLayers - 1})`);
      if (kind === 'hook_resid_mid' && cfg.parallelResidual) {
        throw new ModelError(
          `hook "${name}" does not exist for this model: its blocks are parallel-residual (attention and MLP both read hook_resid_pre and are added to it together), so there is no residual stream between them; use blocks.${layer}.hook_attn_out or hook_mlp_out`,
        );
      }
      return { name, layer, kind, order: layer * BLOCK_HOOKS.length + k };
    }
  }
  throw new ModelError(`unknown hook "${name}"${suggestion(name, hookNames(cfg))}; hooks are blocks.L.{${BLOCK_HOOKS.filter((k) => !(k === 'hook_resid_mid' && cfg.parallelResidual)).join(',')}} for L in 0–${cfg.nLayers - 1}, and ${FINAL_HOOK}`);
}

/** `: did you mean "x"?` for the nearest candidate by edit distance, or '' when none is near. */
export function suggestion(name: string, candidates: readonly string[]): string {
  let best = '';
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best && bestD <= Math.max(3, Math.ceil(name.length / 2)) ? `: did you mean "${best}"?` : '';
}

/** Levenshtein distance (insert, delete, substitute: 1 each). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
