// `saelab train --loss …` as a user meets it: the flags in --help, and bad objective input (an
// unknown --loss, --downstream before the hook, reward on a causal LM) exits 2 with one line and
// writes nothing.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { saelab, userLines } from '../helpers/cli.js';

const ASSETS = resolve('../shared/assets');
const needsAssets = existsSync(join(ASSETS, 'models/gpt2-corpus-tiny')) && existsSync(join(ASSETS, 'corpora/mixed-public-domain.txt.xz')) ? false : 'needs ../shared/assets (gpt2-corpus-tiny and the shared corpus)';

test('train --help lists the objective flags', async () => {
  const r = await saelab(['train', '--help']);
  assert.equal(r.code, 0);
  for (const f of ['--loss', '--kl-coefficient', '--local-coefficient', '--downstream', '--downstream-coefficients', '--reward-coefficient', '--reward-difference', '--init-from']) assert.ok(r.stdout.includes(f), f);
});

test('bad objective input exits 2 with one line and writes nothing', { skip: needsAssets, timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-train-loss-'));
  try {
    const base = ['train', '--device', 'cpu', '--json', '--tokens', '1k', '--batch-size', '256', '--d-sae', '64', '--hook', 'blocks.3.hook_resid_pre'];
    const cases: [string[], RegExp][] = [
      [['--loss', 'kl'], /^saelab: --loss must be one of local, e2e, e2e\+ds, reward \(got 'kl'\)/],
      [['--loss', 'e2e+ds', '--downstream', 'blocks.1.hook_resid_post'], /^saelab: --downstream blocks\.1\.hook_resid_post does not come after the SAE's hook blocks\.3\.hook_resid_pre/],
      [['--loss', 'e2e', '--downstream', 'next'], /^saelab: --downstream goes with --loss e2e\+ds, not e2e/],
      [['--loss', 'reward', '--data', join(ASSETS, 'corpora/mixed-public-domain.txt.xz')], /^saelab: --loss reward needs a sequence-classification \(reward\) model/],
      [['--init-from', join(dir, 'nowhere')], /^saelab: --init-from .*nowhere/],
    ];
    let i = 0;
    for (const [flags, re] of cases) {
      const r = await saelab([...base, ...flags, '--out', join(dir, `o${i++}`)]);
      assert.equal(r.code, 2, `${flags.join(' ')}: ${r.stderr}`);
      assert.equal(userLines(r.stderr).length, 1, r.stderr);
      assert.match(r.stderr, re);
    }
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
