// buildDashboard end to end on the shared tiny model: its rows agree with a plain recomputation of
// every activation of the pass, an interrupted pass resumed from its checkpoint gives the same rows
// as an unbroken one, the Neuronpedia export carries the rows, and bad input is one line, exit 2.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { packTokens } from '../../src/data/packTokens.js';
import { readDocuments } from '../../src/data/textSource.js';
import { DashboardDb } from '../../src/io/dashboardDb.js';
import { openWorkspaceDb } from '../../src/io/workspaceDb.js';
import { openModel } from '../../src/model/openModel.js';
import { buildDashboard } from '../../src/report/dashboardBuild.js';
import { exportNeuronpedia } from '../../src/report/neuronpediaExport.js';
import { loadSae } from '../../src/sae/saeFiles.js';
import { saelab, userLines } from '../helpers/cli.js';
import { needsAsset } from '../io/assets.js';
import { TINY_MODEL, writeCorpus, writeRandomSae } from './dashboardFixture.js';

const skip = needsAsset('models/gpt2-corpus-tiny');
let dir: string;
let sae: string;
let corpus: string;
let db: string;
const [T, B, D, TOKENS] = [32, 4, 64, 1536];
const base = () => ({ device: cpu, sae, db, tokens: TOKENS, batchSize: B, topK: 5, window: 3, reservoir: 6, logitK: 4, neighbours: 3, checkpointEvery: 8 });

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'saelab-dash-'));
  corpus = writeCorpus(join(dir, 'corpus.txt'));
  sae = join(dir, 'topk-k8');
  db = join(dir, 'saelab.db');
  await writeRandomSae(sae, corpus, D);
});
after(() => dir && rmSync(dir, { recursive: true, force: true }));

test('the rows agree with every activation of the pass recomputed directly', { skip, timeout: 120_000 }, async () => {
  const r = await buildDashboard(base());
  assert.equal(r.windows, TOKENS / T);
  assert.equal(r.aborted, false);
  // Recompute: the same windows, the same forwards, then plain loops over every (token, feature).
  const { model, tokenizer } = await openModel(TINY_MODEL, cpu, { needTokenizer: true });
  const loaded = await loadSae(sae, cpu);
  const windows = [];
  for await (const w of packTokens(readDocuments(corpus), tokenizer!, { contextSize: T })) {
    windows.push(w);
    if (windows.length === TOKENS / T) break;
  }
  const fires = new Float64Array(D);
  const maxAct = new Float64Array(D);
  const argmax = new Float64Array(D).fill(-1);
  let counted = 0;
  for (let b0 = 0; b0 < windows.length; b0 += B) {
    const ws = windows.slice(b0, b0 + B);
    const ids = new Int32Array(ws.length * T);
    ws.forEach((w, i) => ids.set(w.ids, i * T));
    const res = model.forward(ids, [ws.length, T], { keep: ['blocks.2.hook_resid_pre'], stopAt: 'blocks.2.hook_resid_pre' });
    const f = (await loaded.model.encode(res.activations.get('blocks.2.hook_resid_pre')!.reshape([ws.length * T, 192])).read()) as Float32Array;
    for (let p = 0; p < ids.length; p++) {
      if (ws[Math.floor(p / T)]!.exclude[p % T]) continue;
      counted++;
      for (let i = 0; i < D; i++) {
        const a = f[p * D + i]!;
        if (a <= 0) continue;
        fires[i]++;
        if (a > maxAct[i]!) (maxAct[i] = a), (argmax[i] = b0 * T + p);
      }
    }
  }
  model.dispose();
  assert.equal(r.tokens, counted);
  const ws = openWorkspaceDb(db);
  try {
    const dash = new DashboardDb(ws);
    const info = dash.getDashboard(r.dashboardId)!;
    assert.equal(info.status, 'done');
    assert.equal(info.tokens, counted);
    assert.equal(dash.featureCount(r.dashboardId), D);
    let checked = 0;
    for (let i = 0; i < D; i++) {
      const row = dash.getFeature(r.dashboardId, i)!;
      assert.equal(row.fires, fires[i], `fires of ${i}`);
      assert.equal(row.density, fires[i]! / counted);
      assert.equal(row.maxAct, Math.fround(maxAct[i]!));
      assert.equal(row.data.hist.reduce((a, c) => a + c, 0), fires[i]);
      assert.equal(row.data.neighbours.length, 3);
      assert.ok(row.data.neighbours.every((n) => n.feature !== i));
      if (fires[i]! === 0) continue;
      checked++;
      const top = row.data.top[0]!;
      assert.equal(top.token, argmax[i], `top token of ${i}`);
      assert.ok(Math.abs(top.act - maxAct[i]!) <= 1e-5 * maxAct[i]!);
      assert.equal(top.acts[top.at], Number(Math.fround(maxAct[i]!).toPrecision(4)));
      // The firing token's text is the decoded id at that position.
      const pos = argmax[i]!;
      assert.equal(top.tokens[top.at], tokenizer!.decode([windows[Math.floor(pos / T)]!.ids[pos % T]!]));
      assert.ok(row.data.top.length <= 5 && row.data.top.every((e, k) => k === 0 || e.act <= row.data.top[k - 1]!.act));
      assert.equal(row.data.boosted.length, 4);
      assert.ok(row.data.boosted[0]!.value >= row.data.boosted[3]!.value && row.data.suppressed[0]!.value <= row.data.suppressed[3]!.value);
    }
    assert.ok(checked > D / 2, `${checked} features fired`);
  } finally {
    ws.close();
  }
});

