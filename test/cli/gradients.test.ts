// `saelab gradients` as a user runs it on gpt2-corpus-tiny (and its reward model): the report, the
// plots, an SAE's alignment; bad input (an objective the model cannot give, 0 tokens, an SAE of
// another model, an SAE at a hook not asked for) exits 2 with one line.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { initSae } from '../../src/sae/initSae.js';
import { saveSae } from '../../src/sae/saeFiles.js';
import { ASSETS, needsAsset, tempDir } from '../io/assets.js';
import { saelab, userLines } from '../helpers/cli.js';

const skip = needsAsset('models/gpt2-corpus-tiny') || needsAsset('models/gpt2-corpus-tiny-rm-hh') || needsAsset('corpora/mixed-public-domain.txt.xz') || needsAsset('preference/hh-harmless-base-test.jsonl.gz');

test('saelab gradients: spectra, SAE alignment and plots; bad input exits 2 with one line', { skip, timeout: 600_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const model = join(ASSETS, 'models/gpt2-corpus-tiny');
    const rm = join(ASSETS, 'models/gpt2-corpus-tiny-rm-hh');
    const hook = 'blocks.2.hook_resid_pre';
    const cfg = { architecture: 'topk' as const, dIn: 192, dSae: 256, k: 8, applyBDecToInput: true, decoderUnitNorm: true, normalizeActivations: 'none' as const, seed: 1 };
    const sae = join(dir, 'sae');
    await saveSae(sae, cfg, (await initSae(cfg, cpu)).params, { metadata: { model_name: model, hook_name: hook, context_size: 16 } });
    const other = join(dir, 'other');
    const cfg2 = { ...cfg, dIn: 64 };
    await saveSae(other, cfg2, (await initSae(cfg2, cpu)).params, { metadata: { model_name: model, hook_name: hook, context_size: 16 } });
    const common = ['--model', model, '--tokens', '120', '--context-size', '16', '--device', 'cpu'];

    const out = join(dir, 'g');
    const r = await saelab(['gradients', '--hook', `blocks.0.hook_resid_pre,${hook}`, '--objective', 'kl', '--sae', sae, '--random-directions', '500', ...common, '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout);
    assert.equal(rep.hooks.length, 2);
    for (const h of rep.hooks) {
      const s = h.spectrum;
      assert.ok(s.tokens >= 120, `${s.tokens} tokens`);
      assert.equal(s.singularValues.length, 192);
      assert.ok(s.effectiveRank['0.9'] <= s.effectiveRank['0.99'] && s.effectiveRank['0.99'] <= s.effectiveRank['0.999']);
      // LayerNorm removes the mean: the all-ones direction has no gradient at any residual hook.
      assert.ok(s.fractionBelow1e3 >= 1 / 192, `fraction below 1e-3: ${s.fractionBelow1e3}`);
    }
    const a = rep.saes[0];
    assert.equal(a.hook, hook);
    assert.equal(a.perLatent.decoderEnergy.length, 256);
    assert.ok(Math.abs(a.random.energy.mean - a.randomExpected) < 0.05, `random energy ${a.random.energy.mean} ≈ r/d ${a.randomExpected}`);
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'gradients.json'), 'utf8')).hooks, rep.hooks);
    for (const f of ['gradient-spectrum.svg', 'alignment-sae-decoder.svg', 'alignment-sae-encoder.svg']) assert.ok(readFileSync(join(out, f), 'utf8').startsWith('<svg'), f);

    const pairs = join(ASSETS, 'preference/hh-harmless-base-test.jsonl.gz');
    const rr = await saelab(['gradients', '--model', rm, '--hook', hook, '--objective', 'reward', '--pairs', pairs, '--tokens', '200', '--context-size', '32', '--device', 'cpu', '--out', join(dir, 'rw'), '--json']);
    assert.equal(rr.code, 0, rr.stderr);
    assert.ok(JSON.parse(rr.stdout).hooks[0].spectrum.tokens >= 200);
    // The reward model's weights streamed from disk a block at a time: the same spectrum, bit for bit.
    const rs = await saelab(['gradients', '--model', rm, '--hook', hook, '--objective', 'reward', '--pairs', pairs, '--tokens', '200', '--context-size', '32', '--device', 'cpu', '--stream', '--out', join(dir, 'rw-stream'), '--json']);
    assert.equal(rs.code, 0, rs.stderr);
    assert.deepEqual(JSON.parse(rs.stdout).hooks[0].spectrum, JSON.parse(rr.stdout).hooks[0].spectrum);

    for (const [args, re] of [
      [['gradients', '--hook', hook, '--objective', 'reward', ...common], /--objective reward needs a reward/],
      [['gradients', '--model', rm, '--hook', hook, '--objective', 'kl', '--tokens', '10', '--device', 'cpu'], /--objective kl needs a causal LM/],
      [['gradients', '--hook', hook, ...common.map((c) => (c === '120' ? '0' : c))], /--tokens/],
      [['gradients', '--hook', hook, '--sae', other, ...common], /d_in is 64 .* another model/],
      [['gradients', '--hook', 'blocks.0.hook_resid_pre', '--sae', sae, ...common], /not among --hook/],
      [['gradients', '--hook', hook, '--objective', 'mse', ...common], /--objective/],
    ] as const) {
      const b = await saelab([...args, '--out', join(dir, 'x'), '--json']);
      const lines = userLines(b.stderr);
      assert.equal(b.code, 2, `${args.join(' ')}: ${b.stderr}`);
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.match(lines[0]!, re);
    }
    // A leftover checkpoint: refused without --resume; one that is not a checkpoint is named with --resume.
    mkdirSync(join(dir, 'ck'), { recursive: true });
    writeFileSync(join(dir, 'ck', 'gradients.checkpoint'), 'not a checkpoint');
    for (const [args, re] of [
      [['gradients', '--hook', hook, ...common], /gradients\.checkpoint: an unfinished run's checkpoint is here: pass --resume/],
      [['gradients', '--hook', hook, ...common, '--resume'], /gradients\.checkpoint: not a checkpoint of this command/],
    ] as const) {
      const b = await saelab([...args, '--out', join(dir, 'ck'), '--json']);
      const lines = userLines(b.stderr);
      assert.equal(b.code, 2, `${args.join(' ')}: ${b.stderr}`);
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.match(lines[0]!, re);
    }
  } finally {
    cleanup();
  }
});
