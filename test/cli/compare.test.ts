// `saelab compare` as a user runs it (build first: npx tsc -p tsconfig.json).

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { saelab, userLines } from '../helpers/cli.js';
import { permutedCopy, randomSae, writeSyntheticSae } from '../analysis/saeFolders.js';

const root = mkdtempSync(join(tmpdir(), 'saelab-cli-compare-'));
after(() => rmSync(root, { recursive: true, force: true }));
const dSae = 40;
const dIn = 10;
let perm: Int32Array;

before(async () => {
  const a = randomSae(1, dSae, dIn);
  const p = permutedCopy(a, dSae, dIn, 2);
  perm = p.perm;
  await writeSyntheticSae(join(root, 'a'), a, dSae, dIn);
  await writeSyntheticSae(join(root, 'b'), p.sae, dSae, dIn);
  await writeSyntheticSae(join(root, 'c'), randomSae(3, dSae, dIn), dSae, dIn);
  await writeSyntheticSae(join(root, 'other-hook'), a, dSae, dIn, { hook_name: 'blocks.1.hook_resid_pre' });
  const bad = randomSae(4, dSae, dIn);
  bad.wDec[5] = NaN;
  await writeSyntheticSae(join(root, 'nan'), bad, dSae, dIn);
});

test('compare --json --out: permuted copies match perfectly; report files written; matching CSV is the permutation', async () => {
  const out = join(root, 'report');
  const r = await saelab(['compare', join(root, 'a'), join(root, 'b'), '--by', 'decoder,encoder', '--json', '--out', out, '--device', 'cpu']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.pairs.length, 2);
  for (const p of j.pairs) {
    assert.ok(Math.abs(p.matching.meanMatchedCos - 1) < 1e-6);
    assert.equal(p.matching.certificate.certified, true);
    assert.equal(p.maxAtoB.histogram.length, 40);
    assert.equal(p.maxAtoB.histogram.reduce((s: number, b: { count: number }) => s + b.count, 0), dSae);
  }
  for (const f of Object.values(j.pairs[0].files as Record<string, string>)) assert.ok(existsSync(join(out, f)), f);
  const csv = readFileSync(join(out, j.pairs[0].files.matching), 'utf8').trim().split('\n');
  assert.equal(csv[0], 'a,b,cos');
  assert.equal(csv.length, dSae + 1);
  for (const line of csv.slice(1)) {
    const [ai, bi, c] = line.split(',').map(Number);
    assert.equal(ai, perm[bi!]);
    assert.ok(Math.abs(c! - 1) < 1e-5);
  }
  assert.ok(readFileSync(join(out, j.pairs[0].files.maxAtoB), 'utf8').startsWith('<svg'));
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8')).pairs.length, 2);
});

test('compare of three SAEs prints the pairwise table and the asymmetry line', async () => {
  const r = await saelab(['compare', join(root, 'a'), join(root, 'b'), join(root, 'c'), '--device', 'cpu']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /pairwise/);
  assert.match(r.stdout, /why the maxes differ: mean max a→c .* a max lets one partner serve many features/);
  assert.match(r.stdout, /optimal: certified over all 40×40 pairs/);
  const tableLines = r.stdout.split('\n').slice(r.stdout.split('\n').indexOf('pairwise') + 2).filter((l) => l.trim());
  assert.equal(tableLines.length, 3);
});

test('bad input: one clear line, exit 2', async () => {
  const cases: [string[], RegExp][] = [
    [[join(root, 'a'), join(root, 'other-hook')], /hook blocks\.3\.hook_resid_pre but .*blocks\.1\.hook_resid_pre.*--force/],
    [[join(root, 'a'), join(root, 'nan')], /nan\/sae_weights\.safetensors: tensor W_(enc|dec) row \d+, column \d+ is NaN/], // refused by the SAE loader
    [[join(root, 'a')], /at least two/],
    [[join(root, 'a'), join(root, 'missing')], /missing.*no such folder/],
    [[join(root, 'a'), join(root, 'b'), '--by', 'weights'], /--by must be/],
  ];
  for (const [args, re] of cases) {
    const r = await saelab(['compare', ...args, '--device', 'cpu']);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    const lines = userLines(r.stderr).filter((l) => !l.startsWith('device:') && !/^using /.test(l));
    assert.equal(lines.length, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(lines[0]!, re);
  }
  const forced = await saelab(['compare', join(root, 'a'), join(root, 'other-hook'), '--force', '--device', 'cpu']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stdout, /forced: /);
});
