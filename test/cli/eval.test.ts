// `saelab eval` as a user meets it: help; two tiny SAEs on gpt2-corpus-tiny in one call (--json with
// every spec name, the SVG plots, the workspace-db rows equal to the JSON); and bad input (d_in of
// another model, W_enc stored transposed, a hook the model lacks, no hook at all, zero tokens):
// one line, exit 2, no plot folder.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import { readEvalMetrics } from '../../src/eval/evalDb.js';
import { openWorkspaceDb } from '../../src/io/workspaceDb.js';
import { writeSafetensors } from '../../src/io/safetensorsWrite.js';
import { initSaeParams } from '../../src/sae/initSae.js';
import { saveSae } from '../../src/sae/saeFiles.js';
import type { SaeConfig } from '../../src/sae/types.js';
import { saelab, userLines } from '../helpers/cli.js';
import { ASSETS, needsAsset } from '../io/assets.js';

const skip = needsAsset('models/gpt2-corpus-tiny') || needsAsset('corpora/mixed-public-domain.txt.xz');
const MODEL = join(ASSETS, 'models/gpt2-corpus-tiny');

/** A random SAE folder for `hook` (d_in 192 unless given), as saelab train would write it. */
async function writeTinySae(dir: string, o: { arch: 'topk' | 'standard'; hook?: string; dIn?: number; seed: number }): Promise<void> {
  const cfg: SaeConfig = { architecture: o.arch, dIn: o.dIn ?? 192, dSae: 64, applyBDecToInput: true, decoderUnitNorm: o.arch === 'topk', normalizeActivations: 'expected_average_only_in', seed: o.seed, ...(o.arch === 'topk' ? { k: 4 } : { l1Coefficient: 5 }) };
  const params = await initSaeParams(cfg, cpu, { decoderNorm: 1 });
  await saveSae(dir, cfg, params, { normScalingFactor: 0.5, metadata: o.hook ? { hook_name: o.hook, model_name: MODEL, context_size: 32 } : { model_name: MODEL } });
}

test('eval --help shows the flags and exits 0', async () => {
  const r = await saelab(['eval', '--help']);
  assert.equal(r.code, 0);
  for (const f of ['--sae', '--model', '--data', '--tokens', '--skip-tokens', '--hook', '--out', '--db', '--json', '--device <kind>']) assert.ok(r.stdout.includes(f), f);
});

