// The training-recipe benchmark (issue #16): saelab's TopK recipe side by side with a PyTorch
// sparsify-style reference (scripts/sparsify_reference.py) on the same activation rows. It harvests
// one store of gpt2-corpus-tiny's blocks.3.hook_resid_pre once, splits it into training shards and
// held-out shards (every 16th, spread over the corpus), trains saelab (`saelab train --store`) and
// the reference at each token budget and seed, evaluates every SAE on the same held-out rows with
// docs/metrics.md's FVU (scripts/recipeStore.mjs), and prints the table (`--write` puts it into
// BENCHMARKS.md between the recipe markers). Variants (`--variant 'label=--flag value …'`) train
// extra saelab runs with other flags, which is how docs/training.md's init and shuffle numbers were
// measured.
//   node scripts/recipeBench.mjs --work /tmp/recipe --tokens 1M,3M --seeds 0,1 [--write] [--no-reference]
//        [--variant 'enc0.1=--init-encoder-scale 0.1'] [--d-sae 3072] [--k 32]

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { evalOnStore, splitStore } from './recipeStore.mjs';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const ASSETS = resolve(root, '../shared/assets');
const MODEL = join(ASSETS, 'models/gpt2-corpus-tiny');
const DATA = join(ASSETS, 'corpora/mixed-public-domain.txt.xz');
const HOOK = 'blocks.3.hook_resid_pre';

