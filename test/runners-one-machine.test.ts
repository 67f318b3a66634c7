/**
 * Several runners on one machine, deployed as an operator does: pratai-api and pratai-runner
 * processes with default settings (no runner name given) on one Docker engine, sharing
 * PostgreSQL, RabbitMQ and one state_path. Each runner is an identity of its own: what one
 * restarts or reaps never touches another that is alive, and a failure is reported as what it was
 * (a container killed from outside is the platform's, retried; memory is the function's).
 * Each test prints its counts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { RequestRecord } from '../common/domain.js';
import type { Platform } from '../server/platform.js';
import { createTestDatabase, type TestDatabase } from './helpers/databases.js';
import { call, deployFunction, invoke, waitFor, waitForRequest } from './helpers/platform.js';
import { freePort, startPratai, type PrataiProcess } from './helpers/processes.js';

const VHOST = `pratai-test-${randomBytes(4).toString('hex')}`;
const rabbitmqctl = (...args: string[]): string => execFileSync('rabbitmqctl', ['-q', ...args], { encoding: 'utf8' });
const docker = (...args: string[]): string => execFileSync('docker', args, { encoding: 'utf8' }).trim();

let database: TestDatabase;
let statePath: string;
let env: NodeJS.ProcessEnv;
let urls: Pick<Platform, 'apiUrl' | 'webhookUrl'>;
const processes: PrataiProcess[] = [];
/** Every runner id seen in this file, so that what they leave can be removed after it. */
const runnerIds = new Set<string>();

function start(executable: 'pratai-api' | 'pratai-runner', extra: NodeJS.ProcessEnv = {}): PrataiProcess {
  const proc = startPratai(executable, { env: { ...env, ...extra } });
  processes.push(proc);
  return proc;
}

/** Starts a runner and resolves with its id once it takes jobs. */
async function startRunner(extra: NodeJS.ProcessEnv = {}): Promise<{ proc: PrataiProcess; id: string }> {
  const proc = start('pratai-runner', extra);
  await proc.started(/runner \S+ started/);
  const id = /runner (\S+) started/.exec(proc.output())?.[1] as string;
  runnerIds.add(id);
  return { proc, id };
}

/** One query on the test's database, as an operator's psql would. */
async function query(text: string, values: unknown[]): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

const containersOf = (runnerId: string): string[] => docker('ps', '-aq', '--filter', `label=pratai.runner=${runnerId}`).split('\n').filter(Boolean);

/** A container that looks like one a runner left: its labels, nothing running in it that matters. */
const decoy = (labels: Record<string, string>): string =>
  docker('run', '-d', '--network', 'none', ...Object.entries({ 'pratai.managed': 'true', ...labels }).flatMap(([k, v]) => ['--label', `${k}=${v}`]), '--entrypoint', 'sleep', 'pratai/runtime-python3:latest', '600');
const exists = (container: string): boolean => docker('ps', '-aq', '--no-trunc', '--filter', `id=${container}`) !== '';

before(async () => {
  database = await createTestDatabase('postgres');
  statePath = mkdtempSync(join(tmpdir(), 'pratai-one-machine-'));
  rabbitmqctl('add_vhost', VHOST);
  rabbitmqctl('set_permissions', '-p', VHOST, 'guest', '.*', '.*', '.*');
  const [apiPort, webhookPort] = [await freePort(), await freePort()];
  // One machine's settings, every runner option at its default.
  env = {
    PRATAI_DEFAULT_STATE_PATH: statePath,
    PRATAI_DEFAULT_TRANSPORT_URL: `rabbit://guest:guest@127.0.0.1:5672/${VHOST}`,
    PRATAI_DATABASE_CONNECTION: database.url,
    PRATAI_API_HOST: '127.0.0.1',
    PRATAI_API_PORT: String(apiPort),
    PRATAI_API_WEBHOOK_PORT: String(webhookPort),
    // Separate processes need the keys secrets are sealed under, the same for all.
    PRATAI_SECRETS_KEYS: randomBytes(32).toString('base64'),
  };
  urls = { apiUrl: `http://127.0.0.1:${apiPort}`, webhookUrl: `http://127.0.0.1:${webhookPort}` };
  await start('pratai-api').started(/webhooks on/);
});

