/**
 * Warm containers and prewarmed containers, real Docker: a function's requests reuse its
 * containers, functions never share one, a first request loads its code into a prewarmed
 * container, and the pool pauses, removes, evicts and takes turns as configured.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the tests read HTTP JSON bodies, whose shape is what they assert */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PrataiError } from '../common/errors.js';
import { silentLogger } from '../common/log.js';
import { ContainerPool, type PoolOptions, type RunSpec } from '../runner/container-pool.js';
import Docker from 'dockerode';
import { ChannelListener } from '../runner/channel.js';
import { DockerContainer } from '../runner/docker-container.js';
import { DockerContainerRuntime } from '../runner/docker-container-runtime.js';
import {
  assertNoLeftoverContainers,
  call,
  deployFunction,
  invoke,
  leftoverContainers,
  removeFunctionImages,
  startTestPlatform,
  waitFor,
  waitForRequest,
  type TestPlatform,
} from './helpers/platform.js';
import { writeWheel } from './helpers/wheel.js';

const RUNTIME_IMAGE = 'pratai/runtime-python3:latest';
/** Says which container served it (its host name is the container id's head) and counts its calls there. */
const WHOAMI = [
  'import os, socket, time',
  'calls = 0',
  "print('loading')",
  'def main(payload=None):',
  '    global calls',
  '    calls += 1',
  '    if payload == "raise":',
  "        raise ValueError('asked to')",
  '    if isinstance(payload, (int, float)):',
  '        time.sleep(payload)',
  '    if payload == "crash":',
  '        time.sleep(0.5)',
  '        os._exit(1)',
  '    return {"host": socket.gethostname(), "calls": calls}',
  '',
].join('\n');

