// Plots of `saelab perturb`: per hook, KL against 1 − cos on log axes (the random-perturbation
// curve with its 10–90% band across tokens, each SAE's point and its token-matched random twin);
// and the layer-robustness summary (KL at the reference 1 − cos, per layer, one line per hook kind).

import type { HookPerturbResult, PerturbReport } from '../analysis/perturbSweep.js';
import { xyPlotSvg, type XySeries } from './svgPlot.js';

/** One hook's KL-vs-(1 − cos) plot. */
export function perturbCurveSvg(h: HookPerturbResult): string {
  const series: XySeries[] = [
    {
      name: 'random: median, 10–90%',
      x: h.curve.map((p) => p.oneMinusCos),
      y: h.curve.map((p) => p.kl.q50),
      lo: h.curve.map((p) => p.kl.q10),
      hi: h.curve.map((p) => p.kl.q90),
      kind: 'line',
    },
    { name: 'random: mean', x: h.curve.map((p) => p.oneMinusCos), y: h.curve.map((p) => p.kl.mean), kind: 'line' },
  ];
  for (const s of h.saes) {
    series.push({ name: `${s.label} (SAE)`, x: [s.oneMinusCos], y: [s.kl.mean], kind: 'points' });
    series.push({ name: `${s.label}: matched noise`, x: [s.oneMinusCos], y: [s.randomMatched.kl.mean], kind: 'points' });
  }
  return xyPlotSvg({ title: `${h.hook}: KL(clean ‖ perturbed) vs 1 − cos`, xLabel: '1 − cos(x, x′)', yLabel: 'KL (nats/token)', series, xLog: true, yLog: true, width: 860, height: 420, legend: 'right' });
}

/** KL at the reference 1 − cos against the layer, one line per hook kind (hooks without a layer are left out). */
export function robustnessSvg(r: PerturbReport): string {
  const byKind = new Map<string, { x: number[]; y: number[] }>();
  for (const h of r.hooks) {
    const m = /^blocks\.(\d+)\.(hook_\w+)$/.exec(h.hook);
    if (!m || h.klAtReference === null) continue;
    const s = byKind.get(m[2]!) ?? { x: [], y: [] };
    s.x.push(Number(m[1]));
    s.y.push(h.klAtReference);
    byKind.set(m[2]!, s);
  }
  const series: XySeries[] = [...byKind].map(([name, s]) => ({ name, x: s.x, y: s.y, kind: s.x.length > 1 ? 'line' : 'points' }));
  return xyPlotSvg({ title: `Layer robustness: KL at 1 − cos = ${r.reference}`, xLabel: 'layer', yLabel: 'KL (nats/token)', series, yLog: true });
}
