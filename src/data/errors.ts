// The error the data layer throws for bad input: a missing or empty corpus, bytes that are not
// UTF-8, a malformed JSONL line, a corrupted or mismatched activation store. The CLI prints its one
// line and exits 2 (it is listed in cli/errors.ts USER_ERROR_NAMES).

/** Bad data from the user: the message names the file (and byte offset or line where it helps). */
export class DataError extends Error {
  override name = 'DataError';

  constructor(message: string, options?: { cause?: unknown }) {
    // One line, so the CLI can print it as it is (file names and JSON may hold newlines).
    super(message.replace(/[\r\n]+/g, ' '), options);
  }
}
