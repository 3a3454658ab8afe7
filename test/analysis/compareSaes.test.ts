import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import { compareSaes } from '../../src/analysis/compareSaes.js';
import { featureActivations, harvestEvalActivations, pearson } from '../../src/analysis/featureCorrelation.js';
import { distributionSummary, quantileSorted } from '../../src/analysis/summaries.js';
import { loadSae } from '../../src/sae/saeFiles.js';
import { ASSETS, needsAsset } from '../io/assets.js';
import { permutedCopy, randomSae, writeSyntheticSae } from './saeFolders.js';
import { cosineMatrix } from './referenceLap.js';

const root = mkdtempSync(join(tmpdir(), 'saelab-compare-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('summaries: quantiles interpolate like numpy, non-finite values are left out', () => {
  assert.equal(quantileSorted([1, 2, 3, 4], 0.5), 2.5);
  assert.equal(quantileSorted([0, 10], 0.1), 1);
  const s = distributionSummary([3, NaN, 1, 2, Infinity]);
  assert.deepEqual([s.count, s.mean, s.min, s.median, s.max], [3, 2, 1, 2, 3]);
});

test('a permuted, rescaled copy matches perfectly by decoder and encoder; pairs are the permutation', async () => {
  const dSae = 48;
  const dIn = 12;
  const a = randomSae(1, dSae, dIn);
  const { sae: b, perm } = permutedCopy(a, dSae, dIn, 2);
  await writeSyntheticSae(join(root, 'a'), a, dSae, dIn);
  await writeSyntheticSae(join(root, 'b'), b, dSae, dIn);
  const r = await compareSaes({ saes: [join(root, 'a'), join(root, 'b')], by: ['decoder', 'encoder'], device: cpu });
  assert.equal(r.pairs.length, 2);
  for (const p of r.pairs) {
    assert.ok(Math.abs(p.matching.meanMatchedCos - 1) < 1e-6, `${p.by}: ${p.matching.meanMatchedCos}`);
    assert.equal(p.matching.fractionAbove['0.9'], 1);
    assert.ok(p.matching.certificate.certified);
    assert.ok(Math.abs(p.maxAtoB.mean - 1) < 1e-6 && Math.abs(p.maxBtoA.mean - 1) < 1e-6);
    const { a: pa, b: pb } = p.matching.pairs;
    for (let t = 0; t < pa.length; t++) assert.equal(pa[t], perm[pb[t]!], `${p.by}: A ${pa[t]} ↔ B ${pb[t]}`);
  }
});

test('max both ways and the matching agree with a plain cosine matrix on unrelated SAEs', async () => {
  const dIn = 6;
  const a = randomSae(5, 30, dIn);
  const b = randomSae(6, 20, dIn); // different widths
  await writeSyntheticSae(join(root, 'u1'), a, 30, dIn);
  await writeSyntheticSae(join(root, 'u2'), b, 20, dIn);
  const r = await compareSaes({ saes: [join(root, 'u1'), join(root, 'u2')], device: cpu });
  const p = r.pairs[0]!;
  const C = cosineMatrix(a.wDec, 30, b.wDec, 20, dIn);
  for (let i = 0; i < 30; i++) {
    let best = -Infinity;
    for (let j = 0; j < 20; j++) best = Math.max(best, C[i * 20 + j]!);
    assert.ok(Math.abs(p.values.maxAtoB[i]! - best) < 1e-5);
  }
  assert.equal(p.matching.pairs.a.length, 20); // the smaller side is matched whole
  let total = 0;
  for (let t = 0; t < 20; t++) total += C[p.matching.pairs.a[t]! * 20 + p.matching.pairs.b[t]!]!;
  assert.ok(Math.abs(total - p.matching.totalCos) < 1e-4);
  // The asymmetry line cites the counts it is computed from.
  assert.match(p.asymmetry, new RegExp(`${p.sharedBest.bOfSeveralA} of 20 u2 features`));
});

test('three SAEs give the pairwise table (3 pairs)', async () => {
  const dIn = 8;
  for (const [name, seed] of [['t1', 11], ['t2', 12], ['t3', 13]] as const) await writeSyntheticSae(join(root, name), randomSae(seed, 16, dIn), 16, dIn);
  const r = await compareSaes({ saes: ['t1', 't2', 't3'].map((n) => join(root, n)), device: cpu });
  assert.deepEqual(r.pairs.map((p) => [p.a, p.b]), [[0, 1], [0, 2], [1, 2]]);
});

