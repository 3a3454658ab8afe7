// Errors that mean "the user asked for something wrong" or "the machine refused" (disk full, no
// permission, read-only file system): the CLI prints their one-line message and exits with code 2.
// Anything else is a bug and exits 1. A stopped run (Ctrl-C, SIGTERM) exits 130 or 143.

import { environmentErrorLine } from '../io/outputPaths.js';

/** Bad input from the user: a flag, a path, a file's contents. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A run stopped by a signal after saving what it had: the CLI exits with `exitCode` (128 + the signal's number). */
export class Interrupted extends Error {
  override name = 'Interrupted';
  constructor(readonly signal: 'SIGINT' | 'SIGTERM') {
    super(`stopped by ${signal}`);
  }
  /** 130 for SIGINT, 143 for SIGTERM (the shell's convention). */
  get exitCode(): number {
    return this.signal === 'SIGINT' ? 130 : 143;
  }
}

/** Error classes (by name) whose message is a complete one-line explanation for the user. */
const USER_ERROR_NAMES = new Set([
  'UsageError', 'SafetensorsError', 'HfFolderError', 'DeviceUnavailableError', 'DeviceLimitError', 'TokenizerError', 'ModelError', 'ShapeError', 'HubError', 'DataError', 'SaeFileError',
  'OutputPathError', 'WorkspaceDbError', 'OutputLockedError', 'CheckpointError', 'MemoryPlanError', 'SaeSpecError', 'SiteExportError',
]);

/** Whether an error is the user's or the environment's (exit 2, one line) rather than ours. */
export function isUserError(e: unknown): e is Error {
  return e instanceof Error && (USER_ERROR_NAMES.has(e.name) || USER_ERROR_NAMES.has(e.constructor.name) || environmentErrorLine(e) !== null);
}

/** The one line to print for a user or environment error. */
export function userErrorLine(e: Error): string {
  if (!USER_ERROR_NAMES.has(e.name) && !USER_ERROR_NAMES.has(e.constructor.name)) {
    const env = environmentErrorLine(e);
    if (env) return env;
  }
  return e.message.split('\n')[0]!;
}
