// The server's compute queue: model work ("text → features", and any later compute route) runs off
// the request path, one job at a time, with a bounded number of jobs running or waiting; one more
// is refused at once with 429 and a Retry-After. A job starts from setImmediate, never straight
// from the request that queued it, so the event loop reads sockets and answers GET pages between
// any two jobs (a CPU forward holds the thread while it runs, so pages wait at most one job), and
// requests that arrive together are all counted against the bound before any of them runs.

import { HttpError } from './http.js';

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

  constructor(readonly capacity: number) {
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
    setImmediate(() => void this.next());
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
