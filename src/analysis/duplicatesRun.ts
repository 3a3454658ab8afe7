// `saelab duplicates` as a library function: residual SAEs at several layers → the pairs of
// near-duplicate features between them (duplicateFeatures.ts: decoder cosine and activation
// correlation on the same tokens). The SAEs are ordered by hook; the hooks' activations come from one
// forward pass per batch over the same windows, so every SAE is read on the same tokens. Writes
// duplicates.json and duplicates.txt (--out) and the pairs into the workspace database.

import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { cpu } from '../compute/cpu/cpuDevice.js';
import type { Device } from '../compute/device.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { checkWorkspaceDb, openWorkspaceDb, workspaceDbPath } from '../io/workspaceDb.js';
import { saeDatasetPath, saeModelSpec } from '../sae/runSource.js';
import { loadSae, type LoadedSae } from '../sae/saeFiles.js';
import { defaultData } from '../sae/trainRun.js';
import { CompareError } from './compareSaes.js';
import { findDuplicates, type DuplicatePair, type DuplicateSide } from './duplicateFeatures.js';
import { insertDuplicatesRun } from './duplicatesDb.js';
import { featureActivations, harvestEvalActivationsAt } from './featureCorrelation.js';

export interface DuplicatesOptions {
  /** SAE folders (two or more), in any order. */
  saes: string[];
  /** Minimum decoder cosine (default 0.7). */
  cosine?: number;
  /** Minimum activation correlation (default 0.7). */
  correlation?: number;
  /** Only SAEs next to each other in hook order (default: every pair). */
  adjacent?: boolean;
  model?: string;
  data?: string;
  /** Evaluation tokens (default 4096). */
  tokens?: number;
  /** Stream tokens of the data to skip first (held-out text; default 0). */
  skipTokens?: number;
  contextSize?: number;
  device: Device;
  /** Folder for duplicates.json and duplicates.txt (none: write nothing). */
  out?: string;
  /** Workspace database; default `<folder of the first SAE>/saelab.db`; null: record nothing. */
  db?: string | null;
}

/** One SAE of the report. */
export interface DuplicatesSae {
  path: string;
  label: string;
  hook: string;
  dSae: number;
  /** Features that fired at least once on the tokens. */
  alive: number;
}

/** The duplicates between two SAEs (a earlier than or at the hook of b). */
export interface DuplicatesBetween {
  a: number;
  b: number;
  /** Pairs with decoder cosine ≥ the threshold, and of those the ones also correlated. */
  cosinePairs: number;
  pairs: DuplicatePair[];
  /** Distinct features of a and of b in some duplicate pair. */
  featuresA: number;
  featuresB: number;
}

export interface DuplicatesReport {
  model: string;
  data: string;
  tokens: number;
  contextSize: number;
  thresholds: { cosine: number; correlation: number };
  saes: DuplicatesSae[];
  between: DuplicatesBetween[];
  seconds: number;
  json: string | null;
  db: string | null;
  runId: number | null;
}

const RESID = /^blocks\.(\d+)\.hook_resid_(pre|mid|post)$/;

/** Position of a residual hook in the forward (resid_post of L, the same activations as resid_pre of L+1, sorts just before it). */
function residOrder(hook: string): number {
  const m = RESID.exec(hook)!;
  return Number(m[1]) * 4 + { pre: 0, mid: 1, post: 2 }[m[2] as 'pre' | 'mid' | 'post'];
}

/** A short unique label per folder: its last component, or the last two when names repeat. */
function labels(paths: string[]): string[] {
  const last = paths.map((p) => p.replace(/\/+$/, '').split('/').pop() || p);
  return last.map((l, i) => (last.indexOf(l) !== last.lastIndexOf(l) ? paths[i]!.replace(/\/+$/, '').split('/').slice(-2).join('/') : l));
}

