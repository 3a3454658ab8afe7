import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { HfFolderError } from '../../src/io/errors.js';
import { openHfFolder } from '../../src/io/hfFolder.js';
import { findCachedModel, hfCacheDir, HubError, isRepoId, repoFolder } from '../../src/io/hfCache.js';
import { parseModelSpec, resolveModel } from '../../src/io/resolveModel.js';
import { serializeSafetensors } from '../../src/io/safetensorsWrite.js';
import { tempDir } from './assets.js';

const MAIN = 'a'.repeat(40);
const OLD = 'b'.repeat(40);
const WEIGHTS = serializeSafetensors({ w: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } });

/** Put `files` into the cache as huggingface_hub does: content in blobs/, symlinks in snapshots/<commit>/. */
function cacheRepo(cache: string, repoId: string, commit: string, files: Record<string, string | Uint8Array>, branch?: string): string {
  const repo = repoFolder(repoId, cache);
  const snap = join(repo, 'snapshots', commit);
  mkdirSync(join(repo, 'blobs'), { recursive: true });
  mkdirSync(snap, { recursive: true });
  let i = 0;
  for (const [name, content] of Object.entries(files)) {
    const blob = `${commit.slice(0, 8)}${i++}`;
    writeFileSync(join(repo, 'blobs', blob), content);
    symlinkSync(join('..', '..', 'blobs', blob), join(snap, name));
  }
  if (branch) {
    mkdirSync(join(repo, 'refs'), { recursive: true });
    writeFileSync(join(repo, 'refs', branch), commit);
  }
  return snap;
}

test('hfCacheDir follows HF_HUB_CACHE, then HF_HOME, then XDG_CACHE_HOME, then ~/.cache', () => {
  assert.equal(hfCacheDir({ HF_HUB_CACHE: '/x/hub', HF_HOME: '/y' }), '/x/hub');
  assert.equal(hfCacheDir({ HF_HOME: '/y' }), join('/y', 'hub'));
  assert.equal(hfCacheDir({ XDG_CACHE_HOME: '/z' }), join('/z', 'huggingface', 'hub'));
  assert.equal(hfCacheDir({}), join(homedir(), '.cache', 'huggingface', 'hub'));
});

test('repo folders: models--ORG--NAME, models--NAME; malformed ids refused', () => {
  assert.equal(repoFolder('EleutherAI/pythia-70m', '/c'), join('/c', 'models--EleutherAI--pythia-70m'));
  assert.equal(repoFolder('gpt2', '/c'), join('/c', 'models--gpt2'));
  for (const bad of ['', '../x', 'a/b/c', 'a/..', '/abs', 'a b', 'a/.hidden']) {
    assert.equal(isRepoId(bad), false, bad);
    assert.throws(() => repoFolder(bad, '/c'), HubError);
  }
});

test('findCachedModel finds snapshots by branch (through refs/) and by commit hash', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const snap = cacheRepo(dir, 'org/tiny', MAIN, { 'config.json': '{"model_type":"gpt2"}', 'model.safetensors': WEIGHTS }, 'main');
    const old = cacheRepo(dir, 'org/tiny', OLD, { 'config.json': '{"model_type":"gpt2","old":true}' }, 'v1');
    const bare = cacheRepo(dir, 'gpt2', MAIN, { 'config.json': '{}' }, 'main');
    assert.equal(findCachedModel('org/tiny', { cacheDir: dir }), snap);
    assert.equal(findCachedModel('org/tiny', { revision: 'main', cacheDir: dir }), snap);
    assert.equal(findCachedModel('org/tiny', { revision: 'v1', cacheDir: dir }), old);
    assert.equal(findCachedModel('org/tiny', { revision: OLD, cacheDir: dir }), old);
    assert.equal(findCachedModel('gpt2', { cacheDir: dir }), bare);
    assert.equal(findCachedModel('org/tiny', { revision: 'nope', cacheDir: dir }), null);
    assert.equal(findCachedModel('org/tiny', { revision: 'c'.repeat(40), cacheDir: dir }), null);
    assert.equal(findCachedModel('org/other', { cacheDir: dir }), null);
    assert.throws(() => findCachedModel('org/tiny', { revision: '../../x', cacheDir: dir }), HubError);
    // The symlinked snapshot opens as a model folder.
    const m = await openHfFolder(snap);
    try {
      assert.equal(m.config.model_type, 'gpt2');
      assert.deepEqual([...(await m.weights.readF32('w'))], [1, 2]);
    } finally {
      await m.close();
    }
  } finally {
    cleanup();
  }
});

test('a refs file pointing at a missing snapshot is not a hit', () => {
  const { dir, cleanup } = tempDir();
  try {
    const repo = repoFolder('org/gone', dir);
    mkdirSync(join(repo, 'refs'), { recursive: true });
    writeFileSync(join(repo, 'refs', 'main'), MAIN);
    assert.equal(findCachedModel('org/gone', { cacheDir: dir }), null);
  } finally {
    cleanup();
  }
});

test('parseModelSpec splits ORG/NAME@revision', () => {
  assert.deepEqual(parseModelSpec('EleutherAI/pythia-70m@step1000'), { repoId: 'EleutherAI/pythia-70m', revision: 'step1000' });
  assert.deepEqual(parseModelSpec('gpt2', 'dev'), { repoId: 'gpt2', revision: 'dev' });
});

test('resolveModel: local folder, llama2.c .bin, cached snapshot, then a clear error', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const cache = join(dir, 'cache');
    const local = join(dir, 'local');
    mkdirSync(local);
    writeFileSync(join(local, 'config.json'), '{}');
    writeFileSync(join(dir, 'stories15M.bin'), new Uint8Array(8));
    mkdirSync(join(dir, 'empty'));
    const snap = cacheRepo(cache, 'org/tiny', MAIN, { 'config.json': '{}', 'model.safetensors': WEIGHTS }, 'main');
    const old = cacheRepo(cache, 'org/tiny', OLD, { 'config.json': '{}', 'model.safetensors': WEIGHTS }, 'v1');
    cacheRepo(cache, 'org/partial', MAIN, { 'tokenizer.json': '{}' }, 'main');

    assert.equal(await resolveModel(local, { cacheDir: cache }), local);
    assert.equal(await resolveModel(join(dir, 'stories15M.bin'), { cacheDir: cache }), join(dir, 'stories15M.bin'));
    assert.equal(await resolveModel('org/tiny', { cacheDir: cache }), snap);
    assert.equal(await resolveModel('org/tiny@v1', { cacheDir: cache }), old);
    assert.equal(await resolveModel('org/tiny', { cacheDir: cache, revision: OLD }), old);

    await assert.rejects(resolveModel(join(dir, 'empty'), { cacheDir: cache }), HfFolderError);
    await assert.rejects(resolveModel(join(dir, 'missing.bin'), { cacheDir: cache }), /no such file or folder/);
    await assert.rejects(resolveModel('./nowhere', { cacheDir: cache }), HfFolderError);
    await assert.rejects(resolveModel('org/absent', { cacheDir: cache }), (e: unknown) => {
      assert.ok(e instanceof HubError);
      assert.match(e.message, /not in the HF cache \(looked in .*models--org--absent\)/);
      assert.match(e.message, /allow a download|HF_HUB_OFFLINE/);
      return true;
    });
    await assert.rejects(resolveModel('org/partial', { cacheDir: cache }), /incomplete snapshot/);
    await assert.rejects(resolveModel('not a model!', { cacheDir: cache }), /not a hub model id/);
  } finally {
    cleanup();
  }
});
