// Soft-capping (Gemma-2's final logits): y = c · tanh(x / c), which squashes |y| below c and is the
// identity near 0. The backward reads the output, not the input: dy/dx = 1 − tanh² = 1 − (y/c)²,
// so a forward that keeps only y (the model's logits) can still be differentiated.

import type { Tensor } from '../tensor.js';
import type { Floats } from './elementwise.js';
import { pointwiseWgsl, runPointwise, runPointwiseBackward } from './wgslGen.js';

// ---- CPU twins -------------------------------------------------------------------------------

/** y = cap · tanh(x / cap). */
export function softcapCpu(x: Floats, y: Floats, cap: number): void {
  for (let i = 0; i < x.length; i++) y[i] = cap * Math.tanh(x[i]! / cap);
}

/** dx = dy · (1 − (y / cap)²), from the forward's output y. */
export function softcapBackwardCpu(y: Floats, dy: Floats, dx: Floats, cap: number): void {
  for (let i = 0; i < y.length; i++) {
    const t = y[i]! / cap;
    dx[i] = dy[i]! * (1 - t * t);
  }
}

// ---- WGSL ------------------------------------------------------------------------------------
// The cap is a constant of the kernel text (one model, one cap: the pipeline cache keeps it).
// tanh's argument is clamped to ±15, where tanh is ±1 in f32, so no implementation overflows.

function forwardWgsl(cap: number): string {
  return pointwiseWgsl([['x', 'read'], ['y', 'read_write']], 'n: u32', `y[i] = CAP * tanh(clamp(x[i] / CAP, -15.0, 15.0));`, `const CAP: f32 = ${cap};`);
}

function backwardWgsl(cap: number): string {
  return pointwiseWgsl([['x', 'read'], ['dy', 'read'], ['dx', 'read_write']], 'n: u32', `let t = x[i] / CAP;\n  dx[i] = dy[i] * (1.0 - t * t);`, `const CAP: f32 = ${cap};`);
}

function checkCap(cap: number, what: string): void {
  if (!(cap > 0 && Number.isFinite(cap))) throw new Error(`${what}: cap ${cap} must be a positive number`);
}

// ---- dispatch --------------------------------------------------------------------------------

/** cap · tanh(x / cap), same shape. */
export function softcap(x: Tensor, cap: number): Tensor {
  checkCap(cap, 'softcap');
  return runPointwise(x, 'softcap', (a, b) => softcapCpu(a, b, cap), forwardWgsl(cap));
}

/** Gradient of softcap from its output y: dx = dy ⊙ (1 − (y/cap)²). */
export function softcapBackward(y: Tensor, dy: Tensor, cap: number): Tensor {
  checkCap(cap, 'softcapBackward');
  return runPointwiseBackward(y, dy, 'softcap_backward', (a, g, d) => softcapBackwardCpu(a, g, d, cap), backwardWgsl(cap));
}
