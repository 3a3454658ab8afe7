// `saelab duplicates` as a user runs it on gpt2-corpus-tiny. blocks.0.hook_resid_post and
// blocks.1.hook_resid_pre are the same activations under two names (a layer apart), so a later SAE
// whose feature j copies the earlier SAE's feature π(j) (encoder column, bias, decoder row) is a
// planted duplicate: found, with cosine and correlation 1. A feature with a copied decoder row but the
// negated encoder column (it fires where the other does not) is not, nor are the random others. The
// pairs reach the workspace database both ways; bad input exits 2 with one line.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { featureDuplicates } from '../../src/analysis/duplicatesDb.js';
import { openWorkspaceDb } from '../../src/io/workspaceDb.js';
import { initSae } from '../../src/sae/initSae.js';
import { saveSae } from '../../src/sae/saeFiles.js';
import type { SaeConfig } from '../../src/sae/types.js';
import { ASSETS, needsAsset, tempDir } from '../io/assets.js';
import { saelab, userLines } from '../helpers/cli.js';

const skip = needsAsset('models/gpt2-corpus-tiny') || needsAsset('corpora/mixed-public-domain.txt.xz');

test('saelab duplicates: planted cross-layer duplicates found, others not; database rows; bad input exits 2 with one line', { skip, timeout: 600_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const model = join(ASSETS, 'models/gpt2-corpus-tiny');
    const d = 192;
    const m = 64;
    const cfg = (seed: number): SaeConfig => ({ architecture: 'standard', dIn: d, dSae: m, l1Coefficient: 1, applyBDecToInput: true, decoderUnitNorm: false, normalizeActivations: 'none', seed });
    const read = async (t: { read(): Promise<unknown> }) => ((await t.read()) as Float32Array).slice();
    const A = (await initSae(cfg(1), cpu)).params;
    const B = (await initSae(cfg(2), cpu)).params;
    const [aEnc, aBenc, aDec, aBdec] = [await read(A.W_enc), await read(A.b_enc), await read(A.W_dec), await read(A.b_dec)];
    const [bEnc, bBenc, bDec] = [await read(B.W_enc), await read(B.b_enc), await read(B.W_dec)];
    // Later feature j copies earlier feature π(j).
    const planted = new Map([[3, 40], [10, 0], [27, 27], [50, 9]]);
    for (const [j, i] of planted) {
      for (let q = 0; q < d; q++) bEnc[q * m + j] = aEnc[q * m + i]!;
      bBenc[j] = aBenc[i]!;
      bDec.set(aDec.subarray(i * d, (i + 1) * d), j * d);
    }
    // Decoy: feature 60 writes earlier feature 5's direction but reads its negation.
    for (let q = 0; q < d; q++) bEnc[q * m + 60] = -aEnc[q * m + 5]!;
    bBenc[60] = 0;
    bDec.set(aDec.subarray(5 * d, 6 * d), 60 * d);
    const save = async (name: string, hook: string, p: { W_enc: Float32Array; b_enc: Float32Array; W_dec: Float32Array; b_dec: Float32Array }, modelName = model) => {
      const path = join(dir, name);
      const params = { W_enc: cpu.fromArray(p.W_enc, [d, m]), b_enc: cpu.fromArray(p.b_enc, [m]), W_dec: cpu.fromArray(p.W_dec, [m, d]), b_dec: cpu.fromArray(p.b_dec, [d]) };
      await saveSae(path, cfg(1), params, { metadata: { model_name: modelName, hook_name: hook, context_size: 32 } });
      return path;
    };
    const early = await save('L0post', 'blocks.0.hook_resid_post', { W_enc: aEnc, b_enc: aBenc, W_dec: aDec, b_dec: aBdec });
    const late = await save('L1pre', 'blocks.1.hook_resid_pre', { W_enc: bEnc, b_enc: bBenc, W_dec: bDec, b_dec: aBdec });
    const mlp = await save('mlp', 'blocks.1.hook_mlp_out', { W_enc: aEnc, b_enc: aBenc, W_dec: aDec, b_dec: aBdec });
    const other = await save('other', 'blocks.2.hook_resid_pre', { W_enc: aEnc, b_enc: aBenc, W_dec: aDec, b_dec: aBdec }, '/another/model');
    const common = ['--model', model, '--tokens', '256', '--device', 'cpu'];
    const db = join(dir, 'ws.db');
    // Given later first: the report orders the SAEs by hook.
    const r = await saelab(['duplicates', '--sae', late, early, ...common, '--db', db, '--out', join(dir, 'out'), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout);
    assert.deepEqual(rep.saes.map((s: { hook: string }) => s.hook), ['blocks.0.hook_resid_post', 'blocks.1.hook_resid_pre']);
    assert.equal(rep.tokens, 256);
    assert.equal(rep.between.length, 1);
    const pairs = rep.between[0].pairs as { a: number; b: number; cosine: number; correlation: number }[];
    // Planted features that fired on the tokens (a feature that never fires has no correlation).
    assert.ok(pairs.length >= 3, `found ${pairs.length}`);
    for (const p of pairs) {
      assert.equal(planted.get(p.b), p.a, `${p.a} → ${p.b} is not planted`);
      assert.ok(p.cosine > 0.9999 && p.correlation > 0.9999, JSON.stringify(p));
    }
    assert.ok(rep.between[0].cosinePairs >= pairs.length + 1, 'the decoy passes the cosine, not the correlation');
    assert.ok(!pairs.some((p) => p.b === 60));
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'out', 'duplicates.json'), 'utf8')).between, rep.between);
    assert.match(readFileSync(join(dir, 'out', 'duplicates.txt'), 'utf8'), /L0post \(blocks\.0\.hook_resid_post\) vs L1pre/);
    const w = openWorkspaceDb(db);
    try {
      const p0 = pairs[0]!;
      assert.deepEqual(featureDuplicates(w, late, p0.b).map((x) => [x.feature, x.hook]), [[p0.a, 'blocks.0.hook_resid_post']]);
      assert.deepEqual(featureDuplicates(w, early, p0.a).map((x) => [x.feature, x.label]), [[p0.b, 'L1pre']]);
      assert.deepEqual(featureDuplicates(w, late, 60), []);
    } finally {
      w.close();
    }
    // Three SAEs: every pair by default, neighbours in hook order with --adjacent.
    const third = await save('L3pre', 'blocks.3.hook_resid_pre', { W_enc: aEnc, b_enc: aBenc, W_dec: aDec, b_dec: aBdec });
    for (const [extra, want] of [[[], [[0, 1], [0, 2], [1, 2]]], [['--adjacent'], [[0, 1], [1, 2]]]] as const) {
      const three = await saelab(['duplicates', '--sae', third, late, early, ...extra, ...common, '--db', join(dir, 'ws3.db'), '--json']);
      assert.equal(three.code, 0, three.stderr);
      const t = JSON.parse(three.stdout);
      assert.deepEqual(t.saes.map((x: { label: string }) => x.label), ['L0post', 'L1pre', 'L3pre']);
      assert.deepEqual(t.between.map((b: { a: number; b: number }) => [b.a, b.b]), want);
    }
    const text = await saelab(['duplicates', '--sae', early, late, ...common, '--db', join(dir, 'ws2.db')]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /cosine\s+correlation/);
    for (const [args, re] of [
      [['--sae', early], /at least two/],
      [['--sae', early, mlp], /residual/],
      [['--sae', early, other], /different models/],
      [['--sae', early, late, '--cosine', '2'], /--cosine/],
      [['--sae', early, early], /named twice/],
    ] as const) {
      const b = await saelab(['duplicates', ...args, ...common, '--db', join(dir, 'x.db'), '--json']);
      const lines = userLines(b.stderr);
      assert.equal(b.code, 2, `${args.join(' ')}: ${b.stderr}`);
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.match(lines[0]!, re);
    }
    const zero = await saelab(['duplicates', '--sae', early, late, '--model', model, '--tokens', '0', '--json']);
    assert.equal(zero.code, 2);
    assert.match(userLines(zero.stderr)[0]!, /--tokens/);
  } finally {
    cleanup();
  }
});
