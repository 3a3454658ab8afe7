// The model layer's error: a config, checkpoint or input the transformer cannot use. One line,
// saying what is wrong and, where it helps, what would be right (the CLI prints it as it is).

/** A model config, weight file or model input that saelab cannot use. */
export class ModelError extends Error {
  override name = 'ModelError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message.replace(/[\r\n]+/g, ' '), options);
  }
}
