// A directional finite-difference check of an objective's SAE-parameter gradients, for losses that
// are only piecewise smooth (ReLU, TopK, BatchTopK): the step shrinks until both sides keep the
// active set, so the difference measures the gradient of one piece.

import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { Rng } from '../../src/compute/random.js';
import type { SaeParams } from '../../src/sae/types.js';

/** What one evaluation of the objective gives: the loss, per-parameter gradients, and a key of the active set. */
export interface LossAt {
  stats: { loss: number };
  grads: Partial<Record<string, ArrayLike<number>>>;
  active: string | number;
}

/**
 * For each of W_enc, b_enc, W_dec, b_dec: ⟨G, D⟩ against (L(w + εD) − L(w − εD)) / 2ε along D = Ĝ + a
 * random unit direction, within 2 % (+1e-5). `lossStep` is the loss change the first step aims for.
 */
export async function checkDirectionalGrads(t: TestContext, label: string, params: SaeParams, evaluate: () => Promise<LossAt>, o: { lossStep: number; seed?: number }): Promise<void> {
  const base = await evaluate();
  const rng = new Rng(o.seed ?? 9);
  for (const pn of ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const) {
    const w = params[pn].data as Float32Array;
    const G = base.grads[pn]!;
    let gn = 0;
    for (let i = 0; i < G.length; i++) gn += G[i]! * G[i]!;
    gn = Math.sqrt(gn);
    const noise = rng.normalArray(w.length);
    const nn = Math.hypot(...noise);
    const D = Float64Array.from({ length: G.length }, (_, i) => (gn > 0 ? G[i]! / gn : 0) + noise[i]! / nn);
    let expected = 0;
    for (let i = 0; i < w.length; i++) expected += G[i]! * D[i]!;
    let eps = o.lossStep / Math.max(Math.abs(expected), 1e-2);
    const w0 = w.slice();
    const at = async (s: number) => {
      for (let i = 0; i < w.length; i++) w[i] = w0[i]! + s * eps * D[i]!;
      return evaluate();
    };
    let plus = await at(1);
    let minus = await at(-1);
    for (let tries = 0; tries < 16 && (plus.active !== base.active || minus.active !== base.active); tries++) {
      eps /= 2;
      plus = await at(1);
      minus = await at(-1);
    }
    w.set(w0);
    assert.ok(plus.active === base.active && minus.active === base.active, `${label} ${pn}: no step keeps the active set`);
    const num = (plus.stats.loss - minus.stats.loss) / (2 * eps);
    t.diagnostic(`${pn} (ε ${eps.toExponential(1)}): ⟨G, D⟩ = ${expected.toExponential(4)}, finite difference ${num.toExponential(4)}`);
    assert.ok(Math.abs(num - expected) <= 2e-2 * Math.abs(expected) + 1e-5, `${label} ${pn}: backward ⟨G, D⟩ = ${expected}, finite difference ${num}`);
  }
}