test('bad input: different hooks (unless --force), different d_in, NaN directions, one SAE', async () => {
  const s = randomSae(3, 10, 8);
  await writeSyntheticSae(join(root, 'h3'), s, 10, 8);
  await writeSyntheticSae(join(root, 'h4'), s, 10, 8, { hook_name: 'blocks.4.hook_resid_pre' });
  await assert.rejects(compareSaes({ saes: [join(root, 'h3'), join(root, 'h4')], device: cpu }), (e: Error) => e.name === 'UsageError' && /hook blocks\.3\.hook_resid_pre but .* blocks\.4\.hook_resid_pre.*--force/.test(e.message));
  const forced = await compareSaes({ saes: [join(root, 'h3'), join(root, 'h4')], force: true, device: cpu });
  assert.equal(forced.forced.length, 1);
  assert.ok(Math.abs(forced.pairs[0]!.matching.meanMatchedCos - 1) < 1e-6);

  await writeSyntheticSae(join(root, 'd6'), randomSae(3, 10, 6), 10, 6);
  await assert.rejects(compareSaes({ saes: [join(root, 'h3'), join(root, 'd6')], force: true, device: cpu }), (e: Error) => e.name === 'UsageError' && /d_in 8 .* d_in 6/.test(e.message));

  const bad = randomSae(4, 10, 8);
  bad.wDec[3 * 8 + 2] = NaN;
  await writeSyntheticSae(join(root, 'nan'), bad, 10, 8);
  await assert.rejects(compareSaes({ saes: [join(root, 'h3'), join(root, 'nan')], device: cpu }), (e: Error) => e.name === 'SaeFileError' && /nan\/sae_weights\.safetensors: tensor W_(enc|dec) row \d+, column \d+ is NaN/.test(e.message)); // the loader refuses it

  await assert.rejects(compareSaes({ saes: [join(root, 'h3')], device: cpu }), /at least two/);
  // An empty SAE (d_sae 0) is refused when its cfg.json is read.
  const cfgPath = join(root, 'h3', 'cfg.json');
  writeFileSync(join(root, 'cfg-backup.json'), readFileSync(cfgPath));
  writeFileSync(cfgPath, readFileSync(cfgPath, 'utf8').replace('"d_sae": 10', '"d_sae": 0'));
  await assert.rejects(compareSaes({ saes: [join(root, 'h3'), join(root, 'h4')], force: true, device: cpu }), (e: Error) => e.name === 'SaeFileError' && /d_sae/.test(e.message));
  writeFileSync(cfgPath, readFileSync(join(root, 'cfg-backup.json')));
});

const MODEL = join(ASSETS, 'models', 'gpt2-corpus-tiny');
const CORPUS = join(ASSETS, 'corpora', 'mixed-public-domain.txt.xz');

test('by activations and --alive-only on real tokens: Pearson of matched pairs, dead features dropped', { skip: needsAsset('models/gpt2-corpus-tiny') || needsAsset('corpora/mixed-public-domain.txt.xz') }, async () => {
  const dIn = 192;
  const dSae = 24;
  const meta = { model_name: MODEL, dataset_path: CORPUS, context_size: 64 };
  const a = randomSae(21, dSae, dIn);
  // Features 0..4 of A can never fire: a huge negative bias.
  for (let j = 0; j < 5; j++) a.bEnc[j] = -1e9;
  const { sae: b, perm } = permutedCopy(a, dSae, dIn, 22);
  const c = randomSae(23, dSae, dIn);
  await writeSyntheticSae(join(root, 'ra'), a, dSae, dIn, meta);
  await writeSyntheticSae(join(root, 'rb'), b, dSae, dIn, meta);
  await writeSyntheticSae(join(root, 'rc'), c, dSae, dIn, meta);
  const saes = ['ra', 'rb', 'rc'].map((n) => join(root, n));
  const r = await compareSaes({ saes, by: ['activations', 'decoder'], aliveOnly: true, device: cpu, eval: { tokens: 200 } });
  assert.equal(r.evalTokens!.tokens, 200);
  // A permuted copy fires on the same tokens: the same 5 features dead on each side.
  assert.equal(r.saes[0]!.alive, dSae - 5);
  assert.equal(r.saes[1]!.alive, dSae - 5);
  const ab = r.pairs.find((p) => p.by === 'activations' && p.a === 0 && p.b === 1)!;
  assert.deepEqual([ab.droppedA, ab.droppedB, ab.nA, ab.nB], [5, 5, dSae - 5, dSae - 5]);
  assert.ok(Math.abs(ab.matching.meanMatchedCos - 1) < 1e-5, `perm copy correlation ${ab.matching.meanMatchedCos}`);
  for (let t = 0; t < ab.matching.pairs.a.length; t++) assert.equal(ab.matching.pairs.a[t], perm[ab.matching.pairs.b[t]!]);
  for (let t = 0; t < ab.matching.pairs.a.length; t++) assert.ok(ab.matching.pairs.a[t]! >= 5, 'dead features are not matched');
  const decAb = r.pairs.find((p) => p.by === 'decoder' && p.a === 0 && p.b === 1)!;
  assert.deepEqual([decAb.droppedA, decAb.droppedB], [5, 5]);

  // A vs C: each matched pair's value is the plain Pearson correlation of the two features' activations.
  const ac = r.pairs.find((p) => p.by === 'activations' && p.a === 0 && p.b === 2)!;
  const x = await harvestEvalActivations({ model: MODEL, hook: 'blocks.3.hook_resid_pre', data: CORPUS, tokens: 200, contextSize: 64, device: cpu });
  const fa = await featureActivations(await loadSae(saes[0]!, cpu), x.x, x.n, cpu, true);
  const fc = await featureActivations(await loadSae(saes[2]!, cpu), x.x, x.n, cpu, true);
  // Raw activations back from the centred rows: the plain Pearson is shift-invariant.
  const row = (f: typeof fa, j: number) => f.centred!.subarray(j * f.n, (j + 1) * f.n);
  for (let t = 0; t < Math.min(5, ac.matching.pairs.a.length); t++) {
    const want = pearson(row(fa, ac.matching.pairs.a[t]!), row(fc, ac.matching.pairs.b[t]!));
    assert.ok(Math.abs(ac.matching.pairs.cos[t]! - want) < 1e-4, `pair ${t}: ${ac.matching.pairs.cos[t]} vs Pearson ${want}`);
  }
});

