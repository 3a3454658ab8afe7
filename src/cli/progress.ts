// Progress bars for long work (cli-progress), drawn on stderr only when it is a terminal and the
// output is not --json, so scripts and logs stay clean.

import cliProgress from 'cli-progress';

export interface Progress {
  /** Advance to `value` (of `total`), with extra fields shown after the bar (e.g. tokens/s, loss). */
  update(value: number, fields?: Record<string, string | number>): void;
  /** Finish and remove the bar. */
  stop(): void;
}

/** A progress bar over `total` units named `unit`; a silent one when stderr is not a TTY or `quiet`. */
export function startProgress(label: string, total: number, opts: { unit?: string; quiet?: boolean; fields?: string[] } = {}): Progress {
  if (opts.quiet || !process.stderr.isTTY) return { update() {}, stop() {} };
  const extra = (opts.fields ?? []).map((f) => ` | ${f} {${f}}`).join('');
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% | {value}/{total} ${opts.unit ?? ''} | eta {eta_formatted}${extra}`,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  const blank = Object.fromEntries((opts.fields ?? []).map((f) => [f, '-']));
  bar.start(total, 0, blank);
  return {
    update: (v, fields) => bar.update(v, fields),
    stop: () => bar.stop(),
  };
}

/** A bar over batches whose total is known only at the first report: `onProgress(done, total)` for the run, `stop()` when it ends (safe to call twice). */
export function batchProgress(label: string, quiet: boolean): { onProgress: (done: number, total: number) => void; stop: () => void } {
  let bar: Progress | null = null;
  return {
    onProgress: (done, total) => {
      bar ??= startProgress(label, total, { unit: 'batches', quiet });
      bar.update(done);
    },
    stop: () => {
      bar?.stop();
      bar = null;
    },
  };
}
