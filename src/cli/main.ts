// `saelab <command>`: parse arguments, call into the library, print, and map errors to exit codes
// (0 ok, 1 a bug, 2 bad input with one clear line).

import { Command, CommanderError } from 'commander';
import { registerAttribute } from './commands/attribute.js';
import { registerBench } from './commands/bench.js';
import { registerCompare } from './commands/compare.js';
import { registerDashboard } from './commands/dashboard.js';
import { registerDevices } from './commands/devices.js';
import { registerEval } from './commands/eval.js';
import { registerForward } from './commands/forward.js';
import { registerGenerate } from './commands/generate.js';
import { registerHarvest } from './commands/harvest.js';
import { registerInspect } from './commands/inspect.js';
import { registerPairs } from './commands/pairs.js';
import { registerPerturb } from './commands/perturb.js';
import { registerPrune } from './commands/prune.js';
import { registerTrain } from './commands/train.js';
import { registerServe } from './commands/serve.js';
import { isUserError } from './errors.js';
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
  registerEval(program);
  registerCompare(program);
  registerPerturb(program);
  registerPrune(program);
  registerAttribute(program);
  registerPairs(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

/** Run the CLI on `argv` (without node and script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander has printed its one-line message (or the help/version) already.
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' || e.exitCode === 0) return 0;
      return 2;
    }
    if (isUserError(e)) {
      process.stderr.write(`saelab: ${e.message.split('\n')[0]}\n`);
      return 2;
    }
    const err = e as Error;
    process.stderr.write(`saelab: internal error: ${err?.message ?? String(e)}\n`);
    if (process.env.SAELAB_DEBUG) process.stderr.write(`${err?.stack ?? ''}\n`);
    return 1;
  }
}
