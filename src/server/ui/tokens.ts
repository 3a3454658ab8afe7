// Token rendering: each token a span whose background shows the activation (relative to a scale),
// whitespace made visible, text set through textContent only.

import type { ExampleJson } from '../../io/dashboardDb.js';
import { el, fmt } from './dom.js';

/** A token's text with newlines and tabs shown as symbols (spaces stay, in a white-space: pre span). */
export function visible(text: string): string {
  return text.replace(/\n/g, '↵').replace(/\t/g, '⇥').replace(/\r/g, '␍');
}

/** The shade of an activation a on a scale of max: transparent at 0, orange at max. */
export function shade(a: number, max: number): string {
  const x = max > 0 ? Math.max(0, Math.min(1, a / max)) : 0;
  return x === 0 ? 'transparent' : `rgba(234, 88, 12, ${(0.12 + 0.78 * x).toFixed(3)})`;
}

/** One token span (class tok; `peak` marks the firing token). */
export function tokenSpan(text: string, act: number, max: number, extra = ''): HTMLSpanElement {
  const s = el('span', { class: `tok${extra ? ' ' + extra : ''}`, title: `activation ${fmt(act)}`, 'data-act': act });
  s.textContent = visible(text);
  s.style.backgroundColor = shade(act, max);
  return s;
}

/** An example line: its activation, then its context with tokens shaded by activation (scale: `max`). */
export function exampleLine(e: ExampleJson, max: number): HTMLDivElement {
  const line = el('div', { class: 'example' }, el('span', { class: 'act' }, fmt(e.act)));
  e.tokens.forEach((t, i) => line.appendChild(tokenSpan(t, e.acts[i] ?? 0, max, i === e.at ? 'peak' : '')));
  return line;
}
