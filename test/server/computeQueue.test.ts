// The compute queue of `saelab serve`: one job at a time, never started from the request that
// queued it, a bounded number running or waiting (one more gets 429 with Retry-After), failures and
// cancelled jobs not blocking the rest; and over HTTP with the real tiny model, GET pages answer
// between jobs while "text → features" posts are queued.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { test } from 'node:test';
import { cpu } from '../../src/compute/cpu/cpuDevice.js';
import { ComputeQueue } from '../../src/server/computeQueue.js';
import { HttpError } from '../../src/server/http.js';
import { startServer } from '../../src/server/server.js';
import { needsAsset } from '../io/assets.js';
import { modelWorkspace } from './fixtures.js';
import { type RawAnswer, RawSocket, requestText } from './rawHttp.js';

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

test('jobs run one at a time, in order, and never from inside submit', async () => {
  const q = new ComputeQueue(3);
  let running = 0;
  let most = 0;
  const order: number[] = [];
  const job = (k: number) => async () => {
    running++;
    most = Math.max(most, running);
    await sleep(10);
    order.push(k);
    running--;
    return k * 10;
  };
  const results = [q.submit(job(0)), q.submit(job(1)), q.submit(job(2))];
  assert.equal(running, 0, 'no job starts inside submit');
  assert.equal(q.pending, 3);
  assert.deepEqual(await Promise.all(results), [0, 10, 20]);
  assert.deepEqual(order, [0, 1, 2]);
  assert.equal(most, 1);
  assert.equal(q.pending, 0);
});

test('a full queue refuses at once with 429 and a Retry-After, and accepts again once drained', async () => {
  const q = new ComputeQueue(2);
  let release!: () => void;
  const gate = new Promise<void>((ok) => (release = ok));
  const a = q.submit(() => gate.then(() => 'a'));
  const b = q.submit(async () => 'b');
  const t0 = performance.now();
  await assert.rejects(q.submit(async () => 'c'), (e: unknown) => {
    assert.ok(e instanceof HttpError);
    assert.equal(e.status, 429);
    assert.match(e.headers['retry-after']!, /^[1-9]\d*$/);
    return true;
  });
  assert.ok(performance.now() - t0 < 50, 'refused without waiting');
  release();
  assert.deepEqual(await Promise.all([a, b]), ['a', 'b']);
  assert.equal(await q.submit(async () => 'd'), 'd');
});

test('a failing job rejects only its caller; a cancelled job is skipped', async () => {
  const q = new ComputeQueue(4);
  let ran = false;
  const bad = q.submit(async () => {
    throw new Error('boom');
  });
  const gone = q.submit(async () => (ran = true), () => true);
  const good = q.submit(async () => 7);
  await assert.rejects(bad, /boom/);
  await assert.rejects(gone, (e: unknown) => e instanceof HttpError && e.status === 499);
  assert.equal(await good, 7);
  assert.equal(ran, false, 'the cancelled job never ran');
});

test('thread-blocking jobs leave the event loop a turn between them', async () => {
  const q = new ComputeQueue(4);
  const events: string[] = [];
  const block = (k: number) => async () => {
    const until = performance.now() + 15;
    while (performance.now() < until); // a CPU forward holds the thread like this
    events.push(`job${k}`);
  };
  const all = Promise.all([0, 1, 2, 3].map((k) => q.submit(block(k))));
  // A timer due at once stands for a socket read: it must run before the last job, not after all.
  setTimeout(() => events.push('timer'), 0);
  await all;
  assert.ok(events.indexOf('timer') < events.indexOf('job3'), events.join(' '));
});

const skip = needsAsset('models/gpt2-corpus-tiny');

