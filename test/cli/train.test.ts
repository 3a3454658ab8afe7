// `saelab train` as a user meets it: help, one-line exit-2 errors (unknown hook with a suggestion,
// k > d_sae, an unwritable --out) that leave no SAE folder, and a tiny --json run on the shared
// model and corpus (the defaults: no --model, no --data).

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { saelab, userLines } from '../helpers/cli.js';

const ASSETS = resolve('../shared/assets');
const needsAssets = existsSync(join(ASSETS, 'models/gpt2-corpus-tiny')) && existsSync(join(ASSETS, 'corpora/mixed-public-domain.txt.xz')) ? false : 'needs ../shared/assets (gpt2-corpus-tiny and the shared corpus)';

test('train --help shows the flags and exits 0', async () => {
  const top = await saelab(['--help']);
  assert.equal(top.code, 0);
  assert.match(top.stdout, /\btrain\b/);
  const r = await saelab(['train', '--help']);
  assert.equal(r.code, 0);
  for (const f of ['--arch', '--tokens', '--seeds', '--ks', '--l1s', '--d-saes', '--store', '--config', '--resume', '--b-dec-init', '--checkpoint-every', '--device <kind>', '--json']) assert.ok(r.stdout.includes(f), f);
});

test('bad input exits 2 with one line and writes no SAE folder', { skip: needsAssets, timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-train-cli-'));
  try {
    const base = ['train', '--device', 'cpu', '--json', '--tokens', '1k', '--batch-size', '256', '--d-sae', '64'];
    const hook = await saelab([...base, '--hook', 'blocks.2.hook_resid_pr', '--out', join(dir, 'a')]);
    assert.equal(hook.code, 2);
    assert.equal(userLines(hook.stderr).length, 1, hook.stderr);
    assert.match(hook.stderr, /^saelab: unknown hook "blocks\.2\.hook_resid_pr": did you mean "blocks\.2\.hook_resid_pre"\?/);

    const k = await saelab([...base, '--k', '65', '--out', join(dir, 'b')]);
    assert.equal(k.code, 2);
    assert.deepEqual(userLines(k.stderr), ['saelab: --k 65 is larger than --d-sae 64']);

    writeFileSync(join(dir, 'file'), '');
    const out = await saelab([...base, '--out', join(dir, 'file', 'x')]);
    assert.equal(out.code, 2);
    assert.equal(userLines(out.stderr).length, 1);
    assert.match(out.stderr, /--out .*cannot write there/);

    const arch = await saelab([...base, '--arch', 'jumprelu', '--out', join(dir, 'c')]);
    assert.equal(arch.code, 2);
    assert.equal(userLines(arch.stderr).length, 1);

    assert.deepEqual(readdirSync(dir), ['file']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a tiny --json run with the default model and corpus', { skip: needsAssets, timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-train-cli-'));
  try {
    const cfg = join(dir, 'sae.json');
    writeFileSync(cfg, JSON.stringify({ 'd-sae': 64, seeds: [0, 1], 'batch-size': 256, 'context-size': 32, tokens: '3k' }));
    const out = join(dir, 'run');
    const r = await saelab(['train', '--device', 'cpu', '--json', '--config', cfg, '--k', '8', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as { hook: string; steps: number; tokensPerSecond: number; saes: { path: string; l0: number }[] };
    assert.equal(rep.hook, 'blocks.3.hook_resid_pre');
    assert.equal(rep.steps, 11);
    assert.ok(rep.tokensPerSecond > 0);
    assert.deepEqual(rep.saes.map((s) => s.path), [join(out, 'topk-k8-s0'), join(out, 'topk-k8-s1')]);
    for (const s of rep.saes) {
      const json = JSON.parse(readFileSync(join(s.path, 'cfg.json'), 'utf8')) as { k: number; d_sae: number; metadata: { hook_name: string; context_size: number; training_tokens: number; training_stream_tokens: number } };
      // How much of the corpus training read, so eval can skip it: whole windows of 31 stream tokens (BOS not from the stream), at least the 11 × 256 trained rows.
      assert.equal(json.metadata.training_tokens, 11 * 256);
      assert.equal(json.metadata.training_stream_tokens % 31, 0);
      assert.ok(json.metadata.training_stream_tokens >= 11 * 256, String(json.metadata.training_stream_tokens));
      assert.equal(json.k, 8);
      assert.equal(json.d_sae, 64);
      assert.equal(json.metadata.hook_name, 'blocks.3.hook_resid_pre');
      assert.equal(json.metadata.context_size, 32);
      assert.ok(existsSync(join(s.path, 'sae_weights.safetensors')));
      assert.ok(existsSync(join(s.path, 'sparsity.safetensors')));
    }
    assert.ok(existsSync(join(out, 'train-log.jsonl')));
    assert.ok(existsSync(join(out, 'saelab.db')));
    // The model streamed from disk a block at a time trains the same SAEs, bit for bit.
    const streamed = join(dir, 'streamed');
    const st = await saelab(['train', '--device', 'cpu', '--json', '--config', cfg, '--k', '8', '--stream', '--out', streamed]);
    assert.equal(st.code, 0, st.stderr);
    for (const name of ['topk-k8-s0', 'topk-k8-s1']) assert.deepEqual(readFileSync(join(streamed, name, 'sae_weights.safetensors')), readFileSync(join(out, name, 'sae_weights.safetensors')), name);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--d-sae and --d-saes together exit 2 with one line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-train-cli-'));
  try {
    const r = await saelab(['train', '--device', 'cpu', '--json', '--d-sae', '64', '--d-saes', '32,64', '--out', join(dir, 'a')]);
    assert.equal(r.code, 2);
    assert.deepEqual(userLines(r.stderr), ['saelab: give --d-sae (one width) or --d-saes (several), not both']);
    // The same through --config ("d-saes" in the file, --d-sae on the command line).
    const cfg = join(dir, 'sae.json');
    writeFileSync(cfg, JSON.stringify({ 'd-saes': [32, 64] }));
    const c = await saelab(['train', '--device', 'cpu', '--json', '--config', cfg, '--d-sae', '64', '--out', join(dir, 'b')]);
    assert.equal(c.code, 2);
    assert.equal(userLines(c.stderr).length, 1, c.stderr);
    assert.match(c.stderr, /not both/);
    assert.deepEqual(readdirSync(dir), ['sae.json']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a tiny --json run sweeping two widths from --config "d-saes"', { skip: needsAssets, timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-train-cli-'));
  try {
    const cfg = join(dir, 'sae.json');
    writeFileSync(cfg, JSON.stringify({ 'd-saes': [32, 64], 'batch-size': 256, 'context-size': 32, tokens: '1k' }));
    const out = join(dir, 'run');
    const r = await saelab(['train', '--device', 'cpu', '--json', '--config', cfg, '--k', '8', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as { dSaes: number[]; saes: { path: string; dSae: number }[] };
    assert.deepEqual(rep.dSaes, [32, 64]);
    assert.deepEqual(rep.saes.map((s) => s.path), [join(out, 'topk-k8-d32-s0'), join(out, 'topk-k8-d64-s0')]);
    for (const [i, d] of [32, 64].entries()) {
      const json = JSON.parse(readFileSync(join(rep.saes[i]!.path, 'cfg.json'), 'utf8')) as { d_sae: number; k: number };
      assert.equal(json.d_sae, d);
      assert.equal(json.k, 8);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--init-encoder-scale 0 or below and --store-chunk-rows 0 exit 2 with one line, nothing written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-train-cli-'));
  try {
    for (const [flag, value, msg] of [['--init-encoder-scale', '0', /--init-encoder-scale must be a number > 0/], ['--init-encoder-scale', '-1', /--init-encoder-scale must be a number ≥ 0/], ['--store-chunk-rows', '0', /--store-chunk-rows/]] as const) {
      const r = await saelab(['train', '--device', 'cpu', '--json', flag, value, '--out', join(dir, 'a')]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(userLines(r.stderr).length, 1, r.stderr);
      assert.match(r.stderr, msg);
    }
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
