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
  assert.ok(performance.now() - t0 < 500, 'refused without waiting for the running job');
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

test('before a job the queue turns the loop while the server keeps seeing new connections or requests', async () => {
  let activity = 0;
  // One new connection per loop turn for 20 turns, as libuv accepts a burst.
  const arrive = (left: number) => left > 0 && setImmediate(() => (activity++, arrive(left - 1)));
  const q = new ComputeQueue(2, () => activity);
  arrive(20);
  const seenAtStart = await q.submit(async () => activity);
  assert.equal(seenAtStart, 20, 'the job waited for the whole burst');
  // With no activity it starts after two quiet turns.
  assert.equal(await q.submit(async () => activity), 20);
});

const skip = needsAsset('models/gpt2-corpus-tiny');

test('over HTTP: a burst of 20 text → features posts fills the queue (the rest get 429) and pages are answered between jobs', { skip, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-serve-queue-'));
  const { db, dashboardId } = await modelWorkspace(dir);
  const srv = await startServer({ db, device: cpu, queueSize: 4 });
  // When the server finished each answer (the test's client shares the thread, so its own clock
  // only reads answers once a blocking job is over; the server's order is what shows the waiting).
  const finished: { what: string; status: number; at: number }[] = [];
  srv.server.on('request', (req: IncomingMessage, res: ServerResponse) => res.on('finish', () => finished.push({ what: `${req.method} ${req.url}`, status: res.statusCode, at: performance.now() })));
  const sockets: RawSocket[] = [];
  const open = async (n: number) => {
    const s = await Promise.all(Array.from({ length: n }, () => RawSocket.open(srv.port)));
    sockets.push(...s);
    return s;
  };
  try {
    const host = { host: `127.0.0.1:${srv.port}` };
    const text = 'the ship sailed across the ocean while the captain spoke of whales. '.repeat(115); // 7,820 characters, under the 8,000 limit
    const post = requestText('POST', `/api/dashboards/${dashboardId}/text`, { ...host, 'content-type': 'application/json' }, JSON.stringify({ text }));
    // The first post loads the model; the rest find it loaded.
    const [first] = await open(1);
    first!.send(post);
    const warm = await first!.answer(60_000);
    assert.equal(warm.status, 200, warm.body);
    const expected = JSON.parse(warm.body) as { tokens: unknown[]; truncated: boolean };
    assert.equal(expected.tokens.length, 256); // the tiny model's context
    assert.equal(expected.truncated, true);

    // The burst: 20 posts and a page, each on a new connection, written together. The
    // server accepts one new connection per loop turn, so only turning the loop until the burst is
    // all read lets the queue's bound apply (and the page through) before the first job runs.
    const posters = await open(20);
    const [page] = await open(1);
    const t0 = performance.now();
    for (const s of posters) s.send(post);
    page!.send(requestText('GET', '/api/workspace', host));
    let later: Promise<RawAnswer[]> | null = null;
    const answers = await Promise.all(posters.map(async (s) => {
      const a = await s.answer(60_000);
      // As soon as the first job's answer is back, three pages on new connections: they must not wait for the other jobs.
      if (a.status === 200 && later === null) {
        later = open(3).then((ss) => Promise.all(ss.map((x, k) => (x.send(requestText('GET', `/api/dashboards/${dashboardId}?page=${k}`, host)), x.answer(60_000)))));
      }
      return a;
    }));
    const pageNow = await page!.answer(60_000);
    const pagesLater = await (later as Promise<RawAnswer[]> | null)!;
    const ok = answers.filter((a) => a.status === 200);
    const busy = answers.filter((a) => a.status === 429);
    assert.equal(ok.length, 4, `statuses ${answers.map((a) => a.status).join(' ')}`);
    assert.equal(busy.length, 16);
    for (const b of busy) {
      assert.match(b.headers['retry-after']!, /^[1-9]\d*$/);
      assert.match(JSON.parse(b.body).error, /busy/);
    }
    for (const a of ok) assert.deepEqual(JSON.parse(a.body), expected, 'every queued job gives the same answer');
    assert.equal(pageNow.status, 200);
    assert.deepEqual(pagesLater.map((p) => p.status), [200, 200, 200]);
    const jobsDone = finished.filter((f) => f.what.startsWith('POST') && f.status === 200).map((f) => f.at).slice(-4);
    assert.equal(jobsDone.length, 4);
    assert.ok(finished.find((f) => f.what === 'GET /api/workspace')!.at < jobsDone[0]!, 'the page in the burst is answered before any job runs');
    for (let k = 0; k < 3; k++) {
      const at = finished.find((f) => f.what === `GET /api/dashboards/${dashboardId}?page=${k}`)!.at;
      assert.ok(at < jobsDone[3]!, `page ${k} asked between jobs is answered before the queue drains`);
    }
    const lastPost = Math.max(...ok.map((a) => a.at));
    // The client reads the page only once the job running then is over: at most about one job.
    const oneJob = Math.max(...jobsDone.map((t, k) => t - (k > 0 ? jobsDone[k - 1]! : t0)));
    assert.ok(pageNow.at - t0 < oneJob + 2000, `page read after ${(pageNow.at - t0).toFixed(0)} ms (one job: ${oneJob.toFixed(0)} ms)`);
    console.log(`# 20 posts of ${text.length} chars: 4 ran, 16 got 429, all done after ${(lastPost - t0).toFixed(0)} ms (longest job ${oneJob.toFixed(0)} ms); the page asked with them was read after ${(pageNow.at - t0).toFixed(0)} ms`);
  } finally {
    for (const s of sockets) s.destroy();
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
