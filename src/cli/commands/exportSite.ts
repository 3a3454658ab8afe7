// `saelab export-site --db WS/saelab.db --dashboard N --out SITE/`: argument parsing over
// exportSite (src/server/siteExport.ts): one dashboard as a folder of static files for any static
// host, the same UI as `saelab serve`. Prints the file count and sizes (or --json).

import { join } from 'node:path';
import type { Command } from 'commander';
import { WORKSPACE_DB_FILE } from '../../io/workspaceDb.js';
import { exportSite } from '../../server/siteExport.js';
import { intFlag } from '../flags.js';
import { emit } from '../output.js';
import { batchProgress } from '../progress.js';

interface ExportSiteFlags {
  db?: string; dashboard: number; out: string; force?: boolean; withModel?: boolean; json?: boolean;
}

const kb = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/** Register `saelab export-site`. */
export function registerExportSite(program: Command): void {
  program
    .command('export-site')
    .description('publish a dashboard as a folder of static files (the UI of saelab serve, feature data in small files fetched on demand) for any static host: python3 -m http.server, GitHub Pages, a bucket')
    .option('--db <file>', `workspace database (default: ./${WORKSPACE_DB_FILE})`)
    .requiredOption('--dashboard <n>', 'the dashboard to publish (its id: saelab serve lists them)', intFlag('--dashboard', 1))
    .requiredOption('--out <dir>', 'the site folder: new or empty (written beside it in a temp folder and renamed into place)')
    .option('--force', 'replace --out when it holds a site exported before')
    .option('--with-model', 'add the model and SAE so text → features runs in the page (WebGPU or CPU)')
    .option('--json', 'print JSON')
    .action(async (_o: ExportSiteFlags, cmd: Command) => {
      const o = cmd.opts<ExportSiteFlags>();
      const bar = batchProgress('export-site', !!o.json, 'features');
      let r;
      try {
        r = await exportSite({ db: o.db ?? join(process.cwd(), WORKSPACE_DB_FILE), dashboard: o.dashboard, out: o.out, force: !!o.force, withModel: !!o.withModel, onProgress: bar.onProgress });
      } finally {
        bar.stop();
      }
      const { files, ...summary } = r;
      emit(!!o.json, { ...summary, files: files.length }, () => {
        console.log(`saelab export-site: ${r.dir}: ${files.length} files, ${mb(r.bytes)}; ${r.features} features, ${r.featuresPerShard} per shard file (largest ${kb(r.largestShardBytes)}), ${r.listChunk} rows per list file`);
        console.log(`first page: ${kb(r.homeBytes)} (home), ${kb(r.listBytes)} (feature list). Serve the folder with any static host, e.g. python3 -m http.server -d ${o.out}`);
      });
    });
}
