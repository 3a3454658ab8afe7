// `saelab perturb` and `saelab prune` as a user runs them on gpt2-corpus-tiny: reports and plots
// written; bad targets, absent hooks and SAEs of another hook exit 2 with one line.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { initSae } from '../../src/sae/initSae.js';
import { saveSae } from '../../src/sae/saeFiles.js';
import { ASSETS, needsAsset, tempDir } from '../io/assets.js';
import { saelab, userLines } from '../helpers/cli.js';

const skip = needsAsset('models/gpt2-corpus-tiny') || needsAsset('corpora/mixed-public-domain.txt.xz');

test('saelab perturb and prune on gpt2-corpus-tiny; bad input exits 2 with one line', { skip, timeout: 600_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const model = join(ASSETS, 'models/gpt2-corpus-tiny');
    const hook = 'blocks.1.hook_resid_pre';
    const cfg = { architecture: 'topk' as const, dIn: 192, dSae: 384, k: 8, applyBDecToInput: true, decoderUnitNorm: true, normalizeActivations: 'none' as const, seed: 1 };
    const sae = join(dir, 'sae');
    await saveSae(sae, cfg, (await initSae(cfg, cpu)).params, { metadata: { model_name: model, hook_name: hook, context_size: 16 } });
    const common = ['--model', model, '--tokens', '60', '--context-size', '16', '--device', 'cpu'];

    const out = join(dir, 'perturb');
    const r = await saelab(['perturb', '--hooks', hook, 'blocks.0.hook_attn_out', '--sae', sae, '--targets', '0,0.01,0.2', ...common, '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout);
    assert.equal(rep.hooks.length, 2);
    assert.equal(rep.hooks[0].curve[0].kl.mean, 0, 'KL is 0 at cos 1, norm ratio 1');
    assert.equal(rep.hooks[0].saes[0].label, 'sae');
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'perturb.json'), 'utf8')).hooks, rep.hooks);
    for (const f of ['perturb-blocks.1.hook_resid_pre.svg', 'perturb-blocks.0.hook_attn_out.svg', 'perturb-robustness.svg']) assert.ok(readFileSync(join(out, f), 'utf8').startsWith('<svg'), f);

    const pr = await saelab(['prune', '--sae', sae, '--l0', '4', '8', '--skip-tokens', '5000', ...common, '--out', join(dir, 'prune'), '--json']);
    assert.equal(pr.code, 0, pr.stderr);
    const prep = JSON.parse(pr.stdout);
    assert.equal(prep.rows.length, 2);
    assert.ok(prep.rows[0].l0 <= 4 && prep.rows[1].l0 <= 8);
    assert.ok(existsSync(join(dir, 'prune', 'prune-loss-recovered.svg')));

    for (const [args, re] of [
      [['perturb', '--hooks', hook, '--targets', '2.5', ...common, '--out', join(dir, 'x')], /--targets must be/],
      [['perturb', '--hooks', 'blocks.7.hook_resid_pre', ...common, '--out', join(dir, 'x')], /unknown hook "blocks.7.hook_resid_pre"/],
      [['perturb', '--hooks', 'blocks.0.hook_mlp_out', '--sae', sae, ...common, '--out', join(dir, 'x')], /not among --hooks/],
      [['perturb', '--hooks', hook, '--norm-ratio', '0', ...common, '--out', join(dir, 'x')], /--norm-ratio must be a positive number/],
      [['prune', '--sae', sae, '--l0', '-1', ...common, '--out', join(dir, 'x')], /--l0 targets/],
    ] as const) {
      const b = await saelab([...args, '--json']);
      const lines = userLines(b.stderr);
      assert.equal(b.code, 2, `${args.join(' ')}: ${b.stderr}`);
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.match(lines[0]!, re);
    }
  } finally {
    cleanup();
  }
});
