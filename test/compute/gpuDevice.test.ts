// The WebGPU device itself: transfers, pooling, queue ordering, the uniform arena, byte ranges, errors.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { createDevice, parseDeviceRequest } from '../../src/compute/createDevice.js';
import { relu } from '../../src/compute/ops/activations.js';
import { sizeClass } from '../../src/compute/webgpu/bufferPool.js';
import { grid1d, u32Params } from '../../src/compute/webgpu/params.js';
import { gpuOrSkip } from '../helpers/gpu.js';

const { gpu, skip } = await gpuOrSkip();

test('sizeClass rounds up with bounded waste', () => {
  assert.equal(sizeClass(0), 256);
  assert.equal(sizeClass(257), 512);
  for (const b of [4097, 100_000, 123_456_789]) {
    const c = sizeClass(b);
    assert.ok(c >= b && c <= b * 1.0625 + 1, `${b} -> ${c}`);
  }
});

test('grid1d covers n with at most 65,535 groups a dimension', () => {
  assert.deepEqual(grid1d(10, 256), [1, 1]);
  const [x, y] = grid1d(65536 * 256 + 1, 256);
  assert.ok(x <= 65535 && x * y * 256 >= 65536 * 256 + 1);
});

test('parseDeviceRequest and --device cpu', async () => {
  assert.equal(parseDeviceRequest('webgpu'), 'webgpu');
  assert.throws(() => parseDeviceRequest('cuda'), /--device must be auto, cpu or webgpu/);
  const lines: string[] = [];
  const d = await createDevice('cpu', (l) => lines.push(l));
  assert.equal(d, cpu);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^device: cpu: /);
});

test('round trip of f32, i32, u32 and empty tensors', { skip }, async () => {
  const f = new Float32Array([1.5, -2, 3e-30, Infinity]);
  assert.deepEqual(await gpu!.fromArray(f).read(), f);
  const i = new Int32Array([-1, 0, 2147483647]);
  assert.deepEqual(await gpu!.fromArray(i).read(), i);
  const u = new Uint32Array([0, 4294967295]);
  assert.deepEqual(await gpu!.fromArray(u).read(), u);
  assert.equal((await gpu!.zeros([0, 5]).read()).length, 0);
});

test('zeros are zero even on a reused pooled buffer', { skip }, async () => {
  const a = gpu!.fromArray(new Float32Array(1000).fill(7));
  a.dispose();
  const z = gpu!.zeros([1000]);
  assert.ok((await z.read()).every((v) => v === 0));
});

test('a host write waits for dispatches recorded before it', { skip }, async () => {
  const x = gpu!.fromArray(new Float32Array([-1, 2, -3, 4]));
  const y = relu(x); // recorded, not yet submitted
  gpu!.write(x, new Float32Array([10, 10, 10, 10]));
  assert.deepEqual([...(await y.read())], [0, 2, 0, 4]);
});

test('more dispatches than the uniform arena holds in one batch', { skip }, async () => {
  let t = gpu!.fromArray(new Float32Array([-1, 5]));
  for (let i = 0; i < 700; i++) {
    const next = relu(t);
    t.dispose();
    t = next;
  }
  assert.deepEqual([...(await t.read())], [0, 5]);
});

test('a byte range of a buffer binds at its offset', { skip }, async () => {
  const code = `
struct P { n: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { if (g.x < p.n) { y[g.x] = x[g.x] * 2.0; } }`;
  const src = new Float32Array(128).map((_, i) => i);
  const x = gpu!.fromArray(src);
  const y = gpu!.zeros([4]);
  gpu!.dispatch({ label: 'range', code, buffers: [{ source: x, offset: 256, size: 16 }, y], params: u32Params(4), workgroups: [1] });
  assert.deepEqual([...(await y.read())], [128, 130, 132, 134]);
  assert.throws(() => gpu!.dispatch({ label: 'bad', code, buffers: [{ source: x, offset: 4, size: 16 }, y], params: u32Params(4), workgroups: [1] }), /not a multiple of/);
});

test('a WGSL error surfaces as an exception on the next read', { skip }, async () => {
  const y = gpu!.zeros([4]);
  gpu!.dispatch({ label: 'broken', code: '@compute @workgroup_size(1) fn main() { let a: f32 = undefined_thing; }', buffers: [], workgroups: [1] });
  await assert.rejects(y.read(), /WebGPU error/);
  // The device stays usable afterwards.
  assert.deepEqual([...(await gpu!.fromArray(new Float32Array([3])).read())], [3]);
});
