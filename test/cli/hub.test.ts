// The hub from the command line, against a fake hub on 127.0.0.1 (HF_ENDPOINT) and a temporary
// HF_HOME: `--sae hf:…` in a real command, bad names as one line with exit 2 and an empty cache.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { randomSae, writeSyntheticSae } from '../analysis/saeFolders.js';
import { saelab, userLines } from '../helpers/cli.js';
import { FakeHub } from '../helpers/fakeHub.js';
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
