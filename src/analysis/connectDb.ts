// Feature-connection rows in the workspace database (schema in docs/workspace-db.md): a runs row of
// kind 'connect', the two SAEs as saes rows, the top-k edges into each later feature; and the
// "driven by" / "drives" links of one feature of an SAE folder, across connect runs.

import type { RunSaeRow, WorkspaceDb } from '../io/workspaceDb.js';
import type { LateFeatureEdges } from './connectFeatures.js';

/** Record a connect run; returns the run id and the (early, late) saes ids. */
export function insertConnectRun(db: WorkspaceDb, run: { model: string; config: unknown; early: RunSaeRow; late: RunSaeRow; features: readonly LateFeatureEdges[] }): { runId: number; saeIds: number[] } {
  const stmt = db.db.prepare('INSERT INTO feature_edges (late_sae_id, late_feature, rank, early_sae_id, early_feature, attribution, per_firing) VALUES (?, ?, ?, ?, ?, ?, ?)');
  let earlyId = 0;
  return db.insertRunWithSaes({ kind: 'connect', config: run.config, name: `connect ${run.early.label} → ${run.late.label}`, model: run.model, saes: [run.early, run.late] }, (id, s) => {
    if (s === run.early) {
      earlyId = id;
      return;
    }
    for (const f of run.features) f.edges.forEach((e, r) => stmt.run(id, f.feature, r, earlyId, e.source, e.attribution, e.perFiring));
  });
}

/** One link of a feature page: the other SAE's folder, hook and feature (−1: an error term), and the edge. */
export interface FeatureLink {
  runId: number;
  path: string | null;
  label: string | null;
  hook: string | null;
  feature: number;
  rank: number;
  attribution: number;
  perFiring: number;
}

/** The edges into (`drivenBy`) and out of (`drives`) feature `feature` of the SAE folder `path`, newest runs first. */
export function featureLinks(db: WorkspaceDb, path: string, feature: number, limit = 20): { drivenBy: FeatureLink[]; drives: FeatureLink[] } {
  const cols = 'sa.run_id AS runId, o.path AS path, o.hook AS hook, e.rank AS rank, e.attribution AS attribution, e.per_firing AS perFiring';
  const drivenBy = db.db.prepare(`SELECT ${cols}, e.early_feature AS feature FROM feature_edges e JOIN saes sa ON sa.id = e.late_sae_id JOIN saes o ON o.id = e.early_sae_id
     WHERE sa.path = ? AND e.late_feature = ? ORDER BY sa.run_id DESC, e.rank LIMIT ?`).all(path, feature, limit) as FeatureLink[];
  const drives = db.db.prepare(`SELECT ${cols}, e.late_feature AS feature FROM feature_edges e JOIN saes sa ON sa.id = e.early_sae_id JOIN saes o ON o.id = e.late_sae_id
     WHERE sa.path = ? AND e.early_feature = ? ORDER BY ABS(e.attribution) DESC LIMIT ?`).all(path, feature, limit) as FeatureLink[];
  const clean = (l: FeatureLink): FeatureLink => ({ runId: l.runId, path: l.path, label: l.path ? l.path.split('/').pop() ?? null : null, hook: l.hook, feature: l.feature, rank: l.rank, attribution: l.attribution, perFiring: l.perFiring });
  return { drivenBy: drivenBy.map(clean), drives: drives.map(clean) };
}
