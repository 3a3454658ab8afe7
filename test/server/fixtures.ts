// A synthetic workspace for server tests: a train run with one SAE and logged metrics, and a
// dashboard whose feature pages are generated (with corpus-like text holding raw HTML and script
// tags, as the shared corpus's spam does), plus report files; and one with a real model behind
// "text → features".

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../src/compute/random.js';
import { DashboardDb, type FeatureData } from '../../src/io/dashboardDb.js';
import { openWorkspaceDb, workspaceDbPath } from '../../src/io/workspaceDb.js';
import { TINY_MODEL, writeCorpus, writeRandomSae } from '../report/dashboardFixture.js';

export const HOSTILE = ['<script>window.__xss=1</script>', '<img src=x onerror="window.__xss=2">', '"><svg onload=alert(1)>', '&amp;', '</td></tr></table>'];

/** The page stored for feature i (deterministic in i). */
export function featureData(i: number, examples = 20): FeatureData {
  const rng = new Rng(1000 + i);
  const ex = (k: number) => {
    const tokens = Array.from({ length: 21 }, (_, t) => (t === 10 ? HOSTILE[(i + k) % HOSTILE.length]! : ` w${(rng.nextU32() % 500).toString()}`));
    const acts = tokens.map((_, t) => (t === 10 ? 5 - k * 0.1 : (rng.nextU32() % 100) / 100));
    return { act: 5 - k * 0.1, token: i * 100 + k, at: 10, tokens, acts };
  };
  return {
    hist: Array.from({ length: 60 }, (_, b) => (b > 25 && b < 35 ? 1 + (rng.nextU32() % 50) : 0)), histLog10Min: -3, histLog10Step: 0.1,
    top: Array.from({ length: examples }, (_, k) => ex(k)),
    quantiles: [0, 1, 2, 3, 4].map((q) => ({ from: q, to: q + 0.9, examples: [ex(q), ex(q + 1), ex(q + 2)] })),
    boosted: Array.from({ length: 10 }, (_, k) => ({ token: k === 0 ? '<b>bold</b>' : ` t${k}`, id: k, value: 1 - k * 0.05 })),
    suppressed: Array.from({ length: 10 }, (_, k) => ({ token: ` s${k}`, id: 100 + k, value: -1 + k * 0.05 })),
    neighbours: Array.from({ length: 8 }, (_, k) => ({ feature: (i + k + 1) % 64, cosine: 0.5 - k * 0.01 })),
  };
}

/** Build the workspace in `dir` with `features` feature rows; returns the db path and the dashboard id. */
export function syntheticWorkspace(dir: string, features = 64): { db: string; dashboardId: number; saeId: number } {
  const db = workspaceDbPath(dir);
  const ws = openWorkspaceDb(db);
  try {
    const runId = ws.insertRun({ kind: 'train', config: {}, name: 'topk <i>test</i>', status: 'done' });
    const saeId = ws.insertSae({ runId, saeIndex: 0, path: join(dir, 'topk-k8-s0'), architecture: 'topk', dIn: 16, dSae: features, hook: 'blocks.1.hook_resid_pre', model: 'tiny', cfg: {} });
    ws.insertMetrics([1, 2, 3].flatMap((step) => [{ saeId, step: step * 10, tokens: step * 1000, name: 'loss', value: 10 / step }, { saeId, step: step * 10, tokens: step * 1000, name: 'l0', value: 8 }]));
    const dash = new DashboardDb(ws);
    const dashboardId = dash.insertDashboard({ saeId, saePath: join(dir, 'topk-k8-s0'), model: join(dir, 'no-model'), hook: 'blocks.1.hook_resid_pre', data: 'corpus.txt', dSae: features, config: { contextSize: 32 } });
    const rows = [];
    for (let i = 0; i < features; i++) rows.push({ feature: i, fires: 10 + i, density: (10 + i) / 10000, maxAct: 5, meanAct: 2 + i / features, data: featureData(i) });
    for (let k = 0; k < rows.length; k += 512) dash.writeFeatures(dashboardId, rows.slice(k, k + 512));
    dash.setStatus(dashboardId, 'done', 10000);
    mkdirSync(join(dir, 'reports', 'eval'), { recursive: true });
    writeFileSync(join(dir, 'reports', 'eval', 'metrics.json'), JSON.stringify({ l0: 8 }));
    writeFileSync(join(dir, 'reports', 'eval', 'density.svg'), '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>parent.__xss=3</script><rect width="10" height="10"/></svg>');
    return { db, dashboardId, saeId };
  } finally {
    ws.close();
  }
}

/**
 * A workspace whose one dashboard has a real model and SAE behind "text → features": the shared
 * gpt2-corpus-tiny and a random TopK SAE saved in `dir` (no feature rows). Needs the shared assets.
 */
export async function modelWorkspace(dir: string): Promise<{ db: string; dashboardId: number }> {
  const corpus = writeCorpus(join(dir, 'corpus.txt'), 8);
  const saePath = join(dir, 'random-sae');
  const cfg = await writeRandomSae(saePath, corpus);
  const db = workspaceDbPath(dir);
  const ws = openWorkspaceDb(db);
  try {
    const dash = new DashboardDb(ws);
    const dashboardId = dash.insertDashboard({ saeId: null, saePath, model: TINY_MODEL, hook: 'blocks.2.hook_resid_pre', data: corpus, dSae: cfg.dSae, config: { contextSize: 32 } });
    dash.setStatus(dashboardId, 'done', 0);
    return { db, dashboardId };
  } finally {
    ws.close();
  }
}
