// The plots of `saelab attribute`: signed horizontal bars (features' effects on the reward
// difference, the error term and the rest as their own bars) and linear-vs-exact scatter plots.
// Deterministic SVG text, as svgPlot.ts.

import type { PairSetReport } from '../analysis/rewardPairSet.js';
import type { TwoReport } from '../analysis/rewardTwo.js';
import { xmlEscape, xyPlotSvg, type XySeries } from './svgPlot.js';

/** One bar: a label, a signed value, and whether it is a feature (blue/red) or a residual term (grey). */
export interface SignedBar {
  label: string;
  value: number;
  residual?: boolean;
}

const fmt = (v: number) => (Math.abs(v) >= 100 || v === 0 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(2));

/** Signed bars around a zero line, one row per bar, labels on the left. */
export function signedBarsSvg(opts: { title: string; xLabel: string; bars: SignedBar[]; width?: number }): string {
  const w = opts.width ?? 640;
  const row = 18;
  const top = 34;
  const left = 170;
  const right = 60;
  const h = top + opts.bars.length * row + 40;
  // The scale is the features' (residual terms can be far larger): a longer bar is clipped and marked.
  const scaled = opts.bars.filter((b) => !b.residual);
  const max = Math.max(1e-12, ...(scaled.length ? scaled : opts.bars).map((b) => Math.abs(b.value)));
  const zero = left + (w - left - right) / 2;
  const half = (w - left - right) / 2;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif" font-size="11">`,
    `<rect width="${w}" height="${h}" fill="white"/>`,
    `<text x="${w / 2}" y="18" text-anchor="middle" font-size="13">${xmlEscape(opts.title)}</text>`,
  ];
  opts.bars.forEach((b, i) => {
    const y = top + i * row;
    const clipped = Math.abs(b.value) > max;
    const len = (Math.min(Math.abs(b.value), max) / max) * half;
    const x = b.value >= 0 ? zero : zero - len;
    const color = b.residual ? '#7f7f7f' : b.value >= 0 ? '#1f77b4' : '#d62728';
    out.push(`<text x="${left - 6}" y="${y + 12}" text-anchor="end">${xmlEscape(b.label)}</text>`);
    out.push(`<rect x="${x.toFixed(2)}" y="${y + 2}" width="${Math.max(0.5, len).toFixed(2)}" height="${row - 5}" fill="${color}"/>`);
    const tx = b.value >= 0 ? x + len + 3 : x - 3;
    out.push(`<text x="${tx.toFixed(2)}" y="${y + 12}" text-anchor="${b.value >= 0 ? 'start' : 'end'}" fill="#333">${clipped ? (b.value >= 0 ? '» ' : '« ') : ''}${fmt(b.value)}</text>`);
  });
  const yEnd = top + opts.bars.length * row;
  out.push(`<line x1="${zero}" y1="${top - 2}" x2="${zero}" y2="${yEnd}" stroke="black"/>`);
  out.push(`<text x="${zero}" y="${yEnd + 24}" text-anchor="middle">${xmlEscape(opts.xLabel)} (bar ends at ±${fmt(max)}; « » clipped)</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Exact ablation effect against the linear estimate, the top candidates and the random sample as two series, with y = x. */
export function linearVsExactSvg(title: string, entries: readonly { linear: number; exact: number; random: boolean }[]): string {
  const series: XySeries[] = [];
  const top = entries.filter((e) => !e.random);
  const rnd = entries.filter((e) => e.random);
  if (top.length) series.push({ name: 'top candidates', x: top.map((e) => e.linear), y: top.map((e) => e.exact), kind: 'points' });
  if (rnd.length) series.push({ name: 'random sample', x: rnd.map((e) => e.linear), y: rnd.map((e) => e.exact), kind: 'points' });
  const all = entries.flatMap((e) => [e.linear, e.exact]);
  const lo = Math.min(0, ...all);
  const hi = Math.max(0, ...all);
  series.push({ name: 'y = x', x: [lo, hi], y: [lo, hi], kind: 'line' });
  return xyPlotSvg({ title, xLabel: 'linear estimate (gradient × activation) of the effect on Δr', yLabel: 'exact ablation effect on Δr', series, width: 640, legend: 'inside' });
}

/** Short numbers for labels. */
const short = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '-');

/** The plots of a pair-set attribution: per SAE, the top features' mean effects (with the mean error term and rest) and linear vs exact. */
export function pairSetPlots(r: PairSetReport): Record<string, string> {
  const out: Record<string, string> = {};
  r.saes.forEach((s, k) => {
    const bars: SignedBar[] = s.top.slice(0, 25).map((f) => ({ label: `${f.feature}${f.highFrequency ? ' (HF)' : ''}${f.nearest.some((n) => n.duplicate) ? ' (dup)' : ''}`, value: f.meanEffect }));
    bars.push({ label: 'error term', value: s.meanError, residual: true }, { label: 'b_dec', value: s.meanBias, residual: true }, { label: 'prompt positions', value: s.meanPrompt, residual: true }, { label: 'rest (nonlinear)', value: s.meanRest, residual: true });
    out[`features-${k}.svg`] = signedBarsSvg({ title: `${s.label} (${s.hook}): mean effect on Δr over ${r.all.pairs} pairs`, xLabel: 'mean effect on r(chosen) − r(rejected)', bars });
    out[`linear-vs-exact-${k}.svg`] = linearVsExactSvg(`${s.label}: exact ablation vs linear (Spearman ${short(s.exact.spearman)}, ${s.exact.entries.length} pair×feature)`, s.exact.entries);
  });
  return out;
}

/** The plots of a two-completion attribution: per SAE, the differing features' effects on r_a − r_b. */
export function twoPlots(r: TwoReport, edit: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  r.saes.forEach((s, k) => {
    const bars: SignedBar[] = s.features.slice(0, 25).map((f) => ({ label: `${f.feature} ${f.kind}`, value: f.effect }));
    bars.push({ label: 'error term', value: s.error, residual: true }, { label: 'b_dec', value: s.bias, residual: true }, { label: 'prompt positions', value: s.prompt, residual: true }, { label: 'rest (nonlinear)', value: s.rest, residual: true });
    out[`diff-${k}.svg`] = signedBarsSvg({ title: `${s.label}: ${edit ? 'what the edit changed' : 'features that differ'} (Δr = ${short(r.deltaR)})`, xLabel: `effect on r(${edit ? 'original' : 'a'}) − r(${edit ? 'edited' : 'b'})`, bars });
  });
  return out;
}
