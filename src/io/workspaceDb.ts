// The workspace database: one SQLite file per workspace (better-sqlite3, WAL so that `saelab serve`
// can read while a training run writes). Schema, version 1 (docs/workspace-db.md says the same):
//
//   schema_version(version INTEGER)                 one row; refuses files from a newer saelab
//   runs(id INTEGER PK, created_at TEXT ISO-8601, updated_at TEXT, kind TEXT  -- 'train', 'harvest', 'eval', …
//        name TEXT NULL, config TEXT JSON, status TEXT  -- 'running' | 'done' | 'failed' | 'aborted')
//   saes(id INTEGER PK, run_id → runs.id (cascade), sae_index INTEGER NULL (position in a sweep),
//        path TEXT NULL (the SAELens folder), architecture TEXT, d_in INTEGER, d_sae INTEGER,
//        hook TEXT NULL, model TEXT NULL, cfg TEXT JSON)
//   train_metrics(sae_id → saes.id (cascade), step INTEGER, tokens INTEGER, name TEXT, value REAL NULL,
//        PRIMARY KEY (sae_id, step, name))        long format: one row per metric per logged step;
//                                                 a resumed run's rewritten steps replace the old ones.

import { closeSync, existsSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { checkOutputDir } from './outputPaths.js';

/** The database's file name inside a workspace folder. */
export const WORKSPACE_DB_FILE = 'saelab.db';

export type RunStatus = 'running' | 'done' | 'failed' | 'aborted';

export interface RunRecord {
  id: number;
  createdAt: string;
  updatedAt: string;
  kind: string;
  name: string | null;
  config: unknown;
  status: RunStatus;
}

export interface SaeRecord {
  id: number;
  runId: number;
  saeIndex: number | null;
  path: string | null;
  architecture: string;
  dIn: number;
  dSae: number;
  hook: string | null;
  model: string | null;
  cfg: unknown;
}

export interface MetricRow {
  saeId: number;
  step: number;
  tokens: number;
  name: string;
  /** null for a missing or non-finite value. */
  value: number | null;
}

// Migration i takes the schema from version i to i + 1 (append new ones; never edit an old one).
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE runs (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     kind TEXT NOT NULL,
     name TEXT,
     config TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'aborted'))
   );
   CREATE TABLE saes (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
     sae_index INTEGER,
     path TEXT,
     architecture TEXT NOT NULL,
     d_in INTEGER NOT NULL,
     d_sae INTEGER NOT NULL,
     hook TEXT,
     model TEXT,
     cfg TEXT NOT NULL
   );
   CREATE INDEX saes_run ON saes(run_id);
   CREATE TABLE train_metrics (
     sae_id INTEGER NOT NULL REFERENCES saes(id) ON DELETE CASCADE,
     step INTEGER NOT NULL,
     tokens INTEGER NOT NULL,
     name TEXT NOT NULL,
     value REAL,
     PRIMARY KEY (sae_id, step, name)
   ) WITHOUT ROWID;`,
  // Feature dashboards (saelab dashboard; src/io/dashboardDb.ts, docs/workspace-db.md).
  `CREATE TABLE dashboards (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     sae_id INTEGER REFERENCES saes(id) ON DELETE SET NULL,
     sae_path TEXT NOT NULL,
     model TEXT NOT NULL,
     hook TEXT NOT NULL,
     data TEXT NOT NULL,
     d_sae INTEGER NOT NULL,
     tokens INTEGER NOT NULL,
     config TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed'))
   );
   CREATE TABLE dashboard_features (
     dashboard_id INTEGER NOT NULL REFERENCES dashboards(id) ON DELETE CASCADE,
     feature INTEGER NOT NULL,
     fires INTEGER NOT NULL,
     density REAL NOT NULL,
     max_act REAL NOT NULL,
     mean_act REAL NOT NULL,
     data TEXT NOT NULL,
     PRIMARY KEY (dashboard_id, feature)
   ) WITHOUT ROWID;
   CREATE INDEX dashboard_features_density ON dashboard_features(dashboard_id, density DESC, feature);
   CREATE INDEX dashboard_features_max_act ON dashboard_features(dashboard_id, max_act DESC, feature);`,
  // SAE evaluations (saelab eval; src/eval/evalDb.ts, docs/workspace-db.md): one saes row per
  // evaluated SAE under a runs row of kind 'eval', and its metrics by spec name (docs/metrics.md).
  `CREATE TABLE eval_metrics (
     sae_id INTEGER NOT NULL REFERENCES saes(id) ON DELETE CASCADE,
     name TEXT NOT NULL,
     value REAL,
     PRIMARY KEY (sae_id, name)
   ) WITHOUT ROWID;`,
  // Reward attribution (saelab attribute; src/analysis/rewardDb.ts, docs/workspace-db.md): a runs row
  // of kind 'attribute', one saes row per SAE, the ranked features, and the whole report as JSON.
  `CREATE TABLE attribution_reports (
     run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
     mode TEXT NOT NULL CHECK (mode IN ('pairs', 'two')),
     report TEXT NOT NULL
   );
   CREATE TABLE attribution_features (
     sae_id INTEGER NOT NULL REFERENCES saes(id) ON DELETE CASCADE,
     rank INTEGER NOT NULL,
     feature INTEGER NOT NULL,
     effect REAL NOT NULL,
     abs_effect REAL NOT NULL,
     sign_consistency REAL,
     firing_frequency REAL,
     high_frequency INTEGER NOT NULL,
     duplicate_of TEXT,
     PRIMARY KEY (sae_id, rank)
   ) WITHOUT ROWID;`,
  // A dashboard stopped by SIGINT/SIGTERM is 'aborted' (its checkpoint kept for --resume). SQLite
  // cannot alter a CHECK, so the table is rebuilt (SQLite's 12 steps; migrate() turns foreign keys
  // off around it so that dropping the old table does not cascade into dashboard_features).
  `CREATE TABLE dashboards_new (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     sae_id INTEGER REFERENCES saes(id) ON DELETE SET NULL,
     sae_path TEXT NOT NULL,
     model TEXT NOT NULL,
     hook TEXT NOT NULL,
     data TEXT NOT NULL,
     d_sae INTEGER NOT NULL,
     tokens INTEGER NOT NULL,
     config TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'aborted'))
   );
   INSERT INTO dashboards_new SELECT id, created_at, updated_at, sae_id, sae_path, model, hook, data, d_sae, tokens, config, status FROM dashboards;
   DROP TABLE dashboards;
   ALTER TABLE dashboards_new RENAME TO dashboards;`,
  // Feature-to-feature connections (saelab connect; src/analysis/connectDb.ts, docs/workspace-db.md):
  // a runs row of kind 'connect' with the earlier and the later SAE as saes rows, and the top-k edges
  // into each later feature (early_feature −1: the earlier SAE's error term).
  `CREATE TABLE feature_edges (
     late_sae_id INTEGER NOT NULL REFERENCES saes(id) ON DELETE CASCADE,
     late_feature INTEGER NOT NULL,
     rank INTEGER NOT NULL,
     early_sae_id INTEGER NOT NULL REFERENCES saes(id) ON DELETE CASCADE,
     early_feature INTEGER NOT NULL,
     attribution REAL NOT NULL,
     per_firing REAL NOT NULL,
     PRIMARY KEY (late_sae_id, late_feature, rank)
   ) WITHOUT ROWID;
   CREATE INDEX feature_edges_early ON feature_edges(early_sae_id, early_feature);`,
  // Near-duplicate features across SAEs (saelab duplicates; src/analysis/duplicatesDb.ts,
  // docs/workspace-db.md): a runs row of kind 'duplicates', one saes row per SAE, each pair once.
  `CREATE TABLE feature_duplicates (
     sae_id INTEGER NOT NULL REFERENCES saes(id) ON DELETE CASCADE,
     feature INTEGER NOT NULL,
     other_sae_id INTEGER NOT NULL REFERENCES saes(id) ON DELETE CASCADE,
     other_feature INTEGER NOT NULL,
     cosine REAL NOT NULL,
     correlation REAL NOT NULL,
     PRIMARY KEY (sae_id, feature, other_sae_id, other_feature)
   ) WITHOUT ROWID;
   CREATE INDEX feature_duplicates_other ON feature_duplicates(other_sae_id, other_feature);`,
];

/** The schema version this saelab writes: one more than the migrations applied to an empty file. */
export const WORKSPACE_DB_SCHEMA_VERSION = MIGRATIONS.length;

/** The database file of the workspace folder `dir`. */
export function workspaceDbPath(dir: string): string {
  return join(dir, WORKSPACE_DB_FILE);
}

/** A workspace database that cannot be used: not a database, read-only, from a newer saelab (exit 2, one line). */
/** An SAE analysed by a run (eval, attribution), as its `saes` row stores it. */
export interface RunSaeRow {
  path: string | null;
  label: string;
  architecture: string;
  dIn: number;
  dSae: number;
  hook: string;
  cfg: unknown;
}

export class WorkspaceDbError extends Error {
  override name = 'WorkspaceDbError';
}

const SQLITE_MAGIC = 'SQLite format 3\0';

/**
 * Check, before any work, that `path` is (or can become) a workspace database this saelab can
 * write: an existing file must be an SQLite file of a schema version no newer than ours, writable,
 * in a folder that takes new files (WAL writes `-wal` and `-shm` beside it). Nothing is created or
 * written. `flag` names the option.
 */
export function checkWorkspaceDb(path: string, flag = '--db'): void {
  if (path === ':memory:') return;
  const abs = resolve(path);
  if (existsSync(abs)) {
    if (statSync(abs).isDirectory()) throw new WorkspaceDbError(`${flag} ${path}: is a folder; give the database file (e.g. ${join(path, WORKSPACE_DB_FILE)})`);
    assertSqliteFile(abs, flag, path);
    try {
      closeSync(openSync(abs, 'r+'));
    } catch (e) {
      throw new WorkspaceDbError(`${flag} ${path}: cannot write the database (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    checkOutputDir(dirname(abs), flag, { create: false });
    let db: Database.Database | null = null;
    try {
      db = new Database(abs, { readonly: true, fileMustExist: true });
      const has = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").get();
      const version = has ? ((db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined)?.version ?? 0) : 0;
      if (version > WORKSPACE_DB_SCHEMA_VERSION) throw newerSchema(path, version);
    } catch (e) {
      throw asDbError(e, flag, path);
    } finally {
      db?.close();
    }
  } else {
    checkOutputDir(dirname(abs), flag, { create: false });
  }
}