/** The pairs as a plain-text table, grouped by SAE pair. */
export function duplicatesText(r: DuplicatesReport, limit = Infinity): string {
  const lines: string[] = [`near-duplicate features: decoder cosine ≥ ${r.thresholds.cosine} and activation correlation ≥ ${r.thresholds.correlation} over ${r.tokens.toLocaleString('en-US')} tokens`];
  for (const w of r.between) {
    const A = r.saes[w.a]!;
    const B = r.saes[w.b]!;
    lines.push('', `${A.label} (${A.hook}) vs ${B.label} (${B.hook}): ${w.pairs.length} pairs (${w.featuresA} of ${A.dSae} features of ${A.label}, ${w.featuresB} of ${B.dSae} of ${B.label}); ${w.cosinePairs} pass the cosine alone`);
    if (w.pairs.length === 0) continue;
    lines.push(`${'feature A'.padStart(10)} ${'feature B'.padStart(10)} ${'cosine'.padStart(8)} ${'correlation'.padStart(12)}`);
    for (const p of w.pairs.slice(0, limit)) lines.push(`${String(p.a).padStart(10)} ${String(p.b).padStart(10)} ${p.cosine.toFixed(3).padStart(8)} ${p.correlation.toFixed(3).padStart(12)}`);
    if (w.pairs.length > limit) lines.push(`… ${w.pairs.length - limit} more`);
  }
  return lines.join('\n') + '\n';
}