after(async () => {
  for (const proc of processes) await proc.stop('SIGKILL');
  for (const id of runnerIds) for (const container of containersOf(id)) docker('rm', '-f', container);
  rabbitmqctl('delete_vhost', VHOST);
  await database.drop();
  rmSync(statePath, { recursive: true, force: true });
});

const platform = (): Platform => urls as Platform;

/** Posts `count` requests, 8 at a time, payload i for the i-th; returns their ids in order. */
async function flood(functionId: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next;
      next += 1;
      ids[i] = await invoke(platform(), functionId, { i });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return ids;
}

async function finished(ids: readonly string[]): Promise<RequestRecord[]> {
  return Promise.all(ids.map((id) => waitForRequest(platform(), id, 170_000)));
}

function report(what: string, counts: Record<string, number>): void {
  console.log(`${what}: ${Object.entries(counts).map(([key, value]) => `${key}=${value}`).join(' ')}`);
}

describe('runners started with defaults on one machine', () => {
  let a: { proc: PrataiProcess; id: string };
  let b: { proc: PrataiProcess; id: string };
  let echo: { function_id: string };

  /** Containers on this engine that no runner of this file may remove, and one it must. */
  const decoys: Record<string, string> = {};

  before(async () => {
    // Another deployment's (another database) container, and one from before containers named
    // their deployment whose runner this database never heard of: neither is this file's to judge.
    const suffix = `${process.pid}-${randomBytes(3).toString('hex')}`;
    decoys.otherDeployment = decoy({ 'pratai.runner': `elsewhere-${suffix}`, 'pratai.deployment': 'another-database' });
    decoys.unknownOlder = decoy({ 'pratai.runner': `older-${suffix}` });
    runnerIds.add(`elsewhere-${suffix}`).add(`older-${suffix}`);
    a = await startRunner();
    b = await startRunner();
    // This deployment's container of a runner the database does not know (its heartbeat gone):
    // left behind, for the living to remove.
    const prewarmed = await waitFor('a prewarmed container of the first runner', async () => containersOf(a.id)[0]);
    const deployment = docker('inspect', '--format', '{{index .Config.Labels "pratai.deployment"}}', prewarmed);
    decoys.ghost = decoy({ 'pratai.runner': `ghost-${suffix}`, 'pratai.deployment': deployment });
    runnerIds.add(`ghost-${suffix}`);
    // The function sleeps a little, so that requests are under way when runners die.
    const module = 'import socket, time\n\ndef main(payload=None):\n    time.sleep(0.1)\n    return {"payload": payload, "host": socket.gethostname()}\n';
    echo = await deployFunction(platform(), { 'new_module.py': module }, { name: 'echo' });
  });

  test('two runners started with defaults on one machine get ids of their own, and both run requests', async () => {
    assert.notEqual(a.id, b.id);
    const records = await finished(await flood(echo.function_id, 40));
    // Each request ran in a container; the container's label names the runner that ran it.
    const ranOn = new Map<string, number>();
    for (const record of records) {
      const host = (record.response as { host: string }).host;
      const runner = docker('inspect', '--format', '{{index .Config.Labels "pratai.runner"}}', host);
      ranOn.set(runner, (ranOn.get(runner) ?? 0) + 1);
    }
    report('two default runners, 40 requests', { succeeded: records.filter((r) => r.status === 'succeeded').length, [a.id]: ranOn.get(a.id) ?? 0, [b.id]: ranOn.get(b.id) ?? 0 });
    assert.ok(records.every((r) => r.status === 'succeeded'));
    assert.deepEqual([...ranOn.keys()].sort(), [a.id, b.id].sort(), 'both runners ran requests, and no other');
    assert.deepEqual(readdirSync(join(statePath, 'channels')).sort(), [a.id, b.id].sort(), "each runner's channels live in a folder of its own");
  });

  test('300 requests while one runner is SIGKILLed and restarted, every broker connection closed, then the other killed and restarted: all 300 succeed with their own payloads', async () => {
    const killed: string[] = [];
    const flooding = flood(echo.function_id, 300);
    const succeeded = async (): Promise<number> => Number((await query('select count(*) as n from requests where status = $1', ['succeeded']))[0]?.n ?? 0);
    const base = await succeeded();
    const progress = async (n: number): Promise<void> => {
      await waitFor(`${n} more requests to succeed`, async () => ((await succeeded()) >= base + n ? true : undefined), 120_000);
    };

    await progress(40);
    await b.proc.stop('SIGKILL');
    killed.push(b.id);
    b = await startRunner();
    await progress(120);
    rabbitmqctl('close_all_connections', '-p', VHOST, 'pratai test: every broker connection closed');
    await progress(160);
    await a.proc.stop('SIGKILL');
    killed.push(a.id);
    a = await startRunner();

    const ids = await flooding;
    const records = await finished(ids);
    const counts = {
      accepted: ids.length,
      succeeded: records.filter((r) => r.status === 'succeeded').length,
      ownPayload: records.filter((r, i) => (r.response as { payload?: { i?: number } } | null)?.payload?.i === i).length,
      failed: records.filter((r) => r.status === 'failed').length,
      deadLettered: records.filter((r) => r.dead_letter).length,
      ranAgain: records.filter((r) => r.attempts > 1).length,
    };
    report('two default runners, each SIGKILLed and restarted once, broker connections closed', counts);
    assert.deepEqual({ ...counts, ranAgain: 0 }, { accepted: 300, succeeded: 300, ownPayload: 300, failed: 0, deadLettered: 0, ranAgain: 0 }, JSON.stringify(records.filter((r) => r.status !== 'succeeded').map((r) => r.error)));

    const logs = [a, b].map((runner) => runner.proc.output()).join('\n');
    assert.doesNotMatch(logs, /does not see \[runner\] channel_dir|was removed from under this runner/, 'no channel was taken from a live runner');
    // The killed runners' containers, left running, are removed by the living once their heartbeats are stale.
    await waitFor('the containers of the killed runners to be removed', async () => (killed.every((id) => containersOf(id).length === 0) ? true : undefined), 60_000);
    assert.ok(containersOf(a.id).length > 0 && containersOf(b.id).length > 0, 'the living runners keep their containers');
    await waitFor('the container of a runner unknown to the database to be removed', async () => (exists(decoys.ghost as string) ? undefined : true), 60_000);
    assert.ok(exists(decoys.otherDeployment as string), "another deployment's container is left alone");
    assert.ok(exists(decoys.unknownOlder as string), 'a container without a deployment, of a runner this database does not know, is left alone');
    const channels = (): string => readdirSync(join(statePath, 'channels')).sort().join(' ');
    await waitFor("the killed runners' channels' folders to be removed", async () => (channels() === [a.id, b.id].sort().join(' ') ? true : undefined), 10_000);
  });

  test('a container killed from outside mid-request is not reported as memory, and the request is retried: it succeeds at attempt 2', async () => {
    // The function waits until a time the payload names: the killed first attempt never gets
    // there; the second, started after it, does. Its memory (200 MiB) tells its container apart.
    const module = 'import time\n\ndef main(payload=None):\n    while time.time() < payload["until"]:\n        time.sleep(0.05)\n    return "done"\n';
    const fn = await deployFunction(platform(), { 'new_module.py': module }, { name: 'killed-from-outside', memory: '200', timeout: '120' });
    const id = await invoke(platform(), fn.function_id, { until: Date.now() / 1000 + 20 });
    const container = await waitFor('the request to run in its container', async () => {
      const request = (await call(`${platform().apiUrl}/v1/requests/${id}`)).body.request as RequestRecord;
      if (request.status !== 'running') return undefined;
      const running = [...runnerIds].flatMap((runner) => docker('ps', '-q', '--filter', `label=pratai.runner=${runner}`).split('\n').filter(Boolean));
      return running.find((c) => docker('inspect', '--format', '{{.HostConfig.Memory}}', c) === String(200 * 1024 * 1024));
    });
    docker('kill', container);
    const request = await waitForRequest(platform(), id, 60_000);
    report('a container killed with docker kill', { attempts: request.attempts, succeeded: request.status === 'succeeded' ? 1 : 0 });
    assert.equal(request.status, 'succeeded', JSON.stringify(request.error));
    assert.equal(request.response, 'done');
    assert.equal(request.attempts, 2);
    const logs = [a, b].map((runner) => runner.proc.output()).join('\n');
    assert.match(logs, new RegExp(`request ${id} hit a platform failure: .*killed \\(SIGKILL, exit 137\\) from outside the runner, not for its memory`));
  });

  test('a function that allocates past its memory still ends MemoryLimitExceeded, after one attempt', async () => {
    const module = 'def main(payload=None):\n    hog = []\n    while True:\n        hog.append(bytearray(16 * 1024 * 1024))\n';
    const fn = await deployFunction(platform(), { 'new_module.py': module }, { name: 'memory-hog', memory: '64' });
    const request = await waitForRequest(platform(), await invoke(platform(), fn.function_id, null));
    assert.equal(request.status, 'failed');
    assert.equal(request.error?.type, 'MemoryLimitExceeded');
    assert.equal(request.attempts, 1);
    assert.equal(request.dead_letter, false);
  });
});

