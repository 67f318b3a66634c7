/**
 * Pratai's executables as separate processes, the way an operator runs them: spawned from dist/
 * (run `npm run build` first), their output kept, stopped by signal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { waitFor } from './platform.js';

const BIN = join(import.meta.dirname, '..', '..', 'dist', 'bin');

export type Executable = 'pratai-server' | 'pratai-api' | 'pratai-runner' | 'pratai-manage';

export interface PrataiProcess {
  readonly child: ChildProcess;
  /** What it printed so far, stdout and stderr together. */
  output(): string;
  /** Resolves once its output matches `line`; rejects if it exits first. */
  started(line: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code once it has exited by itself and its output is read. */
  exited(): Promise<number | null>;
  /** Sends `signal` and resolves with the exit code once it has exited. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** A loopback port nothing listens on (free when asked; tests use it at once). */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

export function startPratai(executable: Executable, options: { args?: string[]; env?: NodeJS.ProcessEnv } = {}): PrataiProcess {
  const child = spawn(process.execPath, [join(BIN, `${executable}.js`), ...(options.args ?? [])], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const closed = once(child, 'close');
  return {
    child,
    output: () => output,
    exited: async () => {
      await closed;
      return child.exitCode;
    },
    started: async (line, timeoutMs = 60_000) => {
      await waitFor(
        `${executable} to print ${line}`,
        async () => {
          if (exited()) throw new Error(`${executable} exited (${child.exitCode ?? child.signalCode}):\n${output}`);
          return line.test(output) ? true : undefined;
        },
        timeoutMs,
      );
    },
    stop: async (signal = 'SIGTERM') => {
      if (!exited()) {
        child.kill(signal);
        await once(child, 'exit');
      }
      return child.exitCode;
    },
  };
}
