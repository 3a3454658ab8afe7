// Helpers of the training-recipe benchmark (scripts/recipeBench.mjs): split one harvested activation
// store into a training view and a held-out view (shard files linked, not copied; each view has its
// own manifest), and evaluate SAE folders (saelab's or sparsify's layout) on held-out rows with
// docs/metrics.md's FVU (about the mean) and the fraction of latents that never fire on them.
//   node scripts/recipeStore.mjs split STORE OUT [--every 16] [--max-shards N]
//   node scripts/recipeStore.mjs eval HELDOUT SAE_DIR...      (one JSON line per SAE)

import { mkdirSync, readFileSync, symlinkSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const lib = (p) => import(join(root, 'dist/src', p));

/** Write OUT/train and OUT/heldout: held-out = every `every`-th shard (offset every−1), spread over the corpus. */
export function splitStore(store, out, { every = 16, maxShards = Infinity } = {}) {
  const m = JSON.parse(readFileSync(join(store, 'manifest.json'), 'utf8'));
  if (!m.complete && maxShards === Infinity) throw new Error(`${store}: the harvest is not complete`);
  const shards = m.shards.slice(0, Math.min(maxShards, m.shards.length));
  const parts = { train: shards.filter((_, i) => i % every !== every - 1), heldout: shards.filter((_, i) => i % every === every - 1) };
  for (const [name, list] of Object.entries(parts)) {
    const dir = join(out, name);
    const rows = list.reduce((a, s) => a + s.rows, 0);
    const manifest = JSON.stringify({ ...m, shards: list, totalRows: rows, targetRows: rows, complete: true }, null, 2);
    // The same split already there (another run may be reading it): leave it alone.
    if (existsSync(join(dir, 'manifest.json')) && readFileSync(join(dir, 'manifest.json'), 'utf8') === manifest) continue;
    if (existsSync(dir)) rmSync(dir, { recursive: true });
    mkdirSync(dir, { recursive: true });
    for (const s of list) symlinkSync(resolve(store, s.file), join(dir, s.file));
    writeFileSync(join(dir, 'manifest.json'), manifest);
  }
  return { train: parts.train.reduce((a, s) => a + s.rows, 0), heldout: parts.heldout.reduce((a, s) => a + s.rows, 0) };
}

/** FVU (about the mean), L0, MSE and dead fraction (no firing on any held-out row) of each SAE folder. */
export async function evalOnStore(heldout, saeDirs, { chunk = 8192 } = {}) {
  const { ActivationStoreReader } = await lib('data/activationStoreReader.js');
  const { loadSae } = await lib('sae/saeFiles.js');
  const { reconstruct } = await lib('eval/evalSae.js');
  const { ReconstructionAccumulator } = await lib('eval/metricsSpec.js');
  const { createDevice } = await lib('compute/createDevice.js');
  const device = await createDevice('cpu');
  const store = await ActivationStoreReader.open(resolve(heldout));
  const hook = store.hooks[0];
  const dIn = store.dIn(hook);
  const saes = [];
  for (const dir of saeDirs) saes.push({ dir, sae: await loadSae(resolve(dir), device) });
  const acc = saes.map(() => new ReconstructionAccumulator(dIn));
  const fired = saes.map(({ sae }) => new Uint8Array(sae.cfg.dSae));
  for await (const rows of store.rows(hook)) {
    for (let at = 0; at < rows.length; at += chunk * dIn) {
      const x = rows.subarray(at, Math.min(rows.length, at + chunk * dIn));
      const n = x.length / dIn;
      const xt = device.fromArray(x, [n, dIn]);
      for (const [i, { sae }] of saes.entries()) {
        const { f, xHat } = await reconstruct(sae, xt);
        const dSae = sae.cfg.dSae;
        acc[i].add(x, xHat, f, dSae, new Uint8Array(n).fill(1));
        const fi = fired[i];
        for (let t = 0; t < n; t++) for (let j = 0; j < dSae; j++) if (f[t * dSae + j] > 0) fi[j] = 1;
      }
      xt.dispose();
    }
  }
  return saes.map(({ dir, sae }, i) => {
    const r = acc[i].result();
    const dead = fired[i].reduce((a, v) => a + (v ? 0 : 1), 0) / sae.cfg.dSae;
    return { sae: dir, heldoutTokens: r.tokens, fvu: r.fvu, l0: r.l0, mse: r.mse, dead };
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [cmd, ...args] = process.argv.slice(2);
  const flag = (name, def) => {
    const i = args.indexOf(name);
    if (i < 0) return def;
    const v = Number(args[i + 1]);
    args.splice(i, 2);
    return v;
  };
  if (cmd === 'split') {
    const every = flag('--every', 16);
    const maxShards = flag('--max-shards', Infinity);
    console.log(JSON.stringify(splitStore(args[0], args[1], { every, maxShards })));
  } else if (cmd === 'eval') {
    for (const r of await evalOnStore(args[0], args.slice(1))) console.log(JSON.stringify(r));
  } else {
    console.error('usage: recipeStore.mjs split STORE OUT [--every 16] [--max-shards N] | eval HELDOUT SAE_DIR...');
    process.exit(2);
  }
}
