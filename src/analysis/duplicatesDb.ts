// Near-duplicate feature rows in the workspace database (schema in docs/workspace-db.md): a runs row
// of kind 'duplicates', one saes row per SAE (in hook order), and each pair once, earlier SAE first;
// and the duplicates of one feature of an SAE folder, read both ways, across runs.

import type { RunSaeRow, WorkspaceDb } from '../io/workspaceDb.js';
import type { DuplicatePair } from './duplicateFeatures.js';

/** Record a duplicates run: `between` indexes into `saes`. Returns the run id and the saes ids. */
export function insertDuplicatesRun(db: WorkspaceDb, run: { model: string; config: unknown; saes: readonly RunSaeRow[]; between: readonly { a: number; b: number; pairs: readonly DuplicatePair[] }[] }): { runId: number; saeIds: number[] } {
  const stmt = db.db.prepare('INSERT INTO feature_duplicates (sae_id, feature, other_sae_id, other_feature, cosine, correlation) VALUES (?, ?, ?, ?, ?, ?)');
  const ids: number[] = [];
  return db.insertRunWithSaes({ kind: 'duplicates', config: run.config, name: `duplicates ${run.saes.map((s) => s.label).join(', ')}`, model: run.model, saes: run.saes }, (id) => {
    ids.push(id);
    // Once the last SAE has its id, every pair can be stored.
    if (ids.length < run.saes.length) return;
    for (const w of run.between) for (const p of w.pairs) stmt.run(ids[w.a]!, p.a, ids[w.b]!, p.b, p.cosine, p.correlation);
  });
}

/** A duplicate of a feature: the other SAE's folder, hook and feature, with the pair's numbers. */
export interface FeatureDuplicate {
  runId: number;
  path: string | null;
  label: string | null;
  hook: string | null;
  feature: number;
  cosine: number;
  correlation: number;
}

/** The near-duplicates of feature `feature` of the SAE folder `path` in other SAEs, most alike first. */
export function featureDuplicates(db: WorkspaceDb, path: string, feature: number, limit = 20): FeatureDuplicate[] {
  const rows = db.db.prepare(
    `SELECT * FROM (SELECT me.run_id AS runId, o.path AS path, o.hook AS hook, x.other_feature AS feature, x.cosine AS cosine, x.correlation AS correlation
       FROM feature_duplicates x JOIN saes me ON me.id = x.sae_id JOIN saes o ON o.id = x.other_sae_id WHERE me.path = ? AND x.feature = ?
     UNION ALL
     SELECT me.run_id AS runId, o.path AS path, o.hook AS hook, x.feature AS feature, x.cosine AS cosine, x.correlation AS correlation
       FROM feature_duplicates x JOIN saes me ON me.id = x.other_sae_id JOIN saes o ON o.id = x.sae_id WHERE me.path = ? AND x.other_feature = ?
     ) ORDER BY runId DESC, correlation * cosine DESC LIMIT ?`,
  ).all(path, feature, path, feature, limit) as FeatureDuplicate[];
  return rows.map((r) => ({ ...r, label: r.path ? r.path.split('/').pop() ?? null : null }));
}

/** One duplicates run's pairs: [a SAE index, a feature, b SAE index, b feature, cosine, correlation] by the saes' order in the run, strongest first. */
export function duplicatesRunPairs(db: WorkspaceDb, runId: number): { saeIds: number[]; pairs: [number, number, number, number, number, number][] } {
  const saeIds = db.listSaes(runId).map((s) => s.id);
  const idx = new Map(saeIds.map((id, i) => [id, i]));
  const rows = db.db.prepare(
    `SELECT x.sae_id AS sa, x.feature AS a, x.other_sae_id AS sb, x.other_feature AS b, x.cosine AS cosine, x.correlation AS correlation
       FROM feature_duplicates x JOIN saes s ON s.id = x.sae_id WHERE s.run_id = ? ORDER BY x.sae_id, x.other_sae_id, x.correlation * x.cosine DESC, x.feature, x.other_feature`,
  ).all(runId) as { sa: number; a: number; sb: number; b: number; cosine: number; correlation: number }[];
  return { saeIds, pairs: rows.map((r) => [idx.get(r.sa)!, r.a, idx.get(r.sb)!, r.b, r.cosine, r.correlation]) };
}
