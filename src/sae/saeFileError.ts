// The error of a malformed or unsupported SAE folder (its own file so that the readers and the
// SAELens config mapping can share it without importing each other).

import { FileProblemError } from '../io/errors.js';

/** A malformed or unsupported SAE folder: one line naming the file and the problem. */
export class SaeFileError extends FileProblemError {
  override name = 'SaeFileError';
}