test('an interrupted pass resumed from its checkpoint gives the rows of an unbroken one; the Neuronpedia export carries them', { skip, timeout: 120_000 }, async () => {
  const whole = await buildDashboard({ ...base(), seed: 5 });
  const ac = new AbortController();
  const part = await buildDashboard({ ...base(), seed: 5, signal: ac.signal }, { onProgress: (p) => p.windows >= 3 * B && ac.abort() });
  assert.equal(part.aborted, true);
  assert.equal(part.windows, 3 * B);
  assert.ok(existsSync(join(dir, 'dashboards', `${part.dashboardId}.state`)));
  const rest = await buildDashboard({ ...base(), seed: 5, resume: true });
  assert.equal(rest.dashboardId, part.dashboardId);
  assert.equal(rest.resumedFromWindow, 3 * B);
  assert.equal(rest.tokens, whole.tokens);
  assert.ok(!existsSync(join(dir, 'dashboards', `${part.dashboardId}.state`)), 'the checkpoint is removed when done');
  const ws = openWorkspaceDb(db);
  try {
    const dash = new DashboardDb(ws);
    for (let i = 0; i < D; i++) assert.deepEqual(dash.getFeature(rest.dashboardId, i), dash.getFeature(whole.dashboardId, i), `feature ${i}`);
  } finally {
    ws.close();
  }
  const out = await exportNeuronpedia({ db, dashboardId: whole.dashboardId, out: join(dir, 'batch-0.json') });
  const batch = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(batch.model_id, 'gpt2-corpus-tiny');
  assert.equal(batch.layer, 2);
  assert.equal(batch.features.length, D);
  const ws2 = openWorkspaceDb(db);
  try {
    const row = new DashboardDb(ws2).getFeature(whole.dashboardId, 5)!;
    const f = batch.features[5];
    assert.equal(f.feature_index, 5);
    assert.equal(f.frac_nonzero, row.density);
    assert.deepEqual(f.pos_str, row.data.boosted.map((x) => x.token));
    assert.deepEqual(f.neg_values, row.data.suppressed.map((x) => x.value));
    assert.equal(f.activations.length, row.data.top.length + row.data.quantiles.reduce((a, g) => a + g.examples.length, 0));
    assert.deepEqual(f.activations[0].tokens, row.data.top[0]?.tokens);
    assert.equal(f.freq_hist_data_bar_heights.reduce((a: number, c: number) => a + c, 0), row.fires);
  } finally {
    ws2.close();
  }
});

test('saelab dashboard: bad input is one line and exit code 2', { skip, timeout: 60_000 }, async () => {
  const none = await saelab(['dashboard', '--device', 'cpu']);
  assert.equal(none.code, 2);
  assert.deepEqual(userLines(none.stderr), ['saelab: --sae <dir> is required (the SAE folder)']);
  const missing = await saelab(['dashboard', '--device', 'cpu', '--sae', join(dir, 'nope')]);
  assert.equal(missing.code, 2);
  assert.deepEqual(userLines(missing.stderr), [`saelab: --sae ${join(dir, 'nope')}: no such folder`]);
  const tokens = await saelab(['dashboard', '--device', 'cpu', '--sae', sae, '--tokens', 'lots']);
  assert.equal(tokens.code, 2);
  assert.equal(userLines(tokens.stderr).length, 1);
  const hook = await saelab(['dashboard', '--device', 'cpu', '--sae', sae, '--db', db, '--hook', 'blocks.2.hook_resid_pree', '--tokens', '64']);
  assert.equal(hook.code, 2, hook.stderr);
  assert.equal(userLines(hook.stderr).filter((l) => !l.startsWith('device: ')).length, 1, hook.stderr);
  assert.match(hook.stderr, /saelab: .*blocks\.2\.hook_resid_pree/);
  assert.doesNotMatch(hook.stderr, /\n\s+at /);
});