test('over HTTP: the post past the queue gets 429, and GET pages answer while text → features posts wait', { skip, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-serve-queue-'));
  const { db, dashboardId } = await modelWorkspace(dir);
  const srv = await startServer({ db, device: cpu, queueSize: 4 });
  // When the server finished each answer (the test's client shares the thread, so its own clock
  // only reads answers once a blocking job is over; the server's order is what shows the waiting).
  const finished: { what: string; status: number; at: number }[] = [];
  srv.server.on('request', (req: IncomingMessage, res: ServerResponse) => res.on('finish', () => finished.push({ what: `${req.method} ${req.url}`, status: res.statusCode, at: performance.now() })));
  const sockets: RawSocket[] = [];
  try {
    const host = { host: `127.0.0.1:${srv.port}` };
    const text = 'the ship sailed across the ocean while the captain spoke of whales. '.repeat(115); // 7,820 characters, under the 8,000 limit
    const post = requestText('POST', `/api/dashboards/${dashboardId}/text`, { ...host, 'content-type': 'application/json' }, JSON.stringify({ text }));
    const open = async () => {
      // A first request on each socket, so the server has accepted it and reads it before the burst.
      const s = await RawSocket.open(srv.port);
      sockets.push(s);
      s.send(requestText('GET', '/favicon.ico', host));
      assert.equal((await s.answer()).status, 204);
      return s;
    };
    // The first post loads the model; the rest find it loaded.
    const first = await open();
    first.send(post);
    const warm = await first.answer(60_000);
    assert.equal(warm.status, 200, warm.body);
    const expected = JSON.parse(warm.body) as { tokens: unknown[]; truncated: boolean };
    assert.equal(expected.tokens.length, 256); // the tiny model's context
    assert.equal(expected.truncated, true);

    const posters = await Promise.all([0, 1, 2, 3, 4].map(open));
    const getNow = await open();
    const getLater = await open();
    // Five posts (one over the queue of 4) and a page, written together.
    const t0 = performance.now();
    for (const s of posters) s.send(post);
    getNow.send(requestText('GET', '/api/workspace', host));
    let later: Promise<RawAnswer> | null = null;
    const answers = await Promise.all(posters.map(async (s) => {
      const a = await s.answer(60_000);
      // As soon as the first job's answer is back, ask for a page: it must not wait for the others.
      if (a.status === 200 && later === null) {
        getLater.send(requestText('GET', `/api/dashboards/${dashboardId}`, host));
        later = getLater.answer(60_000);
      }
      return a;
    }));
    const pageNow = await getNow.answer(60_000);
    const pageLater = await (later as Promise<RawAnswer> | null)!;
    const ok = answers.filter((a) => a.status === 200);
    const busy = answers.filter((a) => a.status === 429);
    assert.equal(busy.length, 1, `statuses ${answers.map((a) => a.status).join(' ')}`);
    assert.equal(ok.length, 4);
    assert.match(busy[0]!.headers['retry-after']!, /^[1-9]\d*$/);
    assert.match(JSON.parse(busy[0]!.body).error, /busy/);
    for (const a of ok) assert.deepEqual(JSON.parse(a.body), expected, 'every queued job gives the same answer');
    assert.equal(pageNow.status, 200);
    assert.equal(pageLater.status, 200);
    const jobsDone = finished.filter((f) => f.what.startsWith('POST') && f.status === 200).map((f) => f.at).slice(-4);
    const at = (what: string) => finished.find((f) => f.what === what)!.at;
    assert.equal(jobsDone.length, 4);
    assert.ok(at('GET /api/workspace') < jobsDone[0]!, 'a page asked with the burst is answered before any job runs');
    assert.ok(at(`GET /api/dashboards/${dashboardId}`) < jobsDone[3]!, 'a page asked between jobs is answered before the queue drains');
    const lastPost = Math.max(...ok.map((a) => a.at));
    // The client reads the page only once the job running then is over: at most about one job.
    const oneJob = Math.max(...jobsDone.map((t, k) => t - (k > 0 ? jobsDone[k - 1]! : t0)));
    assert.ok(pageNow.at - t0 < oneJob + 1000, `page read after ${(pageNow.at - t0).toFixed(0)} ms (one job: ${oneJob.toFixed(0)} ms)`);
    console.log(`# 4 queued posts of ${text.length} chars took ${(lastPost - t0).toFixed(0)} ms (longest job ${oneJob.toFixed(0)} ms); the page asked with them was read after ${(pageNow.at - t0).toFixed(0)} ms`);
  } finally {
    for (const s of sockets) s.destroy();
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
