// `saelab connect` as a user runs it on gpt2-corpus-tiny with two SAEs: the report, the edges in the
// workspace database (and the "driven by" / "drives" links read back); bad input (hooks in the wrong
// order, SAEs of different models, a token budget of 0, one SAE) exits 2 with one line.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { featureLinks } from '../../src/analysis/connectDb.js';
import { openWorkspaceDb } from '../../src/io/workspaceDb.js';
import { initSae } from '../../src/sae/initSae.js';
import { saveSae } from '../../src/sae/saeFiles.js';
import { ASSETS, needsAsset, tempDir } from '../io/assets.js';
import { saelab, userLines } from '../helpers/cli.js';

const skip = needsAsset('models/gpt2-corpus-tiny') || needsAsset('corpora/mixed-public-domain.txt.xz');

test('saelab connect: edges, ablation checks, workspace rows and links; bad input exits 2 with one line', { skip, timeout: 600_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const model = join(ASSETS, 'models/gpt2-corpus-tiny');
    const mk = async (name: string, hook: string, dIn = 192, modelName = model) => {
      const cfg = { architecture: 'topk' as const, dIn, dSae: 96, k: 8, applyBDecToInput: true, decoderUnitNorm: true, normalizeActivations: 'none' as const, seed: name.length };
      const p = join(dir, name);
      await saveSae(p, cfg, (await initSae(cfg, cpu)).params, { metadata: { model_name: modelName, hook_name: hook, context_size: 16 } });
      return p;
    };
    const early = await mk('early', 'blocks.1.hook_resid_pre');
    const late = await mk('late', 'blocks.3.hook_resid_pre');
    const otherModel = await mk('othermodel', 'blocks.3.hook_resid_pre', 192, '/somewhere/else');
    const common = ['--model', model, '--tokens', '60', '--context-size', '16', '--device', 'cpu'];
    const db = join(dir, 'ws.db');
    const r = await saelab(['connect', '--sae', early, late, '--top-features', '5', '--top-k', '4', '--check-edges', '3', ...common, '--db', db, '--out', join(dir, 'c'), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout);
    assert.equal(rep.features.length, 5);
    // The model streamed from disk a block at a time: the same edges and checks, bit for bit.
    const rs = await saelab(['connect', '--sae', early, late, '--top-features', '5', '--top-k', '4', '--check-edges', '3', ...common, '--stream', '--db', join(dir, 'stream.db'), '--out', join(dir, 'c-stream'), '--json']);
    assert.equal(rs.code, 0, rs.stderr);
    const srep = JSON.parse(rs.stdout);
    assert.deepEqual([srep.features, srep.checks], [rep.features, rep.checks]);
    for (const f of rep.features) {
      assert.ok(f.fires > 0 && f.edges.length === 4);
      for (let k = 1; k < f.edges.length; k++) assert.ok(Math.abs(f.edges[k - 1].attribution) >= Math.abs(f.edges[k].attribution), 'ranked by |attribution|');
    }
    assert.equal(rep.checks.length, 3);
    for (const c of rep.checks) assert.ok(Number.isFinite(c.exact) && Math.sign(c.exact) === Math.sign(c.linear), `edge ${c.source}→${c.target}: linear ${c.linear}, exact ${c.exact}`);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'c', 'connect.json'), 'utf8')).features, rep.features);
    const w = openWorkspaceDb(db);
    try {
      const f0 = rep.features[0];
      const links = featureLinks(w, late, f0.feature);
      assert.deepEqual(links.drivenBy.map((l) => l.feature), f0.edges.map((e: { source: number }) => e.source));
      assert.ok(links.drivenBy.every((l) => l.path === early && l.hook === 'blocks.1.hook_resid_pre'));
      const src = f0.edges.find((e: { source: number }) => e.source >= 0).source;
      assert.ok(featureLinks(w, early, src).drives.some((l) => l.feature === f0.feature && l.path === late), 'the early feature drives the later one');
    } finally {
      w.close();
    }
    for (const [args, re] of [
      [['connect', '--sae', late, early, ...common], /wrong order/],
      [['connect', '--sae', early, otherModel, ...common], /different models/],
      [['connect', '--sae', early, late, ...common.map((c) => (c === '60' ? '0' : c))], /--tokens/],
      [['connect', '--sae', early, ...common], /exactly two --sae/],
    ] as const) {
      const b = await saelab([...args, '--out', join(dir, 'x'), '--db', join(dir, 'x.db'), '--json']);
      const lines = userLines(b.stderr);
      assert.equal(b.code, 2, `${args.join(' ')}: ${b.stderr}`);
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.match(lines[0]!, re);
    }
  } finally {
    cleanup();
  }
});
