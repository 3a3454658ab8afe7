// The JSON documents of a static site (saelab export-site), built by the same WorkspaceReader
// calls that answer `saelab serve`'s API, then cut to what a published site may show: one
// dashboard (links to other dashboards become plain text), and no local paths (an absolute path in
// the metadata becomes its last segment; corpus text in the examples is left as it is).

import type { FeatureListPage, FeaturePage, WorkspaceInfo } from './ui/types.js';
import { LIST_CONTEXT, trimExample } from './ui/examples.js';
import type { WorkspaceReader } from './workspaceApi.js';

const ABSOLUTE = /^(\/|~[\\/]|[A-Za-z]:[\\/]|\\\\)/;

/** `s` without where it lives on this machine: an absolute path becomes its last segment; anything else (hub ids, names) stays. */
export function publicName(s: string): string {
  if (!ABSOLUTE.test(s)) return s;
  return s.split(/[\\/]/).filter(Boolean).pop() ?? '';
}

/** `v` with every string that is an absolute path replaced by publicName (for metadata only, never corpus text). */
export function withoutPaths<T>(v: T): T {
  if (typeof v === 'string') return publicName(v) as T;
  if (Array.isArray(v)) return v.map(withoutPaths) as T;
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withoutPaths(x)])) as T;
  return v;
}

/** The workspace page for a site of dashboard `d`: that dashboard, and the training run of its SAE when the workspace has it (not the connect or duplicates runs that also list the SAE: their pages are not in the site). */
export function siteWorkspace(r: WorkspaceReader, d: number): WorkspaceInfo {
  const ws = r.workspace() as WorkspaceInfo;
  const saeId = r.dashboard(d).saeId;
  const runs = ws.runs
    .map((run) => ({ ...run, saes: run.saes.filter((s) => s.id === saeId).map((s) => ({ ...s, dashboards: [d] })) }))
    .filter((run) => run.saes.length > 0);
  return withoutPaths({ runs, dashboards: ws.dashboards.filter((x) => x.id === d) });
}

/** The SAEs whose training curves a site of this workspace page shows. */
export function siteSaes(w: WorkspaceInfo): number[] {
  return w.runs.flatMap((run) => run.saes.map((s) => s.id));
}

/** Dashboard `d`'s summary (/api/dashboards/d). */
export function siteDashboard(r: WorkspaceReader, d: number): unknown {
  return withoutPaths(r.dashboardInfo(d));
}

/** Dashboard `d`'s feature list in `order` as pages of `size` rows (at least one, for an empty list), each strongest example cut as the list shows it. */
export function siteListChunks(r: WorkspaceReader, d: number, order: string, size: number): FeatureListPage[] {
  // One query for the whole order: paging with OFFSET would rescan the sorted rows for every chunk.
  const all = r.featureList(d, order, r.dash.featureCount(d), 0) as FeatureListPage;
  const rows = all.features.map((f) => ({ ...f, top: f.top ? trimExample(f.top, LIST_CONTEXT) : null }));
  const pages: FeatureListPage[] = [];
  for (let at = 0; at === 0 || at < rows.length; at += size) pages.push({ ...all, offset: at, features: rows.slice(at, at + size) });
  return pages;
}

/** Feature `f`'s page of dashboard `d` (/api/dashboards/d/features/f), its links to other dashboards made plain text. */
export function siteFeature(r: WorkspaceReader, d: number, f: number): FeaturePage {
  const p = r.feature(d, f) as FeaturePage;
  const here = <T extends { dashboard: number | null }>(x: T): T => ({ ...x, dashboard: x.dashboard === d ? d : null });
  const { data, ...meta } = p;
  const links = p.links ? { drivenBy: p.links.drivenBy.map(here), drives: p.links.drives.map(here) } : undefined;
  return { ...withoutPaths({ ...meta, links, duplicates: p.duplicates?.map(here) }), data };
}