/** Run `saelab duplicates` (see the file comment). */
export async function duplicatesRun(o: DuplicatesOptions, note: (line: string) => void = () => {}): Promise<DuplicatesReport> {
  const t0 = performance.now();
  const cosine = o.cosine ?? 0.7;
  const correlation = o.correlation ?? 0.7;
  const tokens = o.tokens ?? 4096;
  if (o.saes.length < 2) throw new CompareError(`duplicates needs at least two --sae folders (got ${o.saes.length})`);
  if (!(cosine > -1 && cosine <= 1)) throw new CompareError(`--cosine must be in (-1, 1] (got ${cosine})`);
  if (!(correlation > -1 && correlation <= 1)) throw new CompareError(`--correlation must be in (-1, 1] (got ${correlation})`);
  if (!(Number.isInteger(tokens) && tokens >= 2)) throw new CompareError(`--tokens must be at least 2 (got ${tokens})`);
  const paths = o.saes.map((p) => resolve(p));
  if (new Set(paths).size !== paths.length) throw new CompareError(`the same SAE folder is named twice: ${paths.find((p, i) => paths.indexOf(p) !== i)}`);
  const loaded: LoadedSae[] = [];
  for (const p of paths) loaded.push(await loadSae(p, cpu));
  const hooks = loaded.map((s, i) => {
    const h = s.metadata.hook_name;
    if (typeof h !== 'string') throw new CompareError(`${paths[i]}: cfg.json metadata has no hook_name: cannot tell which activations it encodes`);
    if (!RESID.test(h)) throw new CompareError(`${paths[i]}: the SAE is at ${h}; duplicates compares residual-stream SAEs (blocks.L.hook_resid_pre|mid|post), whose directions share one basis across layers`);
    return h;
  });
  for (let i = 1; i < loaded.length; i++) {
    const [a, b] = [loaded[0]!, loaded[i]!];
    const [ma, mb] = [a.metadata.model_name, b.metadata.model_name];
    if (typeof ma === 'string' && typeof mb === 'string' && ma !== mb) throw new CompareError(`the SAEs come from different models: ${paths[0]} from ${ma}, ${paths[i]} from ${mb}`);
    if (a.cfg.dIn !== b.cfg.dIn) throw new CompareError(`the SAEs come from different models: d_in ${a.cfg.dIn} (${paths[0]}) vs ${b.cfg.dIn} (${paths[i]})`);
  }
  // Hook order (stable for equal hooks), so pairs read earlier → later.
  const order = paths.map((_, i) => i).sort((x, y) => residOrder(hooks[x]!) - residOrder(hooks[y]!) || x - y);
  const names = labels(order.map((i) => paths[i]!));
  const meta = loaded[order[0]!]!.metadata;
  const model = o.model ?? saeModelSpec(meta) ?? (typeof meta.model_name === 'string' ? meta.model_name : null);
  const data = o.data ?? saeDatasetPath(meta) ?? (typeof meta.dataset_path === 'string' ? meta.dataset_path : null) ?? defaultData();
  if (!model) throw new CompareError(`${paths[order[0]!]}: cfg.json metadata has no model_name: pass --model for the evaluation tokens`);
  if (!data) throw new CompareError(`${paths[order[0]!]}: cfg.json metadata has no dataset_path and the shared corpus is not here: pass --data for the evaluation tokens`);
  const contextSize = o.contextSize ?? (typeof meta.context_size === 'number' ? meta.context_size : 128);
  const dbPath = o.db === null ? null : resolve(o.db ?? workspaceDbPath(dirname(paths[order[0]!]!)));
  if (dbPath) checkWorkspaceDb(dbPath);

  note(`harvesting ${tokens} tokens of ${[...new Set(hooks)].join(', ')} from ${data}`);
  const h = await harvestEvalActivationsAt({ model, hooks, data, tokens, skipTokens: o.skipTokens ?? 0, contextSize, device: o.device });
  if (h.n < 2) throw new CompareError(`${data}: gave ${h.n} evaluation tokens; need at least 2 (more text or a smaller context size)`);
  const d = loaded[0]!.cfg.dIn;
  const sides: (DuplicateSide & { alive: number })[] = [];
  for (const i of order) {
    const s = loaded[i]!;
    const acts = await featureActivations(s, h.x.get(hooks[i]!)!, h.n, cpu, true);
    let alive = 0;
    for (const c of acts.firedCount) if (c > 0) alive++;
    sides.push({ wDec: s.params.W_dec.data as Float32Array, dSae: s.cfg.dSae, centred: acts.centred!, alive });
  }
  const between: DuplicatesBetween[] = [];
  for (let a = 0; a < sides.length; a++) {
    for (let b = a + 1; b < sides.length; b++) {
      if (o.adjacent && b !== a + 1) continue;
      note(`${names[a]} vs ${names[b]}`);
      const r = findDuplicates(sides[a]!, sides[b]!, d, h.n, { cosine, correlation });
      between.push({ a, b, cosinePairs: r.cosinePairs, pairs: r.pairs, featuresA: new Set(r.pairs.map((p) => p.a)).size, featuresB: new Set(r.pairs.map((p) => p.b)).size });
    }
  }
  const saes: DuplicatesSae[] = order.map((i, k) => ({ path: paths[i]!, label: names[k]!, hook: hooks[i]!, dSae: loaded[i]!.cfg.dSae, alive: sides[k]!.alive }));
  const report: DuplicatesReport = { model, data: resolve(data), tokens: h.n, contextSize, thresholds: { cosine, correlation }, saes, between, seconds: 0, json: null, db: dbPath, runId: null };
  if (dbPath) {
    const db = openWorkspaceDb(dbPath);
    try {
      const rows = order.map((i, k) => ({ path: paths[i]!, label: names[k]!, architecture: loaded[i]!.cfg.architecture, dIn: d, dSae: loaded[i]!.cfg.dSae, hook: hooks[i]!, cfg: loaded[i]!.cfg }));
      report.runId = insertDuplicatesRun(db, { model, config: { saes: saes.map((s) => s.path), data: report.data, tokens: h.n, skipTokens: o.skipTokens ?? 0, contextSize, cosine, correlation, adjacent: !!o.adjacent }, saes: rows, between }).runId;
    } finally {
      db.close();
    }
  }
  report.seconds = (performance.now() - t0) / 1000;
  if (o.out) {
    const out = resolve(o.out);
    await mkdir(out, { recursive: true });
    report.json = join(out, 'duplicates.json');
    await writeFileAtomic(join(out, 'duplicates.txt'), duplicatesText(report));
    await writeFileAtomic(report.json, JSON.stringify(report, null, 2) + '\n');
  }
  return report;
}
