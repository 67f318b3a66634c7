/**
 * `npm run bench [-- --json PATH] [--profile DIR]`: starts the platform itself (the real
 * pratai-server, loopback only), measures what the issue asks of it next to baselines measured in
 * the same run, and prints one table; with --json, writes the same with each target and whether it
 * was met; with --profile, each pratai-server it starts writes a CPU profile into DIR (open it in
 * Chrome's DevTools) when it stops.
 *
 * Bounded: about three minutes on a 2-core machine (a minute of it a job's one-second ticks). Every container, image, process, folder and
 * broker vhost it makes is removed before it exits. Settings come from the defaults, overridable
 * in the environment as for pratai-server (PRATAI_RUNNER_CONCURRENCY=8, say).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadSettings } from '../common/config.js';
import { dockerRunMs, startBareSync, startBareWebhook, warmFloor, type Floor } from './baselines.js';
import { measureCoordination } from './coordination.js';
import { machine, versions } from './environment.js';
import { acceptLoad, containerMemoryBytes, containersOf, deploy, ECHO, endToEndMs, firstRequestMs, sustained, syncCallMs, undeploy } from './measurements.js';
import { BenchPlatform } from './platform-process.js';
import { table, writeJson, type Figure, type Run } from './report.js';
import { median, percentile } from './stats.js';
import { measureWorkflows } from './workflows.js';
import { waitFor } from '../test/helpers/platform.js';
import { writeWheel } from '../test/helpers/wheel.js';

const execFileAsync = promisify(execFile);

const RUNTIME_IMAGE = 'pratai/runtime-python3:latest';
/** Keep-alive connections posting at once in the webhook figures. */
const ACCEPT_CONNECTIONS = 32;
const ACCEPT_MS = 5_000;
/** Callers each waiting for their outcome before posting again, in the throughput figures. */
const CALLERS = 32;
const SUSTAINED_WARMUP_MS = 2_000;
const SUSTAINED_MS = 10_000;
const WARM_REQUESTS = 1_000;
const FIRST_REQUESTS = 5;
const FLOOR_CALLS = 2_000;
const SYNC_REQUESTS = 1_000;
/** A function that sleeps this long, called sync: its answer should come right after it. */
const SLEEP_MS = 100;
const SLEEP_REQUESTS = 50;
const SLEEPER = `import time\n\ndef main(payload=None):\n    time.sleep(${SLEEP_MS / 1000})\n    return payload\n`;
const MB = 1_000_000;
/** One-second ticks of a job whose firing delay is measured: a minute of them. */
const TICKS = 60;

/** Sync calls of the function without the platform (bench/bare-sync.ts), as syncCallMs makes them. */
async function bareSyncCallMs(image: string, functionId: string, count: number, warmup: number): Promise<number[]> {
  const bare = await startBareSync(image, functionId);
  try {
    return await syncCallMs(bare.origin, functionId, count, warmup);
  } finally {
    await bare.stop();
  }
}

/** What the modes measured so far leave for the next ones. */
interface Context {
  prewarm: number;
  figures: Figure[];
  /** The warm floor, measured with the first mode. */
  floor?: Floor;
}

/** A way of running the platform: the embedded queue, or a broker. One entry per mode. */
interface Mode {
  label: string;
  /** The environment it needs, and how to clean up after it; or why it cannot run here. */
  prepare(): Promise<{ env: Record<string, string>; cleanup: () => Promise<void> } | { unavailable: string }>;
  measure(platform: BenchPlatform, context: Context): Promise<void>;
}

const MODES: Mode[] = [
  {
    label: 'embedded',
    prepare: async () => {
      // The functions with requirements install a wheel made here: no package index is reachable.
      const wheels = mkdtempSync(join(tmpdir(), 'pratai-bench-wheels-'));
      writeWheel(wheels);
      return {
        env: { PRATAI_BUILD_PIP_FIND_LINKS: wheels, PRATAI_BUILD_PIP_NO_INDEX: 'true' },
        cleanup: async () => rmSync(wheels, { recursive: true, force: true }),
      };
    },
    measure: async (platform, context) => void (context.floor = await measureEmbedded(platform, context.prewarm, context.figures)),
  },
  {
    label: 'RabbitMQ',
    prepare: async () => {
      const vhost = `pratai-bench-${process.pid}`;
      try {
        await execFileAsync('rabbitmqctl', ['-q', 'add_vhost', vhost]);
        await execFileAsync('rabbitmqctl', ['-q', 'set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*']);
      } catch (error) {
        return { unavailable: `RabbitMQ not reachable with rabbitmqctl: ${(error as Error).message.split('\n')[0]}` };
      }
      return {
        env: { PRATAI_DEFAULT_TRANSPORT_URL: `rabbit://guest:guest@127.0.0.1:5672/${vhost}` },
        cleanup: async () => void (await execFileAsync('rabbitmqctl', ['-q', 'delete_vhost', vhost]).catch(() => undefined)),
      };
    },
    measure: (platform, context) => measureBroker(platform, 'RabbitMQ', context),
  },
];

