/** What the bench measures on a running platform: latencies, rates, memory. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Platform } from '../server/platform.js';
import { call, deployFunction, waitFor } from '../test/helpers/platform.js';
import { closedLoop, Poster, type LoopResult } from './http-load.js';
import type { BenchPlatform } from './platform-process.js';
import { perSecond } from './stats.js';

const execFileAsync = promisify(execFile);

/** A trivial function: what the latency and throughput figures run. */
export const ECHO = 'def main(payload=None):\n    return payload\n';
export const BODY = JSON.stringify({ payload: { hello: 'bench' } });

/** Creates a function (with a requirements.txt, when given) and waits until its image is built; returns its id. */
export async function deploy(platform: BenchPlatform, name: string, module: string, requirements = ''): Promise<string> {
  const files = { 'new_module.py': module, 'requirements.txt': requirements };
  const fn = (await deployFunction(platform as unknown as Platform, files, { name })) as { function_id: string; status: string; build_log: string };
  if (fn.status !== 'ready') throw new Error(`function ${name} did not build: ${fn.build_log}`);
  return fn.function_id;
}

/** Deletes the functions, and their images now rather than when the runner gets to it. */
export async function undeploy(platform: BenchPlatform, functionIds: readonly string[]): Promise<void> {
  for (const id of functionIds) {
    await call(`${platform.apiUrl}/v1/functions/${id}`, { method: 'DELETE' });
    const { stdout } = await execFileAsync('docker', ['images', '-q', '--filter', `label=pratai.function_id=${id}`]);
    const images = [...new Set(stdout.split('\n').filter(Boolean))];
    if (images.length > 0) await execFileAsync('docker', ['rmi', '-f', ...images]).catch(() => undefined);
  }
}

/** Accepts the 202 of a webhook and returns its request id. */
function requestIdOf(body: string): string {
  return (JSON.parse(body) as { request_id: string }).request_id;
}

/** Webhook POST → outcome stored, one request after another: milliseconds of each. */
export async function endToEndMs(platform: BenchPlatform, functionId: string, count: number, warmup: number): Promise<number[]> {
  const poster = new Poster(platform.webhookUrl, 1);
  const samples: number[] = [];
  try {
    for (let i = 0; i < warmup + count; i += 1) {
      const sent = performance.now();
      const answer = await poster.post(`/function/${functionId}`, BODY);
      if (answer.status !== 202) throw new Error(`the webhook answered ${answer.status}: ${answer.body}`);
      const storedAt = await platform.finished(requestIdOf(answer.body));
      if (i >= warmup) samples.push(storedAt - sent);
    }
  } finally {
    poster.close();
  }
  return samples;
}

/**
 * Sync calls (`?wait=true`) one after another over one kept-alive connection, as a caller sees
 * them: POST sent → answer with main's value received.
 */
export async function syncCallMs(origin: string, functionId: string, count: number, warmup: number): Promise<number[]> {
  const poster = new Poster(origin, 1);
  const samples: number[] = [];
  try {
    for (let i = 0; i < warmup + count; i += 1) {
      const sent = performance.now();
      const answer = await poster.post(`/function/${functionId}?wait=true`, BODY);
      const answeredAt = performance.now();
      if (answer.status !== 200) throw new Error(`the sync webhook answered ${answer.status}: ${answer.body}`);
      if (i >= warmup) samples.push(answeredAt - sent);
    }
  } finally {
    poster.close();
  }
  return samples;
}

/** As many webhook POSTs as `connections` keep-alive connections get answered in `durationMs`. */
export async function acceptLoad(origin: string, path: string, connections: number, durationMs: number): Promise<LoopResult> {
  const poster = new Poster(origin, connections);
  try {
    return await closedLoop({ poster, path, body: BODY, connections, durationMs, expectStatus: 202 });
  } finally {
    poster.close();
  }
}

export interface Sustained {
  /** Outcomes stored per second. */
  perSecond: number;
  /** Largest resident memory of the platform's process seen meanwhile, in bytes. */
  peakRssBytes: number;
  /** CPU time the platform's process spent per finished request, in ms. */
  cpuMsPerRequest: number;
}

