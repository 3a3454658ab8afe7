// Bad input to an evaluation (an SAE that does not fit the model, no tokens, bad options).

/** One-line evaluation error. Named 'UsageError' so the CLI prints it and exits 2 (eval does not import cli/). */
export class EvalError extends Error {
  override name = 'UsageError';
}
