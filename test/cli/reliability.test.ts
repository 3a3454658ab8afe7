// Reliability as a user meets it (issue #12 §3): one `train --out` folder per live run (lock),
// SIGTERM/SIGINT checkpoint, mark the run aborted and exit 143/130, a resume with other settings is
// refused by name, kill -9 leftovers are cleaned, and user or environment errors (missing or
// unwritable outputs, a non-database --db, a too-short corpus, an impossible --d-sae) exit 2 with one
// line before the work starts.

import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { saelab, userLines } from '../helpers/cli.js';
import { writeCorpus, writeRandomSae } from '../report/dashboardFixture.js';

const ASSETS = resolve('../shared/assets');
const TINY = join(ASSETS, 'models/gpt2-corpus-tiny');
const GPT2_RANDOM = join(ASSETS, 'fixtures/gpt2-tiny-random');
const needsAssets = existsSync(TINY) && existsSync(join(ASSETS, 'corpora/mixed-public-domain.txt.xz')) ? false : 'needs ../shared/assets (gpt2-corpus-tiny and the shared corpus)';
const BIN = resolve('bin/saelab.js');

function tmp(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-rel-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Start `saelab args` in the background; `done` resolves with its exit code and output. */
function start(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((ok) => child.on('exit', (code, signal) => ok({ code, signal, stdout, stderr })));
  return { child, done };
}

/** Wait until `cond()` holds (polling), or fail after `ms`. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const logRows = (out: string) => (existsSync(join(out, 'train-log.jsonl')) ? readFileSync(join(out, 'train-log.jsonl'), 'utf8').trim().split('\n').filter(Boolean).length : 0);

test('train: a second run into a live --out is refused by pid; SIGTERM checkpoints, marks the run aborted and exits 143; a resume with another seed, k or hook exits 2 naming it; SIGINT exits 130; kill -9 temp files are cleaned', { skip: needsAssets, timeout: 600_000 }, async () => {
  const { dir, cleanup } = tmp();
  const base = ['train', '--device', 'cpu', '--json', '--tokens', '400k', '--batch-size', '256', '--d-sae', '64', '--k', '8', '--context-size', '32', '--log-every', '1', '--checkpoint-every', '1m'];
  const out = join(dir, 'run');
  const first = start([...base, '--out', out]);
  try {
    await until(() => logRows(out) >= 2, 300_000, 'the first log rows');
    const lock = JSON.parse(readFileSync(join(out, '.saelab.lock'), 'utf8'));
    assert.equal(lock.pid, first.child.pid);

    // A second run into the same folder: exit 2, naming the holder; nothing of the first is touched.
    const second = await saelab([...base, '--out', out]);
    assert.equal(second.code, 2, second.stderr);
    const lines = userLines(second.stderr);
    assert.equal(lines.length, 1, second.stderr);
    assert.match(lines[0]!, new RegExp(`^saelab: ${out} is in use by saelab train \\(pid ${first.child.pid}, since `));

    first.child.kill('SIGTERM');
    const r1 = await first.done;
    assert.equal(r1.code, 143, r1.stderr);
    const rep = JSON.parse(r1.stdout) as { aborted: boolean; steps: number; runId: number };
    assert.equal(rep.aborted, true);
    assert.ok(rep.steps >= 2 && rep.steps < 1562, `stopped early (step ${rep.steps})`);
    assert.deepEqual(readdirSync(join(out, 'checkpoints')), [`step-${String(rep.steps).padStart(8, '0')}`]);
    const db = new Database(join(out, 'saelab.db'), { readonly: true });
    assert.equal((db.prepare('SELECT status FROM runs WHERE id = ?').get(rep.runId) as { status: string }).status, 'aborted');
    db.close();
    assert.ok(!existsSync(join(out, '.saelab.lock')), 'the lock is released');

    // Resume with a changed setting: exit 2, one line naming it, before any training.
    for (const [flag, from, to, change] of [
      ['--seeds', '0', '1', ['--seeds', '1']],
      ['--k/--ks', '8', '4', ['--k', '4']],
      ['--hook', '"blocks.3.hook_resid_pre"', '"blocks.2.hook_resid_pre"', ['--hook', 'blocks.2.hook_resid_pre']],
    ] as const) {
      const args = [...base, '--out', out, '--resume', ...change];
      const r = await saelab(args);
      assert.equal(r.code, 2, r.stderr);
      const l = userLines(r.stderr);
      assert.equal(l.length, 1, r.stderr);
      assert.ok(l[0]!.startsWith(`saelab: --resume: ${flag} was ${from} when the run in `) && l[0]!.includes(`now ${to};`), l[0]);
    }

    // A kill -9 in the middle of a checkpoint write left a partial temp folder (of a dead pid):
    // the resumed run removes it, and Ctrl-C (SIGINT) stops it with exit 130.
    const partial = join(out, 'checkpoints', '.step-00000099.999999.0123456789ab.tmp');
    mkdirSync(partial);
    writeFileSync(join(partial, 'sae-0.safetensors'), 'half');
    const resumed = start([...base, '--out', out, '--resume']);
    await until(() => existsSync(join(out, '.saelab.lock')) && !existsSync(partial), 120_000, 'the resumed run to clean the temp folder');
    await until(() => logRows(out) > rep.steps + 1, 300_000, 'the resumed run to train');
    resumed.child.kill('SIGINT');
    const r2 = await resumed.done;
    assert.equal(r2.code, 130, r2.stderr);
    const rep2 = JSON.parse(r2.stdout) as { aborted: boolean; resumedFromStep: number; steps: number };
    assert.equal(rep2.resumedFromStep, rep.steps);
    assert.ok(rep2.aborted && rep2.steps > rep.steps);
    assert.match(r2.stderr, /removed 1 partial file\(s\) of killed runs/);
  } finally {
    first.child.kill('SIGKILL');
    cleanup();
  }
});

test('train: an impossible --d-sae and a corpus read many times over are said up front', { skip: needsAssets, timeout: 300_000 }, async () => {
  const { dir, cleanup } = tmp();
  try {
    const base = ['train', '--device', 'cpu', '--json', '--batch-size', '256', '--context-size', '32', '--k', '8'];
    for (const d of ['1000000000000', '40000000']) {
      const r = await saelab([...base, '--tokens', '1k', '--d-sae', d, '--out', join(dir, `big${d}`)]);
      assert.equal(r.code, 2, r.stderr);
      const l = userLines(r.stderr);
      assert.equal(l.length, 1, r.stderr);
      assert.match(l[0]!, new RegExp(`^saelab: 1 SAE\\(s\\) up to d_sae ${d} at batch 256 need .*(at most d_sae \\d+ fits|smaller --batch-size)`));
      assert.ok(!existsSync(join(dir, `big${d}`)), 'no folder written');
    }
    const corpus = join(dir, 'small.txt');
    writeFileSync(corpus, 'Once upon a time there was a small corpus. '.repeat(60));
    const r = await saelab([...base, '--data', corpus, '--tokens', '6k', '--d-sae', '32', '--out', join(dir, 'rep')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`saelab: note: the corpus ${corpus} gives [\\d,]+ tokens, so --tokens 5,888 reads it [\\d.]+ times over`));
  } finally {
    cleanup();
  }
});

test('harvest: a corpus shorter than one window exits 2 with one line and leaves no store', { skip: needsAssets, timeout: 120_000 }, async () => {
  const { dir, cleanup } = tmp();
  try {
    const corpus = join(dir, 'tiny.txt');
    writeFileSync(corpus, 'Too short.');
    const out = join(dir, 'store');
    const r = await saelab(['harvest', '--device', 'cpu', '--json', '--model', TINY, '--hooks', 'blocks.1.hook_resid_pre', '--data', corpus, '--tokens', '1k', '--context-size', '64', '--out', out]);
    assert.equal(r.code, 2, r.stderr);
    const l = userLines(r.stderr);
    assert.equal(l.length, 1, r.stderr);
    assert.match(l[0]!, /^saelab: .*tiny\.txt: the corpus gives no 64-token window/);
    assert.ok(!existsSync(out));
  } finally {
    cleanup();
  }
});

test('forward --out into a missing folder or onto a folder exits 2 with one line before the model loads', { skip: existsSync(GPT2_RANDOM) ? false : 'needs fixtures/gpt2-tiny-random', timeout: 120_000 }, async () => {
  const { dir, cleanup } = tmp();
  try {
    const fwd = ['forward', '--device', 'cpu', '--model', GPT2_RANDOM, '--ids', '1,2,3'];
    const missing = await saelab([...fwd, '--out', join(dir, 'nope', 'a.safetensors')]);
    assert.equal(missing.code, 2, missing.stderr);
    assert.deepEqual(userLines(missing.stderr), [`saelab: --out ${join(dir, 'nope', 'a.safetensors')}: the folder ${join(dir, 'nope')} does not exist; create it first`]);
    const folder = await saelab([...fwd, '--out', dir]);
    assert.equal(folder.code, 2, folder.stderr);
    assert.match(userLines(folder.stderr).join('\n'), /^saelab: --out .*: is a folder; give a file name/);

  } finally {
    cleanup();
  }
});

test('outputs are checked before the work: dashboard --neuronpedia, compare --out, eval --db exit 2 with one line', { skip: needsAssets, timeout: 120_000 }, async () => {
  const { dir, cleanup } = tmp();
  try {
    const sae = join(dir, 'sae');
    await writeRandomSae(sae, writeCorpus(join(dir, 'corpus.txt')));
    const np = await saelab(['dashboard', '--device', 'cpu', '--json', '--sae', sae, '--db', join(dir, 'ws.db'), '--neuronpedia', join(dir, 'nope', 'np.json')]);
    assert.equal(np.code, 2, np.stderr);
    assert.deepEqual(userLines(np.stderr), [`saelab: --neuronpedia ${join(dir, 'nope', 'np.json')}: the folder ${join(dir, 'nope')} does not exist; create it first`]);

    writeFileSync(join(dir, 'afile'), '');
    const cmp = await saelab(['compare', '--device', 'cpu', '--json', sae, sae, '--out', join(dir, 'afile')]);
    assert.equal(cmp.code, 2, cmp.stderr);
    assert.deepEqual(userLines(cmp.stderr), [`saelab: --out ${join(dir, 'afile')}: cannot write there (it is a file, not a folder)`]);

    writeFileSync(join(dir, 'notes.db'), 'plain text, not sqlite');
    for (const cmd of [['eval', '--sae', sae], ['dashboard', '--sae', sae]]) {
      const r = await saelab([...cmd, '--device', 'cpu', '--json', '--db', join(dir, 'notes.db')]);
      assert.equal(r.code, 2, r.stderr);
      assert.deepEqual(userLines(r.stderr), [`saelab: --db ${join(dir, 'notes.db')}: not an SQLite database (a workspace database written by saelab)`]);
    }
  } finally {
    cleanup();
  }
});

/** Run saelab as an unprivileged user (root passes every permission check), or as ourselves when not root. */
function saelabUnprivileged(args: string[]): Promise<{ code: number; stderr: string }> {
  const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  return new Promise((ok) => execFile(process.execPath, [BIN, ...args], { ...asNobody, env: { ...process.env, HOME: tmpdir() }, timeout: 240_000 }, (e, _o, stderr) => ok({ code: e ? (e as { code: number }).code : 0, stderr })));
}

test('a read-only --out or --db exits 2 with one line before the work (train, eval)', { skip: needsAssets, timeout: 240_000 }, async () => {
  const { dir, cleanup } = tmp();
  try {
    chmodSync(dir, 0o755);
    const ro = join(dir, 'ro');
    mkdirSync(ro);
    chmodSync(ro, 0o555);
    const writable = join(dir, 'rw');
    mkdirSync(writable);
    chmodSync(writable, 0o777);
    const base = ['train', '--device', 'cpu', '--json', '--tokens', '1k', '--batch-size', '256', '--d-sae', '32', '--k', '8', '--context-size', '32'];
    const out = await saelabUnprivileged([...base, '--out', join(ro, 'run')]);
    assert.equal(out.code, 2, out.stderr);
    assert.match(userLines(out.stderr).join('\n'), /^saelab: --out .*ro\/run: cannot write there \(permission denied\)$/);
    const dbFile = join(ro, 'saelab.db');
    chmodSync(ro, 0o755);
    new Database(dbFile).close();
    chmodSync(dbFile, 0o444);
    chmodSync(ro, 0o555);
    const db = await saelabUnprivileged([...base, '--out', join(writable, 'run'), '--db', dbFile]);
    assert.equal(db.code, 2, db.stderr);
    assert.match(userLines(db.stderr).join('\n'), /^saelab: --db .*saelab\.db: cannot write the database \(EACCES\)$/);
    assert.ok(!existsSync(join(writable, 'run')), 'no --out folder left behind');
    const sae = join(writable, 'sae');
    await writeRandomSae(sae, writeCorpus(join(writable, 'corpus.txt')));
    const ev = await saelabUnprivileged(['eval', '--device', 'cpu', '--json', '--sae', sae, '--db', join(writable, 'ws.db'), '--out', join(ro, 'plots')]);
    assert.equal(ev.code, 2, ev.stderr);
    assert.deepEqual(userLines(ev.stderr), [`saelab: --out ${join(ro, 'plots')}: cannot write there (permission denied)`]);
  } finally {
    chmodSync(join(dir, 'ro'), 0o755);
    cleanup();
  }
});
