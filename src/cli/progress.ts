// Progress bars for long work (cli-progress), drawn on stderr only when it is a terminal and the
// output is not --json, so scripts and logs stay clean. The ETA is ours (EtaEstimator,
// formatDuration): cli-progress's own printed `31m60s` and trusted its first few samples.

import cliProgress from 'cli-progress';

export interface Progress {
  /** Advance to `value` (of `total`), with extra fields shown after the bar (e.g. tokens/s, loss). */
  update(value: number, fields?: Record<string, string | number>): void;
  /** Finish and remove the bar. */
  stop(): void;
}

/** A duration for people: `42s`, `31m05s`, `2h05m`, `3d04h` (rounded once, so never `60s` or `60m`). */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '…';
  const s = Math.round(seconds);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  const totalMinutes = Math.round(s / 60);
  if (totalMinutes < 48 * 60) return `${Math.floor(totalMinutes / 60)}h${pad(totalMinutes % 60)}m`;
  const totalHours = Math.round(s / 3600);
  return `${Math.floor(totalHours / 24)}d${pad(totalHours % 24)}h`;
}

/**
 * Time left from progress samples. The rate is the average since the first sample (so start-up
 * before it, such as loading and the first batch, does not count), and no estimate is given until
 * it rests on enough: `minSeconds` since that sample and `minSamples` later samples that advanced.
 */
export class EtaEstimator {
  private first: { t: number; v: number } | null = null;
  private last: { t: number; v: number } | null = null;
  private samples = 0;

  constructor(
    private total: number,
    private o: { minSeconds?: number; minSamples?: number } = {},
  ) {}

  /** Record that `value` of the total is done at time `nowMs` (milliseconds). */
  update(value: number, nowMs: number): void {
    if (!this.first) {
      this.first = { t: nowMs, v: value };
      return;
    }
    if (this.last === null || value > this.last.v) this.samples++;
    this.last = { t: nowMs, v: value };
  }

  /** A new total (the work grew or shrank). */
  setTotal(total: number): void {
    this.total = total;
  }

  /** Seconds left, or null while the estimate would rest on too little. */
  secondsLeft(): number | null {
    if (!this.first || !this.last) return null;
    const dt = (this.last.t - this.first.t) / 1000;
    const dv = this.last.v - this.first.v;
    if (this.last.v >= this.total) return 0;
    if (dt < (this.o.minSeconds ?? 3) || this.samples < (this.o.minSamples ?? 2) || dv <= 0) return null;
    return ((this.total - this.last.v) * dt) / dv;
  }

  /** `31m05s`, or `…` while there is no meaningful estimate. */
  text(): string {
    const s = this.secondsLeft();
    return s === null ? '…' : formatDuration(s);
  }
}

/** A progress bar over `total` units named `unit`; a silent one when stderr is not a TTY or `quiet`. */
export function startProgress(label: string, total: number, opts: { unit?: string; quiet?: boolean; fields?: string[] } = {}): Progress {
  if (opts.quiet || !process.stderr.isTTY) return { update() {}, stop() {} };
  const extra = (opts.fields ?? []).map((f) => ` | ${f} {${f}}`).join('');
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% | {value}/{total} ${opts.unit ?? ''} | eta {eta_text}${extra}`,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const eta = new EtaEstimator(total);
  const blank = Object.fromEntries((opts.fields ?? []).map((f) => [f, '-']));
  bar.start(total, 0, { ...blank, eta_text: '…' });
  return {
    update: (v, fields) => {
      eta.update(v, performance.now());
      bar.update(v, { ...fields, eta_text: eta.text() });
    },
    stop: () => bar.stop(),
  };
}

/** A bar whose total is known only at the first report: `onProgress(done, total)` for the run, `stop()` when it ends (safe to call twice). */
export function batchProgress(label: string, quiet: boolean, unit = 'batches'): { onProgress: (done: number, total: number) => void; stop: () => void } {
  let bar: Progress | null = null;
  return {
    onProgress: (done, total) => {
      bar ??= startProgress(label, total, { unit, quiet });
      bar.update(done);
    },
    stop: () => {
      bar?.stop();
      bar = null;
    },
  };
}
