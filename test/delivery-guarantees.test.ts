/**
 * The delivery guarantees of ARCHITECTURE.md, proved with separate processes over the real
 * RabbitMQ: pratai-api and two pratai-runner processes sharing one database and one broker.
 * Each test prints its counts (accepted, succeeded, lost, ran after completion).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { defaultSettings } from '../common/config.js';
import { isFinal, type RequestRecord } from '../common/domain.js';
import { newId } from '../common/ids.js';
import { openStore } from '../common/store/factory.js';
import type { Platform } from '../server/platform.js';
import { bridgeGateway, call, deployFunction, leftoverContainers, waitFor } from './helpers/platform.js';
import { freePort } from './helpers/processes.js';

const BIN = join(import.meta.dirname, '..', 'dist', 'bin');
const VHOST = `pratai-test-${randomBytes(4).toString('hex')}`;

function rabbitmqctl(...args: string[]): string {
  return execFileSync('rabbitmqctl', ['-q', ...args], { encoding: 'utf8' });
}

interface Proc {
  child: ChildProcess;
  output: () => string;
}

let statePath: string;
let env: NodeJS.ProcessEnv;
let urls: Pick<Platform, 'apiUrl' | 'webhookUrl'>;
const processes = new Set<ChildProcess>();

function startProcess(binary: 'pratai-api' | 'pratai-runner', extra: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, [join(BIN, `${binary}.js`)], { env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
  processes.add(child);
  child.on('exit', () => processes.delete(child));
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output };
}

async function started(proc: Proc, line: RegExp): Promise<void> {
  await waitFor(`${line} in the output`, async () => {
    if (proc.child.exitCode !== null) throw new Error(`exited ${proc.child.exitCode}:\n${proc.output()}`);
    return line.test(proc.output()) ? true : undefined;
  }, 60_000);
}

async function kill(proc: Proc, signal: NodeJS.Signals): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill(signal);
  await once(proc.child, 'exit');
}

// No prewarmed containers: a runner then has containers only once it has taken requests.
const runnerEnv = (name: string): NodeJS.ProcessEnv => ({ PRATAI_RUNNER_NAME: name, PRATAI_RUNNER_CONCURRENCY: '4', PRATAI_RUNNER_PREWARM: '0' });

before(async () => {
  statePath = mkdtempSync(join(tmpdir(), 'pratai-guarantees-'));
  rabbitmqctl('add_vhost', VHOST);
  rabbitmqctl('set_permissions', '-p', VHOST, 'guest', '.*', '.*', '.*');
  const [apiPort, webhookPort] = [await freePort(), await freePort()];
  env = {
    ...process.env,
    PRATAI_DEFAULT_STATE_PATH: statePath,
    PRATAI_DEFAULT_TRANSPORT_URL: `rabbit://guest:guest@127.0.0.1:5672/${VHOST}`,
    PRATAI_API_HOST: '127.0.0.1',
    PRATAI_API_PORT: String(apiPort),
    PRATAI_API_WEBHOOK_PORT: String(webhookPort),
    PRATAI_RUNNER_HEARTBEAT_INTERVAL: '1',
    // Separate processes need the keys secrets are sealed under, the same for all.
    PRATAI_SECRETS_KEYS: randomBytes(32).toString('base64'),
    PRATAI_RUNNER_REQUEUE_AFTER: '60',
    PRATAI_RUNNER_SWEEP_INTERVAL: '1',
  };
  urls = { apiUrl: `http://127.0.0.1:${apiPort}`, webhookUrl: `http://127.0.0.1:${webhookPort}` };
});

after(async () => {
  for (const child of processes) {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
  rabbitmqctl('delete_vhost', VHOST);
  rmSync(statePath, { recursive: true, force: true });
});

/** Posts `count` requests as fast as the API takes them; returns the accepted ids and the other statuses seen. */
async function flood(functionId: string, count: number, payload: unknown): Promise<{ accepted: string[]; refused: Map<number, number> }> {
  const accepted: string[] = [];
  const refused = new Map<number, number>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next += 1;
      const response = await call(`${urls.webhookUrl}/function/${functionId}`, { method: 'POST', body: JSON.stringify({ payload }) });
      if (response.status === 202) accepted.push(response.body.request_id as string);
      else refused.set(response.status, (refused.get(response.status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return { accepted, refused };
}

/** Every accepted request's final record, or throws naming how many never finished. */
async function outcomes(ids: readonly string[], timeoutMs = 300_000): Promise<RequestRecord[]> {
  const settings = defaultSettings({ DEFAULT: { state_path: statePath } });
  const store = await openStore(settings);
  try {
    return await waitFor(`${ids.length} requests to finish`, async () => {
      const records = await Promise.all(ids.map((id) => store.getRequest(id, 'all-tenants')));
      return records.every((record) => record !== undefined && isFinal(record.status)) ? (records as RequestRecord[]) : undefined;
    }, timeoutMs);
  } finally {
    await store.close();
  }
}

function report(what: string, counts: Record<string, number>): void {
  console.log(`${what}: ${Object.entries(counts).map(([key, value]) => `${key}=${value}`).join(' ')}`);
}

/** The runners' log lines that say a request ran again after its outcome was stored. */
const ranAfterCompletion = (...procs: Proc[]): string[] => procs.flatMap((proc) => proc.output().split('\n').filter((line) => line.includes('already had an outcome')));

describe('separate API and runner processes over RabbitMQ', () => {
  let api: Proc;
  let functionId: string;

  before(async () => {
    api = startProcess('pratai-api');
    await started(api, /webhooks on/);
  });

  test('500 requests through two runners, one of them SIGKILLed three times: all finish, none lost, none run again after finishing', async () => {
    const runnersSeen: Proc[] = [];
    const steady = startProcess('pratai-runner', runnerEnv('guarantee-steady'));
    let victim = startProcess('pratai-runner', runnerEnv('guarantee-victim'));
    runnersSeen.push(steady, victim);
    await started(steady, /runner guarantee-steady started/);
    await started(victim, /runner guarantee-victim started/);
    const fn = await deployFunction(urls as Platform, { 'new_module.py': 'import time\n\ndef main(payload=None):\n    time.sleep(0.05)\n    return payload\n' }, { name: 'guaranteed' });
    functionId = fn.function_id as string;

    const flooding = flood(functionId, 500, 'x');
    for (let kills = 0; kills < 3; kills += 1) {
      // Kill it while it holds jobs: when containers of its own are running.
      await waitFor('the victim to be running requests', async () => (leftoverContainers('guarantee-victim').length > 0 ? true : undefined), 60_000);
      await kill(victim, 'SIGKILL');
      victim = startProcess('pratai-runner', runnerEnv('guarantee-victim'));
      runnersSeen.push(victim);
      await started(victim, /runner guarantee-victim started/);
    }
    const { accepted, refused } = await flooding;
    const records = await outcomes(accepted);
    const counts = {
      accepted: accepted.length,
      succeeded: records.filter((r) => r.status === 'succeeded').length,
      lost: accepted.length - records.length,
      redelivered: records.filter((r) => r.attempts > 1).length,
      ranAfterCompletion: ranAfterCompletion(...runnersSeen).length,
    };
    report('runner SIGKILL x3', counts);
    assert.equal(refused.size, 0, `every call was accepted: ${JSON.stringify([...refused])}`);
    assert.equal(counts.accepted, 500);
    assert.equal(counts.succeeded, 500);
    assert.deepEqual(ranAfterCompletion(...runnersSeen), []);
    await kill(steady, 'SIGTERM');
    await kill(victim, 'SIGTERM');
    assert.deepEqual(leftoverContainers('guarantee-steady'), []);
  });

  test('the broker going away under load: the API answers 503 while it is gone and 202 again after, and nothing accepted is lost', async () => {
    const runner = startProcess('pratai-runner', runnerEnv('guarantee-outage'));
    await started(runner, /runner guarantee-outage started/);
    const flooding = flood(functionId, 300, 'y');
    // Soon: with warm containers the runners leave the API the CPU to take 300 calls in about a second.
    await new Promise((resolve) => setTimeout(resolve, 100));
    // The outage: the broker refuses this vhost and drops its connections, until allowed again.
    rabbitmqctl('clear_permissions', '-p', VHOST, 'guest');
    rabbitmqctl('close_all_connections', '-p', VHOST, 'pratai test: broker outage');
    await new Promise((resolve) => setTimeout(resolve, 3000));
    rabbitmqctl('set_permissions', '-p', VHOST, 'guest', '.*', '.*', '.*');
    const { accepted, refused } = await flooding;
    await waitFor('the API to reconnect', async () => ((await call(`${urls.apiUrl}/healthcheck`)).status === 200 ? true : undefined), 60_000);
    const after = await flood(functionId, 20, 'z');
    const records = await outcomes([...accepted, ...after.accepted]);
    const counts = {
      accepted: accepted.length + after.accepted.length,
      refused503: refused.get(503) ?? 0,
      succeeded: records.filter((r) => r.status === 'succeeded').length,
      lost: accepted.length + after.accepted.length - records.length,
      ranAfterCompletion: ranAfterCompletion(runner).length,
    };
    report('broker outage', counts);
    assert.ok(counts.refused503 > 0, 'calls during the outage were answered 503');
    assert.deepEqual([...refused.keys()].filter((status) => status !== 503), [], 'nothing but 503 during the outage');
    assert.equal(after.accepted.length, 20, 'after the outage every call is accepted');
    assert.equal(counts.succeeded, counts.accepted);
    assert.deepEqual(ranAfterCompletion(runner), []);
    const health = await call(`${urls.apiUrl}/healthcheck`);
    assert.equal(health.status, 200);
    await kill(runner, 'SIGTERM');
  });

  test('a runner that loses its broker connection mid-run stops that run; the job comes back and the request runs again, the stopped run never reaching its end', async () => {
    // The function tells a server of the test when it starts and ends; the server tells the
    // first run to take 30 s, the later ones to end at once.
    const runs: { ended: boolean; closed: boolean }[] = [];
    const server = createServer((socket) => {
      const run = { ended: false, closed: false };
      runs.push(run);
      socket.on('data', (data) => (run.ended ||= data.toString().includes('end')));
      socket.on('close', () => (run.closed = true));
      socket.on('error', () => undefined);
      socket.write(runs.length === 1 ? '30\n' : '0\n');
    });
    const gateway = bridgeGateway();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, gateway, resolve));
    const { port } = server.address() as AddressInfo;
    const runner = startProcess('pratai-runner', { ...runnerEnv('guarantee-lost'), PRATAI_RUNNER_NETWORK: 'bridge' });
    const store = await openStore(defaultSettings({ DEFAULT: { state_path: statePath } }));
    try {
      await started(runner, /runner guarantee-lost started/);
      const module = [
        'import socket, time',
        '',
        'def main(payload=None):',
        `    with socket.create_connection((${JSON.stringify(gateway)}, ${port}), timeout=10) as s:`,
        "        time.sleep(float(s.makefile().readline()))",
        "        s.sendall(b'end')",
        "    return 'done'",
        '',
      ].join('\n');
      const fn = await deployFunction(urls as Platform, { 'new_module.py': module }, { name: 'connection-lost' });
      // The API process here has no [runner] network to allow it: the runner's is what counts.
      assert.ok(await store.updateFunction(fn.function_id as string, { network: true, updated_at: new Date().toISOString() }));
      const accepted = await call(`${urls.webhookUrl}/function/${fn.function_id as string}`, { method: 'POST', body: JSON.stringify({ payload: null }) });
      assert.equal(accepted.status, 202);
      await waitFor('the first run to start', async () => (runs.length === 1 ? true : undefined), 60_000);

      rabbitmqctl('close_all_connections', '-p', VHOST, 'pratai test: connection lost');
      await waitFor('the first run to be stopped', async () => (runs[0]?.closed ? true : undefined), 60_000);
      const [record] = await outcomes([accepted.body.request_id as string]);
      report('connection lost mid-run', { runs: runs.length, firstRunEnded: Number(runs[0]?.ended), attempts: record?.attempts ?? 0 });
      assert.equal(runs[0]?.ended, false, 'the first run was stopped before its end');
      assert.equal(record?.status, 'succeeded', JSON.stringify(record?.error));
      assert.equal(record?.response, 'done');
      assert.equal(record?.attempts, 2);
      assert.deepEqual(runs.map((run) => run.ended), [false, true], 'run once more, to its end');
      assert.match(runner.output(), /connection to the broker was lost while it ran; stopped/);
    } finally {
      await store.close();
      await kill(runner, 'SIGTERM');
      await new Promise((resolve) => server.close(resolve));
    }
    assert.deepEqual(leftoverContainers('guarantee-lost'), []);
  });

  test('a request stored but never published (the API died in between) is run by the sweeper', async () => {
    const runner = startProcess('pratai-runner', runnerEnv('guarantee-sweeper'));
    await started(runner, /runner guarantee-sweeper started/);
    const store = await openStore(defaultSettings({ DEFAULT: { state_path: statePath } }));
    const orphan: RequestRecord = {
      request_id: newId(),
      function_id: functionId,
      tenant_id: 'noauth',
      user_id: 'noauth',
      status: 'queued',
      source: 'webhook',
      timer_id: null,
      scheduled_at: null,
      payload: 'orphan',
      response: null,
      error: null,
      logs: [],
      attempts: 0,
      dead_letter: false,
      version: 'latest',
      alias: null,
      // Stored an hour ago, its job never published.
      created_at: new Date(Date.now() - 3_600_000).toISOString(),
      started_at: null,
      finished_at: null,
      duration_ms: null,
    };
    try {
      await store.createRequest(orphan);
    } finally {
      await store.close();
    }
    const [record] = await outcomes([orphan.request_id], 60_000);
    report('sweeper', { orphaned: 1, succeeded: record?.status === 'succeeded' ? 1 : 0 });
    assert.equal(record?.status, 'succeeded');
    assert.equal(record?.response, 'orphan');
    assert.match(runner.output(), /published the jobs of \d+ request\(s\) queued since before/);
    await kill(runner, 'SIGTERM');
  });

  test("a function's max_concurrency holds across two runners: 20 slow requests, never more than 2 running at once as the API shows, all finish", async () => {
    const runners = [startProcess('pratai-runner', runnerEnv('concurrency-a')), startProcess('pratai-runner', runnerEnv('concurrency-b'))];
    await started(runners[0]!, /runner concurrency-a started/);
    await started(runners[1]!, /runner concurrency-b started/);
    const fn = await deployFunction(urls as Platform, { 'new_module.py': 'import time\n\ndef main(payload=None):\n    time.sleep(0.2)\n    return payload\n' }, { name: 'limited', max_concurrency: '2' });
    const { accepted } = await flood(fn.function_id as string, 20, 'c');
    const running = `${urls.apiUrl}/v1/requests?function_id=${fn.function_id as string}&status=running&limit=1000`;
    const queued = `${urls.apiUrl}/v1/requests?function_id=${fn.function_id as string}&status=queued&limit=1`;
    let mostRunning = 0;
    let samples = 0;
    // Each listing is one read of the store, where a start and its slot commit together.
    await waitFor('the 20 requests to leave queued and running', async () => {
      const [now, waiting] = await Promise.all([call(running), call(queued)]);
      mostRunning = Math.max(mostRunning, now.body.requests.length as number);
      samples += 1;
      return now.body.requests.length === 0 && waiting.body.requests.length === 0 ? true : undefined;
    }, 120_000);
    const records = await outcomes(accepted);
    const counts = { accepted: accepted.length, succeeded: records.filter((r) => r.status === 'succeeded').length, mostRunning, samples };
    report('max_concurrency 2, two runners', counts);
    assert.equal(counts.accepted, 20);
    assert.equal(counts.succeeded, 20);
    assert.ok(mostRunning <= 2, `at most 2 running at once, saw ${mostRunning}`);
    assert.ok(mostRunning >= 1, 'the sampling saw requests running');
    for (const runner of runners) await kill(runner, 'SIGTERM');
  });

  test('SIGTERM: the API stops accepting and exits 0', async () => {
    await kill(api, 'SIGTERM');
    assert.equal(api.child.exitCode, 0);
  });
});
