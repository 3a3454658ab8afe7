// The two evaluation plots: the density histogram bins exactly the alive latents' log10
// frequencies over [⌊log10(1/N)⌋, 0], and the per-position plot draws one line per SAE, skipping NaN.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { densityHistogramSvg } from '../../src/report/densityHistogram.js';
import { ceIncreaseByPositionSvg } from '../../src/report/positionPlot.js';

test('density histogram: one bar per bin, titled with N and the dead count', () => {
  const svg = densityHistogramSvg({ label: 'sae', log10Frequencies: [-3, -2, -2, -0.5, 0], tokens: 1000, deadCount: 7, bins: 6 });
  assert.equal(svg.match(/<rect class="bar"/g)!.length, 6);
  assert.match(svg, /1,000 tokens \(7 dead\)/);
  // Range [−3, 0] in 6 bins of 0.5: −3 → bin 0, −2 twice → bin 2, −0.5 and 0 → bin 5 (the last bin takes hi).
  const counts = [...svg.matchAll(/<title>\[[^\]\n]*?\): (\d+)<\/title>/g)].map((m) => Number(m[1]));
  assert.deepEqual(counts, [1, 0, 2, 0, 0, 2]);
});

test('CE increase per position: a line per SAE, NaN positions left out', () => {
  const svg = ceIncreaseByPositionSvg([
    { label: 'a', ceIncreaseByPosition: [NaN, 0.1, 0.2, 0.3] },
    { label: 'b', ceIncreaseByPosition: [NaN, 0.5, 0.4, NaN] },
  ]);
  assert.equal(svg.match(/<polyline class="series-line"/g)!.length, 2);
  const pts = [...svg.matchAll(/<polyline class="series-line"[^>]* points="([^"]*)"/g)].map((m) => m[1]!.trim().split(/\s+/).length);
  assert.deepEqual(pts, [3, 2]);
  assert.match(svg, />a</);
  assert.match(svg, />b</);
});
