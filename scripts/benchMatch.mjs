#!/usr/bin/env node
// Benchmark of the exact one-to-one matching (src/analysis/matchDirections.ts) on the data of
// `torch_reference.py --only match`: two sets of n unit vectors in R^d from a shared base + N(0, 0.5²)
// noise, B row-permuted, numpy default_rng(0). python3 + numpy generate the very same arrays; with
// --scipy, scipy's linear_sum_assignment runs on them in the same call for the speed and objective
// comparison. Also times the max-cosine pass (cosineMaxBoth, CPU) for the `cos.maxsim` case.
//
//   npx tsc -p tsconfig.json && node scripts/benchMatch.mjs --n 4096,8192 --d 96 --scipy
//   node scripts/benchMatch.mjs --n 32768 --d 768 [--maxsim] [--device cpu|webgpu] [--out bench.json]
//   node scripts/benchMatch.mjs --n 8192 --d 192 --random        (unrelated sets: the solver's hard case)

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { matchDirectionsOn } from '../dist/src/analysis/matchDirections.js';
import { createDevice, parseDeviceRequest } from '../dist/src/compute/createDevice.js';
import { cosineMaxBoth } from '../dist/src/compute/ops/cosineMax.js';
import { Rng } from '../dist/src/compute/random.js';

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const ns = flag('--n', '4096,8192').split(',').map(Number);
const d = Number(flag('--d', '96'));
const withScipy = args.includes('--scipy');
const withMaxsim = args.includes('--maxsim');
// --random: two unrelated sets of iid normal rows (our Rng, seed 1) instead of the correlated pair: the hard case for the solver.
const random = args.includes('--random');
const k = Number(flag('--k', '32'));
const out = flag('--out', null);
// --device webgpu: the candidate pass (matmul + topkRows) and cosineMaxBoth on the GPU.
const device = await createDevice(parseDeviceRequest(flag('--device', 'cpu')), (line) => process.stderr.write(line + '\n'));

// The recipe of torch_reference.py's match case, with d as a parameter; scipy optionally.
const PY = `
import sys, json, time, numpy as np
n, d, path, lsa = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4] == '1'
rng = np.random.default_rng(0)
base = rng.standard_normal((n, d)).astype(np.float32)
A = base + 0.5 * rng.standard_normal((n, d)).astype(np.float32)
B = base[rng.permutation(n)] + 0.5 * rng.standard_normal((n, d)).astype(np.float32)
A /= np.linalg.norm(A, axis=1, keepdims=True); B /= np.linalg.norm(B, axis=1, keepdims=True)
A.astype(np.float32).tofile(path + '/A.f32'); B.astype(np.float32).tofile(path + '/B.f32')
res = {}
if lsa:
    from scipy.optimize import linear_sum_assignment
    S = A @ B.T
    t = time.perf_counter(); r, c = linear_sum_assignment(S, maximize=True); dt = time.perf_counter() - t
    res = {'seconds': dt, 'total': float(S[r, c].astype(np.float64).sum()), 'mean_matched_cos': float(S[r, c].mean())}
print(json.dumps(res))
`;

const rows = [];
const emit = (r) => {
  rows.push(r);
  console.log(JSON.stringify(r));
};
emit({ case: 'machine', cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version, date: new Date().toISOString() });
for (const n of ns) {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-benchmatch-'));
  try {
    let A;
    let B;
    let py = {};
    if (random) {
      const rng = new Rng(1);
      A = rng.normalArray(n * d);
      B = rng.normalArray(n * d);
    } else {
      py = JSON.parse(execFileSync('python3', ['-c', PY, String(n), String(d), dir, withScipy ? '1' : '0'], { encoding: 'utf8', maxBuffer: 1 << 20 }).trim());
      A = new Float32Array(readFileSync(join(dir, 'A.f32')).buffer.slice(0));
      B = new Float32Array(readFileSync(join(dir, 'B.f32')).buffer.slice(0));
    }
    const t = performance.now();
    const r = await matchDirectionsOn(device, A, n, B, n, d, { k });
    const seconds = (performance.now() - t) / 1e3;
    const row = {
      case: random ? 'match.saelab.random' : 'match.saelab', device: device.kind, n, d, k, seconds, phases: r.seconds, mean_matched_cos: r.totalCos / n, certified: r.certificate.certified,
      max_violation: r.certificate.maxViolation, rounds: r.certificate.rounds, added_pairs: r.certificate.addedPairs, augmentations: r.certificate.augmentations,
    };
    if (withScipy && !random) Object.assign(row, { scipy_seconds: py.seconds, scipy_mean_matched_cos: py.mean_matched_cos, speedup_vs_scipy: py.seconds / seconds, total_minus_scipy: r.totalCos - py.total });
    emit(row);
    if (withMaxsim) {
      const ta = device.fromArray(A, [n, d]);
      const tb = device.fromArray(B, [n, d]);
      const once = async () => {
        const r = cosineMaxBoth(ta, tb);
        await r.rowMax.read(); // waits for the GPU
        for (const t of Object.values(r)) t.dispose();
      };
      await once(); // warm-up (pipelines)
      const t1 = performance.now();
      await once();
      emit({ case: 'cos.maxsim.saelab', device: device.kind, n, d, ms: performance.now() - t1 });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
device.destroy();
if (out) writeFileSync(out, JSON.stringify(rows, null, 1) + '\n');
