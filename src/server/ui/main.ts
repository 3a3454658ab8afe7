// The UI's entry (loaded by the page as an ES module): a hash router over the views.
//   #/                               workspace: runs, SAEs, dashboards, reports
//   #/saes/:id                       training curves and eval metrics
//   #/dashboards/:id[?order=&offset=] feature list
//   #/dashboards/:id/features/:f     feature page
//   #/dashboards/:id/text            text → features
//   #/attributions[/:id]             reward attributions (rewardView.ts)
//   #/duplicates/:run                saelab duplicates pairs (duplicatesView.ts)

import { dashboardView } from './dashboardView.js';
import { clear, el } from './dom.js';
import { duplicatesView } from './duplicatesView.js';
import { featureView } from './featureView.js';
import { homeView } from './homeView.js';
import { attributionView, attributionsView } from './rewardView.js';
import { saeView } from './saeView.js';
import { textView } from './textView.js';

let generation = 0;

async function route(): Promise<void> {
  const root = document.getElementById('app')!;
  const gen = ++generation;
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = hash.split('?', 2) as [string, string | undefined];
  const query = new URLSearchParams(qs ?? '');
  const parts = path.split('/').filter(Boolean);
  const view = document.createElement('div');
  const num = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s) ? Number(s) : null);
  try {
    const [a, b, c, d] = parts;
    if (parts.length === 0) await homeView(view);
    else if (a === 'saes' && num(b) !== null && c === undefined) await saeView(view, num(b)!);
    else if (a === 'dashboards' && num(b) !== null && c === undefined) await dashboardView(view, num(b)!, query);
    else if (a === 'dashboards' && num(b) !== null && c === 'features' && num(d) !== null) await featureView(view, num(b)!, num(d)!);
    else if (a === 'dashboards' && num(b) !== null && c === 'text' && d === undefined) await textView(view, num(b)!);
    else if (a === 'attributions' && b === undefined) await attributionsView(view);
    else if (a === 'attributions' && num(b) !== null && c === undefined) await attributionView(view, num(b)!);
    else if (a === 'duplicates' && num(b) !== null && c === undefined) await duplicatesView(view, num(b)!);
    else view.appendChild(el('p', { class: 'error' }, `No page at #${hash}.`));
  } catch (e) {
    view.appendChild(el('p', { class: 'error' }, (e as Error).message));
  }
  if (gen !== generation) return; // a newer navigation won
  clear(root);
  root.appendChild(view);
  root.setAttribute('data-ready', hash);
  window.scrollTo(0, 0);
}

window.addEventListener('hashchange', () => void route());
void route();
