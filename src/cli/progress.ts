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