/** The container whose id starts with `host`, as Docker shows it; undefined when it is gone. */
function inspect(host: string): { image: string; paused: boolean } | undefined {
  try {
    const [image, paused] = execFileSync('docker', ['inspect', '-f', '{{.Config.Image}} {{.State.Paused}}', host], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split(' ');
    return { image: image ?? '', paused: paused === 'true' };
  } catch {
    return undefined;
  }
}

const hostsOf = (runnerName: string): string[] => leftoverContainers(runnerName).map((id) => id.slice(0, 12));

describe('warm containers in a platform', () => {
  let platform: TestPlatform;
  let wheels: string;
  const deployed: string[] = [];
  const run = async (functionId: string, payload: unknown): Promise<any> => waitForRequest(platform, await invoke(platform, functionId, payload));
  const deploy = async (files: Record<string, string>, fields: Record<string, string>): Promise<any> => {
    const fn = await deployFunction(platform, files, fields);
    deployed.push(fn.function_id as string);
    return fn;
  };

  before(async () => {
    wheels = mkdtempSync(join(tmpdir(), 'pratai-wheels-'));
    writeWheel(wheels);
    platform = await startTestPlatform({ runner: { pool_size: '16', prewarm: '2' }, build: { pip_find_links: wheels, pip_no_index: 'true' } });
  });
  after(async () => {
    await platform.close();
    rmSync(wheels, { recursive: true, force: true });
    assertNoLeftoverContainers(platform.runnerName);
    assert.equal(existsSync(join(platform.settings.DEFAULT.state_path, 'channels', platform.runnerName)), false, "the runner's channels' folder goes with it");
    removeFunctionImages(deployed);
  });

  test("a function's requests are served one after another by one warm container, whose globals carry over", async () => {
    const fn = await deploy({ 'new_module.py': WHOAMI }, { name: 'reused' });
    const responses = [];
    for (let i = 0; i < 3; i += 1) responses.push((await run(fn.function_id, null)).response);
    assert.equal(new Set(responses.map((r) => r.host)).size, 1, JSON.stringify(responses));
    assert.deepEqual(responses.map((r) => r.calls), [1, 2, 3]);
  });

  test('each container speaks over a channel socket of its own, in a read-only mount whose folder the runner removed once the runtime connected', async () => {
    const fn = await deploy({ 'new_module.py': WHOAMI }, { name: 'channelled' });
    const { host } = (await run(fn.function_id, null)).response;
    const [config] = JSON.parse(execFileSync('docker', ['inspect', host], { encoding: 'utf8' })) as { Config: { Env: string[] }; Mounts: { Source: string; Destination: string; RW: boolean }[] }[];
    assert.ok(config?.Config.Env.includes('PRATAI_SOCKET=/run/pratai/channel.sock'));
    const mount = config?.Mounts.find((m) => m.Destination === '/run/pratai');
    assert.ok(mount, 'the channel folder is mounted');
    assert.equal(mount.RW, false, 'read-only');
    assert.ok(mount.Source.startsWith(join(platform.settings.DEFAULT.state_path, 'channels', platform.runnerName)), mount.Source);
    assert.equal(existsSync(mount.Source), false, 'removed once the runtime connected: nobody else can connect');
    assert.equal((await run(fn.function_id, null)).response.host, host, 'and the container serves on over it');
  });

  test('two functions never share a container, even with the same code', async () => {
    const one = await deploy({ 'new_module.py': WHOAMI }, { name: 'twin-one' });
    const two = await deploy({ 'new_module.py': WHOAMI }, { name: 'twin-two' });
    const a = (await run(one.function_id, null)).response;
    const b = (await run(two.function_id, null)).response;
    const a2 = (await run(one.function_id, null)).response;
    assert.notEqual(a.host, b.host);
    assert.equal(a2.host, a.host);
    assert.deepEqual([a.calls, b.calls, a2.calls], [1, 1, 2], 'each keeps its own state');
  });

  test('the first request of a function without requirements runs in a prewarmed container, with its import output and tracebacks as usual', async () => {
    const fn = await deploy({ 'new_module.py': WHOAMI, 'requirements.txt': '# nothing\n' }, { name: 'prewarmed' });
    const first = await run(fn.function_id, null);
    assert.equal(first.status, 'succeeded', JSON.stringify(first.error));
    assert.equal(inspect(first.response.host)?.image, RUNTIME_IMAGE, 'a container of the runtime image, loaded with the function');
    assert.deepEqual(first.logs.map((r: any) => r.message), ['loading']);
    const failed = await run(fn.function_id, 'raise');
    assert.equal(failed.error.type, 'ValueError');
    assert.match(failed.error.traceback, /new_module\.py", line 8, in main\n {4}raise ValueError\('asked to'\)/);
  });

  test('a function with requirements runs in containers of its own image, warm from its second request', async () => {
    const module = `import pratai_testdep\n${WHOAMI}`;
    const fn = await deploy({ 'new_module.py': module, 'requirements.txt': 'pratai-testdep==1.0\n' }, { name: 'with-dep' });
    const first = await run(fn.function_id, null);
    assert.equal(first.status, 'succeeded', JSON.stringify(first.error));
    assert.match(inspect(first.response.host)?.image ?? '', new RegExp(`^pratai/function-${fn.function_id}:`));
    assert.equal((await run(fn.function_id, null)).response.host, first.response.host);
  });

  test('a cancelled request kills its warm container, and the next request gets a new one', async () => {
    const fn = await deploy({ 'new_module.py': WHOAMI }, { name: 'cancelled-warm' });
    const { host } = (await run(fn.function_id, null)).response;
    const id = await invoke(platform, fn.function_id, 60);
    await waitFor('the request to run', async () => ((await call(`${platform.apiUrl}/v1/requests/${id}`)).body.request.status === 'running' ? true : undefined));
    assert.equal((await call(`${platform.apiUrl}/v1/requests/${id}/cancel`, { method: 'POST' })).status, 200);
    await waitFor('its container to go', async () => (inspect(host) === undefined ? true : undefined), 30_000);
    const next = await run(fn.function_id, null);
    assert.equal(next.status, 'succeeded');
    assert.notEqual(next.response.host, host);
  });
});

describe('the pool', () => {
  const runnerName = `test-pool-${process.pid}`;
  const containers = new DockerContainerRuntime({
    socketPath: '/var/run/docker.sock',
    runnerId: runnerName,
    deployment: `test-pool-${process.pid}`,
    network: 'none',
    pidsLimit: 64,
    tmpfsMiB: 16,
    maxLogBytes: 1024 * 1024,
    maxResponseBytes: 1024 * 1024,
    build: { timeoutMs: 120_000, network: 'default', pipIndexUrl: '', pipExtraIndexUrl: '', pipFindLinks: [], pipNoIndex: true },
  });
  // One image serves every "function" here: the pool tells functions apart by id, never by image.
  const imageFunction = `${process.pid}`.padStart(32, '0');
  const image = `pratai/function-${imageFunction}:pooltest`;
  const pools: ContainerPool[] = [];

  const poolOf = async (options: Partial<PoolOptions>): Promise<ContainerPool> => {
    const pool = new ContainerPool(
      { containers, runtimes: async () => [], log: silentLogger },
      { size: 4, containerConcurrency: 1, pauseAfterMs: 0, idleTimeoutMs: 600_000, prewarm: { perRuntime: 0, memoryMiB: 128, cpus: 1 }, ...options },
    );
    await pool.start();
    pools.push(pool);
    return pool;
  };
  let requests = 0;
  const spec = (functionId: string, payload: unknown): RunSpec => ({
    image,
    functionId,
    runtime: 'python3',
    loadCode: async () => ({ module: WHOAMI, requirements: '' }),
    requestId: `request-${(requests += 1)}`,
    payload,
    memoryMiB: 128,
    cpus: 1,
    network: false,
    timeoutMs: 30_000,
  });
  const hostOf = async (pool: ContainerPool, functionId: string, payload: unknown = null): Promise<string> => {
    const execution = await pool.run(spec(functionId, payload));
    assert.equal(execution.status, 'succeeded', JSON.stringify(execution.error));
    return (execution.response as { host: string }).host;
  };

  before(async () => {
    const built = await containers.buildImage({ tag: image, runtimeImage: RUNTIME_IMAGE, functionId: imageFunction, codeSha256: 'pooltest', code: { module: WHOAMI, requirements: '' } });
    assert.ok(built.ok, built.log);
  });
  after(async () => {
    await Promise.all(pools.map((pool) => pool.close()));
    await containers.removeFunctionImages(imageFunction);
    assertNoLeftoverContainers(runnerName);
  });

  test('at the cap, the function holding the most containers gives up its least recently used idle one', async () => {
    const pool = await poolOf({ size: 3 });
    const b = await hostOf(pool, 'function-b');
    // Two requests of A at once: A gets two containers, and the pool is full.
    const [a1, a2] = await Promise.all([hostOf(pool, 'function-a', 0.5), hostOf(pool, 'function-a', 0.5)]);
    assert.notEqual(a1, a2);
    const c = await hostOf(pool, 'function-c');
    const left = hostsOf(runnerName);
    assert.equal(left.length, 3, 'never more than the cap');
    assert.ok(left.includes(b), "B's container stays although it is the least recently used: A holds more");
    assert.ok(left.includes(c));
    assert.equal([a1, a2].filter((host) => left.includes(host)).length, 1, 'A gave up one of its two');
    await pool.close();
  });

  test('an idle warm container is paused, resumed by its next request, and removed after the idle timeout', async () => {
    const pool = await poolOf({ pauseAfterMs: 1000, idleTimeoutMs: 5000 });
    const host = await hostOf(pool, 'function-idle');
    await waitFor('the container to be paused', async () => (inspect(host)?.paused ? true : undefined), 30_000);
    assert.equal(await hostOf(pool, 'function-idle'), host, 'the paused container serves the next request');
    await waitFor('the container to be removed', async () => (inspect(host) === undefined ? true : undefined), 60_000);
    await pool.close();
  });

  test('with a container concurrency of 2, two requests at once share one container and run in it one after the other', async () => {
    const pool = await poolOf({ containerConcurrency: 2 });
    const module = [
      'import socket, time',
      'running = False',
      'overlapped = False',
      'def main(payload=None):',
      '    global running, overlapped',
      '    overlapped = overlapped or running',
      '    running = True',
      '    time.sleep(0.3)',
      '    running = False',
      '    return {"host": socket.gethostname(), "overlapped": overlapped}',
    ].join('\n');
    const built = await containers.buildImage({ tag: `${image}-turns`, runtimeImage: RUNTIME_IMAGE, functionId: imageFunction, codeSha256: 'turns', code: { module, requirements: '' } });
    assert.ok(built.ok, built.log);
    const first = await pool.run({ ...spec('function-turns', null), image: `${image}-turns` });
    const both = await Promise.all([1, 2].map(() => pool.run({ ...spec('function-turns', null), image: `${image}-turns` })));
    for (const execution of [first, ...both]) assert.deepEqual(execution.response, { host: (first.response as { host: string }).host, overlapped: false });
    await pool.close();
  });

  test('a request waiting its turn in a container that breaks runs in another container', async () => {
    const pool = await poolOf({ containerConcurrency: 2 });
    const host = await hostOf(pool, 'function-breaks');
    const [crashed, waited] = await Promise.all([pool.run(spec('function-breaks', 'crash')), pool.run(spec('function-breaks', null))]);
    assert.equal(crashed.error?.type, 'ContainerExited');
    assert.equal(waited.status, 'succeeded');
    const other = (waited.response as { host: string }).host;
    assert.notEqual(other, host, 'not the broken container');
    assert.equal(inspect(host), undefined, 'the broken container is removed');
    assert.equal(await hostOf(pool, 'function-breaks'), other);
    await pool.close();
  });

  /** Runs a request that sleeps, does `what` to its container from outside once it runs, and returns how run() settled. */
  async function interfered(functionId: string, what: (container: string) => void): Promise<unknown> {
    const pool = await poolOf({});
    const running = pool.run(spec(functionId, 30)).then(
      (execution) => execution,
      (error: unknown) => error,
    );
    const container = await waitFor('the request to run in its container', async () => {
      const ids = execFileSync('docker', ['ps', '-q', '--filter', `label=pratai.runner=${runnerName}`, '--filter', `label=pratai.function_id=${functionId}`], { encoding: 'utf8' }).trim();
      return ids === '' ? undefined : ids;
    });
    what(container);
    return running;
  }

  test('a container killed from outside mid-request (SIGKILL, not its memory) is a platform failure, thrown, not an outcome', async () => {
    const settled = await interfered('function-killed', (container) => execFileSync('docker', ['kill', container]));
    assert.ok(settled instanceof PrataiError && settled.code === 'ServiceUnavailable', `expected a ServiceUnavailable PrataiError, got ${JSON.stringify(settled)}`);
    assert.match(settled.message, /killed \(SIGKILL, exit 137\) from outside the runner, not for its memory/);
  });

  test('a container removed from outside mid-request is a platform failure, thrown, not an outcome', async () => {
    const settled = await interfered('function-removed', (container) => execFileSync('docker', ['rm', '-f', container]));
    assert.ok(settled instanceof PrataiError && settled.code === 'ServiceUnavailable', `expected a ServiceUnavailable PrataiError, got ${JSON.stringify(settled)}`);
    // Removal kills it first: the engine may still show it killed, or already not at all.
    assert.match(settled.message, /vanished while it ran the request|killed \(SIGKILL, exit 137\) from outside the runner/);
  });

  /**
   * Starts a runtime told of a socket it cannot reach (the real config, without its mount, as on
   * a Docker host that does not see the runner's folder), `before` done to the listener first,
   * and runs one request: it speaks over stdin/stdout. Returns why the runner was told it did.
   */
  async function fallBack(before: (listener: ChannelListener) => void): Promise<string[]> {
    const root = mkdtempSync(join(tmpdir(), 'pratai-channel-'));
    const listener = await ChannelListener.open(root, runnerName);
    assert.ok(listener);
    const config = containers.containerConfig({ image: RUNTIME_IMAGE, memoryMiB: 128, cpus: 1, network: false }, listener);
    config.HostConfig = { ...config.HostConfig, Binds: [] };
    before(listener);
    const told: string[] = [];
    const limits = { maxLogBytes: 1024 * 1024, maxResponseBytes: 1024 * 1024, pidsLimit: 64, onChannelFallback: (cause: string) => told.push(cause) };
    const container = await DockerContainer.start(new Docker({ socketPath: '/var/run/docker.sock' }), config, limits, { memoryMiB: 128, cpus: 1 }, listener);
    try {
      assert.deepEqual(await container.ready(), { acceptsInit: true });
      await container.load({ functionId: 'f-1', module: 'def main(payload=None):\n    return payload\n', memoryMiB: 128, cpus: 1 });
      const execution = await container.run({ requestId: 'r-1', payload: 'over stdio', timeoutMs: 30_000 });
      assert.equal(execution.status, 'succeeded', JSON.stringify(execution.error));
      assert.equal(execution.response, 'over stdio');
      return told;
    } finally {
      await container.remove();
      rmSync(root, { recursive: true, force: true });
    }
  }

  test('a runtime that could use the channel but finds no socket speaks over stdin/stdout, and the runner is told the Docker host does not see the folder', async () => {
    assert.deepEqual(await fallBack(() => undefined), ['not-seen']);
  });

  test('a runtime whose channel folder was removed from under the runner speaks over stdin/stdout, and the runner is told it was removed', async () => {
    assert.deepEqual(await fallBack((listener) => rmSync(listener.folder, { recursive: true, force: true })), ['removed']);
  });

  test("a response over max_response_bytes, as its JSON, fails with ResponseTooLarge, even when the runtime's line wrote it shorter", async () => {
    const root = mkdtempSync(join(tmpdir(), 'pratai-channel-'));
    const limits = { maxLogBytes: 1024 * 1024, maxResponseBytes: 1024, pidsLimit: 64 };
    const run = async (expression: string, payload: unknown = null) => {
      const listener = await ChannelListener.open(root, `${runnerName}-${(requests += 1)}`);
      assert.ok(listener);
      const config = containers.containerConfig({ image: RUNTIME_IMAGE, memoryMiB: 128, cpus: 1, network: false }, listener);
      const container = await DockerContainer.start(new Docker({ socketPath: '/var/run/docker.sock' }), config, limits, { memoryMiB: 128, cpus: 1 }, listener);
      try {
        await container.ready();
        await container.load({ functionId: 'f-1', module: `def main(payload=None):\n    return ${expression}\n`, memoryMiB: 128, cpus: 1 });
        return await container.run({ requestId: `r-${requests}`, payload, timeoutMs: 30_000 });
      } finally {
        await container.remove();
      }
    };
    try {
      const fits = await run('"x" * payload', 1000);
      assert.equal(fits.status, 'succeeded', JSON.stringify(fits.error));
      const over = await run('"x" * payload', 1100);
      assert.equal(over.error?.type, 'ResponseTooLarge');
      assert.match(over.error?.message ?? '', /returned 1102 bytes of JSON; the limit is 1024/);
      // 100 floats of 1e+20: 600 bytes as the runtime writes them, 2,200 as JSON.stringify does.
      const floats = await run('[1e20] * 100');
      assert.equal(floats.error?.type, 'ResponseTooLarge', JSON.stringify(floats));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
