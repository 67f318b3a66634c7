/**
 * A pratai-server SIGKILLed in the middle of a workflow: after its restart the interrupted action
 * runs again (its job redelivered), and the join after it runs exactly once, when both its
 * predecessors have finished; the invocation ends succeeded.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Platform } from '../server/platform.js';
import { call, leftoverContainers, removeFunctionImages, waitFor } from './helpers/platform.js';
import { freePort, startPratai, type PrataiProcess } from './helpers/processes.js';
import { deployWorkflow, instancesWith, invokeWorkflow, waitForInvocation } from './helpers/workflows.js';

const CODE = {
  'crash.py': [
    'import time, uuid',
    '',
    'def begin():',
    '    pass',
    '',
    'def slow():',
    '    time.sleep(4)',
    '',
    'def quick():',
    '    pass',
    '',
    'def join():',
    '    name = uuid.uuid4().hex',
    '    open(name, "w").write("ran")',
    '    faasr_put_file(local_file=name, remote_folder="joined", remote_file=name)',
    '',
  ].join('\n'),
};

const action = (fn: string, next: string[] = []): Record<string, unknown> => ({ FunctionName: fn, FaaSServer: 'x', Type: 'Python', Arguments: {}, InvokeNext: next });
const DOCUMENT = {
  WorkflowName: 'crash',
  FunctionInvoke: 'begin',
  DefaultDataStore: 'S3',
  ComputeServers: {},
  DataStores: { S3: { Endpoint: 'local', Bucket: 'crash-bucket' } },
  ActionList: { begin: action('begin', ['slow', 'quick']), slow: action('slow', ['join']), quick: action('quick', ['join']), join: action('join') },
};

let statePath: string;
let configFile: string;
let urls: Platform;
const runnerName = `test-wf-crash-${process.pid}`;
let functionId: string | undefined;

before(async () => {
  statePath = mkdtempSync(join(tmpdir(), 'pratai-wf-crash-'));
  const [apiPort, webhookPort] = [await freePort(), await freePort()];
  configFile = join(statePath, 'pratai.conf');
  writeFileSync(
    configFile,
    `[DEFAULT]\nstate_path = ${statePath}\n\n[api]\nhost = 127.0.0.1\nport = ${apiPort}\nwebhook_port = ${webhookPort}\n\n[runner]\nname = ${runnerName}\nheartbeat_interval = 1\npool_size = 0\nprewarm = 0\nconcurrency = 4\nsweep_interval = 1\n`,
  );
  urls = { apiUrl: `http://127.0.0.1:${apiPort}`, webhookUrl: `http://127.0.0.1:${webhookPort}` } as Platform;
});
after(() => {
  if (functionId !== undefined) removeFunctionImages([functionId]);
  rmSync(statePath, { recursive: true, force: true });
});

async function startServer(): Promise<PrataiProcess> {
  const server = startPratai('pratai-server', { args: ['--config-file', configFile] });
  await server.started(/webhooks on/, 60_000);
  return server;
}

test('a server SIGKILLed while one branch runs: that action runs again, the join runs once, the invocation succeeds', async () => {
  let server = await startServer();
  try {
    const workflow = await deployWorkflow(urls, DOCUMENT, CODE);
    functionId = workflow.function_id as string;
    const started = await invokeWorkflow(urls, workflow.workflow_id);
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const invocationId = started.body.invocation.invocation_id as string;
    const show = async (): Promise<{ status: string; actions: { action: string; status: string; request_id: string }[] }> =>
      (await call(`${urls.apiUrl}/v1/workflows/${workflow.workflow_id}/invocations/${invocationId}`)).body.invocation;
    await waitFor('quick to succeed while slow runs', async () => {
      const invocation = await show();
      const state = (name: string): string | undefined => invocation.actions.find((a) => a.action === name)?.status;
      return state('quick') === 'succeeded' && state('slow') === 'running' ? true : undefined;
    });
    server.child.kill('SIGKILL');
    await server.exited();
    server = await startServer();
    const invocation = await waitForInvocation(urls, workflow.workflow_id, invocationId, 120_000);
    assert.equal(invocation.status, 'succeeded');
    assert.deepEqual(instancesWith(invocation, 'succeeded'), ['begin', 'join', 'quick', 'slow']);
    assert.equal(invocation.actions.length, 4, 'one instance each: the join once');
    const slow = invocation.actions.find((a: { action: string }) => a.action === 'slow');
    const { body } = await call(`${urls.apiUrl}/v1/requests/${slow.request_id}`);
    assert.equal(body.request.attempts, 2, 'the interrupted action ran again');
    assert.equal(readdirSync(join(statePath, 'workflow-data', 'noauth', 'crash-bucket', 'joined')).length, 1, 'the join ran exactly once');
  } finally {
    assert.equal(await server.stop('SIGTERM'), 0);
  }
  assert.deepEqual(leftoverContainers(runnerName), []);
});
