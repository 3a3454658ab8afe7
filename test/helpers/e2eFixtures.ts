// Fixtures the end-to-end objective tests share: random token windows with BOS-like exclusions, and
// an SAE whose output is exactly its input.

import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import type { TokenBatch } from '../../src/sae/e2eObjective.js';
import { createSae } from '../../src/sae/initSae.js';
import type { SaeConfig, SaeModel, SaeParams } from '../../src/sae/types.js';

/** B windows of T random ids below V; position 0 of each window is excluded (BOS in a real packing). */
export function tokenBatch(seed: number, B = 2, T = 8, V = 1000): TokenBatch {
  const rng = new Rng(seed);
  const ids = Int32Array.from({ length: B * T }, () => Math.floor(rng.uniform() * V));
  const exclude = new Uint8Array(B * T);
  for (let b = 0; b < B; b++) exclude[b * T] = 1;
  return { ids, exclude, B, T };
}

/** Weights with dSae = 2·d whose output is exactly the input: W_enc = [I, −I], W_dec = [I; −I], biases 0, so f = [ReLU(x), ReLU(−x)] and x̂ = ReLU(x) − ReLU(−x). */
export function identityWeights(d: number): SaeParams {
  const wEnc = new Float32Array(d * 2 * d);
  const wDec = new Float32Array(2 * d * d);
  for (let j = 0; j < d; j++) {
    wEnc[j * 2 * d + j] = 1;
    wEnc[j * 2 * d + d + j] = -1;
    wDec[j * d + j] = 1;
    wDec[(d + j) * d + j] = -1;
  }
  return { W_enc: cpu.fromArray(wEnc, [d, 2 * d]), b_enc: cpu.zeros([2 * d]), W_dec: cpu.fromArray(wDec, [2 * d, d]), b_dec: cpu.zeros([d]) };
}

/** An SAE on `cfg` (dSae = 2·dIn) whose output is exactly its input (identityWeights). */
export function identitySae(cfg: SaeConfig): SaeModel {
  const d = cfg.dIn;
  if (cfg.dSae !== 2 * d) throw new Error(`identitySae needs dSae = 2·dIn (got ${cfg.dSae} for ${d})`);
  const c = { ...cfg, applyBDecToInput: false };
  const params = identityWeights(d);
  if (c.architecture === 'batchtopk') params.threshold = cpu.fromArray(new Float32Array([-1]), [1]);
  return createSae(c, params);
}
