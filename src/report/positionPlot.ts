// CE increase per position (docs/metrics.md, `ce_increase` before averaging over positions): one
// line per SAE of mean(ce_sae − ce_clean) at each position of the context window.

import { xyPlotSvg, type XySeries } from './svgPlot.js';

/** SVG line plot of the CE increase (nats) against the position in the window, one series per SAE (NaN positions are left out). */
export function ceIncreaseByPositionSvg(series: { label: string; ceIncreaseByPosition: readonly number[] }[], title = 'CE increase per position (SAE spliced − clean)'): string {
  const out: XySeries[] = series.map((s) => {
    const x: number[] = [];
    const y: number[] = [];
    s.ceIncreaseByPosition.forEach((v, t) => {
      if (Number.isFinite(v)) {
        x.push(t);
        y.push(v);
      }
    });
    return { name: s.label, x, y, kind: 'line' };
  });
  return xyPlotSvg({ title, xLabel: 'position in window', yLabel: 'CE increase (nats/token)', series: out });
}
