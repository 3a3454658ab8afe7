// The firing-density histogram of an SAE (docs/metrics.md): how many latents fire at each log10
// frequency over the evaluated tokens. Dead latents (log10 0 = −∞) are not binned; the title
// states their count instead.

import { histogramBins, histogramSvg } from './svgPlot.js';

/** SVG histogram of log10 firing frequencies (alive latents), over [log10(1/N), 0] so SAEs evaluated on the same N share the x axis. */
export function densityHistogramSvg(o: { label: string; log10Frequencies: ArrayLike<number>; tokens: number; deadCount: number; bins?: number }): string {
  const lo = Math.floor(Math.log10(1 / Math.max(o.tokens, 1)));
  const bins = histogramBins(o.log10Frequencies, { bins: o.bins ?? 50, lo, hi: 0 });
  return histogramSvg({
    title: `${o.label}: firing density over ${o.tokens.toLocaleString('en-US')} tokens (${o.deadCount} dead)`,
    xLabel: 'log10 firing frequency',
    yLabel: 'latents',
    bins,
  });
}