test('featureActivations: firing counts, variance and centred rows equal a plain ReLU encode', async () => {
  const dIn = 5;
  const dSae = 7;
  const s = randomSae(31, dSae, dIn);
  s.bEnc[2] = -1e9; // never fires
  await writeSyntheticSae(join(root, 'fa'), s, dSae, dIn);
  const sae = await loadSae(join(root, 'fa'), cpu);
  const n = 50;
  const rng = new Rng(32);
  const x = rng.normalArray(n * dIn);
  const got = await featureActivations(sae, x, n, cpu, true, 16); // chunks of 16: 4 chunks, the last partial
  for (let j = 0; j < dSae; j++) {
    // f_j(x) = relu(x · W_dec[j] + b_enc[j]) (W_enc = W_decᵀ, no b_dec subtraction in these folders).
    const f = Array.from({ length: n }, (_, t) => {
      let z = s.bEnc[j]!;
      for (let k = 0; k < dIn; k++) z += x[t * dIn + k]! * s.wDec[j * dIn + k]!;
      return Math.max(0, z);
    });
    assert.equal(got.firedCount[j], f.filter((v) => v > 0).length, `fired ${j}`);
    const mean = f.reduce((a, b) => a + b, 0) / n;
    const variance = f.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
    assert.ok(Math.abs(got.variance[j]! - variance) < 1e-4 * (1 + variance), `variance ${j}`);
    for (let t = 0; t < n; t++) assert.ok(Math.abs(got.centred![j * n + t]! - (variance === 0 ? 0 : f[t]! - mean)) < 1e-4, `centred ${j},${t}`);
  }
  assert.equal(got.firedCount[2], 0);
});

test('held-out evaluation tokens: skipTokens drops whole windows of the stream, counted without the BOS', { skip: needsAsset('models/gpt2-corpus-tiny') || needsAsset('corpora/mixed-public-domain.txt.xz') }, async () => {
  const spec = { model: MODEL, hook: 'blocks.3.hook_resid_pre', data: CORPUS, contextSize: 16, device: cpu, batchSize: 2 };
  // Windows of 16: BOS + 15 stream tokens. Skipping 30 stream tokens starts at the third window.
  const all = await harvestEvalActivations({ ...spec, tokens: 150 });
  const later = await harvestEvalActivations({ ...spec, tokens: 60, skipTokens: 30 });
  const d = all.dIn;
  const perWindow = all.n / 10; // kept positions per window (BOS excluded)
  assert.equal(later.n, 60);
  assert.deepEqual(later.x.subarray(0, 60 * d), all.x.subarray(2 * perWindow * d, (2 * perWindow + 60) * d));
  assert.notDeepEqual(later.x.subarray(0, d), all.x.subarray(0, d));
});
