// The ETA of the progress bars: the formatter never prints 60 seconds or minutes, and the estimator
// says nothing until its rate rests on enough samples and time, then extrapolates the average rate.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EtaEstimator, formatDuration } from '../../src/cli/progress.js';

test('formatDuration rounds once: 31m60s cannot happen', () => {
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(59.4), '59s');
  assert.equal(formatDuration(59.6), '1m00s');
  assert.equal(formatDuration(1919.7), '32m00s');
  assert.equal(formatDuration(1865), '31m05s');
  assert.equal(formatDuration(3599.6), '1h00m');
  assert.equal(formatDuration(7170), '2h00m');
  assert.equal(formatDuration(3 * 86400 + 4 * 3600), '3d04h');
  assert.equal(formatDuration(NaN), '…');
  for (let s = 0; s < 200_000; s += 7.37) assert.doesNotMatch(formatDuration(s), /(^|[^0-9])60[smh]/, String(s));
});

test('EtaEstimator: no estimate from too few samples or too little time', () => {
  const e = new EtaEstimator(100);
  assert.equal(e.text(), '…');
  e.update(1, 0); // the first report: its start-up time is not a rate
  e.update(6, 300); // 6 % after 0.3 s: too early to say
  assert.equal(e.secondsLeft(), null);
  assert.equal(e.text(), '…');
  e.update(7, 2000);
  assert.equal(e.secondsLeft(), null, 'under 3 s since the first sample');
  e.update(31, 6000); // 30 units in 6 s since the first sample: 5 units/s
  assert.ok(Math.abs(e.secondsLeft()! - 69 / 5) < 1e-9);
  assert.equal(e.text(), '14s');
});

test('EtaEstimator: an early burst does not fool it (the average since the first sample)', () => {
  const e = new EtaEstimator(1000);
  e.update(0, 0);
  e.update(50, 100); // a fast start…
  e.update(60, 10_000); // …then 10 units per 10 s
  assert.ok(e.secondsLeft()! > 150, String(e.secondsLeft()));
  e.update(1000, 20_000);
  assert.equal(e.secondsLeft(), 0);
});