function parseArgs(argv) {
  const o = { work: '/tmp/recipe', tokens: '1M,3M', seeds: '0,1', dSae: 3072, k: 32, harvest: 3_200_000, write: false, reference: true, saelab: true, variants: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === '--work') o.work = v();
    else if (a === '--tokens') o.tokens = v();
    else if (a === '--seeds') o.seeds = v();
    else if (a === '--d-sae') o.dSae = Number(v());
    else if (a === '--k') o.k = Number(v());
    else if (a === '--harvest-tokens') o.harvest = count(v());
    else if (a === '--write') o.write = true;
    else if (a === '--no-reference') o.reference = false;
    else if (a === '--no-saelab') o.saelab = false;
    else if (a === '--variant') {
      const [label, flags] = v().split(/=(.*)/s);
      o.variants.push({ label, flags: flags.trim().split(/\s+/).filter(Boolean) });
    } else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

/** '1M' → 1000000, '500k' → 500000. */
function count(s) {
  const m = /^([\d.]+)([kKmM]?)$/.exec(s);
  if (!m) throw new Error(`not a count: ${s}`);
  return Math.round(Number(m[1]) * ({ k: 1e3, K: 1e3, m: 1e6, M: 1e6 }[m[2]] ?? 1));
}

const saelab = (args) => execFileSync(process.execPath, [join(root, 'bin/saelab.js'), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const budgets = o.tokens.split(',').map(count);
  const seeds = o.seeds.split(',').map(Number);
  const store = join(o.work, 'store');
  if (!existsSync(join(store, 'manifest.json')) || !JSON.parse(readFileSync(join(store, 'manifest.json'), 'utf8')).complete) {
    console.error(`harvesting ${o.harvest} rows of ${HOOK} into ${store} …`);
    saelab(['harvest', '--model', MODEL, '--hooks', HOOK, '--data', DATA, '--tokens', String(o.harvest), '--shard-tokens', '16384', '--out', store]);
  }
  const split = splitStore(store, o.work);
  console.error(`train rows ${split.train}, held-out rows ${split.heldout}`);
  const train = join(o.work, 'train');
  const heldout = join(o.work, 'heldout');
  const common = ['--store', train, '--arch', 'topk', '--k', String(o.k), '--d-sae', String(o.dSae), '--seeds', seeds.join(','), '--log-every', '50', '--checkpoint-every', '1000M', '--json'];
  const results = [];
  for (const tokens of budgets) {
    const runs = [];
    if (o.saelab) runs.push({ label: 'saelab', flags: [] });
    runs.push(...o.variants);
    for (const run of runs) {
      const out = join(o.work, `${run.label}-${tokens}`);
      const t = Date.now();
      const rep = JSON.parse(saelab(['train', ...common, '--tokens', String(tokens), '--out', out, ...run.flags]));
      const secs = (Date.now() - t) / 1000;
      const dirs = rep.saes.map((s) => s.path);
      for (const [i, m] of (await evalOnStore(heldout, dirs)).entries()) results.push({ recipe: run.label, tokens, seed: rep.saes[i].seed, ...m, tokensPerSecond: rep.tokensPerSecond * dirs.length, seconds: secs });
      console.error(JSON.stringify(results.slice(-seeds.length)));
    }
    if (o.reference) {
      for (const seed of seeds) {
        const out = join(o.work, `reference-${tokens}-s${seed}`);
        const line = execFileSync('/usr/bin/python3', [join(root, 'scripts/sparsify_reference.py'), '--store', train, '--tokens', String(tokens), '--seed', String(seed), '--d-sae', String(o.dSae), '--k', String(o.k), '--out', out], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
        const rep = JSON.parse(line.trim().split('\n').pop());
        const [m] = await evalOnStore(heldout, [out]);
        results.push({ recipe: 'reference', tokens, seed, ...m, tokensPerSecond: rep.tokens_per_second, seconds: rep.seconds });
        console.error(JSON.stringify(results.at(-1)));
      }
    }
  }
  // Results accumulate in WORK/results.json (a rerun replaces its own rows), so saelab and the
  // reference may be run by separate invocations; the table shows this invocation's budgets.
  const file = join(o.work, 'results.json');
  const keyOf = (r) => `${r.recipe}|${r.tokens}|${r.seed}`;
  const merged = new Map((existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : []).map((r) => [keyOf(r), r]));
  for (const r of results) merged.set(keyOf(r), r);
  writeFileSync(file, JSON.stringify([...merged.values()], null, 1));
  const recipes = new Set(['saelab', 'reference', ...o.variants.map((v) => v.label)]);
  const shown = [...merged.values()].filter((r) => budgets.includes(r.tokens) && seeds.includes(r.seed) && recipes.has(r.recipe));
  shown.sort((a, b) => a.tokens - b.tokens || (a.recipe === 'reference') - (b.recipe === 'reference') || a.recipe.localeCompare(b.recipe) || a.seed - b.seed);
  const table = tableOf(shown, o, split);
  console.log(table);
  if (o.write) writeBenchmarks(table);
}

/** The Markdown section: machine, date, command, and per budget × recipe the mean (and each seed's) FVU, dead, L0, speed. */
function tableOf(results, o, split) {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const lines = [
    `### ${new Date().toISOString().slice(0, 10)} — development machine CPU (${cpus().length} cores, ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB), shared with other jobs`,
    '',
    `gpt2-corpus-tiny \`${HOOK}\`, d_sae ${o.dSae}, k ${o.k}, batch 4,096, lr 3e-4 (linear decay over the last 20 %), ` +
      `${split.train.toLocaleString('en-US')} training rows, FVU and dead on ${split.heldout.toLocaleString('en-US')} held-out rows (every 16th shard of the store). ` +
      'Dead = fires on none of the held-out rows. saelab: `saelab train --store` with its defaults; reference: scripts/sparsify_reference.py ' +
      '(sparsify\'s initialisation, a full random permutation of the rows, PyTorch autograd on the CPU). ' +
      'SAE·tokens/s: tokens per second times SAEs trained at once (saelab trains every seed on one stream; the reference one SAE per process, 2 threads).',
    '',
    `    node scripts/recipeBench.mjs --work ${o.work} --tokens ${o.tokens} --seeds ${o.seeds}${o.variants.map((v) => ` --variant '${v.label}=${v.flags.join(' ')}'`).join('')} --write`,
    '',
    '| tokens | recipe | FVU (mean) | FVU per seed | dead (mean) | L0 | SAE·tokens/s |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  const groups = new Map();
  for (const r of results) {
    const key = `${r.tokens}|${r.recipe}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(r);
  }
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  for (const rs of groups.values()) {
    const r0 = rs[0];
    lines.push(`| ${(r0.tokens / 1e6).toFixed(r0.tokens % 1e6 ? 1 : 0)}M | ${r0.recipe} | ${mean(rs.map((r) => r.fvu)).toFixed(4)} | ${rs.map((r) => `s${r.seed}: ${r.fvu.toFixed(4)}`).join(', ')} | ${(100 * mean(rs.map((r) => r.dead))).toFixed(2)} % | ${mean(rs.map((r) => r.l0)).toFixed(1)} | ${Math.round(mean(rs.map((r) => r.tokensPerSecond))).toLocaleString('en-US')} |`);
  }
  return lines.join('\n');
}

const BEGIN = '<!-- recipeBench:begin -->';
const END = '<!-- recipeBench:end -->';

/** Put the table into BENCHMARKS.md's recipe section (between the markers; a newer run is added above older ones). */
function writeBenchmarks(table) {
  const p = join(root, 'BENCHMARKS.md');
  const s = readFileSync(p, 'utf8');
  const i = s.indexOf(BEGIN);
  const j = s.indexOf(END);
  if (i < 0 || j < 0) throw new Error(`BENCHMARKS.md has no ${BEGIN} … ${END} section`);
  const inner = s.slice(i + BEGIN.length, j).trim();
  writeFileSync(p, `${s.slice(0, i + BEGIN.length)}\n${table}\n${inner ? `\n${inner}\n` : ''}${s.slice(j)}`);
}

await main();
