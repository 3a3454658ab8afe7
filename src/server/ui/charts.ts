// Small SVG charts built with DOM calls (no HTML strings): a histogram of log10 bins and line charts.

import { fmt, svg } from './dom.js';

/** A bar chart of counts over log10 bins starting at 10^lo with step `step` (empty bins at the ends trimmed). */
export function logHistogram(counts: number[], lo: number, step: number, width = 420, height = 140): SVGElement {
  let first = counts.findIndex((c) => c > 0);
  let last = counts.length - 1 - [...counts].reverse().findIndex((c) => c > 0);
  if (first < 0) (first = 0), (last = counts.length - 1);
  const shown = counts.slice(first, last + 1);
  const max = Math.max(1, ...shown);
  const [ml, mb, mt] = [36, 22, 6];
  const w = (width - ml - 6) / shown.length;
  const h = height - mb - mt;
  const root = svg('svg', { width: '100%', viewBox: `0 0 ${width} ${height}`, class: 'histogram', role: 'img', 'aria-label': 'activation histogram' });
  root.appendChild(svg('line', { x1: ml, y1: mt + h, x2: width - 6, y2: mt + h, stroke: '#999' }));
  shown.forEach((c, i) => {
    const bh = (c / max) * h;
    root.appendChild(svg('rect', { x: (ml + i * w).toFixed(1), y: (mt + h - bh).toFixed(1), width: Math.max(1, w - 1).toFixed(1), height: bh.toFixed(1), fill: '#ea580c', class: 'bar', 'data-count': c }, svg('title', {}, `${fmt(10 ** (lo + (first + i) * step))}–${fmt(10 ** (lo + (first + i + 1) * step))}: ${c}`)));
  });
  root.appendChild(svg('text', { x: ml, y: height - 6 }, fmt(10 ** (lo + first * step))));
  root.appendChild(svg('text', { x: width - 6, y: height - 6, 'text-anchor': 'end' }, fmt(10 ** (lo + (last + 1) * step))));
  root.appendChild(svg('text', { x: ml - 4, y: mt + 8, 'text-anchor': 'end' }, max));
  root.appendChild(svg('text', { x: (ml + width) / 2, y: height - 6, 'text-anchor': 'middle' }, 'activation (log scale)'));
  return root;
}

/** A line chart of y over x (nulls skipped), with the min/max of each axis labelled. */
export function lineChart(points: [number, number | null][], title: string, width = 360, height = 160): SVGElement {
  const pts = points.filter((p): p is [number, number] => p[1] !== null && Number.isFinite(p[1]));
  const root = svg('svg', { width: '100%', viewBox: `0 0 ${width} ${height}`, class: 'curve', role: 'img', 'aria-label': title });
  root.appendChild(svg('text', { x: 4, y: 12 }, title));
  if (pts.length === 0) return root;
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) (y0 -= 1), (y1 += 1);
  const [ml, mr, mt, mb] = [44, 8, 18, 18];
  const X = (x: number) => ml + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * (width - ml - mr);
  const Y = (y: number) => mt + (1 - (y - y0) / (y1 - y0)) * (height - mt - mb);
  root.appendChild(svg('path', { d: pts.map((p, i) => `${i ? 'L' : 'M'}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(''), fill: 'none', stroke: '#0b5cad', 'stroke-width': 1.5 }));
  root.appendChild(svg('text', { x: ml - 4, y: mt + 4, 'text-anchor': 'end' }, fmt(y1)));
  root.appendChild(svg('text', { x: ml - 4, y: height - mb, 'text-anchor': 'end' }, fmt(y0)));
  root.appendChild(svg('text', { x: ml, y: height - 4 }, fmt(x0)));
  root.appendChild(svg('text', { x: width - mr, y: height - 4, 'text-anchor': 'end' }, `${fmt(x1)} steps`));
  return root;
}
