// Errors that mean "the user asked for something wrong": the CLI prints their one-line message and
// exits with code 2. Anything else is a bug and exits 1.

/** Bad input from the user: a flag, a path, a file's contents. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Error classes (by name) whose message is a complete one-line explanation for the user. */
const USER_ERROR_NAMES = new Set(['UsageError', 'SafetensorsError', 'HfFolderError', 'DeviceUnavailableError', 'DeviceLimitError', 'TokenizerError', 'ModelError', 'ShapeError', 'HubError', 'DataError', 'SaeFileError']);

/** Whether an error is the user's (exit 2, one line) rather than ours. */
export function isUserError(e: unknown): e is Error {
  return e instanceof Error && (USER_ERROR_NAMES.has(e.name) || USER_ERROR_NAMES.has(e.constructor.name));
}
