/**
 * What the CLI can fail with: one line a user reads on stderr, and the exit code. Anything else
 * thrown is a bug and is shown the same way (with its stack under `--debug`).
 */

/** A failure the CLI means to show: `message` is the whole line; `exitCode` is non-zero. */
export class CliError extends Error {
  override readonly name: string = 'CliError';

  constructor(
    message: string,
    readonly exitCode = 1,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The API answered with its error body (`{"error": {"status", "code", "message", "request_id"}}`). */
export class ApiError extends CliError {
  override readonly name = 'ApiError';

  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly requestId: string | undefined,
  ) {
    super(message);
  }
}

/** Usage errors (a bad flag value) exit 2, as argparse-based OpenStack clients do. */
export const usageError = (message: string): CliError => new CliError(message, 2);