/**
 * `callers` callers, each posting a request and waiting for its outcome before the next: the
 * rate at which outcomes are stored once the pool has its containers (after `warmupMs`).
 */
export async function sustained(platform: BenchPlatform, functionId: string, callers: number, warmupMs: number, durationMs: number): Promise<Sustained> {
  const poster = new Poster(platform.webhookUrl, callers);
  let peakRssBytes = platform.rssBytes();
  const sampler = setInterval(() => (peakRssBytes = Math.max(peakRssBytes, platform.rssBytes())), 100);
  const waitForOutcome = async (answer: { body: string }): Promise<void> => {
    await platform.finished(requestIdOf(answer.body));
  };
  try {
    const path = `/function/${functionId}`;
    await closedLoop({ poster, path, body: BODY, connections: callers, durationMs: warmupMs, expectStatus: 202, then: waitForOutcome });
    const before = platform.finishedCount;
    const cpuBefore = platform.cpuMs();
    const started = performance.now();
    await closedLoop({ poster, path, body: BODY, connections: callers, durationMs, expectStatus: 202, then: waitForOutcome });
    const finished = platform.finishedCount - before;
    return { perSecond: perSecond(finished, performance.now() - started), peakRssBytes, cpuMsPerRequest: (platform.cpuMs() - cpuBefore) / finished };
  } finally {
    clearInterval(sampler);
    poster.close();
  }
}

/** Containers of the runner, as `docker ps` lists them (optionally only those with `label`). */
export async function containersOf(runnerName: string, label?: string): Promise<string[]> {
  const filters = ['--filter', `label=pratai.runner=${runnerName}`, ...(label ? ['--filter', `label=${label}`] : [])];
  const { stdout } = await execFileAsync('docker', ['ps', '-q', ...filters]);
  return stdout.split('\n').filter(Boolean);
}

/**
 * The first request of each of `count` new functions, each deployed and built first: webhook
 * POST → outcome stored, in ms. Without requirements, after the runner's `prewarm` prewarmed
 * containers are replenished (the first function it measures takes the first one); with
 * `requirements` (which prewarmed containers do not serve), as soon as the image is built.
 */
export async function firstRequestMs(platform: BenchPlatform, count: number, how: { prewarm: number } | { requirements: string }, deployed: string[]): Promise<number[]> {
  const samples: number[] = [];
  const poster = new Poster(platform.webhookUrl, 1);
  try {
    for (let i = 0; i < count; i += 1) {
      if ('requirements' in how) {
        deployed.push(await deploy(platform, `first-with-requirements-${i}`, `import pratai_testdep\n# function ${i}\n${ECHO}`, how.requirements));
      } else {
        deployed.push(await deploy(platform, `first-${i}`, `# function ${i}\n${ECHO}`));
        // Each function served so far keeps the prewarmed container it took, still labelled so.
        const replenished = async (): Promise<true | undefined> => ((await containersOf(platform.runnerName, 'pratai.prewarmed=true')).length >= how.prewarm + i ? true : undefined);
        await waitFor('the prewarmed containers to be replenished', replenished, 60_000);
      }
      const functionId = deployed.at(-1) as string;
      const sent = performance.now();
      const answer = await poster.post(`/function/${functionId}`, BODY);
      samples.push((await platform.finished(requestIdOf(answer.body))) - sent);
    }
  } finally {
    poster.close();
  }
  return samples;
}

/** Memory used by each container of the runner (docker stats: usage less page cache), in bytes. */
export async function containerMemoryBytes(runnerName: string): Promise<number[]> {
  const ids = await containersOf(runnerName);
  if (ids.length === 0) return [];
  const { stdout } = await execFileAsync('docker', ['stats', '--no-stream', '--format', '{{.MemUsage}}', ...ids]);
  const units: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, kB: 1000, MB: 1000 ** 2, GB: 1000 ** 3 };
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const match = /^([\d.]+)\s*([A-Za-z]+)/.exec(line.trim());
      return match ? Number(match[1]) * (units[match[2] as string] ?? Number.NaN) : Number.NaN;
    });
}
