#!/usr/bin/env node
// Forward speed and peak memory of a large model on this CPU: saelab (bf16 resident, bf16 streamed,
// f32) beside PyTorch (bf16 weights upcast per block, f32), each in its own process (so each peak RSS
// is its own), interleaved over --repeats rounds. The machine is shared: forwardCpuSeconds (user +
// system CPU time of the forward, all threads) is less sensitive to other load than wall seconds. One row of --tokens random ids, forward to --hook
// (a mid-layer hook, as harvest runs: only the blocks before it are loaded). Model: a folder from
// scripts/makeShapeModel.mjs. Needs `npx tsc` first (imports dist/).
//
//   node scripts/benchLargeModel.mjs --model /tmp/shape-1b --tokens 256 --hook blocks.8.hook_resid_pre --repeats 2
//   node scripts/benchLargeModel.mjs --model /tmp/shape-7b --hook blocks.16.hook_resid_pre --runs saelab-bf16,torch-bf16,saelab-stream

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : process.argv[i + 1];
};

if (process.argv.includes('--child')) {
  // One saelab run: load (only the blocks up to the hook), one forward, report.
  const { Transformer } = await import(join(root, 'dist/src/model/transformer.js'));
  const { cpu } = await import(join(root, 'dist/src/compute/cpu/cpuDevice.js'));
  const [model, tokens, hook, dtype, stream] = [arg('--model'), Number(arg('--tokens')), arg('--hook'), arg('--dtype'), arg('--stream') === 'true'];
  const t0 = performance.now();
  const m = await Transformer.load(model, cpu, { dtype, stream, upToHooks: [hook] });
  const loadSeconds = (performance.now() - t0) / 1000;
  let s = 7;
  const ids = Int32Array.from({ length: tokens }, () => (s = (s * 1103515245 + 12345) >>> 0) % m.config.vocabSize);
  const t1 = performance.now();
  const c1 = process.cpuUsage();
  const r = m.forward(ids, [1, tokens], { stopAt: hook, keep: [hook] });
  const forwardSeconds = (performance.now() - t1) / 1000;
  const c = process.cpuUsage(c1);
  const forwardCpuSeconds = (c.user + c.system) / 1e6;
  r.activations.get(hook).dispose();
  console.log(JSON.stringify({ impl: `saelab (${dtype}${stream ? ', streamed' : ''})`, loadSeconds: +loadSeconds.toFixed(2), forwardSeconds: +forwardSeconds.toFixed(2), forwardCpuSeconds: +forwardCpuSeconds.toFixed(2), tokensPerSecond: +(tokens / forwardSeconds).toFixed(1), peakRssGB: +((process.resourceUsage().maxRSS * 1024) / 1e9).toFixed(2) }));
  process.exit(0);
}

const model = arg('--model');
const tokens = Number(arg('--tokens', '256'));
const hook = arg('--hook');
const repeats = Number(arg('--repeats', '2'));
const threads = Number(arg('--threads', '2'));
if (!model || !hook) {
  console.error('usage: benchLargeModel.mjs --model DIR --hook blocks.L.hook_resid_pre [--tokens 256] [--repeats 2] [--threads 2]');
  process.exit(2);
}
const layers = Number(/^blocks\.(\d+)\./.exec(hook)[1]); // a forward to blocks.L.hook_resid_pre runs blocks 0..L-1
const cfg = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8'));
const all = [
  ['saelab-bf16', 'node', [fileURLToPath(import.meta.url), '--child', '--model', model, '--tokens', String(tokens), '--hook', hook, '--dtype', 'bfloat16', '--stream', 'false']],
  ['torch-bf16', '/usr/bin/python3', [join(root, 'scripts/benchLargeModelTorch.py'), model, String(tokens), String(layers), 'bf16', String(threads)]],
  ['saelab-stream', 'node', [fileURLToPath(import.meta.url), '--child', '--model', model, '--tokens', String(tokens), '--hook', hook, '--dtype', 'bfloat16', '--stream', 'true']],
  ['saelab-f32', 'node', [fileURLToPath(import.meta.url), '--child', '--model', model, '--tokens', String(tokens), '--hook', hook, '--dtype', 'float32', '--stream', 'false']],
  ['torch-f32', '/usr/bin/python3', [join(root, 'scripts/benchLargeModelTorch.py'), model, String(tokens), String(layers), 'f32', String(threads)]],
];
// --runs saelab-bf16,torch-bf16 picks some (the f32 runs need twice the memory).
const only = arg('--runs');
const runs = all.filter(([key]) => !only || only.split(',').includes(key)).map(([, cmd, args]) => [cmd, args]);
console.log(`# ${model}: d ${cfg.hidden_size}, ${cfg.num_hidden_layers} layers, vocab ${cfg.vocab_size}; ${tokens} tokens to ${hook}; ${new Date().toISOString()}`);
for (let r = 0; r < repeats; r++) {
  for (const [cmd, args] of runs) {
    const before = loadavg()[0].toFixed(2);
    const out = execFileSync(cmd, args, { encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) } });
    const row = JSON.parse(out.trim().split('\n').pop());
    console.log(JSON.stringify({ round: r + 1, ...row, load1: before }));
  }
}
