// Typed reads and writes of the dashboard tables of the workspace database (schema in
// docs/workspace-db.md, "Feature dashboards"):
//   dashboards(id, created_at, updated_at, sae_id → saes.id NULL, sae_path, model, hook, data,
//              d_sae, tokens, config JSON, status 'running' | 'done' | 'failed' | 'aborted')
//   dashboard_features(dashboard_id → dashboards.id (cascade), feature, fires, density, max_act,
//              mean_act, data JSON = FeatureData, PRIMARY KEY (dashboard_id, feature))
// One row per feature with its page as JSON: a feature page is one primary-key lookup.

import type { WorkspaceDb } from './workspaceDb.js';

/** 'aborted': stopped by SIGINT/SIGTERM, its checkpoint kept for --resume. */
export type DashboardStatus = 'running' | 'done' | 'failed' | 'aborted';

export interface DashboardRecord {
  id: number;
  createdAt: string;
  updatedAt: string;
  saeId: number | null;
  saePath: string;
  model: string;
  hook: string;
  data: string;
  dSae: number;
  /** Tokens counted (special tokens excluded). */
  tokens: number;
  config: Record<string, unknown>;
  status: DashboardStatus;
}

/** One example context: tokens as text, the feature's activation on each, and which one fired. */
export interface ExampleJson {
  /** Activation at the firing token. */
  act: number;
  /** Global index of the firing token in the pass. */
  token: number;
  /** Index into `tokens` of the firing token. */
  at: number;
  tokens: string[];
  acts: number[];
}

/** The stored page of one feature (dashboard_features.data). */
export interface FeatureData {
  /** [bins] counts of activations per log10 bin; bin i starts at 10^(histLog10Min + i·histLog10Step). */
  hist: number[];
  histLog10Min: number;
  histLog10Step: number;
  top: ExampleJson[];
  /** Groups of the firing reservoir by activation rank, weakest first. */
  quantiles: { from: number; to: number; examples: ExampleJson[] }[];
  /** Logit effects of W_dec[i] · W_U. */
  boosted: { token: string; id: number; value: number }[];
  suppressed: { token: string; id: number; value: number }[];
  /** Highest decoder cosine similarity. */
  neighbours: { feature: number; cosine: number }[];
}

/** A feature's numbers without its page (for lists). */
export interface FeatureRow {
  feature: number;
  fires: number;
  density: number;
  maxAct: number;
  meanAct: number;
}

interface DashRow { id: number; created_at: string; updated_at: string; sae_id: number | null; sae_path: string; model: string; hook: string; data: string; d_sae: number; tokens: number; config: string; status: DashboardStatus }

const toDash = (r: DashRow): DashboardRecord => ({
  id: r.id, createdAt: r.created_at, updatedAt: r.updated_at, saeId: r.sae_id, saePath: r.sae_path, model: r.model, hook: r.hook, data: r.data, dSae: r.d_sae, tokens: r.tokens, config: JSON.parse(r.config) as Record<string, unknown>, status: r.status,
});

/** The dashboard tables of an open workspace database. */
export class DashboardDb {
  constructor(readonly ws: WorkspaceDb) {}

  /** Record a new dashboard (status 'running'); returns its id. */
  insertDashboard(d: { saeId: number | null; saePath: string; model: string; hook: string; data: string; dSae: number; config: unknown }): number {
    const now = new Date().toISOString();
    const r = this.ws.db
      .prepare('INSERT INTO dashboards (created_at, updated_at, sae_id, sae_path, model, hook, data, d_sae, tokens, config, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)')
      .run(now, now, d.saeId, d.saePath, d.model, d.hook, d.data, d.dSae, JSON.stringify(d.config ?? null), 'running');
    return Number(r.lastInsertRowid);
  }

