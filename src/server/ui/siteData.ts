// The UI's data layer on a static site (saelab export-site): the same API paths the views ask
// `saelab serve` for, answered from the site's JSON files (names in siteLayout.ts). A feature list
// page comes from the pre-sorted list files that cover it, a feature page from its shard. Paths a
// static site cannot answer (other dashboards, reports, attributions, anything computed) are an
// error line, never a request to a server.

import { dashboardFile, featureShardFile, listChunkFile, saeMetricsFile, SITE_FILE, workspaceFile, type FeatureShard, type SiteInfo } from './siteLayout.js';

/** Whether this page is a static site: its index.html carries <meta name="saelab-site">. */
export function isStaticSite(): boolean {
  return document.querySelector('meta[name="saelab-site"]') !== null;
}

const files = new Map<string, Promise<unknown>>();
const KEEP = 16; // files kept in memory: paging through neighbours of a shard costs no fetch

/** A file of the site (relative to index.html), fetched once. */
function file<T>(rel: string): Promise<T> {
  let p = files.get(rel);
  if (!p) {
    p = fetch(new URL(rel, document.baseURI), { headers: { accept: 'application/json' } }).then(async (r) => {
      if (!r.ok) throw new Error(`${rel}: HTTP ${r.status} from the static host`);
      return (await r.json()) as unknown;
    });
    p.catch(() => files.delete(rel));
    files.set(rel, p);
    if (files.size > KEEP) files.delete(files.keys().next().value!);
  }
  return p as Promise<T>;
}

let info: Promise<SiteInfo> | null = null;

/** The site's description (site.json), fetched once and kept (outside the cache of data files). */
export function siteInfo(): Promise<SiteInfo> {
  if (!info) {
    info = file<SiteInfo>(SITE_FILE).finally(() => files.delete(SITE_FILE));
    info.catch(() => (info = null)); // a failed fetch is tried again on the next page
  }
  return info;
}

const notHere = (what: string) => new Error(`${what} is not part of this static site (saelab export-site publishes one dashboard; saelab serve shows the whole workspace)`);

/** The answer to GET `path` (an API path with its query) from the site's files. */
export async function staticJson(path: string): Promise<unknown> {
  const s = await siteInfo();
  const [p, qs] = path.split('?', 2) as [string, string | undefined];
  const q = new URLSearchParams(qs ?? '');
  const seg = p.split('/').filter(Boolean);
  const num = (x: string | undefined) => (x !== undefined && /^\d{1,15}$/.test(x) ? Number(x) : null);
  if (seg[0] !== 'api') throw notHere(p);
  const [, a, b, c, d, extra] = seg;
  if (a === 'workspace' && b === undefined) return file(workspaceFile());
  if (a === 'saes' && num(b) !== null && c === 'metrics' && d === undefined) {
    if (!s.saes.includes(num(b)!)) throw notHere(`the training curves of SAE ${b}`);
    return file(saeMetricsFile(num(b)!));
  }
  if (a !== 'dashboards' || num(b) === null || extra !== undefined) throw notHere(p);
  const id = num(b)!;
  if (id !== s.dashboard) throw notHere(`dashboard ${id}`);
  if (c === undefined) return file(dashboardFile(id));
  if (c === 'features' && d === undefined) return listPage(s, q);
  if (c === 'features' && num(d) !== null) {
    const f = num(d)!;
    const shard = await file<FeatureShard>(featureShardFile(id, Math.floor(f / s.featuresPerShard))).catch(() => null);
    const page = shard?.features[f - shard.first] ?? null;
    if (page === null) throw new Error(`dashboard ${id} has no feature ${f}`);
    return page;
  }
  throw notHere(p);
}

/** A page of the feature list: rows offset … offset+limit of the pre-sorted order, from the list files covering them. */
async function listPage(s: SiteInfo, q: URLSearchParams): Promise<unknown> {
  const order = q.get('order') ?? 'feature';
  if (!s.orders.includes(order)) throw new Error(`order must be ${s.orders.join(', ')} (got '${order}')`);
  const limit = Number(q.get('limit') ?? 100);
  const offset = Number(q.get('offset') ?? 0);
  if (!Number.isSafeInteger(limit) || !Number.isSafeInteger(offset) || limit < 0 || offset < 0) throw new Error('limit and offset must be whole numbers');
  type Chunk = { total: number; features: unknown[] };
  const first = Math.floor(offset / s.listChunk);
  const head = await file<Chunk>(listChunkFile(s.dashboard, order, first)).catch(() => null);
  const total = head?.total ?? (await file<Chunk>(listChunkFile(s.dashboard, order, 0))).total;
  const last = Math.min(Math.floor((Math.min(offset + limit, total) - 1) / s.listChunk), Math.ceil(total / s.listChunk) - 1);
  const chunks = head ? [head] : [];
  for (let c = first + 1; c <= last; c++) chunks.push(await file<Chunk>(listChunkFile(s.dashboard, order, c)));
  const rows = chunks.flatMap((c) => c.features);
  const from = offset - first * s.listChunk;
  return { dashboard: s.dashboard, order, offset, total, features: rows.slice(from, from + limit) };
}