/** A non-empty file that does not start with SQLite's header is not a database (an empty one becomes one). */
function assertSqliteFile(abs: string, flag: string, shown: string): void {
  if (statSync(abs).size === 0) return;
  const head = Buffer.alloc(16);
  const fd = openSync(abs, 'r');
  try {
    readSync(fd, head, 0, 16, 0);
  } finally {
    closeSync(fd);
  }
  if (head.toString('latin1') !== SQLITE_MAGIC) throw new WorkspaceDbError(`${flag} ${shown}: not an SQLite database (a workspace database written by saelab)`);
}

function newerSchema(path: string, version: number): WorkspaceDbError {
  return new WorkspaceDbError(`${path}: workspace database schema version ${version} is newer than this saelab's (${WORKSPACE_DB_SCHEMA_VERSION}); upgrade saelab or use another --db`);
}

/** SQLite's refusals (not a database, read-only, full) as one WorkspaceDbError line; other errors as they are. */
function asDbError(e: unknown, flag: string, path: string): unknown {
  if (e instanceof WorkspaceDbError) return e;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('SQLITE_')) return new WorkspaceDbError(`${flag} ${path}: ${(e as Error).message} [${code}]`);
  return e;
}

/** Open (creating and migrating as needed) the workspace database at `path`; ':memory:' works too. Unusable files are a WorkspaceDbError. */
export function openWorkspaceDb(path: string, flag = '--db'): WorkspaceDb {
  if (path !== ':memory:') {
    mkdirSync(dirname(path), { recursive: true });
    if (existsSync(path) && statSync(path).isFile()) assertSqliteFile(path, flag, path);
  }
  let db: Database.Database;
  try {
    db = new Database(path);
  } catch (e) {
    throw asDbError(e, flag, path);
  }
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db, path);
  } catch (e) {
    db.close();
    throw asDbError(e, flag, path);
  }
  return new WorkspaceDb(db);
}

