// A saelab duplicates run: per pair of SAEs (earlier hook first), the near-duplicate features with
// their decoder cosine and activation correlation, each feature linked to its SAE's dashboard page
// when that SAE has one.

import { getJson } from './api.js';
import { el, fmt } from './dom.js';
import type { DuplicatesRunPage } from './types.js';

/** Render duplicates run `id` into `root`. */
export async function duplicatesView(root: HTMLElement, id: number): Promise<void> {
  const p = await getJson<DuplicatesRunPage>(`/api/duplicates/${id}`);
  const c = p.run.config;
  root.appendChild(el('p', {}, el('a', { href: '#/' }, '← workspace')));
  root.appendChild(el('h1', {}, `Cross-layer duplicates (run ${p.run.id})`));
  root.appendChild(el('p', { class: 'muted' }, `decoder cosine ≥ ${c.cosine ?? '?'} and activation correlation ≥ ${c.correlation ?? '?'} over ${c.tokens?.toLocaleString('en-US') ?? '?'} tokens`));
  const cell = (s: number, f: number) => {
    const sae = p.saes[s]!;
    const name = `#${f}`;
    return el('td', {}, sae.dashboard !== null ? el('a', { href: `#/dashboards/${sae.dashboard}/features/${f}` }, name) : name);
  };
  const groups = new Map<string, DuplicatesRunPage['pairs']>();
  for (const q of p.pairs) {
    const k = `${q[0]}|${q[2]}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(q);
  }
  if (groups.size === 0) root.appendChild(el('p', { class: 'muted' }, 'No pair passed both thresholds.'));
  for (const [k, qs] of groups) {
    const [a, b] = k.split('|').map(Number) as [number, number];
    const A = p.saes[a]!;
    const B = p.saes[b]!;
    root.appendChild(el('h2', {}, `${A.label ?? A.id} (${A.hook}) → ${B.label ?? B.id} (${B.hook}): ${qs.length} pairs`));
    const t = el('table', { class: 'duplicates', 'data-pair': k }, el('tr', {}, el('th', {}, A.label ?? ''), el('th', {}, B.label ?? ''), el('th', { class: 'num' }, 'decoder cos'), el('th', { class: 'num' }, 'act. corr')));
    for (const q of qs) t.appendChild(el('tr', {}, cell(a, q[1]), cell(b, q[3]), el('td', { class: 'num' }, fmt(q[4])), el('td', { class: 'num' }, fmt(q[5]))));
    root.appendChild(t);
  }
}
