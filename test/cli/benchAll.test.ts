// `saelab bench all --quick` on the CPU as a user runs it (every part at small shapes, one JSON and
// one markdown table), and its pieces: a part that overruns is stopped, rows are parsed from both
// output styles, ratios are saelab speed ÷ torch speed from the same call.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { saelab } from '../helpers/cli.js';
import { ASSETS, tempDir } from '../io/assets.js';
import { runPart, parseRows, type PartResult } from '../../src/cli/benchAll/runPart.js';
import { ratioLines } from '../../src/cli/benchAll/ratioTable.js';

test('bench all --quick --device cpu: every part runs (or says why not), one JSON and one ratio table', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const assets = existsSync(join(ASSETS, 'models', 'gpt2-corpus-tiny')) ? ['--assets', ASSETS] : [];
    // Generous part budgets: this test checks that every part runs, not how fast (a busy CI machine
    // must not turn a slow part into an "overran").
    const r = await saelab(['bench', 'all', '--quick', '--device', 'cpu', '--out', dir, '--budget', '3000', '--part-budget-scale', '10', ...assets], {}, 600_000);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(readFileSync(join(dir, 'bench-all.json'), 'utf8')) as { parts: PartResult[]; quick: boolean };
    assert.equal(j.quick, true);
    const byName = new Map(j.parts.map((p) => [p.name, p]));
    for (const name of ['kernels', 'sae.512', 'sae.2048', 'forward', 'e2e.gpt2-small-shape']) assert.equal(byName.get(name)?.status, 'ok', `${name}: ${byName.get(name)?.reason}`);
    for (const p of j.parts) {
      assert.ok(p.status === 'ok' || (p.status === 'skipped' && p.reason), `${p.name}: ${p.status} ${p.reason ?? ''}`);
      assert.ok(p.command.length > 0 || p.status === 'skipped');
    }
    const rows = j.parts.flatMap((p) => p.rows);
    assert.deepEqual(rows.filter((x) => x.case === 'matmul').map((x) => x.shape), ['128x192x512', '128x512x192']);
    for (const c of ['sae.topk', 'sae.topk_dense', 'sae.relu_l1', 'topk', 'cos.maxsim', 'lm.forward', 'e2e', 'e2e+ds']) assert.ok(rows.some((x) => x.case === c), `no ${c} row`);
    if (assets.length) {
      for (const name of ['e2e.gpt2-corpus-tiny', 'train', 'dashboard']) assert.equal(byName.get(name)?.status, 'ok', `${name}: ${byName.get(name)?.reason}`);
    }
    const match = rows.filter((x) => x.case === 'match.saelab');
    if (byName.get('match.512')?.status === 'ok') assert.ok(match.length === 2 && match.every((m) => m.certified === true));
    // torch: measured in this call (python3 with torch), or skipped with its reason.
    const torch = j.parts.filter((p) => p.side === 'torch');
    assert.ok(torch.length > 0);
    for (const p of torch) if (p.status === 'ok') assert.ok(p.rows.length > 0, `${p.name} printed no rows`);
    const md = readFileSync(join(dir, 'bench-all.md'), 'utf8');
    assert.match(md, /\| case \| shape \| saelab \| torch fp32\/tf32 \| ratio \|/);
    assert.match(md, /\| sae\.topk \| d_sae 512, batch 128, k 32 \| [\d,]+ tokens\/s \|/);
    assert.match(md, /`saelab bench kernels --matmul '128x192x512;128x512x192'/);
    if (torch.some((p) => p.name === 'torch.sae.512' && p.status === 'ok')) assert.match(md, /\| sae\.topk \| d_sae 512[^\n]*tokens\/s \| [\d,]+ tokens\/s \| [\d.]+× \|/);
  } finally {
    cleanup();
  }
});

test('bench all: a bad --only is one line and exit 2', async () => {
  const r = await saelab(['bench', 'all', '--only', 'gpu', '--device', 'cpu']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--only/);
});

test('runPart stops a part that overruns its budget, with the reason', async () => {
  const t0 = performance.now();
  // 5 s: enough for node to start and print on a busy machine; the part sleeps a minute.
  const r = await runPart({ name: 'slow', side: 'saelab', argv: ['node', '-e', 'console.log(JSON.stringify({case:"x"})); setTimeout(() => {}, 60000)'], budgetS: 5, skip: null }, { cwd: process.cwd(), saelabBin: 'bin/saelab.js', budgetS: 5 });
  assert.equal(r.status, 'overran');
  assert.match(r.reason!, /budget of 5 s/);
  assert.ok((performance.now() - t0) / 1000 < 30, 'stopped, not waited for');
  assert.deepEqual(r.rows, [{ case: 'x' }]); // what it printed before the stop is kept
  const skipped = await runPart({ name: 'n', side: 'torch', argv: [], budgetS: 5, skip: 'no torch' }, { cwd: process.cwd(), saelabBin: '', budgetS: 5 });
  assert.deepEqual([skipped.status, skipped.reason], ['skipped', 'no torch']);
});

test('parseRows reads a saelab --json object (rows + device) and JSON lines', () => {
  assert.deepEqual(parseRows('{"device":"cpu","rows":[{"case":"a"},{"case":"b"}]}'), [{ case: 'a', device: 'cpu' }, { case: 'b', device: 'cpu' }]);
  assert.deepEqual(parseRows('note\n{"case":"a"}\n{"case":"b"}\n'), [{ case: 'a' }, { case: 'b' }]);
  assert.deepEqual(parseRows(''), []);
});

test('ratioLines: saelab ÷ torch per precision, scipy ÷ saelab for matching, goals on a GPU', () => {
  const part = (name: string, side: 'saelab' | 'torch', rows: Record<string, unknown>[]): PartResult => ({ name, side, command: '', status: 'ok', seconds: 1, budgetS: 1, rows });
  const lines = ratioLines([
    part('sae', 'saelab', [{ case: 'sae.topk', dSae: 24576, batch: 4096, k: 32, tokensPerS: 2000 }, { case: 'matmul', shape: '4096x768x24576', gflops: 30000 }]),
    part('t', 'torch', [{ case: 'sae.topk', d_sae: 24576, precision: 'fp32_tf32', tokens_per_s: 1000 }, { case: 'sae.topk', d_sae: 24576, precision: 'bf16_autocast', tokens_per_s: 4000 }, { case: 'sae.topk', d_sae: 98304, precision: 'fp32_tf32', tokens_per_s: 1 }]),
    part('match.8192', 'saelab', [{ case: 'match.saelab', n: 8192, d: 96, seconds: 0.5, scipy_seconds: 4, certified: true }]),
  ], true);
  const sae = lines.find((l) => l.case === 'sae.topk')!;
  assert.equal(sae.ratioFp32, 2);
  assert.equal(sae.ratioBf16, 0.5);
  assert.equal(lines.find((l) => l.case === 'matmul')!.met, true);
  const m = lines.find((l) => l.case.startsWith('match'))!;
  assert.equal(m.ratioFp32, 8);
  assert.equal(m.met, false); // goal ≥ 10× scipy at 8,192
});
