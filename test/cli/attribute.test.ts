// `saelab attribute` as a user runs it on the shared reward model gpt2-corpus-tiny-rm-hh with random
// SAEs at two hooks: a pair range of the shared HH file (report, plots, DB rows, every kept pair's
// terms adding up to Δr, duplicates flagged between two SAEs with the same decoder), two
// completions (the same text twice: zero differences), and bad input exiting 2 with one line.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { initSaeParams } from '../../src/sae/initSae.js';
import { saveSae } from '../../src/sae/saeFiles.js';
import { openWorkspaceDb } from '../../src/io/workspaceDb.js';
import { listAttributionRuns, readAttributionReport } from '../../src/analysis/rewardDb.js';
import { startServer } from '../../src/server/server.js';
import { ASSETS, needsAsset, tempDir } from '../io/assets.js';
import { saelab, userLines } from '../helpers/cli.js';

const skip = needsAsset('models/gpt2-corpus-tiny-rm-hh') || needsAsset('preference/hh-harmless-base-test.jsonl.gz') || needsAsset('models/gpt2-corpus-tiny');

test('saelab attribute: pairs, two completions, bad input', { skip, timeout: 600_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const rm = join(ASSETS, 'models/gpt2-corpus-tiny-rm-hh');
    const hh = join(ASSETS, 'preference/hh-harmless-base-test.jsonl.gz');
    const cfg = { architecture: 'topk' as const, dIn: 192, dSae: 256, k: 8, applyBDecToInput: true, decoderUnitNorm: true, normalizeActivations: 'none' as const, seed: 1 };
    const params = await initSaeParams(cfg, cpu, { decoderNorm: 1 });
    const s2 = join(dir, 'L2', 'sae');
    const s3 = join(dir, 'L3', 'sae');
    // The same parameters at two hooks: every feature has a cosine-1 twin at the other hook.
    await saveSae(s2, cfg, params, { metadata: { model_name: rm, hook_name: 'blocks.2.hook_resid_pre' } });
    await saveSae(s3, cfg, params, { metadata: { model_name: rm, hook_name: 'blocks.3.hook_resid_pre' } });
    const out = join(dir, 'out');
    const r = await saelab(['attribute', '--sae', s2, '--sae', s3, '--pairs', `${hh}:0-4`, '--pairs', `${hh}:1850-1853`, '--top', '10', '--exact-top', '3', '--exact-random', '2', '--exact-pairs', '2', '--out', out, '--device', 'cpu', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout);
    assert.equal(rep.pairs.all.pairs, 7);
    assert.deepEqual(rep.pairs.splits.map((s: { pairs: number }) => s.pairs), [4, 3]);
    assert.equal(rep.saes[0].label, 'L2/sae');
    for (const v of rep.pairs.pairViews) {
      for (const s of v.saes) {
        // Σ over this pair's features is not in the view (top 8 only); the per-SAE means are checked below.
        assert.ok(Number.isFinite(s.error) && Number.isFinite(s.rest));
        assert.equal(s.chosen.tokens.length, s.chosen.featureEffect.length);
      }
    }
    for (const s of rep.pairs.saes) {
      const sum = s.meanSumEffects + s.meanError + s.meanBias + s.meanPrompt + s.meanRest;
      assert.ok(Math.abs(sum - rep.pairs.all.meanDeltaR) < 1e-6, `${s.label}: Σ ${sum} vs mean Δr ${rep.pairs.all.meanDeltaR}`);
      assert.equal(s.top.length, 10);
      assert.ok(s.top.every((f: { nearest: { duplicate: boolean; cosine: number; feature: number }[]; feature: number }) => f.nearest[0]!.duplicate && f.nearest[0]!.feature === f.feature), 'every top feature has its twin flagged');
      assert.ok(s.exact.entries.length > 0);
    }
    for (const f of ['attribution.json', 'features-0.svg', 'features-1.svg', 'linear-vs-exact-0.svg']) assert.ok(existsSync(join(out, f)), f);
    const db = openWorkspaceDb(join(dir, 'L2', 'saelab.db'));
    try {
      const runs = listAttributionRuns(db);
      assert.equal(runs.length, 1);
      assert.equal((readAttributionReport(db, runs[0]!.runId)!.report as { mode: string }).mode, 'pairs');
      assert.equal((db.db.prepare('SELECT COUNT(*) AS n FROM attribution_features').get() as { n: number }).n, 20);
    } finally {
      db.close();
    }
    // The reward page's API: the run list, the report, 404 for an unknown run.
    const srv = await startServer({ db: join(dir, 'L2', 'saelab.db'), device: cpu, log: () => {} });
    try {
      const get = async (path: string) => {
        const res = await fetch(`http://127.0.0.1:${srv.port}${path}`);
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      };
      const list = await get('/api/attributions');
      assert.equal(list.status, 200);
      const runs = list.body.runs as { runId: number; mode: string }[];
      assert.deepEqual(runs.map((r) => r.mode), ['pairs']);
      const one = await get(`/api/attributions/${runs[0]!.runId}`);
      assert.equal(one.status, 200);
      assert.equal((one.body.pairs as { all: { pairs: number } }).all.pairs, 7);
      assert.equal((await get('/api/attributions/999')).status, 404);
      assert.equal((await get('/api/attributions/x')).status, 404);
    } finally {
      await srv.close();
    }

    // Two completions: the same text twice differs in nothing.
    const prompt = '\n\nHuman: Can you help me?\n\nAssistant:';
    const t = await saelab(['attribute', '--sae', s2, '--prompt', prompt, '--a', ' Sure, here is a link: http://example.com', '--b', ' Sure, here is a link: http://example.com', '--out', join(dir, 'two'), '--no-db', '--device', 'cpu', '--json']);
    assert.equal(t.code, 0, t.stderr);
    const tr = JSON.parse(t.stdout);
    assert.equal(tr.two.deltaR, 0);
    assert.equal(tr.two.saes[0].features.length, 0);
    assert.equal(tr.two.saes[0].error, 0);
    // An edit with a baseline lists what changed.
    writeFileSync(join(dir, 'b.txt'), ' Sure.');
    const e = await saelab(['attribute', '--sae', s2, '--prompt', prompt, '--a', ' Sure, here is a link: http://example.com', '--b', `@${join(dir, 'b.txt')}`, '--baseline', ' I cannot.', '--edit', '--out', join(dir, 'edit'), '--no-db', '--device', 'cpu', '--json']);
    assert.equal(e.code, 0, e.stderr);
    const er = JSON.parse(e.stdout);
    // The same attribution with the weights streamed from disk a block at a time gives the same
    // numbers bit for bit; held in bfloat16 (the f32 file rounded), close to them.
    const editArgs = ['attribute', '--sae', s2, '--prompt', prompt, '--a', ' Sure, here is a link: http://example.com', '--b', `@${join(dir, 'b.txt')}`, '--baseline', ' I cannot.', '--edit', '--no-db', '--device', 'cpu', '--json'];
    const st = await saelab([...editArgs, '--stream', '--out', join(dir, 'edit-stream')]);
    assert.equal(st.code, 0, st.stderr);
    const sr = JSON.parse(st.stdout);
    assert.equal(sr.two.deltaR, er.two.deltaR);
    assert.deepEqual(sr.two.saes[0].features, er.two.saes[0].features);
    const h = await saelab([...editArgs, '--model-dtype', 'bfloat16', '--out', join(dir, 'edit-bf16')]);
    assert.equal(h.code, 0, h.stderr);
    const hr = JSON.parse(h.stdout);
    assert.ok(Math.abs(hr.two.deltaR - er.two.deltaR) <= 0.05 * Math.abs(er.two.deltaR) + 0.02, `bf16 Δr ${hr.two.deltaR} vs f32 ${er.two.deltaR}`);
    const se = er.two.saes[0];
    assert.ok(se.removed + se.added + se.changed === se.features.length && se.features.length > 0);
    assert.ok(se.features.every((f: { baselineEffect?: number }) => typeof f.baselineEffect === 'number'));
    const sum = se.features.reduce((s: number, f: { effect: number }) => s + f.effect, 0);
    // Features whose activations are equal in a and b have effects that may still differ through the gradient: Σ listed ≈ Σ all only roughly, so check the full identity instead.
    assert.ok(Math.abs(se.sumEffects + se.error + se.bias + se.prompt + se.rest - er.two.deltaR) < 1e-9);
    assert.ok(Number.isFinite(sum));

    // Bad input: one line, exit 2.
    const bad = async (args: string[], re: RegExp) => {
      const b = await saelab(['attribute', ...args, '--out', join(dir, 'bad'), '--no-db', '--device', 'cpu', '--json']);
      assert.equal(b.code, 2, `${args.join(' ')}: exit ${b.code} ${b.stderr}`);
      const lines = userLines(b.stderr);
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.match(lines[0]!, re);
    };
    const lm = join(ASSETS, 'models/gpt2-corpus-tiny');
    await bad(['--sae', s2, '--model', lm, '--a', 'x', '--b', 'y'], /trained on .*--any-model/);
    await bad(['--sae', s2, '--model', lm, '--any-model', '--a', 'x', '--b', 'y'], /causal LM; reward attribution needs a reward/);
    writeFileSync(join(dir, 'missing.jsonl'), '{"prompt":"a","chosen":"b"}\n');
    await bad(['--sae', s2, '--pairs', join(dir, 'missing.jsonl')], /missing.jsonl:1: the pair has no string field "rejected"/);
    writeFileSync(join(dir, 'same.jsonl'), '{"prompt":"a","chosen":" b","rejected":" b"}\n');
    await bad(['--sae', s2, '--pairs', join(dir, 'same.jsonl')], /identical/);
    await bad(['--sae', s2, '--a', ' word'.repeat(300), '--b', ' x'], /--a: the completion alone is longer than the model's context of 256/);
    const small = join(dir, 'small');
    await saveSae(small, { ...cfg, dIn: 64 }, await initSaeParams({ ...cfg, dIn: 64 }, cpu), { metadata: { model_name: rm, hook_name: 'blocks.2.hook_resid_pre' } });
    await bad(['--sae', small, '--a', 'x', '--b', 'y'], /d_in is 64 .*another model/);
    const hookless = join(dir, 'hook');
    await saveSae(hookless, cfg, params, { metadata: { model_name: rm, hook_name: 'blocks.9.hook_resid_pre' } });
    await bad(['--sae', hookless, '--a', 'x', '--b', 'y'], /blocks\.9\.hook_resid_pre/);
    await bad(['--sae', s2, '--pairs', `${hh}:5-2`], /empty/);
    assert.ok(readFileSync(join(out, 'attribution.json'), 'utf8').length > 100);
  } finally {
    cleanup();
  }
});