/** Bring the schema up to WORKSPACE_DB_SCHEMA_VERSION (refusing a newer file), in one transaction. */
function migrate(db: Database.Database, path: string): void {
  // Foreign keys off while migrating (it cannot change inside a transaction): a migration that
  // rebuilds a table drops the old one, which must not cascade; the keys are checked at the end.
  db.pragma('foreign_keys = OFF');
  try {
    migrateSchema(db, path);
  } finally {
    db.pragma('foreign_keys = ON');
  }
}

function migrateSchema(db: Database.Database, path: string): void {
  db.transaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
    let version = row?.version ?? 0;
    if (!row) db.prepare('INSERT INTO schema_version (version) VALUES (0)').run();
    if (version > WORKSPACE_DB_SCHEMA_VERSION) {
      throw newerSchema(path, version);
    }
    const from = version;
    for (; version < WORKSPACE_DB_SCHEMA_VERSION; version++) db.exec(MIGRATIONS[version]!);
    if (from !== version && (db.pragma('foreign_key_check') as unknown[]).length > 0) throw new WorkspaceDbError(`${path}: migrating the workspace database left rows whose references are broken`);
    db.prepare('UPDATE schema_version SET version = ?').run(version);
  }).immediate();
}

// A train-log row's metrics, under the names they have in the log.
const LOG_METRICS = ['loss', 'mse', 'l1', 'auxK', 'l0', 'deadFraction', 'lr', 'tokensPerSecond', 'gradNorm'] as const;

