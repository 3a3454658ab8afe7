// Pointwise activations and their backward passes, each as a CPU twin (the specification) and a
// WGSL kernel. Forward: y = f(x). Backward: dx = dy * f'(x), recomputing from the saved input x.
// gelu is the tanh form GPT-2 uses ("gelu_new"); silu is x·σ(x).

import type { Tensor } from '../tensor.js';
import type { Floats } from './elementwise.js';
import { pointwiseWgsl, runPointwise, runPointwiseBackward } from './wgslGen.js';
import { blasAddon, nativeKernel } from '../cpu/blas.js';

export type Activation = 'relu' | 'gelu' | 'silu';

// ---- CPU twins -------------------------------------------------------------------------------

/** relu forward: y = max(x, 0). */
export function reluCpu(x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) y[i] = x[i]! > 0 ? x[i]! : 0;
}

/** relu backward: dx = dy where x > 0, else 0. */
export function reluBackwardCpu(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
  for (let i = 0; i < x.length; i++) dx[i] = x[i]! > 0 ? dy[i]! : 0;
}

const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;

/** gelu_new forward: y = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function geluCpu(x: Floats, y: Floats): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    y[i] = 0.5 * v * (1 + Math.tanh(GELU_C * (v + GELU_A * v * v * v)));
  }
}

/** gelu_new backward: dx = dy·(0.5·(1 + t) + 0.5·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²)), t = tanh(u). */
export function geluBackwardCpu(x: Floats, dy: Floats, dx: Floats): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    const t = Math.tanh(GELU_C * (v + GELU_A * v * v * v));
    dx[i] = dy[i]! * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * GELU_C * (1 + 3 * GELU_A * v * v));
  }
}

/** silu forward: y = x·σ(x) = x / (1 + e^−x). */
export function siluCpu(x: Floats, y: Floats): void {
  for (let i = 0; i < x.length; i++) y[i] = x[i]! / (1 + Math.exp(-x[i]!));
}

/** silu backward: dx = dy·σ(x)·(1 + x·(1 − σ(x))). */
export function siluBackwardCpu(x: Floats, dy: Floats, dx: Floats): void {
  for (let i = 0; i < x.length; i++) {
    const s = 1 / (1 + Math.exp(-x[i]!));
    dx[i] = dy[i]! * s * (1 + x[i]! * (1 - s));
  }
}

// ---- WGSL ------------------------------------------------------------------------------------

/** y = expr(v) for v = x[i]. */
function unaryWgsl(expr: string, prelude = ''): string {
  return pointwiseWgsl([['x', 'read'], ['y', 'read_write']], 'n: u32', `let v = x[i];\n  y[i] = ${expr};`, prelude);
}

/** dx = expr(v, g) for v = x[i], g = dy[i]. */
function backwardWgsl(expr: string, prelude = ''): string {
  return pointwiseWgsl([['x', 'read'], ['dy', 'read'], ['dx', 'read_write']], 'n: u32', `let v = x[i];\n  let g = dy[i];\n  dx[i] = ${expr};`, prelude);
}

const RELU_WGSL = unaryWgsl('max(v, 0.0)');
const RELU_BACKWARD_WGSL = backwardWgsl('select(0.0, g, v > 0.0)');

// The kernels never form ∞: WGSL lets drivers assume no infinities, and tanh(u) or e^u overflowing
// for large |u| yields NaN on some of them. So σ(z) is computed from e = e^−|z| ∈ (0, 1], and
// gelu_new is rewritten without tanh: 0.5·(1 + tanh u) = σ(2u), hence y = x·σ(2u), and
// 0.5·(1 − tanh² u) = 2·σ'(2u). The polynomial u sees x clamped to ±20: past |x| ≈ 10, σ(2u) is
// already exactly 0 or 1 in f32, and the clamp keeps x³ finite for any f32 x.
const SIGMOID_WGSL = /* wgsl */ `
// σ(z) without overflow.
fn sigmoid(z: f32) -> f32 {
  let e = exp(-abs(z));
  return select(e, 1.0, z >= 0.0) / (1.0 + e);
}
// σ'(z) = σ(z)·σ(−z) = e/(1 + e)², free of the cancellation in 1 − σ(z).
fn dsigmoid(z: f32) -> f32 {
  let e = exp(-abs(z));
  return e / ((1.0 + e) * (1.0 + e));
}
const GELU_C: f32 = ${GELU_C};
const GELU_A: f32 = ${GELU_A};
fn geluU(x: f32) -> f32 {
  let xc = clamp(x, -20.0, 20.0);
  return GELU_C * (xc + GELU_A * xc * xc * xc);
}
fn geluDu(x: f32) -> f32 {
  let xc = clamp(x, -20.0, 20.0);
  return GELU_C * (1.0 + 3.0 * GELU_A * xc * xc);
}`;

