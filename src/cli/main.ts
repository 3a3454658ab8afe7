// `saelab <command>`: parse arguments, call into the library, print, and map errors to exit codes
// (0 ok, 1 a bug, 2 bad input with one clear line).

import { Command, CommanderError } from 'commander';
import { registerAttribute } from './commands/attribute.js';
import { registerBench } from './commands/bench.js';
import { registerCompare } from './commands/compare.js';
import { registerDashboard } from './commands/dashboard.js';
import { registerDevices } from './commands/devices.js';
import { registerEval } from './commands/eval.js';
import { registerExportSite } from './commands/exportSite.js';
import { registerForward } from './commands/forward.js';
import { registerGenerate } from './commands/generate.js';
import { registerHarvest } from './commands/harvest.js';
import { registerInspect } from './commands/inspect.js';
import { registerPairs } from './commands/pairs.js';
import { registerGradients } from './commands/gradients.js';
import { registerConnect } from './commands/connect.js';
import { registerDuplicates } from './commands/duplicates.js';
import { registerPerturb } from './commands/perturb.js';
import { registerPrune } from './commands/prune.js';
import { registerPush } from './commands/push.js';
import { registerTrain } from './commands/train.js';
import { registerServe } from './commands/serve.js';
import { Interrupted, isUserError, userErrorLine, UsageError } from './errors.js';
import { editDistance } from '../model/hooks.js';
import { SAELAB_VERSION } from '../version.js';

/** Build the command tree (exported so tests can inspect it). */
export function buildProgram(): Command {
  const program = new Command('saelab')
    .description('Sparse-autoencoder research on transformer LMs and reward models, on WebGPU and CPU.')
    .version(SAELAB_VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerDevices(program);
  registerBench(program);
  registerInspect(program);
  registerForward(program);
  registerGenerate(program);
  registerHarvest(program);
  registerTrain(program);
  registerDashboard(program);
  registerServe(program);
  registerExportSite(program);
  registerEval(program);
  registerCompare(program);
  registerPerturb(program);
  registerGradients(program);
  registerConnect(program);
  registerDuplicates(program);
  registerPrune(program);
  registerAttribute(program);
  registerPairs(program);
  registerPush(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

/**
 * Check the command words of `argv` (`train`, `bench kernels`) before Commander sees them: an
 * unknown one is a UsageError with "did you mean" — otherwise `saelab upload --help` would print the
 * main help and exit 0, as if `push` existed.
 */
export function checkCommandWords(program: Command, argv: readonly string[]): void {
  let cmd = program;
  const path: string[] = [];
  for (const arg of argv) {
    if (arg.startsWith('-') || cmd.commands.length === 0) return;
    if (arg === 'help') return; // Commander's own `help [command]`
    const sub = cmd.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (!sub) {
      const names = cmd.commands.map((c) => c.name());
      // Close means a typo (two edits, or a third of a long word), not any word of similar length.
      const near = names.map((n) => ({ n, d: editDistance(arg, n) })).sort((a, b) => a.d - b.d).find((c) => c.d <= Math.max(2, Math.floor(arg.length / 3)));
      const where = path.length ? `saelab ${path.join(' ')}` : 'saelab';
      throw new UsageError(`unknown command '${[...path, arg].join(' ')}'${near ? `: did you mean '${near.n}'?` : ''} (the commands of ${where}: ${names.join(', ')})`);
    }
    path.push(arg);
    cmd = sub;
  }
}

/**
 * When the reader of stdout or stderr goes away (a pipe into `head`, or a parent killed while the
 * command finishes), writes fail with EPIPE: drop the output and let the command end with its own
 * exit code, instead of an unhandled 'error' event's stack trace.
 */
export function ignoreClosedPipes(): void {
  for (const s of [process.stdout, process.stderr]) {
    if (s.listenerCount('error') > 0) continue;
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
    });
  }
}

/** Run the CLI on `argv` (without node and script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  ignoreClosedPipes();
  const program = buildProgram();
  try {
    checkCommandWords(program, argv);
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander has printed its one-line message (or the help/version) already.
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' || e.exitCode === 0) return 0;
      return 2;
    }
    if (e instanceof Interrupted) return e.exitCode;
    if (isUserError(e)) {
      process.stderr.write(`saelab: ${userErrorLine(e)}\n`);
      return 2;
    }
    const err = e as Error;
    process.stderr.write(`saelab: internal error: ${err?.message ?? String(e)}\n`);
    if (process.env.SAELAB_DEBUG) process.stderr.write(`${err?.stack ?? ''}\n`);
    return 1;
  }
}
