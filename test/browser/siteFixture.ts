// A model-data folder for the browser tests and benchmark: the shared gpt2-corpus-tiny and a random
// TopK SAE at blocks.2.hook_resid_pre, written by writeSiteModel; and Node's own text → features for it.

import { join } from 'node:path';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { loadTokenizer } from '../../src/model/tokenizers/index.js';
import { Transformer } from '../../src/model/transformer.js';
import { TEXT_FEATURES_OPTIONS, textFeatures, type TextFeatures } from '../../src/report/dashboardText.js';
import { writeSiteModel } from '../../src/report/siteModel.js';
import { loadSae } from '../../src/sae/saeFiles.js';
import { TINY_MODEL, writeCorpus, writeRandomSae } from '../report/dashboardFixture.js';

export const SITE_HOOK = 'blocks.2.hook_resid_pre';

/** Write `dir`/sae (random TopK, `dSae` latents) and `dir`/model-data; returns their paths. */
export async function writeSiteFixture(dir: string, dSae = 64): Promise<{ saeDir: string; dataDir: string; files: string[]; bytes: number }> {
  const saeDir = join(dir, 'sae');
  await writeRandomSae(saeDir, writeCorpus(join(dir, 'corpus.txt'), 4), dSae);
  const dataDir = join(dir, 'model-data');
  const r = await writeSiteModel(TINY_MODEL, saeDir, SITE_HOOK, dataDir);
  return { saeDir, dataDir, ...r };
}

/** Node's answer (CPU) for `text`, as the server computes it. */
export async function nodeTextFeatures(saeDir: string, text: string): Promise<TextFeatures> {
  const model = await Transformer.load(TINY_MODEL, cpu);
  const tok = await loadTokenizer(TINY_MODEL);
  const sae = await loadSae(saeDir, cpu);
  return textFeatures(model, tok, sae, SITE_HOOK, text, { contextSize: model.config.nCtx, ...TEXT_FEATURES_OPTIONS });
}
