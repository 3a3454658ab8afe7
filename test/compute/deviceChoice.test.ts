// Which device `--device auto` opens: a software WebGPU adapter (llvmpipe, lavapipe, SwiftShader,
// WARP, a fallback or CPU-type adapter) loses to the CPU; `--device webgpu` still takes it. And no
// WebGPU command prints Dawn's "artificially reduced" limit warnings.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseAuto } from '../../src/compute/createDevice.js';
import { softwareAdapterName, type AdapterInfoLike } from '../../src/compute/webgpu/adapterClass.js';
import { findWebGpuAdapter } from '../../src/compute/webgpu/openGpu.js';
import { withoutDawnLimitWarnings } from '../../src/compute/webgpu/quietAdapter.js';
import { saelab } from '../helpers/cli.js';

// Adapter infos as Dawn reports them (the llvmpipe one from this project's CI machine).
const SAMPLES: [string, AdapterInfoLike, string | null][] = [
  ['llvmpipe (Mesa 25, Vulkan)', { vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15-0-6-256-bits-', description: 'llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1', isFallbackAdapter: true }, 'llvmpipe'],
  ['lavapipe by name', { vendor: 'mesa', architecture: '', device: '', description: 'lavapipe' }, 'lavapipe'],
  ['SwiftShader', { vendor: 'google', architecture: '', device: 'swiftshader', description: 'SwiftShader Device (Subzero)' }, 'SwiftShader'],
  ['WARP', { vendor: 'microsoft', architecture: '', device: '', description: 'Microsoft Basic Render Driver' }, 'WARP'],
  ['fallback flag only', { vendor: 'acme', architecture: '', device: '', description: 'Acme GPU', isFallbackAdapter: true }, 'software'],
  ['CPU adapter type only', { vendor: 'acme', architecture: '', device: '', description: 'Acme', adapterType: 'CPU' }, 'software'],
  ['NVIDIA H100', { vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H100 80GB HBM3', isFallbackAdapter: false, adapterType: 'discrete GPU' }, null],
  ['AMD RADV', { vendor: 'amd', architecture: 'rdna-3', device: '', description: 'AMD Radeon 780M Graphics (RADV PHOENIX)' }, null],
  ['Intel integrated', { vendor: 'intel', architecture: 'gen-12lp', device: '', description: 'Intel(R) UHD Graphics 770', adapterType: 'integrated GPU' }, null],
  ['Apple', { vendor: 'apple', architecture: 'metal-3', device: '', description: '' }, null],
];

test('softwareAdapterName names software adapters and passes GPUs', () => {
  for (const [what, info, expected] of SAMPLES) assert.equal(softwareAdapterName(info), expected, what);
});

test('chooseAuto: a GPU wins; a software adapter or none leaves the CPU, with the reason', () => {
  assert.deepEqual(chooseAuto({ ok: true, software: null }), { use: 'webgpu' });
  const sw = chooseAuto({ ok: true, software: 'llvmpipe' });
  assert.equal(sw.use, 'cpu');
  assert.match((sw as { why: string }).why, /the only WebGPU adapter is software \(llvmpipe\); --device webgpu to use it anyway/);
  const none = chooseAuto({ ok: false, reason: 'no WebGPU adapter' });
  assert.deepEqual(none, { use: 'cpu', why: 'auto: no WebGPU adapter' });
});

test('withoutDawnLimitWarnings drops only the two limit lines', () => {
  const text = [
    'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.',
    'Warning: something else',
    'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 500000 to 16 to fit dynamic offset allocation limit.',
    '',
  ].join('\n');
  assert.equal(withoutDawnLimitWarnings(text), 'Warning: something else\n');
});

const found = await findWebGpuAdapter();
const noAdapter = found.ok ? false : `no WebGPU adapter: ${found.reason}`;
const bench = ['bench', 'kernels', '--only', 'matmul', '--matmul', '8x8x8', '--min-ms', '1', '--json'];

test('WebGPU commands print no "artificially reduced" lines; auto says which device and why', { skip: noAdapter }, async () => {
  const w = await saelab([...bench, '--device', 'webgpu']);
  assert.equal(w.code, 0, w.stderr);
  assert.match(JSON.parse(w.stdout).device, /^webgpu/);
  assert.doesNotMatch(w.stderr, /artificially reduced/);
  const d = await saelab(['devices']);
  assert.equal(d.code, 0, d.stderr);
  assert.doesNotMatch(d.stderr + d.stdout, /artificially reduced/);
  const a = await saelab([...bench, '--device', 'auto']);
  assert.equal(a.code, 0, a.stderr);
  assert.doesNotMatch(a.stderr, /artificially reduced/);
  if (found.ok && found.found.software) {
    assert.match(JSON.parse(a.stdout).device, /^cpu/);
    assert.match(a.stderr, new RegExp(`device: cpu: .*the only WebGPU adapter is software \\(${found.found.software}\\); --device webgpu to use it anyway`));
  } else {
    assert.match(JSON.parse(a.stdout).device, /^webgpu/);
  }
});
