// A newcomer's first hour with the CLI (issue #12): unknown commands, arguments checked before any
// device opens, the same count and list forms on every flag, held-out text by default, perturb's
// cost up front, inspect on an SAE folder, help that says what the command does.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { initSae } from '../../src/sae/initSae.js';
import { saveSae } from '../../src/sae/saeFiles.js';
import { ASSETS, needsAsset, tempDir } from '../io/assets.js';
import { saelab, userLines } from '../helpers/cli.js';

const MODEL = join(ASSETS, 'models/gpt2-corpus-tiny');
const needsModel = needsAsset('models/gpt2-corpus-tiny');

/** Exit 2 with exactly one line on stderr (no device line, no Dawn log: nothing was opened). */
function oneLineBeforeDevice(r: { code: number; stdout: string; stderr: string }, re: RegExp, what: string): void {
  assert.equal(r.code, 2, `${what}: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim());
  assert.equal(lines.length, 1, `${what}: ${r.stderr}`);
  assert.match(lines[0]!, re, what);
  assert.equal(r.stdout, '', what);
}

test('an unknown command exits 2 and says so, with "did you mean" when close — even with --help', async () => {
  const unknown = await saelab(['upload', '--help']);
  oneLineBeforeDevice(unknown, /^saelab: unknown command 'upload' \(the commands of saelab: .*\btrain\b/, 'upload --help');
  const typo = await saelab(['trian', '--out', 'x']);
  oneLineBeforeDevice(typo, /unknown command 'trian': did you mean 'train'\?/, 'trian');
  const sub = await saelab(['bench', 'kernal']);
  oneLineBeforeDevice(sub, /unknown command 'bench kernal': did you mean 'kernels'\?/, 'bench kernal');
  assert.equal((await saelab(['help', 'train'])).code, 0);
});

test('arguments and input paths are checked before a device opens', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const a = join(dir, 'a');
    mkdirSync(a);
    oneLineBeforeDevice(await saelab(['compare', a]), /compare needs at least two SAE folders/, 'compare with one folder');
    oneLineBeforeDevice(await saelab(['eval', '--sae', join(dir, 'nope')]), /--sae .*nope: no such folder/, 'eval missing sae');
    oneLineBeforeDevice(await saelab(['prune', '--sae', a, '--l0', '4', '--compare', join(dir, 'nope'), '--out', join(dir, 'o')]), /--compare .*nope: no such folder/, 'prune missing compare');
    oneLineBeforeDevice(await saelab(['perturb', '--hooks', 'all', '--data', join(dir, 'none.txt'), '--out', join(dir, 'o')]), /--data .*none\.txt: no such file or folder/, 'perturb missing data');
    oneLineBeforeDevice(await saelab(['train', '--model', join(dir, 'nomodel'), '--out', join(dir, 'o')]), /--model: .*nomodel: no such file or folder/, 'train missing model');
    oneLineBeforeDevice(await saelab(['forward', '--model', join(dir, 'nomodel'), '--ids', '1,x']), /--ids expects/, 'forward bad ids');
  } finally {
    cleanup();
  }
});

test('hook names are checked against the model\'s config before a device opens', { skip: needsModel }, async () => {
  oneLineBeforeDevice(await saelab(['perturb', '--model', MODEL, '--hooks', 'blocks.0.hook_mlp_out,blocks.7.hook_resid_pre', '--out', 'x']), /unknown hook "blocks\.7\.hook_resid_pre": the model has 6 blocks/, 'perturb layer 7');
  oneLineBeforeDevice(await saelab(['perturb', '--model', MODEL, '--hooks', 'blocks.*.hook_attn_outt', '--out', 'x']), /unknown hook "blocks\.\*\.hook_attn_outt": did you mean "blocks\.\*\.hook_attn_out"/, 'perturb pattern');
  oneLineBeforeDevice(await saelab(['forward', '--model', MODEL, '--ids', '1', '--hooks', 'blocks.1.hook_resid_prex']), /did you mean "blocks\.1\.hook_resid_pre"/, 'forward typo');
  oneLineBeforeDevice(await saelab(['train', '--model', MODEL, '--hook', 'blocks.9.hook_resid_pre', '--out', 'x']), /unknown hook "blocks\.9\.hook_resid_pre"/, 'train hook');
});

test('--model on a llama2.c folder names the .bin to pass', { skip: needsAsset('models/stories260k') }, async () => {
  const folder = join(ASSETS, 'models/stories260k');
  const r = await saelab(['forward', '--model', folder, '--ids', '1']);
  oneLineBeforeDevice(r, /no config\.json, but it holds the llama2\.c checkpoint stories260K\.bin: pass the file itself, e\.g\. .*stories260k\/stories260K\.bin/, 'llama2.c folder');
});

test('every count flag reads 2M, 2e6, 2_000_000 and refuses negative or fractional counts in one line', async () => {
  const { dir, cleanup } = tempDir();
  try {
    // The flag is accepted (the error is about the next problem, the missing SAE folder).
    for (const v of ['2M', '2e6', '2_000_000', '500k']) {
      oneLineBeforeDevice(await saelab(['eval', '--sae', join(dir, 'nope'), '--skip-tokens', v]), /--sae .*: no such folder/, `--skip-tokens ${v}`);
      oneLineBeforeDevice(await saelab(['perturb', '--hooks', 'all', '--skip-tokens', v, '--tokens', v, '--data', join(dir, 'nope'), '--out', dir]), /--data .*: no such file/, `perturb ${v}`);
    }
    oneLineBeforeDevice(await saelab(['eval', '--sae', dir, '--skip-tokens', '-5']), /^saelab: --skip-tokens must be a whole number ≥ 0, e\.g\. .* \(got '-5'\)$/, 'negative');
    oneLineBeforeDevice(await saelab(['harvest', '--model', 'm', '--hooks', 'h', '--data', 'd', '--out', 'o', '--tokens', '1.5']), /^saelab: --tokens must be a positive whole number, e\.g\. .*\(got '1\.5'\)$/, 'fractional');
    oneLineBeforeDevice(await saelab(['train', '--out', dir, '--checkpoint-every', '0.5k', '--seeds', '0,-1']), /--seeds must be a whole number ≥ 0.*got '-1'/, 'seeds');
  } finally {
    cleanup();
  }
});

test('list flags take commas and spaces alike (perturb --hooks a,b; forward --hooks a b)', { skip: needsModel, timeout: 240_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const common = ['--model', MODEL, '--tokens', '30', '--context-size', '16', '--device', 'cpu'];
    const r = await saelab(['perturb', '--hooks', 'blocks.1.hook_resid_pre,blocks.0.hook_attn_out', '--targets', '0', '0.2', ...common, '--out', join(dir, 'p')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^2 hook\(s\) of /);
    // The cost up front: forwards × tokens.
    assert.ok(userLines(r.stderr).some((l) => /^perturb: 5 forwards per batch \(1 clean \+ 2 hooks × 2 targets\) × 1 batch = 5 forwards of up to 32 tokens/.test(l)), r.stderr);
    const f = await saelab(['forward', '--model', MODEL, '--ids', '1,2,3', '--hooks', 'blocks.0.hook_resid_pre', 'blocks.1.hook_mlp_out', '--device', 'cpu', '--json']);
    assert.equal(f.code, 0, f.stderr);
    assert.deepEqual(JSON.parse(f.stdout).hooks.map((h: { name: string }) => h.name), ['blocks.0.hook_resid_pre', 'blocks.1.hook_mlp_out']);
  } finally {
    cleanup();
  }
});

test('eval skips the text the SAE trained on by default and warns when --skip-tokens overlaps it', { skip: needsModel, timeout: 240_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const text = join(dir, 'corpus.txt');
    writeFileSync(text, Array.from({ length: 400 }, (_, i) => `Sentence number ${i} says something about the weather and the sea.`).join(' '));
    const cfg = { architecture: 'topk' as const, dIn: 192, dSae: 64, k: 4, applyBDecToInput: true, decoderUnitNorm: true, normalizeActivations: 'none' as const, seed: 1 };
    const sae = join(dir, 'topk-k4-s1');
    await saveSae(sae, cfg, (await initSae(cfg, cpu)).params, { metadata: { model_name: MODEL, hook_name: 'blocks.1.hook_resid_pre', context_size: 16, dataset_path: text, training_stream_tokens: 450 } });
    const base = ['eval', '--sae', sae, '--data', text, '--tokens', '40', '--device', 'cpu', '--json', '--db', join(dir, 'ws.db'), '--out', join(dir, 'plots')];
    const d = await saelab(base);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(JSON.parse(d.stdout).skipTokens, 450);
    assert.ok(userLines(d.stderr).some((l) => l.startsWith(`held-out text: skipping the first 450 tokens of ${text}, which topk-k4-s1 trained on`)), d.stderr);
    const w = await saelab([...base, '--skip-tokens', '100']);
    assert.equal(w.code, 0, w.stderr);
    assert.equal(JSON.parse(w.stdout).skipTokens, 100);
    assert.ok(userLines(w.stderr).some((l) => /^WARNING: --skip-tokens 100 overlaps the training text of topk-k4-s1/.test(l)), w.stderr);
    const ok = await saelab([...base, '--skip-tokens', '1k']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(!/WARNING|held-out text/.test(ok.stderr), ok.stderr);
  } finally {
    cleanup();
  }
});

test('inspect describes an SAE folder: cfg summary and tensors', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const cfg = { architecture: 'topk' as const, dIn: 8, dSae: 16, k: 2, applyBDecToInput: true, decoderUnitNorm: true, normalizeActivations: 'none' as const, seed: 3 };
    const sae = join(dir, 'topk-k2-s3');
    await saveSae(sae, cfg, (await initSae(cfg, cpu)).params, { metadata: { hook_name: 'blocks.0.hook_resid_pre', model_name: 'gpt2' }, firingFrequency: new Float32Array(16).fill(0.1) });
    const r = await saelab(['inspect', sae, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.kind, 'sae-folder');
    assert.deepEqual({ a: j.summary.architecture, d: j.summary.d_sae, k: j.summary.k, h: j.summary.hook }, { a: 'topk', d: 16, k: 2, h: 'blocks.0.hook_resid_pre' });
    assert.deepEqual(j.tensors.find((t: { name: string }) => t.name === 'W_enc').shape, [8, 16]);
    assert.equal(j.parameters, 8 * 16 * 2 + 16 + 8);
    const human = await saelab(['inspect', sae]);
    assert.equal(human.code, 0);
    assert.match(human.stdout, /hook: blocks\.0\.hook_resid_pre/);
  } finally {
    cleanup();
  }
});

test('eval --help says where the database and plots go by default (beside the first --sae folder)', async () => {
  const r = await saelab(['eval', '--help']);
  assert.match(r.stdout.replace(/\s+/g, ' '), /--db <file> workspace database \(default: saelab\.db beside the first --sae folder/);
});
