import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { klDivergence, klDivergenceBackward, klDivergenceBackwardCpu, klDivergenceCpu } from '../../src/compute/ops/klDivergence.js';
import { Rng } from '../../src/compute/random.js';
import { assertClose } from '../helpers/assertClose.js';
import { dot, f64, numericGrad } from '../helpers/finiteDiff.js';
import { gpuOrSkip } from '../helpers/gpu.js';
import { assertRowsClose } from '../helpers/rowsClose.js';

const { gpu, skip } = await gpuOrSkip();

test('klDivergence CPU twin: hand-computed, shift-invariant, exact 0 for P = Q', () => {
  // P = [1/2, 1/2], Q = [1/4, 3/4]: KL = ½ ln 2 + ½ ln(2/3) = ½ ln(4/3). Row 1: the same with Q's
  // logits shifted by 500. Row 2: P = Q → exactly 0.
  const lq = [0.25, 0.75].map(Math.log);
  const P = new Float64Array([0, 0, 0, 0, 1.5, -2]);
  const Q = new Float64Array([...lq, ...lq.map((v) => v + 500), 1.5, -2]);
  const kl = new Float64Array(3);
  klDivergenceCpu(P, Q, 2, kl);
  const k = 0.5 * Math.log(4 / 3);
  assertClose(kl, [k, k, 0], { atol: 1e-12, rtol: 1e-12 });
  assert.equal(kl[2], 0);
  const dQ = new Float64Array(6);
  const dP = new Float64Array(6);
  klDivergenceBackwardCpu(P, Q, 2, new Float64Array([1, 2, 1]), dQ, dP);
  // dQ = (q − p)·g; dP = p·((ln p − ln q) − KL)·g.
  assertClose(dQ, [-0.25, 0.25, -0.5, 0.5, 0, 0], { atol: 1e-12, rtol: 1e-12 });
  const dp0 = 0.5 * (Math.log(2) - k);
  const dp1 = 0.5 * (Math.log(2 / 3) - k);
  assertClose(dP, [dp0, dp1, 2 * dp0, 2 * dp1, 0, 0], { atol: 1e-12, rtol: 1e-12 });
});

test('klDivergence backward CPU twin: central finite differences (float64), both inputs', () => {
  const rng = new Rng(9);
  const [N, V] = [3, 6];
  const P = f64(rng.normalArray(N * V, 2));
  const Q = f64(rng.normalArray(N * V, 2));
  const g = f64(rng.normalArray(N));
  const loss = () => {
    const kl = new Float64Array(N);
    klDivergenceCpu(P, Q, V, kl);
    return dot(kl, g);
  };
  const dQ = new Float64Array(N * V);
  const dP = new Float64Array(N * V);
  klDivergenceBackwardCpu(P, Q, V, g, dQ, dP);
  assertClose(dQ, numericGrad(loss, Q), { atol: 1e-8, rtol: 1e-6 }, 'dLogitsQ');
  assertClose(dP, numericGrad(loss, P), { atol: 1e-8, rtol: 1e-6 }, 'dLogitsP');
});

test('klDivergence Tensor API: scalar dkl and withP: false agree with the full form', () => {
  const rng = new Rng(10);
  const [N, V] = [3, 5];
  const P = cpu.fromArray(rng.normalArray(N * V), [N, V]);
  const Q = cpu.fromArray(rng.normalArray(N * V), [N, V]);
  const full = klDivergenceBackward(P, Q, cpu.fromArray(new Float32Array(N).fill(0.5)));
  const slim = klDivergenceBackward(P, Q, 0.5, { withP: false });
  assert.equal(slim.dLogitsP, null);
  assert.deepEqual(slim.dLogitsQ.data, full.dLogitsQ.data);
  assert.throws(() => klDivergence(P, cpu.zeros([N, V + 1])), /expected shape \[3,5\]/);
});

test('klDivergence WGSL matches CPU twin, odd sizes (rtol 1e-5)', { skip }, async () => {
  const rng = new Rng(11);
  const cases: [number, number][] = [[1, 1], [3, 13], [2, 257], [4, 768], [2, 50257], [2000, 3]]; // >65,535 rows: see crossEntropy (same row grid)
  for (const [N, V] of cases) {
    const what = `N=${N} V=${V}`;
    // Q = P plus a small perturbation (the SAE-splice regime, small KL) on even rows; independent on odd rows.
    const a = rng.normalArray(N * V, 2);
    const b = a.map((v, i) => (Math.floor(i / V) % 2 === 0 ? v + 0.1 * rng.normal() : 2 * rng.normal()));
    const g = rng.normalArray(N);
    const [ac, bc, ag, bg] = [cpu.fromArray(a, [N, V]), cpu.fromArray(b, [N, V]), gpu!.fromArray(a, [N, V]), gpu!.fromArray(b, [N, V])];
    assertClose(await klDivergence(ag, bg).read(), klDivergence(ac, bc).data, { atol: 1e-6, rtol: 1e-5 }, `kl ${what}`);
    const c = klDivergenceBackward(ac, bc, cpu.fromArray(g));
    const d = klDivergenceBackward(ag, bg, gpu!.fromArray(g));
    // Row n's absolute error scales with |dkl_n|: log p = logit − lse carries ulp(|lse|) ≈ 5e-7 for
    // |lse| ~ 4–8 (the f32 rounding of lse itself), so p, q, and their difference err by ~1e-6·p;
    // dLogitsP's factor (log p − log q − KL) reaches ~10 on independent rows, its ulp ~1e-6 more.
    assertRowsClose(await d.dLogitsQ.read(), c.dLogitsQ.data, V, (n) => g[n]!, `dLogitsQ ${what}`, 1e-6);
    assertRowsClose(await d.dLogitsP!.read(), c.dLogitsP!.data, V, (n) => g[n]!, `dLogitsP ${what}`, 3e-6);
    const s = klDivergenceBackward(ag, bg, 1 / N, { withP: false });
    assert.equal(s.dLogitsP, null);
    assertRowsClose(await s.dLogitsQ.read(), klDivergenceBackward(ac, bc, 1 / N).dLogitsQ.data, V, () => 1 / N, `dLogitsQ (scalar) ${what}`, 1e-6);
  }
});

test('klDivergence WGSL: exactly 0 (value and gradients) when P = Q', { skip }, async () => {
  const rng = new Rng(12);
  const [N, V] = [3, 50257];
  const a = rng.normalArray(N * V, 3);
  const P = gpu!.fromArray(a, [N, V]);
  const Q = gpu!.fromArray(a, [N, V]);
  assert.deepEqual([...(await klDivergence(P, Q).read())], [0, 0, 0]);
  const d = klDivergenceBackward(P, Q, gpu!.fromArray(new Float32Array([1, -2, 3])));
  assert.ok((await d.dLogitsQ.read()).every((v) => v === 0), 'dLogitsQ');
  assert.ok((await d.dLogitsP!.read()).every((v) => v === 0), 'dLogitsP');
});
