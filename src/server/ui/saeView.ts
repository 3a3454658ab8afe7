// An SAE's page: its training curves (every logged metric) and evaluation metrics.

import { getJson } from './api.js';
import { lineChart } from './charts.js';
import { el, fmt } from './dom.js';
import type { WorkspaceInfo } from './types.js';

/** Render SAE `id`'s page into `root`. */
export async function saeView(root: HTMLElement, id: number): Promise<void> {
  const [ws, m] = await Promise.all([getJson<WorkspaceInfo>('/api/workspace'), getJson<{ metrics: Record<string, [number, number, number | null][]> }>(`/api/saes/${id}/metrics`)]);
  const sae = ws.runs.flatMap((r) => r.saes).find((s) => s.id === id);
  root.appendChild(el('h1', {}, `SAE ${sae?.name ?? id}`));
  if (sae) root.appendChild(el('p', { class: 'muted' }, `${sae.architecture}, d_in ${sae.dIn}, d_sae ${sae.dSae}, ${sae.hook ?? ''} of ${sae.model ?? ''}`));
  const names = Object.keys(m.metrics);
  root.appendChild(el('h2', {}, 'Training curves'));
  if (names.length === 0) root.appendChild(el('p', { class: 'muted' }, 'No training metrics logged for this SAE.'));
  const grid = el('div', { class: 'grid' });
  for (const n of names) grid.appendChild(el('div', { class: 'card' }, lineChart(m.metrics[n]!.map((r) => [r[0], r[2]]), n)));
  root.appendChild(grid);
  if (sae && Object.keys(sae.eval).length > 0) {
    root.appendChild(el('h2', {}, 'Evaluation'));
    const t = el('table', {});
    for (const [k, v] of Object.entries(sae.eval)) t.appendChild(el('tr', {}, el('td', {}, k), el('td', { class: 'num' }, fmt(v, 4))));
    root.appendChild(t);
  }
}