const finiteOrNull = (v: number | undefined | null): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

interface RunRow { id: number; created_at: string; updated_at: string; kind: string; name: string | null; config: string; status: RunStatus }
interface SaeRow { id: number; run_id: number; sae_index: number | null; path: string | null; architecture: string; d_in: number; d_sae: number; hook: string | null; model: string | null; cfg: string }

const toRun = (r: RunRow): RunRecord => ({ id: r.id, createdAt: r.created_at, updatedAt: r.updated_at, kind: r.kind, name: r.name, config: JSON.parse(r.config), status: r.status });
const toSae = (r: SaeRow): SaeRecord => ({
  id: r.id, runId: r.run_id, saeIndex: r.sae_index, path: r.path, architecture: r.architecture, dIn: r.d_in, dSae: r.d_sae, hook: r.hook, model: r.model, cfg: JSON.parse(r.cfg),
});

/** An open workspace database (see the file comment for the schema). Close it when done. */
/** A trainer log row as the database sees it: step, tokens, which SAE, and named numbers. */
export type LoggedRow = { step: number; tokens: number; saeIndex: number } & { [K in (typeof LOG_METRICS)[number]]?: number };

export class WorkspaceDb {
  constructor(readonly db: Database.Database) {}

  /** The schema version of the open file. */
  schemaVersion(): number {
    return (this.db.prepare('SELECT version FROM schema_version').get() as { version: number }).version;
  }

  /** Record a new run (status 'running' unless given); returns its id. */
  insertRun(run: { kind: string; config: unknown; name?: string; status?: RunStatus; createdAt?: string }): number {
    const now = run.createdAt ?? new Date().toISOString();
    const r = this.db
      .prepare('INSERT INTO runs (created_at, updated_at, kind, name, config, status) VALUES (?, ?, ?, ?, ?, ?)')
      .run(now, now, run.kind, run.name ?? null, JSON.stringify(run.config ?? null), run.status ?? 'running');
    return Number(r.lastInsertRowid);
  }

  /** Set a run's status (and updated_at). */
  setRunStatus(id: number, status: RunStatus): void {
    const r = this.db.prepare('UPDATE runs SET status = ?, updated_at = ? WHERE id = ?').run(status, new Date().toISOString(), id);
    if (r.changes !== 1) throw new Error(`workspace db: no run ${id}`);
  }

  /** One run, or null. */
  getRun(id: number): RunRecord | null {
    const r = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as RunRow | undefined;
    return r ? toRun(r) : null;
  }

  /** Runs, newest first, optionally of one kind. */
  listRuns(filter: { kind?: string } = {}): RunRecord[] {
    const rows = (filter.kind === undefined
      ? this.db.prepare('SELECT * FROM runs ORDER BY id DESC').all()
      : this.db.prepare('SELECT * FROM runs WHERE kind = ? ORDER BY id DESC').all(filter.kind)) as RunRow[];
    return rows.map(toRun);
  }

