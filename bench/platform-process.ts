/**
 * The platform under test: the real `pratai-server` (dist/) in a process of its own, configured
 * by the environment, with outcome-probe.mjs preloaded so that the bench learns, over IPC, when
 * each request's outcome is stored.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const SERVER = join(ROOT, 'dist', 'bin', 'pratai-server.js');
const PROBE = join(import.meta.dirname, 'outcome-probe.mjs');
const START_TIMEOUT_MS = 60_000;
/** USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

export class BenchPlatform {
  /** Requests whose outcome was stored, with when (performance.now()) the bench heard of it. */
  private readonly finishedAt = new Map<string, number>();
  private readonly waiters = new Map<string, (at: number) => void>();
  /** Outcomes stored since the platform started. */
  finishedCount = 0;

  private constructor(
    private readonly child: ChildProcess,
    private readonly statePath: string,
    readonly runnerName: string,
    readonly apiUrl: string,
    readonly webhookUrl: string,
  ) {
    // Ids and the epoch milliseconds of their commit, alternating (outcome-probe.mjs).
    child.on('message', (message: { finished?: (string | number)[] }) => {
      const finished = message.finished ?? [];
      for (let i = 0; i + 1 < finished.length; i += 2) {
        const id = finished[i] as string;
        const at = (finished[i + 1] as number) - performance.timeOrigin;
        this.finishedCount += 1;
        const waiter = this.waiters.get(id);
        if (waiter === undefined) {
          this.finishedAt.set(id, at);
        } else {
          this.waiters.delete(id);
          waiter(at);
        }
      }
    });
  }

  /**
   * Starts pratai-server with the defaults, loopback ports and `env` on top; resolves once it
   * serves. With `profileDir`, it writes a CPU profile there when it stops (node --cpu-prof).
   */
  static async start(name: string, env: Record<string, string> = {}, profileDir?: string): Promise<BenchPlatform> {
    const statePath = mkdtempSync(join(tmpdir(), 'pratai-bench-'));
    const runnerName = `bench-${name}-${process.pid}`;
    const profile = profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', profileDir];
    const child = spawn(process.execPath, [...profile, '--import', PROBE, SERVER, '--config-file', '/dev/null'], {
      env: {
        ...process.env,
        PRATAI_DEFAULT_STATE_PATH: statePath,
        PRATAI_API_HOST: '127.0.0.1',
        PRATAI_API_PORT: '0',
        PRATAI_API_WEBHOOK_PORT: '0',
        PRATAI_RUNNER_NAME: runnerName,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let output = '';
    const collect = (chunk: Buffer): void => {
      if (output.length < 64 * 1024) output += chunk.toString('utf8');
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const urls = /REST API on (http:\/\/\S+) .*webhooks on (http:\/\/[^/\s]+)/.exec(output);
      if (urls) return new BenchPlatform(child, statePath, runnerName, urls[1] as string, urls[2] as string);
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        rmSync(statePath, { recursive: true, force: true });
        throw new Error(`pratai-server did not start:\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** When the outcome of the request was stored (performance.now() in this process). */
  finished(requestId: string): Promise<number> {
    const at = this.finishedAt.get(requestId);
    if (at !== undefined) {
      this.finishedAt.delete(requestId);
      return Promise.resolve(at);
    }
    return new Promise((resolve) => this.waiters.set(requestId, resolve));
  }

  /** Forgets the outcomes nobody asked for (after a phase that does not wait for them). */
  forgetFinished(): void {
    this.finishedAt.clear();
  }

  /** Waits until `count` outcomes in all have been stored, or `timeoutMs` passed; returns whether they were. */
  async drained(count: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.finishedCount < count) {
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return true;
  }

  /** Resident memory of the pratai-server process, in bytes. */
  rssBytes(): number {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.child.pid}/status`, 'utf8'));
    return Number(match?.[1] ?? Number.NaN) * 1024;
  }

  /**
   * CPU time the pratai-server process has used so far (user + system, all its threads), in ms:
   * what a figure costs it, whatever else loads the machine.
   */
  cpuMs(): number {
    const stat = readFileSync(`/proc/${this.child.pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  }

  /** SIGTERM (graceful: its containers are removed), then the state folder goes. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = once(this.child, 'exit');
      this.child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.statePath, { recursive: true, force: true });
  }
}
