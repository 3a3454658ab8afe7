// Evaluation rows in the workspace database: a run of kind 'eval', one saes row per SAE, metrics
// by name (non-finite → NULL), and the evaluations of one SAE folder, newest first.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evalsOfPath, insertEvalRun, readEvalMetrics } from '../../src/eval/evalDb.js';
import { openWorkspaceDb } from '../../src/io/workspaceDb.js';

test('insert, read back, and list the evaluations of a folder', () => {
  const db = openWorkspaceDb(':memory:');
  try {
    const sae = (path: string, l0: number) => ({ path, label: path, architecture: 'topk', dIn: 4, dSae: 8, hook: 'blocks.0.hook_resid_pre', cfg: { k: 2 }, metrics: { l0, fvu: NaN, ce_sae: 3.5, pairs: undefined } });
    const first = insertEvalRun(db, { model: 'm', config: { tokens: 10 }, saes: [sae('/a', 2), sae('/b', 3)] });
    const second = insertEvalRun(db, { model: 'm', config: { tokens: 20 }, saes: [sae('/a', 2.5)] });
    assert.equal(db.getRun(first.runId)!.kind, 'eval');
    assert.equal(db.getRun(first.runId)!.status, 'done');
    assert.deepEqual(db.listSaes(first.runId).map((s) => [s.path, s.saeIndex, s.model]), [['/a', 0, 'm'], ['/b', 1, 'm']]);
    assert.deepEqual(readEvalMetrics(db, first.saeIds[1]!), { ce_sae: 3.5, fvu: null, l0: 3 });
    const hist = evalsOfPath(db, '/a');
    assert.deepEqual(hist.map((h) => [h.runId, h.metrics.l0]), [[second.runId, 2.5], [first.runId, 2]]);
    db.deleteRun(first.runId);
    assert.deepEqual(readEvalMetrics(db, first.saeIds[0]!), {}); // cascades with the run
  } finally {
    db.close();
  }
});
