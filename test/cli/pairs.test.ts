// `saelab pairs grep|stats` as a user runs them on the shared HH pairs: counts per range in JSON,
// text statistics without a model, and bad input (an empty range, a missing file, a pair without
// "rejected", an LM as the reward model) exiting 2 with one line.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ASSETS, needsAsset, tempDir } from '../io/assets.js';
import { saelab, userLines } from '../helpers/cli.js';

const skip = needsAsset('preference/hh-harmless-base-test.jsonl.gz') || needsAsset('models/gpt2-corpus-tiny');

test('saelab pairs grep and stats; bad input exits 2', { skip, timeout: 300_000 }, async () => {
  const hh = join(ASSETS, 'preference/hh-harmless-base-test.jsonl.gz');
  const g = await saelab(['pairs', 'grep', 'http', hh, '--ranges', '0-1850,1850-', '--json']);
  assert.equal(g.code, 0, g.stderr);
  const gr = JSON.parse(g.stdout);
  assert.deepEqual(gr.ranges.map((r: { pairs: number }) => r.pairs), [1850, 462]);
  for (const r of gr.ranges) assert.equal(r.chosen + r.rejected, r.both * 2 + r.onlyChosen + r.onlyRejected);
  const s = await saelab(['pairs', 'stats', `${hh}:0-100`, '--json']);
  assert.equal(s.code, 0, s.stderr);
  const st = JSON.parse(s.stdout).ranges[0];
  assert.equal(st.pairs, 100);
  assert.ok(st.meanHumanTurns >= 1 && st.meanChosenChars > 0);
  const { dir, cleanup } = tempDir();
  try {
    writeFileSync(join(dir, 'p.jsonl'), '{"chosen":"\\n\\nHuman: a\\n\\nAssistant: b"}\n');
    const bad = async (args: string[], re: RegExp) => {
      const b = await saelab(['pairs', ...args, '--json']);
      assert.equal(b.code, 2, `${args.join(' ')}: ${b.stderr}`);
      const lines = userLines(b.stderr);
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.match(lines[0]!, re);
    };
    await bad(['grep', 'x', `${hh}:9-3`], /empty/);
    await bad(['grep', 'x', join(dir, 'nope.jsonl')], /no such file/);
    await bad(['stats', join(dir, 'p.jsonl')], /p\.jsonl:1: the pair has no string field "rejected"/);
    await bad(['stats', `${hh}:0-2`, '--model', join(ASSETS, 'models/gpt2-corpus-tiny'), '--device', 'cpu'], /causal LM/);
  } finally {
    cleanup();
  }
});
