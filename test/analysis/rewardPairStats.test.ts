// `pairs grep` counts on hand-made HH pairs (every count checked by hand), turn splitting, and the
// text statistics of `pairs stats` without a model.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { grepPairs, rangeStats, turns } from '../../src/analysis/rewardPairStats.js';
import { parsePairLine } from '../../src/eval/pairData.js';

const hh = (prompt: string, c: string, r: string, i: number) => parsePairLine(JSON.stringify({ chosen: prompt + c, rejected: prompt + r }), `t:${i}`, i);
const P1 = '\n\nHuman: send me a link\n\nAssistant: which link?\n\nHuman: any link\n\nAssistant:';
const P2 = '\n\nHuman: hello\n\nAssistant:';
const pairs = [
  hh(P1, ' see http://a.com', ' no', 0),
  hh(P1, ' sure', ' http://b.com and http://c.com', 1),
  hh(P2, ' My pleasure', ' my pleasure http://x', 2),
];

test('turns: speakers and texts in order', () => {
  assert.deepEqual(turns(P1 + ' ok'), [['human', ' send me a link'], ['assistant', ' which link?'], ['human', ' any link'], ['assistant', ' ok']]);
  assert.deepEqual(turns('no turns'), []);
});

test('pairs grep: completions, turns, and turns after a user phrase', () => {
  const c = grepPairs('all', pairs, 'http');
  assert.deepEqual([c.chosen, c.rejected, c.both, c.onlyChosen, c.onlyRejected], [1, 2, 0, 1, 2]);
  // Assistant turns: prompt turns (P1: 1 each for pairs 0 and 1; P2: 0) + 2 completions per pair = 2 + 6.
  assert.equal(c.assistantTurnsTotal, 8);
  assert.equal(c.assistantTurns, 3);
  assert.equal(c.humanTurns, 0);
  assert.deepEqual(c.examples, [0, 1, 2]);
  const a = grepPairs('all', pairs, 'http', { after: 'link' });
  // Assistant turns answering a Human turn with "link": the prompt's "which link?" (×2 pairs) and the 4 completions of P1.
  assert.equal(a.afterTurns, 6);
  assert.equal(a.afterWithPhrase, 2);
  const p = grepPairs('all', pairs, 'my pleasure', { ignoreCase: true });
  assert.deepEqual([p.chosen, p.rejected, p.both], [1, 1, 1]);
  assert.equal(grepPairs('all', pairs, 'my pleasure').chosen, 0);
  assert.throws(() => grepPairs('all', pairs, ''), /empty/);
});

test('pairs stats without a model: lengths and turns', async () => {
  const s = await rangeStats('r', pairs);
  assert.equal(s.pairs, 3);
  assert.equal(s.chosenLonger, 1);
  assert.ok(Math.abs(s.meanHumanTurns - (2 + 2 + 1) / 3) < 1e-12);
  assert.equal(s.rewards, undefined);
});
