// The package entry point loads (without WebGPU globals installed) and exposes each layer's API.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as saelab from '../src/index.js';

test('the library entry exports the compute and io layers', async () => {
  for (const name of ['createDevice', 'cpu', 'matmul', 'topkRows', 'cosineMaxBoth', 'layerNorm', 'crossEntropy', 'adamwUpdate', 'SafetensorsFile', 'writeSafetensors', 'openHfFolder', 'writeFileAtomic']) {
    assert.equal(typeof (saelab as Record<string, unknown>)[name], name === 'cpu' ? 'object' : 'function', name);
  }
  // A two-op chain on the CPU through the public API.
  const a = saelab.cpu.fromArray(new Float32Array([1, 2, 3, 4]), [2, 2]);
  const y = saelab.relu(saelab.matmul(a, a, { transB: true }));
  assert.deepEqual([...y.data], [5, 11, 11, 25]);
});

test('the library entry exports eval, analysis, report and server', () => {
  for (const name of ['evalSaes', 'evalRun', 'compareSaes', 'matchDirections', 'matchedPerturbation', 'perturbSweep', 'pruneForL0', 'buildDashboard', 'xyPlotSvg', 'startServer', 'trainSaes']) {
    assert.equal(typeof (saelab as Record<string, unknown>)[name], 'function', name);
  }
});
