// The hub from the command line, against a fake hub on 127.0.0.1 (HF_ENDPOINT) and a temporary
// HF_HOME: `--sae hf:…` in a real command, bad names as one line with exit 2 and an empty cache.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { insertEvalRun } from '../../src/eval/evalDb.js';
import { openWorkspaceDb } from '../../src/io/workspaceDb.js';
import { resolveSaeSpec } from '../../src/sae/hubSae.js';
import { randomSae, writeSyntheticSae } from '../analysis/saeFolders.js';
import { saelab, userLines } from '../helpers/cli.js';
import { FakeHub, sha256 } from '../helpers/fakeHub.js';
import { ASSETS, needsAsset } from '../io/assets.js';

export const TOKEN = 'hf_cliTestToken_5d1e0c9a7b3f';
const GPT2 = join(ASSETS, 'models/gpt2-corpus-tiny');

/** A fake hub, a temp HF_HOME and a temp work folder for one test. */
export async function withCliHub(fn: (ctx: { hub: FakeHub; root: string; env: NodeJS.ProcessEnv }) => Promise<void>): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'saelab-clihub-'));
  const hub = await new FakeHub({ token: TOKEN }).start();
  // No token from the developer's machine leaks in: HF_HOME is empty and the variables are blank.
  const env = { HF_ENDPOINT: hub.endpoint, HF_HOME: join(root, 'hf'), HF_HUB_CACHE: '', HF_TOKEN: '', HUGGING_FACE_HUB_TOKEN: '', HF_TOKEN_PATH: '', HF_HUB_OFFLINE: '' };
  try {
    await fn({ hub, root, env });
  } finally {
    await hub.close();
    rmSync(root, { recursive: true, force: true });
  }
}

/** Exit 2 with exactly one line on stderr matching `re`, nothing on stdout. */
export function oneLine(r: { code: number; stdout: string; stderr: string }, re: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  const lines = userLines(r.stderr);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, re);
  assert.equal(r.stdout, '');
}

test('eval --sae hf:OWNER/REPO/FOLDER downloads the SAE and evaluates it; the second run uses the cache', { skip: needsAsset('models/gpt2-corpus-tiny/config.json'), timeout: 120_000 }, async () => {
  await withCliHub(async ({ hub, root, env }) => {
    const src = join(root, 'src', 'blocks.1.hook_resid_pre');
    await writeSyntheticSae(src, randomSae(3, 256, 192), 256, 192, { hook_name: 'blocks.1.hook_resid_pre', hook_layer: 1, model_name: 'gpt2-corpus-tiny' });
    hub.addRepo('me/tiny-gpt2-saes', Object.fromEntries(readdirSync(src).map((f) => [`res/blocks.1.hook_resid_pre/${f}`, readFileSync(join(src, f))])));
    const args = ['eval', '--sae', 'hf:me/tiny-gpt2-saes/res/blocks.1.hook_resid_pre', '--model', GPT2, '--tokens', '128', '--context-size', '32', '--out', join(root, 'plots'), '--db', join(root, 'w.db'), '--device', 'cpu', '--json'];
    const r = await saelab(args, env);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { saes: { path: string; hook: string; metrics: { l0: number } }[] };
    assert.equal(out.saes[0]!.hook, 'blocks.1.hook_resid_pre');
    assert.match(out.saes[0]!.path, /hf[/\\]hub[/\\]models--me--tiny-gpt2-saes[/\\]snapshots[/\\][0-9a-f]{40}[/\\]res[/\\]blocks\.1\.hook_resid_pre$/);
    assert.ok(out.saes[0]!.metrics.l0 > 0);
    hub.requests.length = 0;
    const again = await saelab(args, env);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(hub.requests.length, 0, 'cached: no request');
  });
});

test('bad SAE names: one line, exit 2, before any device, and nothing in the HF cache', { timeout: 60_000 }, async () => {
  await withCliHub(async ({ hub, env, root }) => {
    hub.addRepo('org/empty', { 'README.md': Buffer.from('nothing here') });
    hub.addRepo('org/private', { 'cfg.json': Buffer.from('{}'), 'sae_weights.safetensors': Buffer.from('x') }, true);
    oneLine(await saelab(['eval', '--sae', 'gpt2-small-res-j/blocks.8.hook_resid_pre'], env), /^saelab: --sae gpt2-small-res-j\/blocks\.8\.hook_resid_pre: no such folder, and "gpt2-small-res-j" is not a SAELens release: did you mean "gpt2-small-res-jb"\?$/);
    oneLine(await saelab(['eval', '--sae', 'gpt2-small-res-jb/blocks.8.hook_resid_pr'], env), /^saelab: --sae gpt2-small-res-jb\/blocks\.8\.hook_resid_pr: SAELens release gpt2-small-res-jb has no SAE "blocks\.8\.hook_resid_pr": did you mean "gpt2-small-res-jb\/blocks\.8\.hook_resid_pre"\?/);
    oneLine(await saelab(['compare', 'hf:org/empty', 'hf:org/empty'], env), /^saelab: compare hf:org\/empty: org\/empty holds no SAE files/);
    oneLine(await saelab(['dashboard', '--sae', 'hf:org/private'], env), /^saelab: --sae hf:org\/private: no such SAE repo: org\/private@main .*if it is private, set HF_TOKEN\)$/);
    oneLine(await saelab(['prune', '--sae', 'gemma-scope-2b-pt-res/layer_0/width_16k/average_l0_105', '--l0', '10', '--out', join(root, 'p')], env), /stored as Gemma Scope's params\.npz, which saelab does not read/);
    const cache = join(env.HF_HOME!, 'hub');
    assert.ok(!existsSync(cache) || readdirSync(cache).length === 0, 'no partial cache entries');
  });
});

