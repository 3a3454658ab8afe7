// The server's compute queue: model work ("text → features", and any later compute route) runs off
// the request path, one job at a time, with a bounded number of jobs running or waiting; one more
// is refused at once with 429 and a Retry-After. A job never starts straight from the request that
// queued it: before each job the queue yields event-loop turns until they bring no new connection
// or request (at most MAX_TURNS). One turn is not enough: libuv accepts one pending
// connection per turn, so a page on a new connection could wait behind many jobs. So GET pages are
// answered between any two jobs (a CPU forward holds the thread while it runs: a page waits at most
// one job), and a burst of posts is all read, and counted against the bound, before any runs.

import { setImmediate as nextTurn } from 'node:timers/promises';
import { HttpError } from './http.js';

const MAX_TURNS = 64;

interface Job {
  work: () => Promise<unknown>;
  ok: (v: unknown) => void;
  fail: (e: unknown) => void;
  cancelled: () => boolean;
}

/** One compute job at a time, at most `capacity` running or waiting (see the file comment). */
export class ComputeQueue {
  private readonly waiting: Job[] = [];
  private running = false;
  private scheduled = false;
  private avgMs = 1000; // a guess until the first job is timed; only used for Retry-After

  /** `activity` counts the server's connections and requests so far (the turns between jobs last while it grows). */
  constructor(readonly capacity: number, private readonly activity: () => number = () => 0) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`compute queue capacity must be a whole number ≥ 1 (got ${capacity})`);
  }

  /** Jobs running or waiting. */
  get pending(): number {
    return this.waiting.length + (this.running ? 1 : 0);
  }

  /**
   * Queue `work`; resolves with its result. Throws HttpError 429 (with Retry-After) when the queue
   * is full. A job whose `cancelled()` is true when its turn comes (its client left) is skipped.
   */
  submit<T>(work: () => Promise<T>, cancelled: () => boolean = () => false): Promise<T> {
    if (this.pending >= this.capacity) {
      const seconds = Math.max(1, Math.ceil((this.avgMs * this.pending) / 1000));
      return Promise.reject(new HttpError(429, `the server is busy with ${this.pending} compute requests; try again in ${seconds} s`, { 'retry-after': String(seconds) }));
    }
    return new Promise<T>((ok, fail) => {
      this.waiting.push({ work, ok: ok as (v: unknown) => void, fail, cancelled });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running || this.scheduled || this.waiting.length === 0) return;
    this.scheduled = true;
    void this.settle().then(() => this.next());
  }

  /**
   * Yield event-loop turns until two in a row bring no new connection or request (see the file
   * comment). Two, because a turn begun from the poll phase ends in that same iteration's check
   * phase without polling again; of two consecutive turns, one always polls.
   */
  private async settle(): Promise<void> {
    let seen = this.activity();
    for (let n = 0, quiet = 0; n < MAX_TURNS && quiet < 2; n++) {
      await nextTurn();
      const now = this.activity();
      quiet = now === seen ? quiet + 1 : 0;
      seen = now;
    }
  }

  private async next(): Promise<void> {
    this.scheduled = false;
    const job = this.waiting.shift();
    if (!job) return;
    if (job.cancelled()) {
      job.fail(new HttpError(499, 'the client closed the connection'));
      this.schedule();
      return;
    }
    this.running = true;
    const t0 = performance.now();
    try {
      job.ok(await job.work());
    } catch (e) {
      job.fail(e);
    } finally {
      this.avgMs = 0.7 * this.avgMs + 0.3 * (performance.now() - t0);
      this.running = false;
      this.schedule();
    }
  }
}
