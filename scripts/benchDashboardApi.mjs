// Latency of `saelab serve`'s feature-page answer (GET /api/dashboards/:id/features/:f) from SQLite:
//   node scripts/benchDashboardApi.mjs --db WORKSPACE/saelab.db [--dashboard 1] [--requests 500]
// Random features, one request at a time over keep-alive HTTP on 127.0.0.1, after 20 warm-up
// requests; prints the median, p95 and max in ms and the mean answer size. Needs `npx tsc` first.

import { parseArgs } from 'node:util';
import { cpu } from '../dist/src/compute/cpu/cpuDevice.js';
import { startServer } from '../dist/src/server/server.js';

const { values: a } = parseArgs({ options: { db: { type: 'string' }, dashboard: { type: 'string', default: '1' }, requests: { type: 'string', default: '500' } } });
if (!a.db) {
  console.error('usage: node scripts/benchDashboardApi.mjs --db WORKSPACE/saelab.db [--dashboard 1] [--requests 500]');
  process.exit(2);
}
const srv = await startServer({ db: a.db, device: cpu });
try {
  const info = await fetch(`${srv.url}api/dashboards/${a.dashboard}`).then((r) => r.json());
  const n = Number(a.requests);
  let seed = 12345;
  const next = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % info.dSae);
  const times = [];
  let bytes = 0;
  for (let k = 0; k < n + 20; k++) {
    const t0 = performance.now();
    const r = await fetch(`${srv.url}api/dashboards/${a.dashboard}/features/${next()}`);
    const body = await r.arrayBuffer();
    const ms = performance.now() - t0;
    if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
    if (k >= 20) (times.push(ms), (bytes += body.byteLength));
  }
  times.sort((x, y) => x - y);
  const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  console.log(JSON.stringify({ dSae: info.dSae, requests: n, medianMs: +q(0.5).toFixed(2), p95Ms: +q(0.95).toFixed(2), maxMs: +times[times.length - 1].toFixed(2), meanBytes: Math.round(bytes / n) }));
} finally {
  await srv.close();
}