// ---- push -------------------------------------------------------------------------------------

/** A run folder with two SAE folders, a checkpoint folder and a workspace db with one evaluation. */
async function makeRun(root: string): Promise<{ run: string; saes: string[] }> {
  const run = join(root, 'runs', 'x');
  const saes = [join(run, 'topk-k8-s0'), join(run, 'topk-k8-s1')];
  for (const [i, d] of saes.entries()) await writeSyntheticSae(d, randomSae(20 + i, 64, 16), 64, 16, { hook_name: 'blocks.2.hook_resid_post', hook_layer: 2, model_name: 'gpt2', dataset_path: 'corpus.txt', training_tokens: 1_000_000 });
  mkdirSync(join(run, 'checkpoints'), { recursive: true });
  writeFileSync(join(run, 'checkpoints', 'state.json'), '{}');
  const db = openWorkspaceDb(join(run, 'saelab.db'));
  try {
    insertEvalRun(db, { model: 'gpt2', config: {}, saes: [{ path: saes[0]!, label: 'topk-k8-s0', architecture: 'standard', dIn: 16, dSae: 64, hook: 'blocks.2.hook_resid_post', cfg: {}, metrics: { l0: 12.5, fvu: 0.125, ce_loss_recovered: 0.9375, tokens: 4096 } }] });
  } finally {
    db.close();
  }
  return { run, saes };
}

function noToken(...texts: string[]): void {
  for (const t of texts) assert.ok(!t.includes(TOKEN) && !t.includes(TOKEN.slice(3)), `the token leaked into: ${t.slice(0, 300)}`);
}

test('push a run to a new private repo with a model card, then open it by name: byte-identical weights; the token appears nowhere', { timeout: 60_000 }, async () => {
  await withCliHub(async ({ hub, root, env }) => {
    const { run, saes } = await makeRun(root);
    const r = await saelab(['push', run, '--repo', 'me/tiny-saes', '--private', '--json'], { ...env, HF_TOKEN: TOKEN });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { created: boolean; commit: string; files: string[]; saes: string[] };
    assert.equal(out.created, true);
    assert.deepEqual(out.saes, ['hf:me/tiny-saes/topk-k8-s0', 'hf:me/tiny-saes/topk-k8-s1']);
    const repo = hub.repos.get('me/tiny-saes')!;
    assert.equal(repo.private, true);
    assert.equal(repo.commits.at(-1)!.sha, out.commit);
    const files = [...hub.head('me/tiny-saes')!.keys()].sort();
    assert.deepEqual(files, ['.gitattributes', 'README.md', 'topk-k8-s0/cfg.json', 'topk-k8-s0/sae_weights.safetensors', 'topk-k8-s1/cfg.json', 'topk-k8-s1/sae_weights.safetensors'].concat(existsSync(join(saes[0]!, 'sparsity.safetensors')) ? ['topk-k8-s0/sparsity.safetensors', 'topk-k8-s1/sparsity.safetensors'] : []).sort(), 'SAE files and the card only: no checkpoints, no database');
    // The hub's protocol as @huggingface/hub speaks it: preupload, LFS batch, PUT to storage, NDJSON commit with lfsFile entries.
    const calls = hub.requests.map((q) => `${q.server} ${q.method} ${q.url.replace(/\/[0-9a-f]{64}\?size=\d+$/, '/OID')}`);
    for (const c of ['hub POST /api/repos/create', 'hub POST /api/models/me/tiny-saes/preupload/main', 'hub POST /me/tiny-saes.git/info/lfs/objects/batch', 'cdn PUT /upload/OID', 'hub POST /api/models/me/tiny-saes/commit/main']) assert.ok(calls.includes(c), `${c} in ${calls.join(', ')}`);
    const commitBody = hub.requests.find((q) => q.url.endsWith('/commit/main'))!.body;
    assert.equal(commitBody.split('\n').filter((l) => JSON.parse(l).key === 'lfsFile').length, files.filter((f) => f.endsWith('.safetensors')).length);
    assert.ok(hub.requests.filter((q) => q.server === 'cdn').every((q) => q.auth === undefined), 'the token never goes to storage');
    // The model card.
    const card = hub.head('me/tiny-saes')!.get('README.md')!.toString('utf8');
    for (const want of [/^---\nlibrary_name: saelab\n/, /\| topk-k8-s0 \| standard \| blocks\.2\.hook_resid_post \| gpt2 \| 16 \| 64 \| – \| 1,000,000 \| corpus\.txt \|/, /\| topk-k8-s0 \| 12\.50 \| 0\.1250 \| – \| 0\.9375 \| – \| – \| 4,096 \|/, /saelab eval --sae hf:me\/tiny-saes\/topk-k8-s0/, /SAE\.from_pretrained\(release="me\/tiny-saes", sae_id="topk-k8-s0"\)/]) assert.match(card, want);
    noToken(r.stdout, r.stderr, card, ...hub.requests.map((q) => q.body), ...hub.requests.map((q) => q.url));
    // Open by name (private: with the token) → the same bytes as the folders pushed.
    const cache = join(root, 'cache');
    await assert.rejects(resolveSaeSpec('hf:me/tiny-saes/topk-k8-s1', { endpoint: hub.endpoint, cacheDir: cache, token: '' }), /set HF_TOKEN/);
    const { path } = await resolveSaeSpec('hf:me/tiny-saes/topk-k8-s1', { endpoint: hub.endpoint, cacheDir: cache, token: TOKEN });
    for (const f of readdirSync(saes[1]!)) assert.equal(sha256(readFileSync(join(path, f))), sha256(readFileSync(join(saes[1]!, f))), f);
    // Pushing again into a subfolder of the existing repo: the LFS objects are already there (no PUT), the card goes into the folder.
    hub.requests.length = 0;
    const again = await saelab(['push', saes[0]!, '--repo', 'me/tiny-saes', '--path', 'v2/res'], { ...env, HF_TOKEN: TOKEN });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /pushed 1 SAE\(s\) and v2\/res\/README\.md to me\/tiny-saes at commit [0-9a-f]{40}/);
    assert.ok(!hub.requests.some((q) => q.method === 'PUT'), 'content already stored is not sent again');
    assert.deepEqual(hub.head('me/tiny-saes')!.get('v2/res/sae_weights.safetensors'), readFileSync(join(saes[0]!, 'sae_weights.safetensors')));
    noToken(again.stdout, again.stderr);
  });
});

