// Plots of `saelab gradients`: the singular-value spectra (σ_i/σ_1, log scale) per hook, and per SAE
// histograms of its directions' energy in the top-r gradient subspace against random directions.

import type { SaeAlignment } from '../analysis/gradientsRun.js';
import type { GradientSpectrum } from '../analysis/gradientGram.js';
import { histogramBins, histogramSvg, xyPlotSvg } from './svgPlot.js';

/** σ_i / σ_1 against i for each hook (log y; exact zeros drawn at 1e-12). */
export function gradientSpectrumSvg(hooks: { hook: string; spectrum: GradientSpectrum }[], objective: string): string {
  return xyPlotSvg({
    title: `Gradient spectrum (${objective})`, xLabel: 'direction i', yLabel: 'σ_i / σ_1', yLog: true, legend: 'right',
    series: hooks.map((h) => {
      const s = h.spectrum.singularValues;
      return { name: h.hook, x: s.map((_, i) => i + 1), y: s.map((v) => Math.max(v / (s[0]! || 1), 1e-12)), kind: 'line' as const };
    }),
  });
}

/** A histogram of an SAE's decoder-row (or encoder-column) energies in the top-r subspace, with the random baseline in the title. */
export function alignmentSvg(a: SaeAlignment, which: 'decoder' | 'encoder', e: { sae: Float64Array; random: Float64Array }): string {
  const s = a[which].energy;
  return histogramSvg({
    title: `${a.label} ${which}: energy in top-${a.rank} gradient subspace (mean ${s.mean.toFixed(3)}; random ${a.random.energy.mean.toFixed(3)})`,
    xLabel: `‖U_rᵀ v̂‖² (random mean ${a.randomExpected.toFixed(3)} = r/d)`, yLabel: 'latents',
    bins: histogramBins(e.sae, { bins: 40, lo: 0, hi: 1 }),
  });
}