  /** Set a dashboard's status, and its token count when given. */
  setStatus(id: number, status: DashboardStatus, tokens?: number): void {
    const r = this.ws.db
      .prepare('UPDATE dashboards SET status = ?, tokens = COALESCE(?, tokens), updated_at = ? WHERE id = ?')
      .run(status, tokens ?? null, new Date().toISOString(), id);
    if (r.changes !== 1) throw new Error(`workspace db: no dashboard ${id}`);
  }

  /** One dashboard, or null. */
  getDashboard(id: number): DashboardRecord | null {
    const r = this.ws.db.prepare('SELECT * FROM dashboards WHERE id = ?').get(id) as DashRow | undefined;
    return r ? toDash(r) : null;
  }

  /** Dashboards, newest first. */
  listDashboards(): DashboardRecord[] {
    return (this.ws.db.prepare('SELECT * FROM dashboards ORDER BY id DESC').all() as DashRow[]).map(toDash);
  }

  /** The newest unfinished dashboard of an SAE folder with the same config (what --resume continues), or null. */
  findResumable(saePath: string, config: unknown): DashboardRecord | null {
    const want = JSON.stringify(config ?? null);
    const rows = this.ws.db.prepare("SELECT * FROM dashboards WHERE sae_path = ? AND status != 'done' ORDER BY id DESC").all(saePath) as DashRow[];
    const r = rows.find((x) => x.config === want);
    return r ? toDash(r) : null;
  }

  /** Write feature rows (replacing any of the same feature) in one transaction. */
  writeFeatures(dashboardId: number, rows: readonly (FeatureRow & { data: FeatureData })[]): void {
    const stmt = this.ws.db.prepare('INSERT OR REPLACE INTO dashboard_features (dashboard_id, feature, fires, density, max_act, mean_act, data) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.ws.db.transaction(() => {
      for (const r of rows) stmt.run(dashboardId, r.feature, r.fires, r.density, r.maxAct, r.meanAct, JSON.stringify(r.data));
    })();
  }

  /** One feature's numbers and page, or null. */
  getFeature(dashboardId: number, feature: number): (FeatureRow & { data: FeatureData }) | null {
    const r = this.ws.db
      .prepare('SELECT feature, fires, density, max_act AS maxAct, mean_act AS meanAct, data FROM dashboard_features WHERE dashboard_id = ? AND feature = ?')
      .get(dashboardId, feature) as (FeatureRow & { data: string }) | undefined;
    return r ? { ...r, data: JSON.parse(r.data) as FeatureData } : null;
  }

  /** Features without their pages, ordered by `order` (default: feature id), a page of `limit` from `offset`; with `withTop`, each with its strongest example. */
  listFeatures(dashboardId: number, o: { order?: 'feature' | 'density' | 'maxAct'; limit?: number; offset?: number; withTop?: boolean } = {}): (FeatureRow & { top?: ExampleJson | null })[] {
    const orderBy = { feature: 'feature', density: 'density DESC, feature', maxAct: 'max_act DESC, feature' }[o.order ?? 'feature'];
    // json_extract pulls only the first example out of the page (SQLite's JSON1, built into better-sqlite3).
    const top = o.withTop ? ", json_extract(data, '$.top[0]') AS top" : '';
    const rows = this.ws.db
      .prepare(`SELECT feature, fires, density, max_act AS maxAct, mean_act AS meanAct${top} FROM dashboard_features WHERE dashboard_id = ? ORDER BY ${orderBy} LIMIT ? OFFSET ?`)
      .all(dashboardId, o.limit ?? 100, o.offset ?? 0) as (FeatureRow & { top?: string | null })[];
    if (!o.withTop) return rows as FeatureRow[];
    return rows.map((r) => ({ ...r, top: r.top ? (JSON.parse(r.top) as ExampleJson) : null }));
  }

  /** How many features a dashboard has rows for. */
  featureCount(dashboardId: number): number {
    return (this.ws.db.prepare('SELECT COUNT(*) AS n FROM dashboard_features WHERE dashboard_id = ?').get(dashboardId) as { n: number }).n;
  }
}
