// Synthetic SAE folders for the compare tests: random decoder rows (W_enc = W_decᵀ), optionally a
// row-permuted and rescaled copy of another, written with the real saveSae.

import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import { saveSae, type SaeRunMetadata } from '../../src/sae/saeFiles.js';
import type { SaeConfig } from '../../src/sae/types.js';

export interface SyntheticSae {
  /** [dSae, dIn] decoder rows. */
  wDec: Float32Array;
  /** [dSae] encoder biases. */
  bEnc: Float32Array;
}

/** Random unit-ish decoder rows and zero biases. */
export function randomSae(seed: number, dSae: number, dIn: number): SyntheticSae {
  const rng = new Rng(seed);
  return { wDec: rng.normalArray(dSae * dIn, 1 / Math.sqrt(dIn)), bEnc: new Float32Array(dSae) };
}

/** B's feature j is A's feature perm[j], scaled by a positive factor (the same directions, reordered). */
export function permutedCopy(a: SyntheticSae, dSae: number, dIn: number, seed: number): { sae: SyntheticSae; perm: Int32Array } {
  const rng = new Rng(seed);
  const perm = new Int32Array(dSae).map((_, i) => i);
  for (let i = dSae - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  const wDec = new Float32Array(dSae * dIn);
  const bEnc = new Float32Array(dSae);
  for (let j = 0; j < dSae; j++) {
    const s = 0.5 + rng.uniform();
    for (let k = 0; k < dIn; k++) wDec[j * dIn + k] = s * a.wDec[perm[j]! * dIn + k]!;
    bEnc[j] = a.bEnc[perm[j]!]!;
  }
  return { sae: { wDec, bEnc }, perm };
}

/** Write `s` as a standard (ReLU) SAELens folder with W_enc = W_decᵀ. */
export async function writeSyntheticSae(dir: string, s: SyntheticSae, dSae: number, dIn: number, metadata: SaeRunMetadata = {}, seed = 0): Promise<void> {
  const wEnc = new Float32Array(dIn * dSae);
  for (let j = 0; j < dSae; j++) for (let k = 0; k < dIn; k++) wEnc[k * dSae + j] = s.wDec[j * dIn + k]!;
  const cfg: SaeConfig = { architecture: 'standard', dIn, dSae, l1Coefficient: 1, applyBDecToInput: false, decoderUnitNorm: false, normalizeActivations: 'none', seed };
  await saveSae(dir, cfg, {
    W_enc: cpu.fromArray(wEnc, [dIn, dSae]),
    b_enc: cpu.fromArray(s.bEnc, [dSae]),
    W_dec: cpu.fromArray(s.wDec, [dSae, dIn]),
    b_dec: cpu.zeros([dIn]),
  }, { metadata: { model_name: 'm', hook_name: 'blocks.3.hook_resid_pre', hook_layer: 3, ...metadata } });
}