test('two SAEs in one call: JSON by spec name, plots, and workspace-db rows', { skip, timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-eval-cli-'));
  try {
    await writeTinySae(join(dir, 'a'), { arch: 'topk', hook: 'blocks.2.hook_resid_pre', seed: 1 });
    await writeTinySae(join(dir, 'b'), { arch: 'standard', hook: 'blocks.4.hook_resid_pre', seed: 2 });
    const r = await saelab(['eval', '--device', 'cpu', '--json', '--sae', join(dir, 'a'), '--sae', join(dir, 'b'), '--tokens', '200', '--batch-size', '4', '--downstream', 'next:2']);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as { spec: string; tokens: number; windows: number; contextSize: number; db: string; runId: number; plots: { ceIncreaseByPosition: string }; saes: { label: string; hook: string; metrics: Record<string, number>; checks: Record<string, number>; downstream: { hook: string; relative_error: number; fvu: number }[]; plots: { density: string } }[] };
    assert.equal(rep.spec, 'docs/metrics.md');
    assert.equal(rep.contextSize, 32); // from the SAE's metadata
    assert.equal(rep.windows, 7); // 31 tokens per window minus separators: 7 windows reach 200
    assert.ok(rep.tokens >= 200);
    assert.deepEqual(rep.saes.map((s) => [s.label, s.hook]), [['a', 'blocks.2.hook_resid_pre'], ['b', 'blocks.4.hook_resid_pre']]);
    const names = ['l0', 'mse', 'mse_per_element', 'fvu', 'explained_variance', 'cosine', 'l2_ratio', 'ce_clean', 'ce_sae', 'ce_zero_ablation', 'ce_mean_ablation', 'ce_loss_recovered', 'ce_increase', 'kl_sae', 'kl_zero_ablation', 'kl_score', 'alive_fraction', 'dead_count', 'dense_count'];
    for (const s of rep.saes) {
      for (const n of names) assert.equal(typeof s.metrics[n], 'number', `${s.label} ${n}`);
      assert.equal(s.metrics.tokens, rep.tokens);
      assert.equal(s.metrics.l0 <= 64 && s.metrics.l0 > 0, true);
      if (s.label === 'a') assert.ok(s.metrics.l0 <= 4, 'TopK k = 4');
      assert.ok(Math.abs(s.metrics.ce_increase - (s.metrics.ce_sae - s.metrics.ce_clean)) < 1e-12);
      assert.ok(s.checks.error_term_max_abs_diff < 1e-3, `error term ${s.checks.error_term_max_abs_diff}`);
      assert.match(readFileSync(s.plots.density, 'utf8'), /^<svg[\s\S]*class="bar"[\s\S]*<\/svg>\n$/);
    }
    // --downstream next:2: the SAE's own hook, then the next two resid_posts, each SAE from its own hook.
    assert.deepEqual(rep.saes.map((s) => s.downstream.map((d) => d.hook)), [
      ['blocks.2.hook_resid_pre', 'blocks.2.hook_resid_post', 'blocks.3.hook_resid_post'],
      ['blocks.4.hook_resid_pre', 'blocks.4.hook_resid_post', 'blocks.5.hook_resid_post'],
    ]);
    for (const s of rep.saes) {
      for (const d of s.downstream) assert.ok(d.relative_error > 0 && Number.isFinite(d.fvu), `${s.label} ${d.hook}`);
      // At the SAE's own hook the spliced value is x̂ itself: the same FVU as the reconstruction metrics.
      assert.ok(Math.abs(s.downstream[0]!.fvu - s.metrics.fvu) < 1e-4 * (1 + s.metrics.fvu), `${s.label}: ${s.downstream[0]!.fvu} vs ${s.metrics.fvu}`);
    }
    // One clean forward for both: ce_clean is the same number for SAEs on different hooks.
    assert.equal(rep.saes[0]!.metrics.ce_clean, rep.saes[1]!.metrics.ce_clean);
    assert.match(readFileSync(rep.plots.ceIncreaseByPosition, 'utf8'), /<polyline class="series-line"/);
    assert.equal(rep.db, join(dir, 'saelab.db'));
    const db = openWorkspaceDb(rep.db);
    try {
      const run = db.getRun(rep.runId)!;
      assert.equal(run.kind, 'eval');
      const saes = db.listSaes(rep.runId);
      assert.deepEqual(saes.map((s) => s.path), [join(dir, 'a'), join(dir, 'b')]);
      for (let i = 0; i < 2; i++) {
        const m = readEvalMetrics(db, saes[i]!.id);
        for (const n of names) assert.equal(m[n], rep.saes[i]!.metrics[n], n);
        assert.equal(m.error_term_max_abs_diff, rep.saes[i]!.checks.error_term_max_abs_diff);
        for (const d of rep.saes[i]!.downstream.slice(1)) {
          assert.equal(m[`downstream_relative_error:${d.hook}`], d.relative_error, d.hook);
          assert.equal(m[`downstream_fvu:${d.hook}`], d.fvu, d.hook);
        }
      }
    } finally {
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a reward model on held-out preference pairs: reward metrics', { skip: skip || needsAsset('models/gpt2-corpus-tiny-rm-hh') || needsAsset('preference/hh-harmless-base-test.jsonl.gz'), timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-eval-cli-'));
  try {
    await writeTinySae(join(dir, 'rm'), { arch: 'topk', hook: 'blocks.3.hook_resid_pre', seed: 3 });
    const r = await saelab(['eval', '--device', 'cpu', '--json', '--sae', join(dir, 'rm'), '--model', join(ASSETS, 'models/gpt2-corpus-tiny-rm-hh'),
      '--data', join(ASSETS, 'preference/hh-harmless-base-test.jsonl.gz'), '--skip-tokens', '1850', '--tokens', '300', '--context-size', '64']);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as { head: string; windows: number; plots: { ceIncreaseByPosition: string | null }; saes: { metrics: Record<string, number> }[] };
    assert.equal(rep.head, 'classifier');
    const m = rep.saes[0]!.metrics;
    assert.equal(m.pairs * 2, rep.windows);
    assert.equal(m.sequences, rep.windows);
    for (const n of ['reward_clean', 'reward_sae', 'reward_abs_delta', 'pair_diff_clean', 'pair_diff_sae', 'pair_diff_change', 'l0', 'fvu']) assert.ok(Number.isFinite(m[n]), n);
    assert.ok(Math.abs(m.pair_diff_change - (m.pair_diff_sae - m.pair_diff_clean)) < 1e-12);
    assert.equal(m.ce_clean, undefined);
    assert.equal(rep.plots.ceIncreaseByPosition, null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad input: one line, exit 2, nothing written', { skip, timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-eval-cli-'));
  try {
    const out = join(dir, 'plots');
    const base = ['eval', '--device', 'cpu', '--json', '--tokens', '100', '--out', out];
    const one = async (args: string[], re: RegExp) => {
      const r = await saelab([...base, ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      const lines = userLines(r.stderr);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, re);
    };
    await writeTinySae(join(dir, 'small'), { arch: 'topk', hook: 'blocks.2.hook_resid_pre', dIn: 64, seed: 1 });
    await one(['--sae', join(dir, 'small')], /d_in is 64 but blocks\.2\.hook_resid_pre of the model has d_model 192/);

    // A SAELens-named folder whose W_enc is [d_sae, d_in] (another library's layout).
    const tr = join(dir, 'transposed');
    mkdirSync(tr);
    writeFileSync(join(tr, 'cfg.json'), JSON.stringify({ architecture: 'standard', d_in: 192, d_sae: 64, metadata: { hook_name: 'blocks.2.hook_resid_pre' } }));
    const rng = new Rng(1);
    await writeSafetensors(join(tr, 'sae_weights.safetensors'), {
      W_enc: { dtype: 'F32', shape: [64, 192], data: rng.normalArray(64 * 192, 0.1) },
      W_dec: { dtype: 'F32', shape: [64, 192], data: rng.normalArray(64 * 192, 0.1) },
      b_enc: { dtype: 'F32', shape: [64], data: new Float32Array(64) },
      b_dec: { dtype: 'F32', shape: [192], data: new Float32Array(192) },
    });
    await one(['--sae', tr], /W_enc has shape \[64, 192\], expected \[192, 64\] \(it is stored transposed\)/);

    await writeTinySae(join(dir, 'deep'), { arch: 'topk', hook: 'blocks.9.hook_resid_pre', seed: 1 });
    await one(['--sae', join(dir, 'deep')], /unknown hook "blocks\.9\.hook_resid_pre": the model has 6 blocks/);
    await one(['--sae', join(dir, 'small'), '--hook', 'blocks.2.hook_resid_prex'], /did you mean "blocks\.2\.hook_resid_pre"/);
    await writeTinySae(join(dir, 'late'), { arch: 'topk', hook: 'blocks.4.hook_resid_pre', seed: 1 });
    await one(['--sae', join(dir, 'late'), '--downstream', 'next:3'], /late: --downstream next:3: only 2 residual hook\(s\) come after blocks\.4\.hook_resid_pre/);

    await writeTinySae(join(dir, 'nohook'), { arch: 'topk', seed: 1 });
    await one(['--sae', join(dir, 'nohook')], /names no hook .*pass --hook/);

    writeFileSync(join(dir, 'short.txt'), 'Too short for one window.');
    await writeTinySae(join(dir, 'ok'), { arch: 'topk', hook: 'blocks.2.hook_resid_pre', seed: 1 });
    await one(['--sae', join(dir, 'ok'), '--data', join(dir, 'short.txt')], /zero evaluation tokens/);
    await one(['--sae', join(dir, 'ok'), '--tokens', '0'], /--tokens must be a positive whole number/);
    await one(['--sae', join(dir, 'missing')], /no such folder/);
    assert.equal(existsSync(out), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
