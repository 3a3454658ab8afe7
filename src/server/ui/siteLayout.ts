// Where each JSON document of a static site lives, relative to its index.html: saelab export-site
// (src/server/siteExport.ts) writes these files and the UI's static data layer (siteData.ts) reads
// them, so both take the names from here.
//   site.json                                          SiteInfo: what the site holds and how it is cut
//   data/workspace.json                                /api/workspace, cut to the exported dashboard
//   data/saes/S/metrics.json                           /api/saes/S/metrics
//   data/dashboards/D/dashboard.json                   /api/dashboards/D
//   data/dashboards/D/list-ORDER/C.json                rows C·listChunk … of /api/dashboards/D/features?order=ORDER
//   data/dashboards/D/features/K.json                  FeatureShard: the pages of features K·featuresPerShard …

/** The site's description (site.json). */
export interface SiteInfo {
  /** The layout's version: 1. */
  format: 1;
  /** What wrote it: "saelab <version>". */
  generator: string;
  /** The exported dashboard's id. */
  dashboard: number;
  /** Feature rows per list file, for every order in `orders`. */
  listChunk: number;
  /** The list orders written (pre-sorted). */
  orders: string[];
  /** Feature pages per shard file. */
  featuresPerShard: number;
  /** SAEs whose training curves are in the site. */
  saes: number[];
  /** 'local': text → features runs in the page (model-data/ and ui/localFeatures.js are there); 'none': not offered. */
  textFeatures: 'local' | 'none';
}

/** A file of feature pages: `features[i]` is feature `first + i`'s page, null where the dashboard has no row. */
export interface FeatureShard {
  first: number;
  features: unknown[];
}

export const SITE_FILE = 'site.json';
/** The list orders of the dashboard view (dashboardView.ts), each written pre-sorted. */
export const LIST_ORDERS = ['density', 'maxAct', 'feature'] as const;

export const workspaceFile = (): string => 'data/workspace.json';
export const saeMetricsFile = (sae: number): string => `data/saes/${sae}/metrics.json`;
export const dashboardFile = (d: number): string => `data/dashboards/${d}/dashboard.json`;
export const listChunkFile = (d: number, order: string, chunk: number): string => `data/dashboards/${d}/list-${order}/${chunk}.json`;
export const featureShardFile = (d: number, shard: number): string => `data/dashboards/${d}/features/${shard}.json`;
