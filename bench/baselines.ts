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
import { DockerContainerRuntime } from '../runner/docker-container-runtime.js';
import { percentile, perSecond } from './stats.js';

const execFileAsync = promisify(execFile);

/** Starts bare-webhook.ts in a process of its own; returns its origin and how to stop it. */
export async function startBareWebhook(): Promise<{ origin: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'bare-webhook.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const deadline = Date.now() + 30_000;
  let port: string | undefined;
  while ((port = /listening on (\d+)/.exec(output)?.[1]) === undefined) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the bare Express server did not start: ${output}`);
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

/**
 * The function of `image` called `count` times over the channel of one warm container, one call
 * after another: what a request costs with no webhook, store or queue around it.
 */
export async function warmFloor(image: string, functionId: string, count: number): Promise<Floor> {
  const containers = new DockerContainerRuntime({
    socketPath: '/var/run/docker.sock',
    runnerId: `bench-floor-${process.pid}`,
    deployment: 'bench',
    network: 'none',
    pidsLimit: 64,
    tmpfsMiB: 16,
    maxLogBytes: 1024 * 1024,
    maxResponseBytes: 1024 * 1024,
    channelRoot: tmpdir(),
    build: { timeoutMs: 60_000, network: 'none', pipIndexUrl: '', pipExtraIndexUrl: '', pipFindLinks: [], pipNoIndex: true },
  });
  const container = await containers.start({ image, functionId, memoryMiB: 128, cpus: 1, network: false });
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