const GELU_WGSL = unaryWgsl('v * sigmoid(2.0 * geluU(v))', SIGMOID_WGSL);
// v · (2σ'(2u)·u') is grouped so that a huge v meets an exact 0, never an ∞.
const GELU_BACKWARD_WGSL = backwardWgsl('g * (sigmoid(2.0 * geluU(v)) + v * (2.0 * dsigmoid(2.0 * geluU(v)) * geluDu(v)))', SIGMOID_WGSL);
const SILU_WGSL = unaryWgsl('v * sigmoid(v)', SIGMOID_WGSL);
const SILU_BACKWARD_WGSL = backwardWgsl('g * (sigmoid(v) + v * dsigmoid(v))', SIGMOID_WGSL);

// ---- dispatch --------------------------------------------------------------------------------

/** relu(x), same shape. */
export function relu(x: Tensor): Tensor {
  return runPointwise(x, 'relu', reluHost, RELU_WGSL);
}

/** Gradient of relu: dx = dy ⊙ [x > 0]. */
export function reluBackward(x: Tensor, dy: Tensor): Tensor {
  return runPointwiseBackward(x, dy, 'relu_backward', reluBackwardHost, RELU_BACKWARD_WGSL);
}

// relu on long arrays (an SAE's [batch, d_sae] codes) in native/elementwise.c: branch-free and on
// both cores; V8's branch on a random sign mispredicts half the time (~6 ns an element).
const reluHost = (x: Float32Array, y: Float32Array): void => (nativeKernel('reluForward', x.length) ?? reluCpu)(x, y);
const reluBackwardHost = (x: Float32Array, dy: Float32Array, dx: Float32Array): void => (nativeKernel('reluBackward', x.length) ?? reluBackwardCpu)(x, dy, dx);

// On the CPU, native/activations.c when the addon is built (the WGSL kernel's σ form, vectorised:
// Math.tanh made gelu a quarter of a GPT-2 forward); the TypeScript twins stay the specification.
const geluHost = (x: Float32Array, y: Float32Array): void => (blasAddon()?.geluForward ?? geluCpu)(x, y);
const geluBackwardHost = (x: Float32Array, dy: Float32Array, dx: Float32Array): void => (blasAddon()?.geluBackward ?? geluBackwardCpu)(x, dy, dx);

/** gelu_new(x) (tanh form, as in GPT-2), same shape. */
export function gelu(x: Tensor): Tensor {
  return runPointwise(x, 'gelu', geluHost, GELU_WGSL);
}

/** Gradient of gelu_new: dx = dy ⊙ gelu'(x). */
export function geluBackward(x: Tensor, dy: Tensor): Tensor {
  return runPointwiseBackward(x, dy, 'gelu_backward', geluBackwardHost, GELU_BACKWARD_WGSL);
}

/** silu(x) = x·σ(x), same shape. */
export function silu(x: Tensor): Tensor {
  return runPointwise(x, 'silu', siluCpu, SILU_WGSL);
}

/** Gradient of silu: dx = dy ⊙ σ(x)·(1 + x·(1 − σ(x))). */
export function siluBackward(x: Tensor, dy: Tensor): Tensor {
  return runPointwiseBackward(x, dy, 'silu_backward', siluBackwardCpu, SILU_BACKWARD_WGSL);
}

/** The named activation's forward. */
export function activate(kind: Activation, x: Tensor): Tensor {
  return kind === 'relu' ? relu(x) : kind === 'gelu' ? gelu(x) : silu(x);
}

/** The named activation's backward, from the saved input x. */
export function activateBackward(kind: Activation, x: Tensor, dy: Tensor): Tensor {
  return kind === 'relu' ? reluBackward(x, dy) : kind === 'gelu' ? geluBackward(x, dy) : siluBackward(x, dy);
}
