// A small real workspace for dashboard tests: a corpus written here (plain sentences mixed with
// spam-like lines holding raw HTML and script tags), and an SAE for the shared gpt2-corpus-tiny —
// either a random TopK SAE saved directly (fast) or a tiny `trainRun` (runs, metrics and all).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { Rng } from '../../src/compute/random.js';
import { initSaeParams } from '../../src/sae/initSae.js';
import { saveSae } from '../../src/sae/saeFiles.js';
import { trainRun } from '../../src/sae/trainRun.js';
import type { SaeConfig } from '../../src/sae/types.js';
import { ASSETS } from '../io/assets.js';

export const TINY_MODEL = join(ASSETS, 'models', 'gpt2-corpus-tiny');
export const SCRIPT_LINE = 'FREE OFFER <script>window.__xss=1;alert("x")</script> click <img src=x onerror="window.__xss=2"> now';

const WORDS = 'the ship sailed across the ocean while the captain spoke of whales and the crew sang songs of home; congress shall pass laws for the union and the people of the states will vote on taxes and trade'.split(' ');

/** A corpus of `docs` documents (separated by <|endoftext|>), every 4th a spam line with raw HTML. */
export function writeCorpus(path: string, docs = 60, seed = 7): string {
  const rng = new Rng(seed);
  const out: string[] = [];
  for (let d = 0; d < docs; d++) {
    if (d % 4 === 1) out.push(`${SCRIPT_LINE} ${SCRIPT_LINE}`);
    else out.push(Array.from({ length: 40 + (rng.nextU32() % 30) }, () => WORDS[rng.nextU32() % WORDS.length]).join(' ') + '.');
  }
  writeFileSync(path, out.join('<|endoftext|>'));
  return path;
}

/** A random TopK SAE for the tiny model's d_model 192, saved at `dir` with metadata pointing at the model, hook and corpus. */
export async function writeRandomSae(dir: string, corpus: string, dSae = 64, k = 8): Promise<SaeConfig> {
  const cfg: SaeConfig = { architecture: 'topk', dIn: 192, dSae, k, applyBDecToInput: true, decoderUnitNorm: true, normalizeActivations: 'none', seed: 3 };
  const params = await initSaeParams(cfg, cpu);
  await saveSae(dir, cfg, params, { metadata: { model_name: TINY_MODEL, hook_name: 'blocks.2.hook_resid_pre', hook_layer: 2, context_size: 32, dataset_path: corpus, prepend_bos: true } });
  return cfg;
}

/** A tiny real training run into `out` (workspace db at out/saelab.db); returns the SAE folder. */
export async function trainTinySae(out: string, corpus: string): Promise<string> {
  const r = await trainRun({ device: cpu, model: TINY_MODEL, data: corpus, arch: 'topk', k: 8, dSae: 128, tokens: 4096, batchSize: 1024, contextSize: 32, hook: 'blocks.2.hook_resid_pre', out, logEvery: 1, normTokens: 1024, bDecSampleRows: 512, checkpointEvery: 1_000_000 });
  return r.saes[0]!.path;
}
