// Pointwise activations and their backward passes, each as a CPU twin (the specification) and a
// WGSL kernel. Forward: y = f(x). Backward: dx = dy * f'(x), recomputing from the saved input x.

import { cpu } from '../cpu/cpuDevice.js';
import { assertDtype, assertSameDevice, Tensor } from '../tensor.js';
import type { WebGpuDevice } from '../webgpu/gpuDevice.js';
import { flatIndexWgsl, grid1d, u32Params } from '../webgpu/params.js';

export type Activation = 'relu';

// ---- CPU twins -------------------------------------------------------------------------------

/** relu forward: y = max(x, 0). */
export function reluCpu(x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) y[i] = x[i]! > 0 ? x[i]! : 0;
}

/** relu backward: dx = dy where x > 0, else 0. */
export function reluBackwardCpu(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
  for (let i = 0; i < x.length; i++) dx[i] = x[i]! > 0 ? dy[i]! : 0;
}

// ---- WGSL ------------------------------------------------------------------------------------

const WG = 256;

function unaryWgsl(expr: string): string {
  return /* wgsl */ `
struct P { n: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${flatIndexWgsl(WG)};
  if (i >= p.n) { return; }
  let v = x[i];
  y[i] = ${expr};
}`;
}

function backwardWgsl(expr: string): string {
  return /* wgsl */ `
struct P { n: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${flatIndexWgsl(WG)};
  if (i >= p.n) { return; }
  let v = x[i];
  let g = dy[i];
  dx[i] = ${expr};
}`;
}

const RELU_WGSL = unaryWgsl('max(v, 0.0)');
const RELU_BACKWARD_WGSL = backwardWgsl('select(0.0, g, v > 0.0)');

// ---- dispatch --------------------------------------------------------------------------------

/** relu(x), same shape. */
export function relu(x: Tensor): Tensor {
  assertDtype(x, 'f32', 'relu');
  if (x.device.kind === 'cpu') {
    const y = cpu.zeros(x.shape);
    reluCpu(x.data as Float32Array, y.data as Float32Array);
    return y;
  }
  const dev = x.device as WebGpuDevice;
  const y = dev.empty(x.shape);
  dev.dispatch({ label: 'relu', code: RELU_WGSL, buffers: [x, y], params: u32Params(x.numel), workgroups: grid1d(x.numel, WG) });
  return y;
}

/** Gradient of relu: dx = dy ⊙ [x > 0]. */
export function reluBackward(x: Tensor, dy: Tensor): Tensor {
  assertSameDevice(x, dy);
  if (x.device.kind === 'cpu') {
    const dx = cpu.zeros(x.shape);
    reluBackwardCpu(x.data as Float32Array, dy.data as Float32Array, dx.data as Float32Array);
    return dx;
  }
  const dev = x.device as WebGpuDevice;
  const dx = dev.empty(x.shape);
  dev.dispatch({ label: 'relu_backward', code: RELU_BACKWARD_WGSL, buffers: [x, dy, dx], params: u32Params(x.numel), workgroups: grid1d(x.numel, WG) });
  return dx;
}