const USAGE = 'usage: npm run bench [-- --json PATH] [--profile DIR]';

function parseArgs(argv: readonly string[]): { json?: string; profile?: string } {
  const options: { json?: string; profile?: string } = {};
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if ((flag !== '--json' && flag !== '--profile') || value === undefined) throw new Error(`unexpected ${flag}${value === undefined ? ' without a value' : ''}; ${USAGE}`);
    options[flag === '--json' ? 'json' : 'profile'] = value;
  }
  return options;
}

const say = (line: string): void => void process.stderr.write(`bench: ${line}\n`);

async function imageOf(functionId: string): Promise<string> {
  const { stdout } = await execFileAsync('docker', ['images', '--filter', `label=pratai.function_id=${functionId}`, '--format', '{{.Repository}}:{{.Tag}}']);
  const image = stdout.split('\n').find(Boolean);
  if (image === undefined) throw new Error(`no image for function ${functionId}`);
  return image;
}

/** The embedded all-in-one process: every figure of the issue but the RabbitMQ row. */
async function measureEmbedded(platform: BenchPlatform, prewarm: number, figures: Figure[]): Promise<Floor> {
  const deployed: string[] = [];
  try {
    if (prewarm > 0) {
      const started = async (): Promise<true | undefined> => ((await containersOf(platform.runnerName, 'pratai.prewarmed=true')).length >= prewarm ? true : undefined);
      await waitFor('the prewarmed containers', started, 60_000);
    }
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const idleRss = platform.rssBytes();

    say(`first request of ${FIRST_REQUESTS} new functions, then of ${FIRST_REQUESTS} with requirements`);
    const first = await firstRequestMs(platform, FIRST_REQUESTS, { prewarm }, deployed);
    const dockerRun = await dockerRunMs(await imageOf(deployed[0] as string), FIRST_REQUESTS);
    const firstWithRequirements = await firstRequestMs(platform, FIRST_REQUESTS, { requirements: 'pratai-testdep==1.0\n' }, deployed);
    const dockerRunBaseline = { name: '`docker run --rm` of its image, python3 -c pass', value: median(dockerRun) };
    figures.push(
      {
        name: 'first request of a new function (image built), p50',
        value: median(first),
        unit: 'ms',
        baseline: dockerRunBaseline,
        target: { of: 'ratio', op: '<=', limit: 0.5 },
        note: prewarm > 0 ? `a prewarmed container loaded with the function (${prewarm} per runtime)` : 'no prewarmed containers: a container created for it',
      },
      {
        name: 'first request of a new function with requirements, p50',
        value: median(firstWithRequirements),
        unit: 'ms',
        baseline: dockerRunBaseline,
        note: 'not prewarmed (its dependencies are in its image): a container of its image created for it',
      },
    );

    const echo = await deploy(platform, 'echo', ECHO);
    deployed.push(echo);
    say('the warm floor: the function over its channel (a Unix socket, the pipe the runner uses) in a warm container');
    const floor = await warmFloor(await imageOf(echo), echo, FLOOR_CALLS);

    say(`warm end-to-end latency, ${WARM_REQUESTS} requests one after another`);
    const warm = await endToEndMs(platform, echo, WARM_REQUESTS, 100);
    figures.push(
      { name: 'warm end-to-end, webhook POST → outcome stored, p50', value: percentile(warm, 50), unit: 'ms', baseline: { name: 'warm floor p50', value: floor.p50Ms }, target: { of: 'value', op: '<=', limit: 5 } },
      { name: 'warm end-to-end, webhook POST → outcome stored, p99', value: percentile(warm, 99), unit: 'ms', baseline: { name: 'warm floor p99', value: floor.p99Ms }, target: { of: 'value', op: '<=', limit: 25 } },
    );

    say(`warm sync calls (?wait=true), ${SYNC_REQUESTS} one after another over one kept-alive connection`);
    const sync = await syncCallMs(platform.webhookUrl, echo, SYNC_REQUESTS, 100);
    say('the same without the platform: a bare Express handler in front of one warm container of the function');
    const bareSync = await bareSyncCallMs(await imageOf(echo), echo, SYNC_REQUESTS, 100);
    const bareNote = (samples: number[]): string => `without the platform (bare Express in front of one warm container, the same three processes): p50 ${percentile(samples, 50).toFixed(2)} ms, p99 ${percentile(samples, 99).toFixed(2)} ms`;
    figures.push(
      { name: 'warm sync call, POST ?wait=true → answer with the outcome, p50', value: percentile(sync, 50), unit: 'ms', baseline: { name: 'warm end-to-end p50', value: percentile(warm, 50) }, target: { of: 'value', op: '<=', limit: 2 }, note: bareNote(bareSync) },
      { name: 'warm sync call, POST ?wait=true → answer with the outcome, p99', value: percentile(sync, 99), unit: 'ms', baseline: { name: 'warm end-to-end p99', value: percentile(warm, 99) }, target: { of: 'value', op: '<=', limit: 10 } },
    );
    const sleeper = await deploy(platform, 'sleeper', SLEEPER);
    deployed.push(sleeper);
    say(`sync calls of a function that sleeps ${SLEEP_MS} ms, ${SLEEP_REQUESTS} one after another, then without the platform`);
    const slept = await syncCallMs(platform.webhookUrl, sleeper, SLEEP_REQUESTS, 5);
    const bareSlept = await bareSyncCallMs(await imageOf(sleeper), sleeper, SLEEP_REQUESTS, 5);
    figures.push({
      name: `sync call of a function sleeping ${SLEEP_MS} ms, p50`,
      value: median(slept),
      unit: 'ms',
      baseline: { name: 'the same without the platform', value: median(bareSlept) },
      target: { of: 'value', op: '<=', limit: SLEEP_MS + 3 },
      note: `answered when its outcome is stored, told by the notifier; its sleep: ${SLEEP_MS} ms; ${bareNote(bareSlept)}`,
    });

    say(`firing delay of a job's one-second ticks, ${TICKS} of them (a minute)`);
    const delays = await firingDelaysMs(platform, echo, TICKS);
    figures.push(
      { name: "job firing delay (request stored − tick's instant), one-second ticks, p50", value: percentile(delays, 50), unit: 'ms', note: `${delays.length} of ${TICKS} ticks fired` },
      { name: "job firing delay (request stored − tick's instant), one-second ticks, p99", value: percentile(delays, 99), unit: 'ms', target: { of: 'value', op: '<=', limit: 50 } },
    );

    say(`webhook accept rate, ${ACCEPT_CONNECTIONS} connections for ${ACCEPT_MS / 1000} s (bare Express, then Pratai)`);
    const bare = await startBareWebhook();
    const bareLoad = await acceptLoad(bare.origin, '/function/bench', ACCEPT_CONNECTIONS, ACCEPT_MS).finally(() => bare.stop());
    const finishedBefore = platform.finishedCount;
    const cpuBefore = platform.cpuMs();
    const accepted = await acceptLoad(platform.webhookUrl, `/function/${echo}`, ACCEPT_CONNECTIONS, ACCEPT_MS);
    const acceptCpuMs = platform.cpuMs() - cpuBefore;
    const finishedMeanwhile = platform.finishedCount - finishedBefore;
    figures.push(
      {
        name: 'webhook accept rate (202s)',
        value: accepted.perSecond,
        unit: 'req/s',
        baseline: { name: 'bare Express answering 202', value: bareLoad.perSecond },
        target: { of: 'ratio', op: '>=', limit: 0.4 },
        note:
          `the same process runs the accepted requests meanwhile (${finishedMeanwhile} finished during the ${ACCEPT_MS / 1000} s); ` +
          `it used ${(acceptCpuMs / ACCEPT_MS).toFixed(2)} cores, ${(acceptCpuMs / accepted.count).toFixed(2)} ms CPU per accepted request` +
          `${accepted.errors > 0 ? `; ${accepted.errors} calls not answered 202` : ''}`,
      },
      { name: 'webhook 202 latency p50', value: accepted.p50Ms, unit: 'ms', baseline: { name: 'bare Express p50', value: bareLoad.p50Ms } },
      { name: 'webhook 202 latency p99', value: accepted.p99Ms, unit: 'ms', baseline: { name: 'bare Express p99', value: bareLoad.p99Ms } },
    );
    say(`waiting for the ${accepted.count} accepted requests to finish`);
    if (!(await platform.drained(finishedBefore + accepted.count, 300_000))) say('not every accepted request finished within 300 s; going on');
    platform.forgetFinished();

    say(`sustained throughput, ${CALLERS} callers for ${SUSTAINED_MS / 1000} s`);
    const load = await sustained(platform, echo, CALLERS, SUSTAINED_WARMUP_MS, SUSTAINED_MS);
    const perContainer = await containerMemoryBytes(platform.runnerName);
    figures.push(
      { name: 'sustained throughput, embedded', value: load.perSecond, unit: 'finished/s', baseline: { name: 'warm floor, one at a time', value: floor.perSecond }, target: { of: 'value', op: '>=', limit: 1500 } },
      cpuPerRequest('embedded', load.cpuMsPerRequest),
      { name: 'resident memory of pratai-server, idle', value: idleRss / MB, unit: 'MB', target: { of: 'value', op: '<=', limit: 150 } },
      { name: 'resident memory of pratai-server, under load (peak)', value: load.peakRssBytes / MB, unit: 'MB' },
      { name: 'memory per warm container (median)', value: median(perContainer) / MB, unit: 'MB', note: `docker stats of the runner's ${perContainer.length} containers after the load` },
    );
    await measureWorkflows(platform, figures, say);
    await measureCoordination(platform, figures, say);
    return floor;
  } finally {
    await undeploy(platform, deployed);
  }
}

