/**
 * What every command is handed: the API (authenticated on first use), its two streams, and the
 * helpers that print results and progress the same way in every command.
 */
import { PrataiApi } from './api.js';
import { openSession, planAuth, type AuthSettings } from './auth.js';
import { HttpClient } from './http.js';
import { type Listing, outputOptionsOf, renderList, renderOne, type Shown } from './output.js';
import { startProgress, type Progress } from './progress.js';

export type Stream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

export interface CliContext {
  /** The API client; authenticates on its first call. */
  api(): PrataiApi;
  /** Prints a list command's result in the format its options ask for. */
  printList(listing: Listing, opts: Record<string, unknown>): void;
  /** Prints a show command's result in the format its options ask for. */
  printOne(shown: Shown, opts: Record<string, unknown>): void;
  /** Prints text on stdout as it is. */
  write(text: string): void;
  /** A line on stderr. */
  warn(line: string): void;
  /** A progress indicator on stderr for `--wait`. */
  progress(label: string): Progress;
}

export interface ContextOptions {
  stdout: Stream;
  stderr: Stream;
  /** The settings in force; read when the API is first needed. */
  settings: () => AuthSettings;
  /** Whether `--debug` was given: read once the command line is parsed. */
  debug: () => boolean;
}

export function createContext(options: ContextOptions): CliContext {
  const { stdout, stderr } = options;
  let api: PrataiApi | undefined;
  return {
    api() {
      if (api === undefined) {
        const debug = options.debug() ? (line: string) => stderr.write(`${line}\n`) : undefined;
        api = new PrataiApi(
          new HttpClient(async () => {
            const settings = options.settings();
            return openSession(planAuth(settings), settings);
          }, debug),
        );
      }
      return api;
    },
    printList: (listing, opts) => stdout.write(renderList(listing, outputOptionsOf(opts, stdout.columns))),
    printOne: (shown, opts) => stdout.write(renderOne(shown, outputOptionsOf(opts, stdout.columns))),
    write: (text) => stdout.write(text),
    warn: (line) => stderr.write(`${line}\n`),
    progress: (label) => startProgress(stderr, label),
  };
}
