// Evaluation rows in the workspace database: a `runs` row of kind 'eval' (its config: the options),
// one `saes` row per evaluated SAE under it (path, architecture, shape, hook, model, cfg), and the
// SAE's metrics in `eval_metrics` (sae_id, name, value) by their spec names (docs/metrics.md).

import type { RunSaeRow, WorkspaceDb } from '../io/workspaceDb.js';

/** What is stored for one evaluated SAE. */
export interface EvalDbSae extends RunSaeRow {
  /** Metric name → value (non-finite values are stored as NULL). */
  metrics: Record<string, number | undefined>;
}

/** Record an evaluation: returns the run id and the saes ids (in order). */
export function insertEvalRun(db: WorkspaceDb, run: { model: string; config: unknown; name?: string; saes: EvalDbSae[] }): { runId: number; saeIds: number[] } {
  const stmt = db.db.prepare('INSERT INTO eval_metrics (sae_id, name, value) VALUES (?, ?, ?)');
  return db.insertRunWithSaes({ kind: 'eval', config: run.config, name: run.name ?? `eval ${run.saes.map((s) => s.label).join(', ')}`, model: run.model, saes: run.saes }, (id, s) => {
    for (const [name, v] of Object.entries(s.metrics)) {
      if (v === undefined) continue;
      stmt.run(id, name, Number.isFinite(v) ? v : null);
    }
  });
}

/** The metrics of an evaluated SAE (saes.id), name → value (null for a non-finite one). */
export function readEvalMetrics(db: WorkspaceDb, saeId: number): Record<string, number | null> {
  const rows = db.db.prepare('SELECT name, value FROM eval_metrics WHERE sae_id = ? ORDER BY name').all(saeId) as { name: string; value: number | null }[];
  return Object.fromEntries(rows.map((r) => [r.name, r.value]));
}

/** Every evaluation of the SAE folder `path`, newest first: run id, when, and the metrics. */
export function evalsOfPath(db: WorkspaceDb, path: string): { runId: number; saeId: number; createdAt: string; metrics: Record<string, number | null> }[] {
  const rows = db.db
    .prepare(`SELECT s.id AS saeId, r.id AS runId, r.created_at AS createdAt FROM saes s JOIN runs r ON r.id = s.run_id WHERE r.kind = 'eval' AND s.path = ? ORDER BY r.id DESC, s.id`)
    .all(path) as { saeId: number; runId: number; createdAt: string }[];
  return rows.map((r) => ({ ...r, metrics: readEvalMetrics(db, r.saeId) }));
}
