// Dead-latent bookkeeping: per latent, the tokens since it last fired. A latent that fired on any
// token of the batch resets to 0, every other one ages by the batch's token count. Counts are f32
// (exact integers up to 2^24, and multiples of the batch size well beyond), kept on the device so
// that AuxK can read them without a round trip; the dead fraction is read back only when logging.

import { assertDtype, assertSameDevice, assertShape, type Tensor } from '../compute/tensor.js';
import { ParamWriter } from '../compute/webgpu/params.js';
import { gpuOf, pointwiseGrid, pointwiseWgsl } from '../compute/ops/wgslGen.js';

/** Default dead window: 10M tokens without firing (Gao et al.). */
export const DEFAULT_DEAD_TOKENS_THRESHOLD = 10_000_000;

/** CPU twin: tsf[i] ← fired[i] > 0 ? 0 : tsf[i] + tokens. */
export function updateTokensSinceFiredCpu(tsf: Float32Array, fired: Float32Array, tokens: number): void {
  for (let i = 0; i < tsf.length; i++) tsf[i] = fired[i]! > 0 ? 0 : tsf[i]! + tokens;
}

const UPDATE_WGSL = pointwiseWgsl(
  [['tsf', 'read_write'], ['fired', 'read']],
  'n: u32, tokens: f32',
  `tsf[i] = select(tsf[i] + p.tokens, 0.0, fired[i] > 0.0);`,
);

/** Age every latent by `tokens` and reset those that fired (`firedCounts` [dSae] from the step), in place. */
export function updateTokensSinceFired(tokensSinceFired: Tensor, firedCounts: Tensor, tokens: number): void {
  assertSameDevice(tokensSinceFired, firedCounts);
  assertDtype(tokensSinceFired, 'f32', 'tokensSinceFired');
  assertDtype(firedCounts, 'f32', 'firedCounts');
  assertShape(firedCounts, tokensSinceFired.shape, 'firedCounts');
  const dev = gpuOf(tokensSinceFired);
  if (!dev) return updateTokensSinceFiredCpu(tokensSinceFired.data as Float32Array, firedCounts.data as Float32Array, tokens);
  const n = tokensSinceFired.numel;
  const params = new ParamWriter(2).u32(n).f32(tokens).bytes();
  dev.dispatch({ label: 'tokens_since_fired', code: UPDATE_WGSL, buffers: [tokensSinceFired, firedCounts], params, workgroups: pointwiseGrid(n) });
}

/** Fraction of latents whose count has reached `threshold` (host-side, from read-back counts). */
export function deadFractionOf(tokensSinceFired: ArrayLike<number>, threshold: number): number {
  if (tokensSinceFired.length === 0) return 0;
  let dead = 0;
  for (let i = 0; i < tokensSinceFired.length; i++) if (tokensSinceFired[i]! >= threshold) dead++;
  return dead / tokensSinceFired.length;
}
