// writeSiteModel: the model-data folder a static site's page loads (only the files it needs, a
// manifest with sizes and sha256, no local paths in any JSON), loadable again by the same loaders,
// and the refusals (too large for a browser, a hook the SAE was not trained at).

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isUserError } from '../../src/cli/errors.js';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Transformer } from '../../src/model/transformer.js';
import { writeSiteModel, type SiteManifest } from '../../src/report/siteModel.js';
import { loadSae } from '../../src/sae/saeFiles.js';
import { needsAsset, tempDir } from '../io/assets.js';
import { SITE_HOOK, writeSiteFixture } from '../browser/siteFixture.js';
import { TINY_MODEL } from './dashboardFixture.js';

const skip = needsAsset('models/gpt2-corpus-tiny');

/** Every string in a JSON value. */
function strings(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap(strings);
  if (v && typeof v === 'object') return Object.values(v).flatMap(strings);
  return [];
}

test('writeSiteModel writes only what the page needs, with sizes and sha256, and no local paths', { skip }, async () => {
  const t = tempDir();
  try {
    const { saeDir, dataDir, files, bytes } = await writeSiteFixture(t.dir);
    assert.deepEqual(files, [
      'manifest.json',
      'model/config.json', 'model/model.safetensors.index.json', 'model/model-00001-of-00002.safetensors', 'model/model-00002-of-00002.safetensors', 'model/vocab.json', 'model/merges.txt',
      'sae/cfg.json', 'sae/sae_weights.safetensors',
    ]);
    assert.deepEqual(readdirSync(dataDir).sort(), ['manifest.json', 'model', 'sae']);
    assert.deepEqual(readdirSync(join(dataDir, 'sae')).sort(), ['cfg.json', 'sae_weights.safetensors']); // no sparsity: the page does not read it
    const m = JSON.parse(readFileSync(join(dataDir, 'manifest.json'), 'utf8')) as SiteManifest;
    assert.equal(m.hook, SITE_HOOK);
    assert.deepEqual(m.textFeatures, { contextSize: 256, perToken: 8, maxFeatures: 50 });
    assert.equal(m.sae.dSae, 64);
    let sum = 0;
    for (const [sub, list] of [['model', m.model.files], ['sae', m.sae.files]] as const) {
      for (const f of list) {
        const b = readFileSync(join(dataDir, sub, f.path));
        assert.equal(f.size, b.byteLength, f.path);
        assert.equal(f.sha256, createHash('sha256').update(b).digest('hex'), f.path);
        sum += f.size;
      }
    }
    assert.equal(m.downloadBytes, sum);
    assert.equal(bytes, sum + readFileSync(join(dataDir, 'manifest.json')).byteLength);
    // The weights are copied byte for byte.
    assert.ok(readFileSync(join(dataDir, 'model', 'model-00002-of-00002.safetensors')).equals(readFileSync(join(TINY_MODEL, 'model-00002-of-00002.safetensors'))));
    // The SAE's cfg.json had absolute paths (saelab_model_path, dataset_path): none is left in any JSON.
    assert.ok(strings(JSON.parse(readFileSync(join(saeDir, 'cfg.json'), 'utf8'))).some((s) => s.startsWith('/')), 'the fixture has a path to remove');
    for (const f of files.filter((p) => p.endsWith('.json'))) {
      const abs = strings(JSON.parse(readFileSync(join(dataDir, f), 'utf8'))).filter((s) => s.startsWith('/') || s.includes(t.dir));
      assert.deepEqual(abs, [], f);
    }
    // The folder loads again with the ordinary loaders.
    const model = await Transformer.load(join(dataDir, 'model'), cpu);
    assert.equal(model.config.nLayers, 6);
    model.dispose();
    const sae = await loadSae(join(dataDir, 'sae'), cpu);
    assert.equal(sae.cfg.dSae, 64);
  } finally {
    t.cleanup();
  }
});

test('writeSiteModel refuses a model too large for a browser, and a hook the SAE was not trained at', { skip }, async () => {
  const t = tempDir();
  try {
    const { saeDir } = await writeSiteFixture(t.dir);
    const out = join(t.dir, 'out');
    await assert.rejects(writeSiteModel(TINY_MODEL, saeDir, SITE_HOOK, out, { maxF32Bytes: 10_000_000 }), (e: Error) => {
      assert.ok(isUserError(e), e.name);
      assert.match(e.message, /the model and SAE hold 50 MB of f32 parameters, over the 10 MB a browser page can load/);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    });
    await assert.rejects(writeSiteModel(TINY_MODEL, saeDir, 'blocks.3.hook_resid_pre', out), /the SAE was trained at blocks\.2\.hook_resid_pre, not blocks\.3\.hook_resid_pre/);
    await assert.rejects(writeSiteModel(TINY_MODEL, saeDir, 'blocks.9.hook_resid_pre', out), /not a hook of/);
    assert.equal(existsSync(out), false, 'nothing half-written');
  } finally {
    t.cleanup();
  }
});
