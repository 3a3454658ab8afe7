// Opening SAEs by name: the SAELens release resolver on a fixture table (and the shipped table's
// gpt2-small-res-jb row), `hf:` spec parsing, and downloads from a fake hub on 127.0.0.1 serving a
// SAELens release repo, a sparsify repo (one folder per hook) and a private repo: byte-identical
// files in the HF cache layout, only the SAE's files fetched, the cache reused, interrupted transfers
// resumed, and every bad name refused with one line that leaves nothing in the cache.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { HubError, repoFolder } from '../../src/io/hfCache.js';
import { serializeSafetensors } from '../../src/io/safetensorsWrite.js';
import { openHubSae, parseHfSpec, parseSaeSpec, resolveSaeSpec, SaeSpecError } from '../../src/sae/hubSae.js';
import { cfgFromSaeLens, loadSae } from '../../src/sae/saeFiles.js';
import { resolveReleaseSae, type ReleaseTable } from '../../src/sae/saeReleases.js';
import { randomSae, writeSyntheticSae } from '../analysis/saeFolders.js';
import { FakeHub, sha256 } from '../helpers/fakeHub.js';

const TOKEN = 'hf_fakeTokenForTests0123456789';
const T = { timeout: 30_000 };

const TABLE: ReleaseTable = {
  'tiny-res-jb': {
    repo: 'org/tiny-saes', model: 'gpt2-tiny',
    saes: [['blocks.0.hook_resid_pre', 'blocks.0.hook_resid_pre', 'tiny/0-res-jb'], ['blocks.1.hook_resid_pre', 'L1/blocks.1.hook_resid_pre']],
  },
  'tiny-centred': { repo: 'org/tiny-saes', model: 'gpt2-tiny', saes: [['a', 'blocks.0.hook_resid_pre']], overrides: { model_from_pretrained_kwargs: { center_writing_weights: true } } },
  'tiny-rescaled': { repo: 'org/tiny-saes', model: 'gpt2-tiny', saes: [['a', 'x']], overrides: { normalize_activations: 'constant_norm_rescale' } },
  'tiny-scope': { repo: 'google/tiny-scope', model: 'gemma', format: 'gemma_2' },
};

