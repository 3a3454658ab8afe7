// The workspace page: runs and their SAEs (last training metrics, eval metrics, dashboards), the
// dashboards, and the report files (eval / compare / perturb JSON and plots) found in the folder.
// A static site holds one dashboard and no report files: it shows that dashboard and its SAE.

import { getJson } from './api.js';
import { el, fmt, pct } from './dom.js';
import { isStaticSite } from './siteData.js';
import type { ReportFileInfo, WorkspaceInfo } from './types.js';

/** Render the workspace page into `root`. */
export async function homeView(root: HTMLElement): Promise<void> {
  const [ws, reports] = await Promise.all([getJson<WorkspaceInfo>('/api/workspace'), isStaticSite() ? null : getJson<{ files: ReportFileInfo[] }>('/api/reports')]);
  root.appendChild(el('h1', {}, 'Workspace'));

  root.appendChild(el('h2', {}, 'Feature dashboards'));
  if (ws.dashboards.length === 0) root.appendChild(el('p', { class: 'muted' }, 'No dashboards yet: run saelab dashboard --sae DIR.'));
  else {
    const t = el('table', { class: 'dashboards' }, el('tr', {}, el('th', {}, 'id'), el('th', {}, 'SAE'), el('th', {}, 'hook'), el('th', { class: 'num' }, 'features'), el('th', { class: 'num' }, 'tokens'), el('th', {}, 'status'), el('th', {}, '')));
    for (const d of ws.dashboards) {
      t.appendChild(el('tr', {},
        el('td', {}, el('a', { href: `#/dashboards/${d.id}` }, `#${d.id}`)),
        el('td', { title: d.saePath }, d.saeName),
        el('td', {}, d.hook),
        el('td', { class: 'num' }, d.dSae),
        el('td', { class: 'num' }, d.tokens.toLocaleString('en-US')),
        el('td', {}, d.status),
        el('td', {}, el('a', { href: `#/dashboards/${d.id}/text` }, 'text → features'))));
    }
    root.appendChild(t);
  }

  root.appendChild(el('h2', {}, 'Runs and SAEs'));
  if (ws.runs.length === 0) root.appendChild(el('p', { class: 'muted' }, 'No runs in this workspace.'));
  for (const r of ws.runs) {
    const h3 = el('h3', {}, `run ${r.id} · ${r.kind} · ${r.name ?? ''} · ${r.status} · ${r.createdAt.slice(0, 19).replace('T', ' ')}`);
    if (r.kind === 'duplicates') h3.append(' · ', el('a', { href: `#/duplicates/${r.id}` }, 'pairs'));
    root.appendChild(h3);
    const evalNames = [...new Set(r.saes.flatMap((s) => Object.keys(s.eval)))].slice(0, 6);
    const head = el('tr', {}, el('th', {}, 'SAE'), el('th', {}, 'arch'), el('th', { class: 'num' }, 'd_sae'), el('th', { class: 'num' }, 'step'), el('th', { class: 'num' }, 'loss'), el('th', { class: 'num' }, 'L0'), el('th', { class: 'num' }, 'dead'));
    for (const n of evalNames) head.appendChild(el('th', { class: 'num' }, n));
    head.appendChild(el('th', {}, 'dashboards'));
    const t = el('table', { class: 'saes' }, head);
    for (const s of r.saes) {
      const row = el('tr', {},
        el('td', { title: s.path ?? '' }, el('a', { href: `#/saes/${s.id}` }, s.name)),
        el('td', {}, s.architecture),
        el('td', { class: 'num' }, s.dSae),
        el('td', { class: 'num' }, s.lastStep ?? '–'),
        el('td', { class: 'num' }, fmt(s.train.loss)),
        el('td', { class: 'num' }, fmt(s.train.l0)),
        el('td', { class: 'num' }, s.train.deadFraction === undefined || s.train.deadFraction === null ? '–' : pct(s.train.deadFraction)));
      for (const n of evalNames) row.appendChild(el('td', { class: 'num' }, fmt(s.eval[n])));
      const links = el('td', {});
      for (const id of s.dashboards) links.appendChild(el('a', { href: `#/dashboards/${id}` }, `#${id} `));
      row.appendChild(links);
      t.appendChild(row);
    }
    root.appendChild(t);
  }

  if (reports === null) return;
  root.appendChild(el('h2', {}, 'Reports'));
  if (reports.files.length === 0) root.appendChild(el('p', { class: 'muted' }, 'No report files (JSON, SVG, PNG) in the workspace folder.'));
  else {
    const list = el('div', { class: 'reports' });
    for (const f of reports.files) {
      const href = `/files/${f.path.split('/').map(encodeURIComponent).join('/')}`;
      const item = el('div', { class: 'card' }, el('a', { href, target: '_blank', rel: 'noopener' }, f.path), el('span', { class: 'muted' }, ` ${f.kind}, ${(f.bytes / 1024).toFixed(1)} KiB`));
      // Plots as images: an <img> never runs an SVG's scripts.
      if (f.kind !== 'json') item.appendChild(el('div', {}, el('img', { src: href, alt: f.path, loading: 'lazy' })));
      list.appendChild(item);
    }
    root.appendChild(list);
  }
}
