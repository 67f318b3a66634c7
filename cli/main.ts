#!/usr/bin/env node
/**
 * `pratai`: the command-line client. Runs one command; exits 0 when it succeeded, and otherwise
 * non-zero with one line on stderr saying what went wrong (and its stack under `--debug`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommanderError } from 'commander';
import { defaultCloudsEnvironment } from './clouds.js';
import { CliError } from './errors.js';
import { buildProgram, RanElsewhere } from './program.js';

/** The package's version: the nearest package.json above this file (cli/ or dist/cli/). */
function packageVersion(): string {
  for (let folder = dirname(fileURLToPath(import.meta.url)); folder !== dirname(folder); folder = dirname(folder)) {
    const path = join(folder, 'package.json');
    if (existsSync(path)) return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
  }
  return 'unknown';
}

/** One line for stderr, and the exit code. */
function failure(error: unknown, debug: boolean): { line: string | undefined; exitCode: number } {
  if (error instanceof RanElsewhere) return { line: undefined, exitCode: error.exitCode };
  // commander has printed its own message (a usage error) or the help already.
  if (error instanceof CommanderError) return { line: undefined, exitCode: error.exitCode === 0 ? 0 : 2 };
  if (error instanceof CliError) return { line: debug && error.cause instanceof Error ? `${error.message}\n${error.cause.stack}` : error.message, exitCode: error.exitCode };
  const text = error instanceof Error ? (debug ? (error.stack ?? error.message) : `${error.name}: ${error.message}`) : String(error);
  return { line: `Unexpected error: ${text}${debug ? '' : ' (--debug shows where)'}`, exitCode: 1 };
}

// `pratai function-list | head -1`: a reader that stops early is not a failure.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? 0);
});

const program = buildProgram({
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  clouds: defaultCloudsEnvironment(process.env),
  version: packageVersion(),
});
try {
  await program.parseAsync(process.argv);
} catch (error) {
  const { line, exitCode } = failure(error, process.argv.includes('--debug'));
  if (line !== undefined) process.stderr.write(`${line}\n`);
  process.exitCode = exitCode;
}
