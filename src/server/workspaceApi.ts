// The JSON answers of the server's API, read from the workspace database (opened read-only).
// Tables of other features (eval_metrics) are read only when the file has them, so a workspace
// written by an older saelab, or without evaluations, still serves.

import Database from 'better-sqlite3';
import { DashboardDb, type DashboardRecord } from '../io/dashboardDb.js';
import { WorkspaceDb } from '../io/workspaceDb.js';
import { featureLinks, type FeatureLink } from '../analysis/connectDb.js';
import { duplicatesRunPairs, featureDuplicates, type FeatureDuplicate } from '../analysis/duplicatesDb.js';
import { HttpError } from './http.js';

/** A workspace database opened read-only, with the tables it has. */
export class WorkspaceReader {
  readonly ws: WorkspaceDb;
  readonly dash: DashboardDb;
  private readonly tables: Set<string>;

  constructor(path: string) {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    this.ws = new WorkspaceDb(db);
    this.dash = new DashboardDb(this.ws);
    this.tables = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name));
  }

  /** Whether the file has table `name`. */
  has(name: string): boolean {
    return this.tables.has(name);
  }

  close(): void {
    this.ws.close();
  }

  /** Runs with their SAEs: last logged training metrics, evaluation metrics, dashboards. */
  workspace(): unknown {
    const dashboards = this.has('dashboards') ? this.dash.listDashboards() : [];
    const evalStmt = this.has('eval_metrics') ? this.ws.db.prepare('SELECT e.name, e.value FROM eval_metrics e JOIN saes s ON s.id = e.sae_id WHERE s.path = ? ORDER BY s.id, e.name') : null;
    const lastStmt = this.ws.db.prepare('SELECT name, value, step, tokens FROM train_metrics WHERE sae_id = ? AND step = (SELECT MAX(step) FROM train_metrics WHERE sae_id = ?)');
    const runs = this.ws.listRuns().map((r) => ({
      id: r.id, kind: r.kind, name: r.name, status: r.status, createdAt: r.createdAt, updatedAt: r.updatedAt,
      saes: this.ws.listSaes(r.id).map((s) => {
        const last = lastStmt.all(s.id, s.id) as { name: string; value: number | null; step: number; tokens: number }[];
        const evals = s.path && evalStmt ? (evalStmt.all(s.path) as { name: string; value: number | null }[]) : [];
        return {
          id: s.id, path: s.path, name: s.path ? s.path.split(/[\\/]/).filter(Boolean).pop() : `sae ${s.id}`, architecture: s.architecture, dIn: s.dIn, dSae: s.dSae, hook: s.hook, model: s.model,
          lastStep: last[0]?.step ?? null, lastTokens: last[0]?.tokens ?? null,
          train: Object.fromEntries(last.map((m) => [m.name, m.value])),
          eval: Object.fromEntries(evals.map((m) => [m.name, m.value])),
          dashboards: dashboards.filter((d) => d.saeId === s.id || (s.path !== null && d.saePath === s.path)).map((d) => d.id),
        };
      }),
    }));
    return { runs, dashboards: dashboards.map(dashboardJson) };
  }

  /** The training curves of an SAE: by metric name, [step, tokens, value] rows. */
  metrics(saeId: number): unknown {
    const sae = this.ws.getSae(saeId);
    if (!sae) throw new HttpError(404, `no SAE ${saeId}`);
    const out: Record<string, [number, number, number | null][]> = {};
    for (const r of this.ws.readMetrics(saeId)) (out[r.name] ??= []).push([r.step, r.tokens, r.value]);
    return { sae: saeId, metrics: out };
  }

  /** A dashboard, or 404. */
  dashboard(id: number): DashboardRecord {
    const d = this.has('dashboards') ? this.dash.getDashboard(id) : null;
    if (!d) throw new HttpError(404, `no dashboard ${id}`);
    return d;
  }

  /** A dashboard's summary and its feature count. */
  dashboardInfo(id: number): unknown {
    return { ...dashboardJson(this.dashboard(id)), features: this.dash.featureCount(id) };
  }

  /** A page of a dashboard's features (numbers only). */
  featureList(id: number, order: string | null, limit: number, offset: number): unknown {
    this.dashboard(id);
    if (order !== null && !['feature', 'density', 'maxAct'].includes(order)) throw new HttpError(400, `order must be feature, density or maxAct (got '${order}')`);
    const o = (order ?? 'feature') as 'feature' | 'density' | 'maxAct';
    return { dashboard: id, order: o, offset, total: this.dash.featureCount(id), features: this.dash.listFeatures(id, { order: o, limit, offset, withTop: true }) };
  }

  /** One feature's page, or 404. */
  feature(id: number, feature: number): unknown {
    const d = this.dashboard(id);
    const f = this.dash.getFeature(id, feature);
    if (!f) throw new HttpError(404, `dashboard ${id} has no feature ${feature}`);
    return { dashboard: { id: d.id, dSae: d.dSae, tokens: d.tokens, hook: d.hook, saePath: d.saePath }, ...f, links: this.links(d.saePath, feature), duplicates: this.duplicates(d.saePath, feature) };
  }

  /** A saelab duplicates run: its SAEs (with their newest finished dashboard) and every pair, or 404. */
  duplicatesRun(runId: number): unknown {
    const run = this.ws.getRun(runId);
    if (!run || run.kind !== 'duplicates' || !this.has('feature_duplicates')) throw new HttpError(404, `no duplicates run ${runId}`);
    const dash = this.has('dashboards') ? this.ws.db.prepare("SELECT id FROM dashboards WHERE sae_path = ? AND status = 'done' ORDER BY id DESC LIMIT 1") : null;
    const { saeIds, pairs } = duplicatesRunPairs(this.ws, runId);
    const saes = saeIds.map((id) => {
      const s = this.ws.getSae(id)!;
      return { id, path: s.path, label: s.path ? s.path.split(/[\\/]/).filter(Boolean).pop() ?? null : null, hook: s.hook, dSae: s.dSae, dashboard: s.path && dash ? ((dash.get(s.path) as { id: number } | undefined)?.id ?? null) : null };
    });
    return { run: { id: run.id, name: run.name, createdAt: run.createdAt, config: run.config }, saes, pairs };
  }

  /** Near-duplicates of a feature in SAEs at other hooks (saelab duplicates), each with the other SAE's newest finished dashboard. */
  private duplicates(saePath: string, feature: number): (FeatureDuplicate & { dashboard: number | null })[] {
    if (!this.has('feature_duplicates')) return [];
    const dash = this.ws.db.prepare("SELECT id FROM dashboards WHERE sae_path = ? AND status = 'done' ORDER BY id DESC LIMIT 1");
    return featureDuplicates(this.ws, saePath, feature).map((x) => ({ ...x, dashboard: x.path ? ((dash.get(x.path) as { id: number } | undefined)?.id ?? null) : null }));
  }

  /** "Driven by" / "drives" edges of a feature (saelab connect), each with the newest finished dashboard of the other SAE when there is one. */
  private links(saePath: string, feature: number): { drivenBy: (FeatureLink & { dashboard: number | null })[]; drives: (FeatureLink & { dashboard: number | null })[] } {
    if (!this.has('feature_edges')) return { drivenBy: [], drives: [] };
    const l = featureLinks(this.ws, saePath, feature);
    const dash = this.ws.db.prepare("SELECT id FROM dashboards WHERE sae_path = ? AND status = 'done' ORDER BY id DESC LIMIT 1");
    const withDash = (x: FeatureLink) => ({ ...x, dashboard: x.path ? ((dash.get(x.path) as { id: number } | undefined)?.id ?? null) : null });
    return { drivenBy: l.drivenBy.map(withDash), drives: l.drives.map(withDash) };
  }
}

/** What the API shows of a dashboard row. */
function dashboardJson(d: DashboardRecord) {
  return {
    id: d.id, saeId: d.saeId, saePath: d.saePath, saeName: d.saePath.split(/[\\/]/).filter(Boolean).pop(), model: d.model, hook: d.hook, data: d.data,
    dSae: d.dSae, tokens: d.tokens, status: d.status, createdAt: d.createdAt, contextSize: d.config.contextSize ?? null,
  };
}
