// A dashboard's feature list: sortable by id, density or max activation, paged, with a jump box.

import { getJson } from './api.js';
import { el, fmt, pct } from './dom.js';
import { LIST_CONTEXT, trimExample } from './examples.js';
import { exampleLine } from './tokens.js';
import type { DashboardInfo, FeatureListPage } from './types.js';

const PAGE = 50;

/** Render dashboard `id`'s feature list into `root` (order and offset from the route's query). */
export async function dashboardView(root: HTMLElement, id: number, query: URLSearchParams): Promise<void> {
  const order = query.get('order') ?? 'density';
  const offset = Math.max(0, Number(query.get('offset') ?? 0) || 0);
  const [d, page] = await Promise.all([getJson<DashboardInfo>(`/api/dashboards/${id}`), getJson<FeatureListPage>(`/api/dashboards/${id}/features?order=${encodeURIComponent(order)}&limit=${PAGE}&offset=${offset}`)]);
  root.appendChild(el('h1', {}, `Dashboard #${d.id}: ${d.saeName}`));
  root.appendChild(el('p', { class: 'muted' }, `${d.dSae} features at ${d.hook} of ${d.model} over ${d.tokens.toLocaleString('en-US')} tokens of ${d.data} (${d.status})`));
  const jump = el('input', { type: 'number', min: 0, max: d.dSae - 1, placeholder: 'feature id', id: 'jump' }) as HTMLInputElement;
  const go = el('button', { type: 'button' }, 'open');
  go.addEventListener('click', () => {
    if (jump.value !== '') location.hash = `#/dashboards/${id}/features/${Number(jump.value)}`;
  });
  root.appendChild(el('p', {}, jump, ' ', go, ' · ', el('a', { href: `#/dashboards/${id}/text` }, 'text → features')));
  const sortLink = (o: string, label: string) => (o === order ? el('b', {}, label) : el('a', { href: `#/dashboards/${id}?order=${o}` }, label));
  root.appendChild(el('p', {}, 'sort by: ', sortLink('density', 'density'), ' · ', sortLink('maxAct', 'max activation'), ' · ', sortLink('feature', 'id')));
  const t = el('table', { class: 'features' }, el('tr', {}, el('th', {}, 'feature'), el('th', { class: 'num' }, 'density'), el('th', { class: 'num' }, 'fires'), el('th', { class: 'num' }, 'max act'), el('th', { class: 'num' }, 'mean act'), el('th', {}, 'strongest example')));
  for (const f of page.features) {
    t.appendChild(el('tr', {},
      el('td', {}, el('a', { href: `#/dashboards/${id}/features/${f.feature}` }, `#${f.feature}`)),
      el('td', { class: 'num' }, pct(f.density)), el('td', { class: 'num' }, f.fires), el('td', { class: 'num' }, fmt(f.maxAct)), el('td', { class: 'num' }, fmt(f.meanAct)),
      el('td', {}, f.top ? exampleLine(trimExample(f.top, LIST_CONTEXT), f.maxAct) : '')));
  }
  root.appendChild(t);
  const pager = el('div', { class: 'pager' });
  if (offset > 0) pager.appendChild(el('a', { href: `#/dashboards/${id}?order=${order}&offset=${Math.max(0, offset - PAGE)}` }, '← previous'));
  pager.appendChild(el('span', { class: 'muted' }, `${offset + 1}–${Math.min(offset + PAGE, page.total)} of ${page.total}`));
  if (offset + PAGE < page.total) pager.appendChild(el('a', { href: `#/dashboards/${id}?order=${order}&offset=${offset + PAGE}` }, 'next →'));
  root.appendChild(pager);
}