test('the release resolver: repo, path and Neuronpedia id; did-you-mean for a release or an SAE id', () => {
  const r = resolveReleaseSae('tiny-res-jb/blocks.1.hook_resid_pre', TABLE);
  assert.deepEqual([r.repo, r.path, r.neuronpedia, r.model], ['org/tiny-saes', 'L1/blocks.1.hook_resid_pre', null, 'gpt2-tiny']);
  assert.equal(resolveReleaseSae('tiny-res-jb/blocks.0.hook_resid_pre', TABLE).neuronpedia, 'tiny/0-res-jb');
  assert.throws(() => resolveReleaseSae('tiny-res-j/blocks.0.hook_resid_pre', TABLE), /^SaeSpecError: "tiny-res-j" is not a SAELens release: did you mean "tiny-res-jb"\?/);
  assert.throws(() => resolveReleaseSae('tiny-res-jb/blocks.1.hook_resid_pr', TABLE), /has no SAE "blocks\.1\.hook_resid_pr": did you mean "tiny-res-jb\/blocks\.1\.hook_resid_pre"\?/);
  assert.throws(() => resolveReleaseSae('tiny-res-jb', TABLE), /name one of its 2 SAEs as tiny-res-jb\/SAE_ID, e\.g\. tiny-res-jb\/blocks\.0\.hook_resid_pre/);
  assert.throws(() => resolveReleaseSae('tiny-scope/layer_0', TABLE), /stored as Gemma Scope's params\.npz, which saelab does not read/);
  assert.throws(() => resolveReleaseSae('tiny-rescaled/a', TABLE), /scales its inputs \(constant_norm_rescale\)/);
  assert.match(resolveReleaseSae('tiny-centred/a', TABLE).notes[0]!, /centred writing weights/);
  // The shipped table (SAELens's pretrained_saes.yaml, dated copy): the best-known release.
  const jb = resolveReleaseSae('gpt2-small-res-jb/blocks.8.hook_resid_pre');
  assert.deepEqual([jb.repo, jb.path, jb.neuronpedia], ['jbloom/GPT2-Small-SAEs-Reformatted', 'blocks.8.hook_resid_pre', 'gpt2-small/8-res-jb']);
  assert.throws(() => resolveReleaseSae('gemma-scope-2b-pt-res/layer_0/width_16k/average_l0_105'), /params\.npz/);
});

test('--sae text: hf: specs, local paths first, release names, and typos of release names', () => {
  assert.deepEqual(parseHfSpec('hf:org/repo/a/b@v1.0'), { repoId: 'org/repo', subfolder: 'a/b', revision: 'v1.0', text: 'hf:org/repo/a/b@v1.0' });
  assert.deepEqual(parseHfSpec('hf:org/repo'), { repoId: 'org/repo', subfolder: '', revision: 'main', text: 'hf:org/repo' });
  assert.throws(() => parseHfSpec('hf:repo-only'), /not a hub repo id \(expected hf:OWNER\/REPO/);
  assert.throws(() => parseHfSpec('hf:org/repo/../x'), SaeSpecError);
  assert.throws(() => parseHfSpec('hf:org/repo@'), /empty revision/);
  assert.deepEqual(parseSaeSpec('runs/x/topk', TABLE), { kind: 'local', path: 'runs/x/topk' });
  assert.deepEqual(parseSaeSpec('./tiny-res-jb/blocks.0.hook_resid_pre', TABLE).kind, 'local');
  const rel = parseSaeSpec('tiny-res-jb/blocks.1.hook_resid_pre', TABLE);
  assert.equal(rel.kind === 'hub' && `${rel.repoId}:${rel.subfolder}@${rel.revision}`, 'org/tiny-saes:L1/blocks.1.hook_resid_pre@main');
  assert.throws(() => parseSaeSpec('tiny-res-j/blocks.0.hook_resid_pre', TABLE), /no such folder, and "tiny-res-j" is not a SAELens release: did you mean "tiny-res-jb"\?/);
  // An existing folder named like a release stays local.
  const dir = mkdtempSync(join(tmpdir(), 'saelab-hubsae-'));
  try {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      mkdirSync('tiny-res-jb/blocks.0.hook_resid_pre', { recursive: true });
      assert.equal(parseSaeSpec('tiny-res-jb/blocks.0.hook_resid_pre', TABLE).kind, 'local');
    } finally {
      process.chdir(cwd);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Files of a folder as repo entries under `prefix`. */
function filesOf(dir: string, prefix: string): Record<string, Buffer> {
  return Object.fromEntries(readdirSync(dir).map((f) => [`${prefix}${f}`, readFileSync(join(dir, f))]));
}

/** A sparsify folder's files (cfg.json + sae.safetensors) with seeded weights. */
function sparsifyFiles(prefix: string, seed: number, n = 16, d = 8): Record<string, Uint8Array> {
  const a = randomSae(seed, n, d);
  return {
    [`${prefix}cfg.json`]: Buffer.from(JSON.stringify({ d_in: d, num_latents: n, k: 4, expansion_factor: 2, normalize_decoder: true })),
    [`${prefix}sae.safetensors`]: serializeSafetensors({
      'encoder.weight': { dtype: 'F32', shape: [n, d], data: a.wDec },
      'encoder.bias': { dtype: 'F32', shape: [n], data: new Float32Array(n).fill(0.01) },
      W_dec: { dtype: 'F32', shape: [n, d], data: a.wDec },
      b_dec: { dtype: 'F32', shape: [d], data: new Float32Array(d) },
    }),
  };
}

interface World {
  hub: FakeHub;
  cache: string;
  /** Two SAELens folders on disk (the originals the repo serves). */
  saelens: string[];
}

async function withWorld(fn: (w: World) => Promise<void>): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'saelab-hubsae-'));
  const hub = await new FakeHub({ token: TOKEN }).start();
  try {
    const saelens = [join(root, 'src', 'blocks.0.hook_resid_pre'), join(root, 'src', 'blocks.1.hook_resid_pre')];
    for (const [i, d] of saelens.entries()) await writeSyntheticSae(d, randomSae(10 + i, 32, 8), 32, 8, { hook_name: `blocks.${i}.hook_resid_pre`, hook_layer: i });
    // A SAELens release repo: one SAE at a top-level folder, one nested, plus unrelated files.
    hub.addRepo('org/tiny-saes', { ...filesOf(saelens[0]!, 'blocks.0.hook_resid_pre/'), ...filesOf(saelens[1]!, 'L1/blocks.1.hook_resid_pre/'), 'README.md': Buffer.from('# tiny\n'), 'old/weights.pt': Buffer.from('pickle') });
    hub.addRepo('org/sparsify-tiny', { ...sparsifyFiles('layers.0/', 1), ...sparsifyFiles('layers.1/', 2), 'README.md': Buffer.from('x') });
    hub.addRepo('org/private-saes', filesOf(saelens[0]!, ''), true);
    hub.addRepo('org/pickles', { 'e2e/sae.pt': Buffer.from('pickle'), 'e2e/config.yaml': Buffer.from('x') });
    hub.addRepo('org/empty', { 'README.md': Buffer.from('nothing') });
    await fn({ hub, cache: join(root, 'hf-cache'), saelens });
  } finally {
    await hub.close();
    rmSync(root, { recursive: true, force: true });
  }
}

const opts = (w: World, token = '') => ({ endpoint: w.hub.endpoint, cacheDir: w.cache, token, table: TABLE, idleTimeoutMs: 5000 });

async function tensorsEqual(a: string, b: string): Promise<void> {
  const [x, y] = [await loadSae(a, cpu), await loadSae(b, cpu)];
  for (const k of ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const) assert.deepEqual(x.params[k].data, y.params[k].data, k);
}

test('a SAELens release name downloads only that SAE into the HF cache, byte-identical, then opens from the cache', T, async () => {
  await withWorld(async (w) => {
    const seen: [number, number][] = [];
    const { path, hub } = await resolveSaeSpec('tiny-res-jb/blocks.1.hook_resid_pre', { ...opts(w), onProgress: (d, t) => seen.push([d, t]) });
    assert.equal(hub?.repoId, 'org/tiny-saes');
    const snap = join(repoFolder('org/tiny-saes', w.cache), 'snapshots', w.hub.repos.get('org/tiny-saes')!.commits[0]!.sha);
    assert.equal(path, join(snap, 'L1/blocks.1.hook_resid_pre'));
    for (const f of ['cfg.json', 'sae_weights.safetensors', 'sparsity.safetensors'].filter((f) => existsSync(join(w.saelens[1]!, f)))) {
      assert.equal(sha256(readFileSync(join(path, f))), sha256(readFileSync(join(w.saelens[1]!, f))), f);
    }
    assert.deepEqual(readdirSync(snap).sort(), ['L1'], 'only the named SAE, not the other folder, README or pickle');
    assert.equal(readFileSync(join(repoFolder('org/tiny-saes', w.cache), 'refs', 'main'), 'utf8'), w.hub.repos.get('org/tiny-saes')!.commits[0]!.sha);
    await tensorsEqual(path, w.saelens[1]!);
    assert.ok(seen.length > 0 && seen.at(-1)![0] === seen.at(-1)![1], 'progress ends at its total');
    // Cached: no request at all the second time.
    w.hub.requests.length = 0;
    assert.equal((await resolveSaeSpec('tiny-res-jb/blocks.1.hook_resid_pre', opts(w))).path, path);
    assert.equal(w.hub.requests.length, 0);
  });
});

test('a sparsify repo: one folder per hook by hf: name; its root lists the folders; a revision pins the commit', T, async () => {
  await withWorld(async (w) => {
    const sha = w.hub.repos.get('org/sparsify-tiny')!.commits[0]!.sha;
    const { path } = await resolveSaeSpec(`hf:org/sparsify-tiny/layers.1@${sha}`, opts(w));
    const s = await loadSae(path, cpu);
    assert.equal(s.format, 'sparsify');
    assert.equal(s.cfg.k, 4);
    assert.deepEqual(readFileSync(join(path, 'sae.safetensors')), Buffer.from(sparsifyFiles('', 2)['sae.safetensors']!));
    assert.ok(!existsSync(join(repoFolder('org/sparsify-tiny', w.cache), 'refs')), 'a commit hash writes no ref');
    await assert.rejects(resolveSaeSpec('hf:org/sparsify-tiny', opts(w)), /^SaeSpecError: hf:org\/sparsify-tiny: org\/sparsify-tiny holds 2 SAE folders \(layers\.0, layers\.1\): name one, e\.g\. hf:org\/sparsify-tiny\/layers\.0$/);
  });
});

test('bad names: one line each, and nothing left in the cache', T, async () => {
  await withWorld(async (w) => {
    const cases: [string, RegExp][] = [
      ['hf:org/absent/x', /no such SAE repo: org\/absent@main .*set HF_TOKEN/],
      ['hf:org/empty', /org\/empty holds no SAE files/],
      ['hf:org/tiny-saes/blocks.9.hook_resid_pre', /has no folder blocks\.9\.hook_resid_pre: did you mean "blocks\.0\.hook_resid_pre"\?/],
      ['hf:org/pickles/e2e', /holds a torch checkpoint \(sae\.pt\), which saelab does not read .*docs\/hub\.md/],
      ['hf:org/tiny-saes/old/weights.pt', /is a file of org\/tiny-saes, not a folder \(a torch pickle/],
      ['hf:org/tiny-saes/blocks.0.hook_resid_pre@nope', /no such revision/],
      ['hf:org/private-saes', /no such SAE repo: org\/private-saes@main .*set HF_TOKEN/],
    ];
    for (const [spec, re] of cases) {
      await assert.rejects(resolveSaeSpec(spec, opts(w)), (e: unknown) => {
        assert.ok(e instanceof SaeSpecError || e instanceof HubError, spec);
        assert.match((e as Error).message, re, spec);
        assert.ok(!(e as Error).message.includes('\n'), spec);
        return true;
      });
    }
    assert.ok(!existsSync(w.cache) || (await readdir(w.cache)).length === 0, `no cache entries: ${existsSync(w.cache) ? readdirSync(w.cache).join(',') : ''}`);
  });
});

test('a private repo opens with the token, which is never sent to the CDN nor shown in errors', T, async () => {
  await withWorld(async (w) => {
    await assert.rejects(resolveSaeSpec('hf:org/private-saes', { ...opts(w), token: 'hf_wrongTokenForTests' }), (e: unknown) => {
      assert.ok(!(e as Error).message.includes('hf_wrong'));
      return true;
    });
    const { path } = await resolveSaeSpec('hf:org/private-saes', opts(w, TOKEN));
    await tensorsEqual(path, w.saelens[0]!);
    assert.ok(w.hub.requests.filter((r) => r.server === 'cdn').every((r) => r.auth === undefined));
    assert.ok(w.hub.requests.filter((r) => r.server === 'hub').some((r) => r.auth === `Bearer ${TOKEN}`));
  });
});

test('an interrupted download resumes with a Range request, within the call and across calls', T, async () => {
  await withWorld(async (w) => {
    const ref = parseHfSpec('hf:org/tiny-saes/blocks.0.hook_resid_pre');
    w.hub.cutNextAfter(300);
    await assert.rejects(openHubSae(ref, { endpoint: w.hub.endpoint, cacheDir: w.cache, token: '', retries: 0 }), /broke after 300 of \d+ bytes .*run again to resume/);
    const blobs = join(repoFolder('org/tiny-saes', w.cache), 'blobs');
    assert.ok(readdirSync(blobs).some((f) => f.endsWith('.incomplete')));
    assert.ok(!existsSync(join(repoFolder('org/tiny-saes', w.cache), 'refs', 'main')), 'no ref to a half snapshot');
    w.hub.requests.length = 0;
    const path = await openHubSae(ref, { endpoint: w.hub.endpoint, cacheDir: w.cache, token: '' });
    assert.deepEqual(w.hub.requests.filter((r) => r.server === 'cdn').map((r) => r.range), ['bytes=300-']);
    await tensorsEqual(path, w.saelens[0]!);
    assert.ok(!readdirSync(blobs).some((f) => f.endsWith('.incomplete')));
    // Within one call: the dropped connection is resumed at once.
    w.hub.cutNextAfter(100);
    const p2 = await openHubSae(parseHfSpec('hf:org/tiny-saes/L1/blocks.1.hook_resid_pre'), { endpoint: w.hub.endpoint, cacheDir: w.cache, token: '' });
    await tensorsEqual(p2, w.saelens[1]!);
  });
});

test('HF_HUB_OFFLINE: a cached SAE opens, a missing one is one line without a request', T, async () => {
  await withWorld(async (w) => {
    const { path } = await resolveSaeSpec('hf:org/sparsify-tiny/layers.0', opts(w));
    const before = process.env['HF_HUB_OFFLINE'];
    process.env['HF_HUB_OFFLINE'] = '1';
    try {
      w.hub.requests.length = 0;
      assert.equal((await resolveSaeSpec('hf:org/sparsify-tiny/layers.0', opts(w))).path, path);
      await assert.rejects(resolveSaeSpec('hf:org/sparsify-tiny/layers.1', opts(w)), /not in the HF cache .*HF_HUB_OFFLINE is set/);
      assert.equal(w.hub.requests.length, 0);
    } finally {
      if (before === undefined) delete process.env['HF_HUB_OFFLINE'];
      else process.env['HF_HUB_OFFLINE'] = before;
    }
  });
});

test('a SAELens < 6 cfg.json (top-level hook_point, as old hub releases) gives its hook and model as metadata', () => {
  const old = { d_in: 768, d_sae: 24576, model_name: 'gpt2-small', hook_point: 'blocks.8.hook_resid_pre', hook_point_layer: 8, context_size: 128, dtype: 'torch.float32', normalize_activations: false };
  assert.deepEqual(cfgFromSaeLens(old, 'cfg.json').metadata, { model_name: 'gpt2-small', hook_name: 'blocks.8.hook_resid_pre', hook_layer: 8, context_size: 128 });
  assert.equal(cfgFromSaeLens({ ...old, hook_name: 'blocks.9.hook_resid_pre' }, 'cfg.json').metadata.hook_name, 'blocks.9.hook_resid_pre');
  assert.equal(cfgFromSaeLens({ ...old, metadata: { hook_name: 'x' } }, 'cfg.json').metadata.hook_name, 'x');
});