  /** Record an SAE of a run; returns its id. */
  insertSae(sae: { runId: number; saeIndex?: number; path?: string; architecture: string; dIn: number; dSae: number; hook?: string; model?: string; cfg: unknown }): number {
    const r = this.db
      .prepare('INSERT INTO saes (run_id, sae_index, path, architecture, d_in, d_sae, hook, model, cfg) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(sae.runId, sae.saeIndex ?? null, sae.path ?? null, sae.architecture, sae.dIn, sae.dSae, sae.hook ?? null, sae.model ?? null, JSON.stringify(sae.cfg ?? null));
    return Number(r.lastInsertRowid);
  }

  /**
   * In one transaction: a finished run of `kind` and one `saes` row per SAE under it; `each` stores
   * an SAE's own rows (metrics, features) by its new id. Returns the run id and the saes ids in order.
   */
  insertRunWithSaes<S extends RunSaeRow>(run: { kind: string; config: unknown; name: string; model: string; saes: readonly S[] }, each?: (saeId: number, sae: S) => void): { runId: number; saeIds: number[] } {
    return this.db.transaction(() => {
      const runId = this.insertRun({ kind: run.kind, config: run.config, name: run.name, status: 'done' });
      const saeIds = run.saes.map((s, i) => {
        const id = this.insertSae({ runId, saeIndex: i, path: s.path ?? undefined, architecture: s.architecture, dIn: s.dIn, dSae: s.dSae, hook: s.hook, model: run.model, cfg: s.cfg });
        each?.(id, s);
        return id;
      });
      return { runId, saeIds };
    })();
  }

  /** Set where an SAE's folder was written. */
  setSaePath(id: number, path: string): void {
    this.db.prepare('UPDATE saes SET path = ? WHERE id = ?').run(path, id);
  }

  /** One SAE, or null. */
  getSae(id: number): SaeRecord | null {
    const r = this.db.prepare('SELECT * FROM saes WHERE id = ?').get(id) as SaeRow | undefined;
    return r ? toSae(r) : null;
  }

  /** The SAEs of a run, by sae_index then id. */
  listSaes(runId: number): SaeRecord[] {
    return (this.db.prepare('SELECT * FROM saes WHERE run_id = ? ORDER BY sae_index, id').all(runId) as SaeRow[]).map(toSae);
  }

  /** Insert (or replace, for the same sae/step/name) metric rows in one transaction. */
  insertMetrics(rows: readonly MetricRow[]): void {
    const stmt = this.db.prepare('INSERT OR REPLACE INTO train_metrics (sae_id, step, tokens, name, value) VALUES (?, ?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const r of rows) stmt.run(r.saeId, r.step, r.tokens, r.name, finiteOrNull(r.value));
    })();
  }

  /** Insert trainer log rows (the trainer's TrainLogRow fits this shape: io does not import sae); `saeIds[row.saeIndex]` is the saes.id of each row's SAE. */
  insertTrainLogRows(saeIds: readonly number[], rows: readonly LoggedRow[]): void {
    const out: MetricRow[] = [];
    for (const row of rows) {
      const saeId = saeIds[row.saeIndex];
      if (saeId === undefined) throw new Error(`workspace db: no SAE id for saeIndex ${row.saeIndex}`);
      for (const name of LOG_METRICS) {
        if (row[name] === undefined) continue;
        out.push({ saeId, step: row.step, tokens: row.tokens, name, value: row[name]! });
      }
    }
    this.insertMetrics(out);
  }

  /** Metric rows of an SAE by step then name, optionally one metric and a step range (inclusive). */
  readMetrics(saeId: number, filter: { name?: string; fromStep?: number; toStep?: number } = {}): MetricRow[] {
    const rows = this.db
      .prepare(
        `SELECT sae_id AS saeId, step, tokens, name, value FROM train_metrics
         WHERE sae_id = ? AND (? IS NULL OR name = ?) AND step >= ? AND step <= ?
         ORDER BY step, name`,
      )
      .all(saeId, filter.name ?? null, filter.name ?? null, filter.fromStep ?? -1, filter.toStep ?? Number.MAX_SAFE_INTEGER) as MetricRow[];
    return rows;
  }

  /** The metric names recorded for an SAE, sorted. */
  metricNames(saeId: number): string[] {
    return (this.db.prepare('SELECT DISTINCT name FROM train_metrics WHERE sae_id = ? ORDER BY name').all(saeId) as { name: string }[]).map((r) => r.name);
  }

  /** Delete a run with its SAEs and metrics. */
  deleteRun(id: number): void {
    this.db.prepare('DELETE FROM runs WHERE id = ?').run(id);
  }

  close(): void {
    this.db.close();
  }
}
