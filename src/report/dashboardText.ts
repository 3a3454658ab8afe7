// "Text → features": run the model over a piece of text and the SAE at its hook, and say which
// features fire on which token. The text is tokenized as the dashboard pass packs it (BOS first
// when the tokenizer has one; BOS is shown but, as in the pass, its features are not reported)
// and cut to the context size.

import { scale } from '../compute/ops/elementwise.js';
import type { Tensor } from '../compute/tensor.js';
import type { Tokenizer } from '../model/tokenizers/tokenizer.js';
import { tokenPieces } from '../model/tokenizers/tokenPieces.js';
import type { Transformer } from '../model/transformer.js';
import type { LoadedSae } from '../sae/saeFiles.js';

export interface TextFeatures {
  /** One entry per token: its text and its strongest features (activation descending, then feature id). */
  tokens: { text: string; special: boolean; features: { feature: number; act: number }[] }[];
  /** Features that fired anywhere, by their largest activation. */
  features: { feature: number; maxAct: number; count: number }[];
  /** Whether the text was cut to fit the context. */
  truncated: boolean;
}

/** The bounds of the answer the server (and the browser, which must match it) asks for. */
export const TEXT_FEATURES_OPTIONS = { perToken: 8, maxFeatures: 50 } as const;

/** Features per token of `text` (see the file comment); `perToken` and `maxFeatures` bound the answer. */
export async function textFeatures(model: Transformer, tok: Tokenizer, sae: LoadedSae, hook: string, text: string, o: { contextSize: number; perToken?: number; maxFeatures?: number }): Promise<TextFeatures> {
  const ids = tok.encode(text);
  const bos = tok.bosId;
  const all = bos !== null ? [bos, ...ids] : ids;
  const T = Math.min(all.length, o.contextSize, model.config.nCtx);
  const truncated = all.length > T;
  if (T === 0) return { tokens: [], features: [], truncated: false };
  const idsT = Int32Array.from(all.slice(0, T));
  const res = model.forward(idsT, [1, T], { keep: [hook], stopAt: hook });
  const h = res.activations.get(hook)!.reshape([T, sae.cfg.dIn]);
  let x: Tensor = h;
  if (sae.normScalingFactor !== undefined && sae.cfg.normalizeActivations === 'expected_average_only_in') x = scale(h, sae.normScalingFactor);
  const f = sae.model.encode(x);
  const fh = (await f.read()) as Float32Array;
  f.dispose();
  if (x !== h) x.dispose();
  for (const t of res.activations.values()) t.dispose();
  const D = sae.cfg.dSae;
  const perToken = o.perToken ?? 8;
  const special = new Set([tok.bosId, tok.eosId, tok.padId].filter((v): v is number => v !== null));
  const byFeature = new Map<number, { maxAct: number; count: number }>();
  const pieces = tokenPieces(tok, idsT);
  const tokens: TextFeatures['tokens'] = [];
  for (let t = 0; t < T; t++) {
    const isSpecial = special.has(idsT[t]!);
    const fired: { feature: number; act: number }[] = [];
    if (!isSpecial) {
      for (let i = 0; i < D; i++) {
        const a = fh[t * D + i]!;
        if (!(a > 0)) continue;
        fired.push({ feature: i, act: a });
        const e = byFeature.get(i);
        if (e) (e.maxAct = Math.max(e.maxAct, a), e.count++);
        else byFeature.set(i, { maxAct: a, count: 1 });
      }
    }
    fired.sort((a, b) => b.act - a.act || a.feature - b.feature);
    tokens.push({ text: pieces[t]!, special: isSpecial, features: fired.slice(0, perToken) });
  }
  const features = [...byFeature.entries()].map(([feature, v]) => ({ feature, ...v })).sort((a, b) => b.maxAct - a.maxAct || a.feature - b.feature).slice(0, o.maxFeatures ?? 50);
  return { tokens, features, truncated };
}
