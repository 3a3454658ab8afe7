// DOM building for the UI. Every piece of text goes in through textContent / createTextNode, never
// as HTML, so corpus text (which holds raw <script> tags from spam) is always shown, never run.

type Child = Node | string | number | null | undefined | false;

/** An element with attributes (set with setAttribute; `on*` names are refused) and children (strings become text nodes). */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | number | undefined> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  setAttrs(e, attrs);
  append(e, ...children);
  return e;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element with attributes and children. */
export function svg(tag: string, attrs: Record<string, string | number | undefined> = {}, ...children: Child[]): SVGElement {
  const e = document.createElementNS(SVG_NS, tag) as SVGElement;
  setAttrs(e, attrs);
  append(e, ...children);
  return e;
}

function setAttrs(e: Element, attrs: Record<string, string | number | undefined>): void {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined) continue;
    if (/^on/i.test(k)) throw new Error(`el: event attributes are not set as text (${k})`);
    e.setAttribute(k, String(v));
  }
}

/** Append children (strings and numbers as text nodes; null/false skipped). */
export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** Remove every child. */
export function clear(e: Element): void {
  while (e.firstChild) e.removeChild(e.firstChild);
}

/** A number in a short, readable form. */
export function fmt(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) return v.toExponential(2);
  return Number(v.toPrecision(digits)).toString();
}

/** A fraction as a percentage. */
export function pct(v: number): string {
  return v === 0 ? '0%' : v < 1e-4 ? `${(v * 100).toExponential(1)}%` : `${Number((v * 100).toPrecision(3))}%`;
}
