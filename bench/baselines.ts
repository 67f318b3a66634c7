/**
 * What the platform's figures are compared to, measured in the same run on the same machine:
 * a bare Express handler, `docker run` of a function's image, and the function called over its
 * channel (the Unix socket the runner uses, runner/channel.ts) in a warm container with nothing
 * else around it (the floor).
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Container } from '../runner/container-runtime.js';
import { DockerContainerRuntime } from '../runner/docker-container-runtime.js';
import { percentile, perSecond } from './stats.js';

const execFileAsync = promisify(execFile);

/** Starts bare-webhook.ts in a process of its own; returns its origin and how to stop it. */
export function startBareWebhook(): Promise<BareServer> {
  return startBare('bare-webhook.ts', []);
}

/**
 * Starts bare-sync.ts in a process of its own: a bare Express handler that runs the function of
 * `image` in one warm container and answers with its response.
 */
export function startBareSync(image: string, functionId: string): Promise<BareServer> {
  return startBare('bare-sync.ts', [image, functionId]);
}

export interface BareServer {
  origin: string;
  stop: () => Promise<void>;
}

/** Starts a baseline server (a script of bench/ that prints its port) in a process of its own. */
async function startBare(script: string, args: string[]): Promise<BareServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const deadline = Date.now() + 30_000;
  let port: string | undefined;
  while ((port = /listening on (\d+)/.exec(output)?.[1]) === undefined) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${script} did not start: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    origin: `http://127.0.0.1:${port}`,
    stop: async () => {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Milliseconds of `docker run --rm IMAGE python3 -c pass`, `times` times, one after another. */
export async function dockerRunMs(image: string, times: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < times; i += 1) {
    const started = performance.now();
    await execFileAsync('docker', ['run', '--rm', '--network', 'none', '--entrypoint', 'python3', image, '-c', 'pass']);
    samples.push(performance.now() - started);
  }
  return samples;
}

export interface Floor {
  p50Ms: number;
  p99Ms: number;
  /** Requests answered per second, one at a time. */
  perSecond: number;
}

/** One hardened warm container of `image`, started by the runner's own code, with the bench's limits. */
export async function warmContainer(image: string, functionId: string, owner: string): Promise<Container> {
  const containers = new DockerContainerRuntime({
    socketPath: '/var/run/docker.sock',
    runnerId: `${owner}-${process.pid}`,
    deployment: 'bench',
    network: 'none',
    pidsLimit: 64,
    tmpfsMiB: 16,
    maxLogBytes: 1024 * 1024,
    maxResponseBytes: 1024 * 1024,
    channelRoot: tmpdir(),
    build: { timeoutMs: 60_000, network: 'none', pipIndexUrl: '', pipExtraIndexUrl: '', pipFindLinks: [], pipNoIndex: true },
  });
  return containers.start({ image, functionId, memoryMiB: 128, cpus: 1, network: false });
}

/**
 * The function of `image` called `count` times over the channel of one warm container, one call
 * after another: what a request costs with no webhook, store or queue around it.
 */
export async function warmFloor(image: string, functionId: string, count: number): Promise<Floor> {
  const container = await warmContainer(image, functionId, 'bench-floor');
  try {
    const call = async (i: number): Promise<number> => {
      const started = performance.now();
      const execution = await container.run({ requestId: `floor-${i}`, payload: { n: i }, timeoutMs: 30_000 });
      if (execution.status !== 'succeeded') throw new Error(`the floor's function failed: ${JSON.stringify(execution.error)}`);
      return performance.now() - started;
    };
    for (let i = 0; i < 100; i += 1) await call(i); // warm: the import, the JIT, the caches
    const samples: number[] = [];
    const started = performance.now();
    for (let i = 0; i < count; i += 1) samples.push(await call(i));
    return { p50Ms: percentile(samples, 50), p99Ms: percentile(samples, 99), perSecond: perSecond(count, performance.now() - started) };
  } finally {
    await container.remove();
  }
}
