// A feature page: numbers, activation histogram, top examples (tokens shaded by activation),
// samples from activation quantiles, logit effects, and neighbouring features by decoder cosine.

import { getJson } from './api.js';
import { logHistogram } from './charts.js';
import { el, fmt, pct } from './dom.js';
import { exampleLine } from './tokens.js';
import type { FeaturePage } from './types.js';

/** Render feature `f` of dashboard `id` into `root`. */
export async function featureView(root: HTMLElement, id: number, f: number): Promise<void> {
  const p = await getJson<FeaturePage>(`/api/dashboards/${id}/features/${f}`);
  const d = p.data;
  const nav = el('p', {}, el('a', { href: `#/dashboards/${id}` }, `← dashboard #${id}`));
  if (f > 0) nav.append(' · ', el('a', { href: `#/dashboards/${id}/features/${f - 1}` }, `#${f - 1}`));
  if (f + 1 < p.dashboard.dSae) nav.append(' · ', el('a', { href: `#/dashboards/${id}/features/${f + 1}` }, `#${f + 1}`));
  root.appendChild(nav);
  root.appendChild(el('h1', { id: 'feature-title' }, `Feature ${f}`));
  root.appendChild(el('div', { class: 'stats' },
    el('div', {}, el('b', { id: 'density' }, pct(p.density)), 'density'),
    el('div', {}, el('b', {}, p.fires.toLocaleString('en-US')), `fires in ${p.dashboard.tokens.toLocaleString('en-US')} tokens`),
    el('div', {}, el('b', {}, fmt(p.maxAct)), 'max activation'),
    el('div', {}, el('b', {}, fmt(p.meanAct)), 'mean when firing')));

  const side = el('div', { class: 'grid' });
  side.appendChild(el('div', { class: 'card' }, el('h3', {}, 'Activation histogram'), logHistogram(d.hist, d.histLog10Min, d.histLog10Step)));
  const logits = el('table', { class: 'logits' }, el('tr', {}, el('th', {}, 'boosted'), el('th', { class: 'num' }, ''), el('th', {}, 'suppressed'), el('th', { class: 'num' }, '')));
  for (let i = 0; i < Math.max(d.boosted.length, d.suppressed.length); i++) {
    const b = d.boosted[i];
    const s = d.suppressed[i];
    logits.appendChild(el('tr', {},
      el('td', { class: 'tokname' }, b ? JSON.stringify(b.token).slice(1, -1) : ''), el('td', { class: 'num pos' }, b ? fmt(b.value) : ''),
      el('td', { class: 'tokname' }, s ? JSON.stringify(s.token).slice(1, -1) : ''), el('td', { class: 'num neg' }, s ? fmt(s.value) : '')));
  }
  side.appendChild(el('div', { class: 'card' }, el('h3', {}, 'Logit effects (W_dec · W_U)'), logits));
  const neigh = el('table', { class: 'neighbours' }, el('tr', {}, el('th', {}, 'feature'), el('th', { class: 'num' }, 'cosine')));
  for (const n of d.neighbours) neigh.appendChild(el('tr', {}, el('td', {}, el('a', { href: `#/dashboards/${id}/features/${n.feature}` }, `#${n.feature}`)), el('td', { class: 'num' }, fmt(n.cosine))));
  side.appendChild(el('div', { class: 'card' }, el('h3', {}, 'Neighbours (decoder cosine)'), neigh));
  for (const [key, title] of [['drivenBy', 'Driven by'], ['drives', 'Drives']] as const) {
    const links = p.links?.[key] ?? [];
    if (links.length === 0) continue;
    const t = el('table', { class: 'links', id: `links-${key}` }, el('tr', {}, el('th', {}, 'feature'), el('th', {}, 'hook'), el('th', { class: 'num' }, 'per firing')));
    for (const l of links) {
      const name = l.feature < 0 ? `${l.label ?? ''} error` : `${l.label ?? ''} #${l.feature}`;
      const cell = l.dashboard !== null && l.feature >= 0 ? el('a', { href: `#/dashboards/${l.dashboard}/features/${l.feature}` }, name) : name;
      t.appendChild(el('tr', {}, el('td', {}, cell), el('td', {}, l.hook ?? ''), el('td', { class: 'num' }, fmt(l.perFiring))));
    }
    side.appendChild(el('div', { class: 'card' }, el('h3', {}, `${title} (saelab connect)`), t));
  }
  const dups = p.duplicates ?? [];
  if (dups.length > 0) {
    const t = el('table', { class: 'links', id: 'duplicates' }, el('tr', {}, el('th', {}, 'feature'), el('th', {}, 'hook'), el('th', { class: 'num' }, 'decoder cos'), el('th', { class: 'num' }, 'act. corr')));
    for (const x of dups) {
      const name = `${x.label ?? ''} #${x.feature}`;
      const cell = x.dashboard !== null ? el('a', { href: `#/dashboards/${x.dashboard}/features/${x.feature}` }, name) : name;
      t.appendChild(el('tr', {}, el('td', {}, cell), el('td', {}, x.hook ?? ''), el('td', { class: 'num' }, fmt(x.cosine)), el('td', { class: 'num' }, fmt(x.correlation))));
    }
    side.appendChild(el('div', { class: 'card' }, el('h3', {}, 'Duplicates at other hooks (saelab duplicates)'), t));
  }
  root.appendChild(side);

  root.appendChild(el('h2', {}, 'Top activations'));
  const max = p.maxAct;
  const top = el('div', { class: 'top-examples' });
  if (d.top.length === 0) top.appendChild(el('p', { class: 'muted' }, 'This feature never fired in the pass.'));
  for (const e of d.top) top.appendChild(exampleLine(e, max));
  root.appendChild(top);

  if (d.quantiles.length > 0) {
    root.appendChild(el('h2', {}, 'Samples by activation quantile'));
    const qs = el('div', { class: 'quantiles' });
    d.quantiles.slice().reverse().forEach((g, i) => {
      qs.appendChild(el('h3', {}, `quantile ${d.quantiles.length - i} of ${d.quantiles.length}: activations ${fmt(g.from)}–${fmt(g.to)}`));
      for (const e of g.examples) qs.appendChild(exampleLine(e, max));
    });
    root.appendChild(qs);
  }
}
