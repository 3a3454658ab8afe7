// The CLI as a user meets it: help, exit codes, one-line errors, --json.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { saelab, userLines } from '../helpers/cli.js';

const ASSETS = resolve('../shared/assets');
const needsAssets = existsSync(ASSETS) ? false : 'needs ../shared/assets';

test('--help lists the commands and exits 0', async () => {
  const r = await saelab(['--help']);
  assert.equal(r.code, 0);
  for (const c of ['devices', 'bench', 'inspect']) assert.match(r.stdout, new RegExp(`\\b${c}\\b`));
  const sub = await saelab(['bench', 'kernels', '--help']);
  assert.equal(sub.code, 0);
  assert.match(sub.stdout, /--device <kind>/);
});

test('unknown options and bad values exit 2 with one line', async () => {
  const a = await saelab(['bench', 'kernels', '--bogus']);
  assert.equal(a.code, 2);
  assert.match(a.stderr, /unknown option '--bogus'/);
  const b = await saelab(['bench', 'kernels', '--device', 'tpu']);
  assert.equal(b.code, 2);
  assert.deepEqual(userLines(b.stderr), ["saelab: --device must be auto, cpu or webgpu (got 'tpu')"]);
  const c = await saelab(['bench', 'kernels', '--cos-n', '-3']);
  assert.equal(c.code, 2);
  assert.equal(userLines(c.stderr).length, 1);
});

test('inspect: a malformed safetensors file is one clear line and exit 2, no stack trace', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-cli-'));
  const bad = join(dir, 'bad.safetensors');
  const buf = Buffer.alloc(16);
  buf.writeBigUInt64LE(1_000_000n, 0); // header length far past the end of the file
  writeFileSync(bad, buf);
  const r = await saelab(['inspect', bad]);
  assert.equal(r.code, 2);
  const lines = userLines(r.stderr);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /bad\.safetensors/);
  assert.doesNotMatch(r.stderr, /\bat .*\.js:\d+/);
  const missing = await saelab(['inspect', join(dir, 'nope')]);
  assert.equal(missing.code, 2);
});

test('inspect --json on a real HF folder', { skip: needsAssets }, async () => {
  const r = await saelab(['inspect', join(ASSETS, 'fixtures/gpt2-tiny-random'), '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.kind, 'hf-folder');
  const wte = j.tensors.find((t: { name: string }) => t.name === 'transformer.wte.weight');
  assert.deepEqual(wte.shape, [1000, 64]);
});

test('--device auto without an adapter falls back to the CPU and says why; --device webgpu exits 2', async () => {
  const noGpu = { VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' };
  const r = await saelab(['bench', 'kernels', '--device', 'auto', '--only', 'matmul', '--matmul', '8x8x8', '--min-ms', '1', '--json'], noGpu);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /device: cpu: .*\(auto: /);
  assert.match(JSON.parse(r.stdout).device, /^cpu/);
  const w = await saelab(['bench', 'kernels', '--device', 'webgpu', '--only', 'matmul'], noGpu);
  assert.equal(w.code, 2);
  assert.match(userLines(w.stderr)[0]!, /^saelab: --device webgpu: /);
});

test('a reader that closes stdout early (| head, a killed parent): later writes are dropped, the command keeps its own exit code', async () => {
  // A write after the reader is gone, then more work: without ignoreClosedPipes Node throws an
  // unhandled EPIPE 'error' event (exit 1, stack trace), as `saelab train` did after a kill.
  const run = async (guard: boolean) => {
    const main = pathToFileURL(resolve('dist/src/cli/main.js')).href;
    const code = `import(${JSON.stringify(main)}).then((m) => { ${guard ? 'm.ignoreClosedPipes();' : ''} setTimeout(() => { process.stdout.write('x\\n'); setTimeout(() => process.exit(7), 200); }, 300); });`;
    const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exit = await new Promise<number | null>((done) => child.on('close', (c) => done(c)));
    return { exit, stderr };
  };
  const unguarded = await run(false);
  assert.match(unguarded.stderr, /EPIPE/, 'the failure this guards against still happens without it');
  const guarded = await run(true);
  assert.equal(guarded.stderr, '', 'no stack trace');
  assert.equal(guarded.exit, 7);
});