test('push reads the token file under HF_HOME when HF_TOKEN is unset', { timeout: 60_000 }, async () => {
  await withCliHub(async ({ hub, root, env }) => {
    const { saes } = await makeRun(root);
    mkdirSync(env.HF_HOME!, { recursive: true });
    writeFileSync(join(env.HF_HOME!, 'token'), `${TOKEN}\n`);
    const r = await saelab(['push', saes[1]!, '--repo', 'me/one'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(hub.head('me/one')!.get('sae_weights.safetensors'), readFileSync(join(saes[1]!, 'sae_weights.safetensors')));
    noToken(r.stdout, r.stderr, hub.head('me/one')!.get('README.md')!.toString('utf8'));
  });
});

test('push bad input: no token, a refused token, not an SAE folder, no --repo: one line, exit 2, the token never shown', { timeout: 60_000 }, async () => {
  await withCliHub(async ({ hub, root, env }) => {
    const { run, saes } = await makeRun(root);
    oneLine(await saelab(['push', saes[0]!, '--repo', 'me/x'], env), /^saelab: pushing needs a hub token with write access: set HF_TOKEN/);
    const wrong = 'hf_refusedTokenForTheTest42';
    const refused = await saelab(['push', saes[0]!, '--repo', 'me/x'], { ...env, HF_TOKEN: wrong });
    oneLine(refused, /^saelab: cannot create me\/x at http:\/\/127\.0\.0\.1:\d+: HTTP 401: the token was refused/);
    assert.ok(!refused.stderr.includes(wrong.slice(3)));
    oneLine(await saelab(['push', join(run, 'checkpoints'), '--repo', 'me/x'], { ...env, HF_TOKEN: TOKEN }), /checkpoints: not an SAE folder \(no cfg\.json with sae_weights\.safetensors/);
    oneLine(await saelab(['push', saes[0]!], { ...env, HF_TOKEN: TOKEN }), /^saelab: --repo OWNER\/NAME is required/);
    oneLine(await saelab(['push', saes[0]!, '--repo', 'just-a-name'], { ...env, HF_TOKEN: TOKEN }), /expected OWNER\/NAME/);
    // A folder whose weights are broken is refused before anything is sent.
    writeFileSync(join(saes[1]!, 'sae_weights.safetensors'), 'not safetensors');
    oneLine(await saelab(['push', saes[1]!, '--repo', 'me/x'], { ...env, HF_TOKEN: TOKEN }), /sae_weights\.safetensors/);
    assert.ok(!hub.repos.has('me/x'), 'nothing was created');
  });
});