describe('a runner given a name', () => {
  const name = `one-machine-${process.pid}`;

  test('a second runner started with the name of a live one is refused, naming it; once that one is SIGKILLed, a runner restarted with the name takes it over', async () => {
    const first = await startRunner({ PRATAI_RUNNER_NAME: name });
    const firstContainers = await waitFor('its prewarmed containers', async () => (containersOf(name).length > 0 ? containersOf(name) : undefined));

    const second = start('pratai-runner', { PRATAI_RUNNER_NAME: name });
    const code = await new Promise<number | null>((resolve) => second.child.once('exit', resolve));
    console.log(`second runner named ${name}: exit code ${code}; ${second.output().split('\n').find((line) => line.includes('could not start')) ?? ''}`);
    assert.equal(code, 2, second.output());
    assert.match(second.output(), new RegExp(`Another runner named ${name} is alive: host \\S+, pid ${first.proc.child.pid}, started \\S+, last heartbeat \\S+`));
    assert.deepEqual(containersOf(name).sort(), firstContainers.sort(), "the refused runner left the live one's containers alone");

    await first.proc.stop('SIGKILL');
    const restarted = await startRunner({ PRATAI_RUNNER_NAME: name });
    const log = restarted.proc.output();
    assert.match(log, /waiting to see whether it is alive/, 'it shows that it waits');
    assert.match(log, new RegExp(`took the name over from host \\S+, pid ${first.proc.child.pid}`));
    // Removed by the restarted runner at its start, or by a runner of the other describe, alive
    // beside it, that saw the killed one's heartbeat stale first.
    await waitFor('what the killed runner left to be removed', async () => (firstContainers.some((container) => exists(container)) ? undefined : true), 30_000);
    assert.equal(await restarted.proc.stop('SIGTERM'), 0, restarted.proc.output().slice(-2000));
    const beats = await query('select name from runners where name = $1', [name]);
    assert.deepEqual(beats, [], 'a clean stop removes its heartbeat');
  });
});
