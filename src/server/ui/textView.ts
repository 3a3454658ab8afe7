// "Text → features": paste text, the server runs the model and SAE, and each token shows which
// features fire on it; the strongest features of the whole text link to their pages. On a static
// site the model runs in the page instead (localText.ts) when the site was exported with it, and
// the page says the feature is not there when it was not.

import { postJson } from './api.js';
import { el, clear, fmt } from './dom.js';
import { localTextRunner } from './localText.js';
import { isStaticSite, siteInfo } from './siteData.js';
import { tokenSpan } from './tokens.js';
import type { TextAnswer } from './types.js';

/** Render the text → features page of dashboard `id` into `root`. */
export async function textView(root: HTMLElement, id: number): Promise<void> {
  root.appendChild(el('p', {}, el('a', { href: `#/dashboards/${id}` }, `← dashboard #${id}`)));
  root.appendChild(el('h1', {}, 'Text → features'));
  const local = isStaticSite();
  if (local && (await siteInfo()).textFeatures !== 'local') {
    root.appendChild(el('p', { class: 'muted', id: 'text-unavailable' }, 'This site was published without the model (saelab export-site --with-model adds it), so text → features cannot run here. saelab serve runs it on a server.'));
    return;
  }
  const input = el('textarea', { id: 'text-input', placeholder: 'Paste text here' }) as HTMLTextAreaElement;
  const button = el('button', { type: 'button', id: 'text-run' }, 'Run');
  const status = el('span', { class: 'muted', id: 'text-status' });
  const out = el('div', { id: 'text-out' });
  root.append(input, el('p', {}, button, ' ', status), out);
  const runLocal = local ? localTextRunner(status) : null;
  button.addEventListener('click', () => {
    void (async () => {
      status.textContent = 'running…';
      clear(out);
      try {
        const { answer: r, note } = runLocal ? await runLocal(input.value) : { answer: await postJson<TextAnswer>(`/api/dashboards/${id}/text`, { text: input.value }), note: '' };
        status.textContent = [note, r.truncated ? 'cut to the context size' : ''].filter(Boolean).join('; ');
        render(out, id, r);
      } catch (e) {
        status.textContent = '';
        out.appendChild(el('p', { class: 'error' }, (e as Error).message));
      }
    })();
  });
}

function render(out: HTMLElement, id: number, r: TextAnswer): void {
  const detail = el('div', { class: 'card', id: 'token-detail' }, el('span', { class: 'muted' }, 'Click a token to see its features.'));
  let focus: number | null = r.features[0]?.feature ?? null;
  const text = el('div', { class: 'textout', id: 'text-tokens' });
  const spans: HTMLSpanElement[] = [];
  const paint = () => {
    const max = r.features.find((f) => f.feature === focus)?.maxAct ?? 0;
    r.tokens.forEach((t, i) => {
      const a = t.features.find((f) => f.feature === focus)?.act ?? 0;
      spans[i]!.style.backgroundColor = a > 0 && max > 0 ? `rgba(234, 88, 12, ${(0.12 + 0.78 * Math.min(1, a / max)).toFixed(3)})` : 'transparent';
      spans[i]!.title = `feature ${focus}: ${fmt(a)}`;
    });
  };
  r.tokens.forEach((t, i) => {
    const s = tokenSpan(t.text, 0, 1, t.special ? 'special' : '');
    s.addEventListener('click', () => {
      spans.forEach((x) => x.classList.remove('sel'));
      s.classList.add('sel');
      clear(detail);
      detail.appendChild(el('h3', {}, `token ${i}: ${JSON.stringify(t.text)}`));
      if (t.features.length === 0) detail.appendChild(el('p', { class: 'muted' }, 'no feature fires here'));
      const tb = el('table', {});
      for (const f of t.features) tb.appendChild(el('tr', {}, el('td', {}, el('a', { href: `#/dashboards/${id}/features/${f.feature}` }, `#${f.feature}`)), el('td', { class: 'num' }, fmt(f.act))));
      detail.appendChild(tb);
    });
    spans.push(s);
    text.appendChild(s);
  });
  const list = el('table', { class: 'text-features' }, el('tr', {}, el('th', {}, 'feature'), el('th', { class: 'num' }, 'max act'), el('th', { class: 'num' }, 'tokens'), el('th', {}, '')));
  for (const f of r.features) {
    const show = el('button', { type: 'button' }, 'shade');
    show.addEventListener('click', () => {
      focus = f.feature;
      paint();
    });
    list.appendChild(el('tr', {}, el('td', {}, el('a', { href: `#/dashboards/${id}/features/${f.feature}` }, `#${f.feature}`)), el('td', { class: 'num' }, fmt(f.maxAct)), el('td', { class: 'num' }, f.count), el('td', {}, show)));
  }
  out.append(el('h3', {}, focus === null ? 'No feature fired.' : 'Tokens, shaded by the selected feature'), text, el('div', { class: 'grid' }, detail, el('div', { class: 'card' }, el('h3', {}, 'Strongest features in the text'), list)));
  paint();
}
