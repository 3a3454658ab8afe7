// A model-data folder for the browser tests and benchmark: the shared gpt2-corpus-tiny and a random
// TopK SAE at blocks.2.hook_resid_pre, written by writeSiteModel; Node's own text → features for it;
// and a static server of it with a test page that imports the browser bundle.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize } from 'node:path';
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

/**
 * A static server: / is a page that puts openLocalFeatures on globalThis, /lib/localFeatures.js the
 * bundle, /site/ the folder `siteDir` (Range honoured, as most static hosts do); paths in `missing` answer 404.
 */
export function staticSiteServer(siteDir: string, bundle: string, missing: ReadonlySet<string> = new Set()): Server {
  const page = '<!doctype html><meta charset="utf-8"><title>saelab</title><script type="module">import { openLocalFeatures } from "/lib/localFeatures.js"; globalThis.openLocalFeatures = openLocalFeatures;</script>';
  return createServer((req, res) => {
    const path = decodeURIComponent(req.url!.split('?')[0]!);
    if (path === '/') return void res.writeHead(200, { 'content-type': 'text/html' }).end(page);
    let file: string | null = null;
    if (path === '/lib/localFeatures.js') file = bundle;
    else if (path.startsWith('/site/') && !missing.has(path)) file = join(siteDir, normalize(path.slice('/site/'.length)));
    if (!file || (!file.startsWith(siteDir) && file !== bundle) || !existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404, 'Not Found').end();
    const body = readFileSync(file);
    const type = extname(file) === '.js' ? 'text/javascript' : extname(file) === '.json' ? 'application/json' : 'application/octet-stream';
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (m) {
      const [a, b] = [Number(m[1]), Math.min(Number(m[2]), body.byteLength - 1)];
      return void res.writeHead(206, { 'content-type': type, 'content-range': `bytes ${a}-${b}/${body.byteLength}`, 'accept-ranges': 'bytes' }).end(body.subarray(a, b + 1));
    }
    res.writeHead(200, { 'content-type': type, 'accept-ranges': 'bytes' }).end(body);
  });
}
