// The batches of an end-to-end run: token windows in corpus order (every window whole, since the
// model runs on them), `windowsPerBatch` at a time; and the host activations at the hook of the
// first ones, from which the run fixes its normalisation factor and b_dec's sample exactly as local
// training does from its first batches.

import type { PackedWindow } from '../data/packTokens.js';
import type { Transformer } from '../model/transformer.js';
import type { TokenBatch } from './e2eObjective.js';

/** Group windows into token batches of `windowsPerBatch` windows (a last partial group is dropped: the stream repeats anyway). */
export async function* tokenBatches(windows: AsyncGenerator<PackedWindow>, windowsPerBatch: number): AsyncGenerator<TokenBatch> {
  let group: PackedWindow[] = [];
  try {
    for await (const w of windows) {
      group.push(w);
      if (group.length < windowsPerBatch) continue;
      const T = group[0]!.ids.length;
      const ids = new Int32Array(windowsPerBatch * T);
      const exclude = new Uint8Array(windowsPerBatch * T);
      group.forEach((g, b) => (ids.set(g.ids, b * T), exclude.set(g.exclude, b * T)));
      group = [];
      yield { ids, exclude, B: windowsPerBatch, T };
    }
  } finally {
    await windows.return(undefined);
  }
}

/** The kept rows of the hook's activations [N·dIn] (host) for each of `batches`, from a clean forward that stops at the hook. */
export async function* keptActivations(model: Transformer, hook: string, batches: readonly TokenBatch[]): AsyncGenerator<Float32Array> {
  const d = model.config.dModel;
  for (const b of batches) {
    const r = model.forward(b.ids, [b.B, b.T], { stopAt: hook, keep: [hook] });
    const a = r.activations.get(hook)!;
    const all = (await a.read()) as Float32Array;
    a.dispose();
    let n = 0;
    for (let i = 0; i < b.B * b.T; i++) if (!b.exclude[i]) n++;
    const out = new Float32Array(n * d);
    let at = 0;
    for (let i = 0; i < b.B * b.T; i++) if (!b.exclude[i]) (out.set(all.subarray(i * d, (i + 1) * d), at), (at += d));
    yield out;
  }
}
