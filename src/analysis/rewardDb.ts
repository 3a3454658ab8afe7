// Reward-attribution rows in the workspace database (schema in docs/workspace-db.md): a runs row of
// kind 'attribute', a saes row per SAE, the ranked features per SAE and the whole JSON report.

import type { RunSaeRow, WorkspaceDb } from '../io/workspaceDb.js';

/** One SAE's ranked features as stored. */
export interface AttributionDbFeature {
  feature: number;
  effect: number;
  absEffect: number;
  signConsistency: number | null;
  firingFrequency: number | null;
  highFrequency: boolean;
  duplicateOf: string | null;
}

export interface AttributionDbSae extends RunSaeRow {
  features: AttributionDbFeature[];
}

/** Record an attribution run; returns the run id and the saes ids (in order). */
export function insertAttributionRun(db: WorkspaceDb, run: { model: string; mode: 'pairs' | 'two'; config: unknown; report: unknown; saes: AttributionDbSae[] }): { runId: number; saeIds: number[] } {
  const stmt = db.db.prepare('INSERT INTO attribution_features (sae_id, rank, feature, effect, abs_effect, sign_consistency, firing_frequency, high_frequency, duplicate_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
  return db.db.transaction(() => {
    const ids = db.insertRunWithSaes({ kind: 'attribute', config: run.config, name: `attribute (${run.mode}) ${run.saes.map((s) => s.label).join(', ')}`, model: run.model, saes: run.saes }, (id, s) => {
      s.features.forEach((f, r) => stmt.run(id, r, f.feature, f.effect, f.absEffect, f.signConsistency, f.firingFrequency, f.highFrequency ? 1 : 0, f.duplicateOf));
    });
    db.db.prepare('INSERT INTO attribution_reports (run_id, mode, report) VALUES (?, ?, ?)').run(ids.runId, run.mode, JSON.stringify(run.report));
    return ids;
  })();
}

/** Attribution runs, newest first: id, when, mode, name. */
export function listAttributionRuns(db: WorkspaceDb): { runId: number; createdAt: string; mode: string; name: string | null }[] {
  return db.db
    .prepare(`SELECT r.id AS runId, r.created_at AS createdAt, a.mode AS mode, r.name AS name FROM runs r JOIN attribution_reports a ON a.run_id = r.id ORDER BY r.id DESC`)
    .all() as { runId: number; createdAt: string; mode: string; name: string | null }[];
}

/** The JSON report of an attribution run, or null. */
export function readAttributionReport(db: WorkspaceDb, runId: number): { mode: string; report: unknown } | null {
  const r = db.db.prepare('SELECT mode, report FROM attribution_reports WHERE run_id = ?').get(runId) as { mode: string; report: string } | undefined;
  return r ? { mode: r.mode, report: JSON.parse(r.report) } : null;
}