/**
 * A job of `* * * * * *` with a count of `ticks` on the function: how long after each tick's
 * instant its request was stored (the request's created_at minus its scheduled_at).
 */
async function firingDelaysMs(platform: BenchPlatform, functionId: string, ticks: number): Promise<number[]> {
  const api = async <T>(path: string, init: RequestInit = {}): Promise<T> => (await fetch(`${platform.apiUrl}${path}`, init)).json() as Promise<T>;
  type Job = { job: { job_id: string; status: string } };
  const created = await api<Job>('/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ function_id: functionId, pattern: '* * * * * *', count: ticks, payload: 'tick' }) });
  const jobId = created.job.job_id;
  await waitFor('the job to be done', async () => ((await api<Job>(`/v1/jobs/${jobId}`)).job.status === 'done' ? true : undefined), (ticks + 30) * 1000);
  const { requests } = await api<{ requests: { created_at: string; scheduled_at: string }[] }>(`/v1/requests?job_id=${jobId}&limit=1000`);
  await fetch(`${platform.apiUrl}/v1/jobs/${jobId}`, { method: 'DELETE' });
  return requests.map((request) => Date.parse(request.created_at) - Date.parse(request.scheduled_at));
}

/**
 * What each finished request cost the platform's process in CPU during a throughput figure: it
 * tells a change's effect apart from the load other work puts on the machine.
 */
function cpuPerRequest(label: string, ms: number): Figure {
  return { name: `pratai-server CPU per finished request, ${label}`, value: ms, unit: 'ms' };
}

/** A broker mode: its warm latency and throughput, against the embedded mode's floor. */
async function measureBroker(platform: BenchPlatform, label: string, { floor, figures }: Context): Promise<void> {
  if (floor === undefined) throw new Error('the embedded mode measures the floor first');
  const echo = await deploy(platform, 'echo', ECHO);
  try {
    const warm = await endToEndMs(platform, echo, WARM_REQUESTS / 2, 100);
    const load = await sustained(platform, echo, CALLERS, SUSTAINED_WARMUP_MS, SUSTAINED_MS);
    figures.push(
      { name: `sustained throughput, ${label}`, value: load.perSecond, unit: 'finished/s', baseline: { name: 'warm floor, one at a time', value: floor.perSecond }, target: { of: 'value', op: '>=', limit: 1000 } },
      cpuPerRequest(label, load.cpuMsPerRequest),
      { name: `warm end-to-end p50, ${label}`, value: percentile(warm, 50), unit: 'ms', baseline: { name: 'warm floor p50', value: floor.p50Ms } },
    );
  } finally {
    await undeploy(platform, [echo]);
  }
}

async function main(): Promise<void> {
  const { json, profile } = parseArgs(process.argv.slice(2));
  const { settings } = loadSettings({ files: ['/dev/null'], env: process.env });
  const { runner } = settings;
  const run: Run = {
    timestamp: new Date().toISOString(),
    machine: machine(),
    versions: await versions(RUNTIME_IMAGE),
    settings: { concurrency: runner.concurrency, pool_size: runner.pool_size, container_concurrency: runner.container_concurrency, prewarm: runner.prewarm, network: runner.network },
    figures: [],
  };
  const context: Context = { prewarm: runner.prewarm, figures: run.figures };
  for (const mode of MODES) {
    const prepared = await mode.prepare();
    if ('unavailable' in prepared) {
      run.figures.push({ name: `sustained throughput, ${mode.label}`, value: Number.NaN, unit: 'finished/s', target: { of: 'value', op: '>=', limit: 1000 }, note: `not measured: ${prepared.unavailable}` });
      continue;
    }
    say(`starting pratai-server (${mode.label})`);
    const platform = await BenchPlatform.start(mode.label.toLowerCase(), prepared.env, profile);
    try {
      await mode.measure(platform, context);
    } finally {
      await platform.stop();
      await prepared.cleanup();
    }
  }
  run.machine['load average (start, end)'] = `${run.machine['load average (start, end)']}, ${loadavg()[0]?.toFixed(2)}`;
  process.stdout.write(`${table(run)}\n`);
  if (json !== undefined) {
    writeJson(run, json);
    say(`wrote ${json}`);
  }
}

await main().catch((error: unknown) => {
  process.stderr.write(`bench: ${(error as Error).message}\n`);
  process.exitCode = 1;
});
