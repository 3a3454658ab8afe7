// Ctrl-C (SIGINT) and SIGTERM as a graceful stop for long commands: the first signal aborts
// `signal` (the work saves a checkpoint and returns), a second one exits at once. Either way the
// exit code is 128 + the signal's number (130, 143), so scripts and job schedulers see the stop.

import { Interrupted } from './errors.js';

/** A graceful-stop handler: `signal` aborts on the first SIGINT/SIGTERM; call `dispose` when the work ends. */
export interface GracefulStop {
  readonly signal: AbortSignal;
  /** The signal that stopped the work, or null. */
  readonly received: 'SIGINT' | 'SIGTERM' | null;
  /** Throw Interrupted (the CLI's exit 130/143) when a signal stopped the work. */
  throwIfStopped(): void;
  dispose(): void;
}

/** Install the handlers; `what` ends the line printed on the first signal (e.g. "after this step (checkpointing)"). */
export function gracefulStop(what: string): GracefulStop {
  const ac = new AbortController();
  let received: 'SIGINT' | 'SIGTERM' | null = null;
  const handler = (sig: 'SIGINT' | 'SIGTERM') => () => {
    if (received) process.exit(sig === 'SIGINT' ? 130 : 143);
    received = sig;
    process.stderr.write(`\nsaelab: ${sig}: stopping ${what}; ${sig === 'SIGINT' ? 'Ctrl-C' : 'a second signal'} again kills at once\n`);
    ac.abort();
  };
  const onInt = handler('SIGINT');
  const onTerm = handler('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    signal: ac.signal,
    get received() {
      return received;
    },
    throwIfStopped() {
      if (received) throw new Interrupted(received);
    },
    dispose() {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}
