// AdamW step in place, as torch.optim.AdamW (decoupled weight decay, bias-corrected moments):
//   p ← p·(1 − lr·wd)
//   m ← β1·m + (1 − β1)·g
//   v ← β2·v + (1 − β2)·g²
//   p ← p − (lr / (1 − β1^t)) · m / (sqrt(v) / sqrt(1 − β2^t) + eps)      (t = step, from 1)
// The last line is torch's grouping of lr·m̂ / (sqrt(v̂) + eps) (addcdiv with value −stepSize), so
// eps enters, and rounding happens, as there.

import { blasAddon } from '../cpu/blas.js';
import { assertDtype, assertSameDevice, assertShape, Tensor } from '../tensor.js';
import { ParamWriter } from '../webgpu/params.js';
import { gpuOf, pointwiseGrid, pointwiseWgsl } from './wgslGen.js';

export interface AdamWOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1 for the first update. */
  step: number;
}

/** Per-step scalars shared by both implementations (computed in float64 on the host). */
function coefficients(o: AdamWOptions): { decay: number; stepSize: number; bc2Sqrt: number } {
  if (!(Number.isInteger(o.step) && o.step >= 1)) throw new Error(`adamw: step must be an integer ≥ 1, got ${o.step}`);
  return { decay: 1 - o.lr * o.weightDecay, stepSize: o.lr / (1 - o.beta1 ** o.step), bc2Sqrt: Math.sqrt(1 - o.beta2 ** o.step) };
}

// ---- CPU twin --------------------------------------------------------------------------------

/** One AdamW step on every element, updating param, m and v in place. */
export function adamwCpu(param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, o: AdamWOptions): void {
  const { decay, stepSize, bc2Sqrt } = coefficients(o);
  for (let i = 0; i < param.length; i++) {
    const g = grad[i]!;
    m[i] = o.beta1 * m[i]! + (1 - o.beta1) * g;
    v[i] = o.beta2 * v[i]! + (1 - o.beta2) * g * g;
    param[i] = param[i]! * decay - stepSize * (m[i]! / (Math.sqrt(v[i]!) / bc2Sqrt + o.eps));
  }
}

// ---- WGSL ------------------------------------------------------------------------------------

const ADAMW_WGSL = pointwiseWgsl(
  [['param', 'read_write'], ['grad', 'read'], ['m', 'read_write'], ['v', 'read_write']],
  'n: u32, decay: f32, beta1: f32, beta2: f32, stepSize: f32, bc2Sqrt: f32, eps: f32',
  `let g = grad[i];
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  param[i] = param[i] * p.decay - p.stepSize * (mi / (sqrt(vi) / p.bc2Sqrt + p.eps));`,
);

// ---- dispatch --------------------------------------------------------------------------------

/** One AdamW step: updates `param`, `m` and `v` (all the shape of `grad`) in place. */
export function adamwUpdate(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, o: AdamWOptions): void {
  assertSameDevice(param, grad, m, v);
  for (const [t, n] of [[param, 'param'], [grad, 'grad'], [m, 'm'], [v, 'v']] as const) {
    assertDtype(t, 'f32', `adamw ${n}`);
    assertShape(t, param.shape, `adamw ${n}`);
  }
  const dev = gpuOf(param);
  if (!dev) {
    // native/adamw.c when the addon has it: the same f64 arithmetic on both cores, equal bit for bit.
    const native = blasAddon()?.adamwUpdate;
    if (native) {
      const { decay, stepSize, bc2Sqrt } = coefficients(o);
      native(param.data as Float32Array, grad.data as Float32Array, m.data as Float32Array, v.data as Float32Array, o.beta1, o.beta2, o.eps, decay, stepSize, bc2Sqrt);
    } else adamwCpu(param.data as Float32Array, grad.data as Float32Array, m.data as Float32Array, v.data as Float32Array, o);
    return;
  }
  const { decay, stepSize, bc2Sqrt } = coefficients(o);
  const params = new ParamWriter().u32(param.numel).f32(decay).f32(o.beta1).f32(o.beta2).f32(stepSize).f32(bc2Sqrt).f32(o.eps).bytes();
  dev.dispatch({ label: 'adamw', code: ADAMW_WGSL, buffers: [param, grad, m, v], params, workgroups: pointwiseGrid(param.numel) });
}
