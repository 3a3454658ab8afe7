// The plot of `saelab prune`: CE loss recovered against L0 for the pruned copies of one SAE and for
// the comparison SAEs (e.g. trained with larger L1 coefficients).

import type { PruneRow } from '../analysis/pruneRun.js';
import { xyPlotSvg, type XySeries } from './svgPlot.js';

/** Loss recovered vs L0, one series per strategy (points sorted by L0). */
export function pruneSvg(rows: readonly PruneRow[]): string {
  const series: XySeries[] = [];
  for (const [strategy, name] of [['pruned', 'pruned, frequent first'], ['compare', 'trained with larger L1']] as const) {
    const rs = rows.filter((r) => r.strategy === strategy && r.ce_loss_recovered !== null).sort((a, b) => a.l0 - b.l0);
    if (rs.length) series.push({ name, x: rs.map((r) => r.l0), y: rs.map((r) => r.ce_loss_recovered!), kind: rs.length > 1 ? 'line' : 'points' });
  }
  return xyPlotSvg({ title: 'Pruning vs L1: CE loss recovered at matched L0', xLabel: 'L0 (active latents per token)', yLabel: 'CE loss recovered', series, width: 640 });
}
