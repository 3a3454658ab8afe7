// The attribution plots: signed bars scaled to the features (a larger residual bar is clipped and
// marked), text escaped, deterministic output; linear-vs-exact draws both samples and y = x.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { linearVsExactSvg, signedBarsSvg } from '../../src/report/rewardPlots.js';

test('signed bars: feature scale, clipped residuals, escaped labels, deterministic', () => {
  const bars = [{ label: '<f1>', value: 0.5 }, { label: 'f2', value: -0.25 }, { label: 'rest', value: 3, residual: true }];
  const a = signedBarsSvg({ title: 'T & U', xLabel: 'x', bars });
  assert.equal(a, signedBarsSvg({ title: 'T & U', xLabel: 'x', bars }));
  assert.ok(a.includes('&lt;f1&gt;') && a.includes('T &amp; U') && !a.includes('<f1>'));
  assert.ok(a.includes('» 3.00'), 'the residual bar is marked as clipped');
  const widths = [...a.matchAll(/<rect x="[\d.]+" y="\d+" width="([\d.]+)"/g)].map((m) => Number(m[1]));
  assert.equal(widths.length, 3);
  assert.ok(Math.abs(widths[0]! - 2 * widths[1]!) < 0.02, 'bars are proportional to the values');
  assert.equal(widths[2], widths[0], 'the clipped bar is as long as the largest feature bar');
});

test('linear vs exact: both samples and the diagonal', () => {
  const s = linearVsExactSvg('t', [{ linear: 0.1, exact: 0.12, random: false }, { linear: -0.05, exact: -0.04, random: true }]);
  assert.ok(s.startsWith('<svg') && s.includes('top candidates') && s.includes('random sample') && s.includes('y = x'));
});
