// `saelab eval` on an SAE whose weights hold a NaN: one line naming the tensor and the file, exit 2,
// nothing written (it used to exit 0 with junk metrics). The check lives in the SAE loader.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { initSaeParams } from '../../src/sae/initSae.js';
import { saveSae } from '../../src/sae/saeFiles.js';
import type { SaeConfig } from '../../src/sae/types.js';
import { saelab, userLines } from '../helpers/cli.js';
import { ASSETS, needsAsset } from '../io/assets.js';

const skip = needsAsset('models/gpt2-corpus-tiny') || needsAsset('corpora/mixed-public-domain.txt.xz');

test('eval refuses an SAE with a NaN weight: one line naming W_enc and the file, exit 2, no output', { skip, timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-eval-nan-'));
  try {
    const cfg: SaeConfig = { architecture: 'topk', dIn: 192, dSae: 64, k: 4, applyBDecToInput: true, decoderUnitNorm: true, normalizeActivations: 'none', seed: 1 };
    const params = await initSaeParams(cfg, cpu, { decoderNorm: 1 });
    params.W_enc.data[5 * 64 + 7] = Number.NaN;
    const sae = join(dir, 'sae');
    await saveSae(sae, cfg, params, { metadata: { model_name: join(ASSETS, 'models/gpt2-corpus-tiny'), hook_name: 'blocks.2.hook_resid_pre', context_size: 32 } });
    const out = join(dir, 'out');
    const r = await saelab(['eval', '--device', 'cpu', '--sae', sae, '--tokens', '64', '--out', out, '--db', join(dir, 'ws.db')]);
    const lines = userLines(r.stderr).filter((l) => !l.startsWith('device:')); // the device banner is not an error line
    assert.equal(r.code, 2, r.stderr);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, new RegExp(`^saelab: ${join(sae, 'sae_weights.safetensors').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: tensor W_enc row 5, column 7 is NaN`));
    assert.ok(!existsSync(out), 'no report folder');
    assert.ok(!readdirSync(dir).includes('ws.db'), 'no workspace rows');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
