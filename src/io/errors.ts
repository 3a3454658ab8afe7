// Typed errors for bad files and folders. Their messages are one complete line naming the file and
// the problem, so the CLI can print them as they are (see src/cli/errors.ts, which knows these names).

/** Collapse a problem description to one line (file contents may put newlines in names). */
function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}

/** A problem with one file or folder: `file` names it, `problem` says what is wrong (one line each). */
export class FileProblemError extends Error {
  /** The file path (or a label such as `<buffer>` for in-memory data). */
  readonly file: string;
  /** What is wrong, without the file name. */
  readonly problem: string;

  constructor(file: string, problem: string, options?: { cause?: unknown }) {
    super(oneLine(`${file}: ${problem}`), options);
    this.file = file;
    this.problem = oneLine(problem);
  }
}

/** A safetensors file (or in-memory buffer, or tensor set to write) that is malformed or unusable. */
export class SafetensorsError extends FileProblemError {
  override name = 'SafetensorsError';
}

/** A Hugging Face model folder that lacks or mangles config.json, weights, or its shard index. */
export class HfFolderError extends FileProblemError {
  override name = 'HfFolderError';
}

/** A short, quoted, one-line rendering of a name taken from a file, for error messages. */
export function quoteName(name: string): string {
  const q = JSON.stringify(name);
  return q.length > 90 ? `${q.slice(0, 80)}…" (${name.length} chars)` : q;
}
