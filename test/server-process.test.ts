/**
 * pratai-server as an operator runs it: a separate process, configured by file and environment,
 * killed and restarted. A request answered 202 runs even when the process dies before it ran.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Platform } from '../server/platform.js';
import { call, deployFunction, invoke, leftoverContainers, waitFor, waitForRequest } from './helpers/platform.js';
import { freePort } from './helpers/processes.js';

const SERVER = join(import.meta.dirname, '..', 'dist', 'bin', 'pratai-server.js');

interface Running {
  child: ChildProcess;
  output: () => string;
  urls: Pick<Platform, 'apiUrl' | 'webhookUrl'>;
}

let statePath: string;
let configFile: string;
let apiPort: number;
let webhookPort: number;
const runnerName = `test-server-${process.pid}`;

before(async () => {
  statePath = mkdtempSync(join(tmpdir(), 'pratai-server-'));
  [apiPort, webhookPort] = [await freePort(), await freePort()];
  configFile = join(statePath, 'pratai.conf');
  // The file sets the ports; the environment (which wins) sets the rest.
  writeFileSync(configFile, `[DEFAULT]\nstate_path = ${statePath}\n\n[api]\nhost = 127.0.0.1\nport = ${apiPort}\nwebhook_port = 1\n`);
});
after(() => {
  rmSync(statePath, { recursive: true, force: true });
});

async function startServer(): Promise<Running> {
  const child = spawn(process.execPath, [SERVER, '--config-file', configFile], {
    env: {
      ...process.env,
      PRATAI_API_WEBHOOK_PORT: String(webhookPort),
      PRATAI_RUNNER_NAME: runnerName,
      PRATAI_RUNNER_CONCURRENCY: '1',
      PRATAI_RUNNER_HEARTBEAT_INTERVAL: '1',
      // The cold path: the test counts the containers a killed server leaves behind.
      PRATAI_RUNNER_POOL_SIZE: '0',
      PRATAI_RUNNER_PREWARM: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const urls = { apiUrl: `http://127.0.0.1:${apiPort}`, webhookUrl: `http://127.0.0.1:${webhookPort}` };
  await waitFor('the server to listen', async () => {
    if (child.exitCode !== null) throw new Error(`pratai-server exited ${child.exitCode}:\n${output}`);
    return output.includes('webhooks on') ? true : undefined;
  }, 60_000);
  return { child, output: () => output, urls };
}

async function stopped(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}

test('pratai-server says where it listens, warns about noauth, and runs every 202 request after being killed and restarted', async () => {
  let server = await startServer();
  assert.match(server.output(), new RegExp(`REST API on http://127\\.0\\.0\\.1:${apiPort}`));
  assert.match(server.output(), new RegExp(`webhooks on http://127\\.0\\.0\\.1:${webhookPort}/function/<function_id>`));
  assert.match(server.output(), /WARNING .*noauth/);

  const module = 'import time\n\ndef main(payload=None):\n    time.sleep(payload)\n    return payload\n';
  const fn = await deployFunction(server.urls as Platform, { 'new_module.py': module }, { name: 'survivor' });
  const first = await invoke(server.urls as Platform, fn.function_id, 3);
  await waitFor('the first request to run', async () => {
    const { body } = await call(`${server.urls.apiUrl}/v1/requests/${first}`);
    return body.request.status === 'running' ? true : undefined;
  });
  // `running` is stored before its container is made (a cold one here): wait for that too.
  await waitFor('the first request\'s container', async () => (leftoverContainers(runnerName).length === 1 ? true : undefined));
  // One at a time: these wait in the durable queue.
  const waiting = [await invoke(server.urls as Platform, fn.function_id, 0), await invoke(server.urls as Platform, fn.function_id, 0)];

  server.child.kill('SIGKILL');
  await stopped(server.child);
  assert.equal(leftoverContainers(runnerName).length, 1, 'the killed server left its container running');

  server = await startServer();
  try {
    // Its own name, held by the killed process until that one's heartbeat is stale: it waits, then takes it over.
    assert.match(server.output(), /waiting to see whether it is alive/);
    assert.match(server.output(), /took the name over/);
    assert.match(server.output(), /removed 1 container\(s\) left by runners no longer alive \(or an earlier run of runner/);
    const interrupted = await waitForRequest(server.urls as Platform, first);
    assert.equal(interrupted.status, 'succeeded');
    assert.equal(interrupted.attempts, 2, 'the interrupted request ran again');
    for (const id of waiting) {
      const request = await waitForRequest(server.urls as Platform, id);
      assert.equal(request.status, 'succeeded');
      assert.equal(request.attempts, 1);
    }
  } finally {
    server.child.kill('SIGTERM');
    assert.equal(await stopped(server.child), 0);
  }
  assert.deepEqual(leftoverContainers(runnerName), []);
});

test('SIGTERM lets the request under way finish before pratai-server exits 0', async () => {
  const server = await startServer();
  const { body } = await call(`${server.urls.apiUrl}/v1/functions`);
  const fn = body.functions.find((f: { name: string }) => f.name === 'survivor');
  const id = await invoke(server.urls as Platform, fn.function_id, 2);
  await waitFor('the request to run', async () => {
    const { body: shown } = await call(`${server.urls.apiUrl}/v1/requests/${id}`);
    return shown.request.status === 'running' ? true : undefined;
  });
  server.child.kill('SIGTERM');
  assert.equal(await stopped(server.child), 0);
  assert.match(server.output(), /SIGTERM received: stopping gracefully/);

  const again = await startServer();
  try {
    const request = await waitForRequest(again.urls as Platform, id);
    assert.equal(request.status, 'succeeded');
    assert.equal(request.attempts, 1, 'it finished before the stop, so it did not run again');
  } finally {
    again.child.kill('SIGTERM');
    await stopped(again.child);
  }
});

test('a bad option value stops pratai-server with status 2 and a line naming the option', async () => {
  const child = spawn(process.execPath, [SERVER, '--config-file', configFile], {
    env: { ...process.env, PRATAI_API_PORT: 'ninety' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  assert.equal(await stopped(child), 2);
  assert.equal(stderr, 'pratai.server: Invalid configuration: [api] port (from environment variable PRATAI_API_PORT): expected an integer from 0 to 65535, got `"ninety"` (string)\n');
});
