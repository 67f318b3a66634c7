/**
 * A running function calls the runner's services over its channel (protocol 5): through a real
 * container of a function image, the calls reach the run's handler in order, with what the
 * handler answers or throws, and a payload passing through calls many times over does not count
 * toward the output cap (the calls are consumed, not kept). The routing by service name
 * (runner/function-services.ts) is held here too.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FunctionCallError, type Container, type FunctionCall } from '../runner/container-runtime.js';
import { DockerContainerRuntime } from '../runner/docker-container-runtime.js';
import { callHandler } from '../runner/function-services.js';
import type { FunctionRecord, RequestRecord } from '../common/domain.js';
import { assertNoLeftoverContainers } from './helpers/platform.js';

const RUNTIME_IMAGE = 'pratai/runtime-python3:latest';
const CALLER = [
  'from pratai_runtime.calls import call, CallError',
  '',
  'def main(payload=None):',
  '    answers = [call("echo", "say", n=n, text=payload["text"]) for n in range(payload["calls"])]',
  '    try:',
  '        call("echo", "fail")',
  '    except CallError as exc:',
  '        failure = [exc.type, exc.args[0]]',
  '    return {"lengths": sorted({len(a["text"]) for a in answers}), "order": [a["n"] for a in answers], "failure": failure}',
  '',
].join('\n');

describe('calls of a running function to its runner', () => {
  const runnerId = `test-calls-${process.pid}`;
  const containers = new DockerContainerRuntime({
    socketPath: '/var/run/docker.sock',
    runnerId,
    deployment: `test-calls-${process.pid}`,
    network: 'none',
    pidsLimit: 64,
    tmpfsMiB: 16,
    // Small caps: the calls below carry ten times as much, which must not count.
    maxLogBytes: 64 * 1024,
    maxResponseBytes: 64 * 1024,
    build: { timeoutMs: 120_000, network: 'default', pipIndexUrl: '', pipExtraIndexUrl: '', pipFindLinks: [], pipNoIndex: true },
  });
  const functionId = `${process.pid}`.padStart(32, '1');
  const image = `pratai/function-${functionId}:callstest`;
  let container: Container;

  before(async () => {
    const built = await containers.buildImage({ tag: image, runtimeImage: RUNTIME_IMAGE, functionId, codeSha256: 'callstest', code: { module: CALLER, requirements: '' } });
    assert.ok(built.ok, built.log);
    container = await containers.start({ image, functionId, memoryMiB: 128, cpus: 1, network: false });
  });
  after(async () => {
    await container.remove();
    await containers.removeFunctionImages(functionId);
    await containers.close();
    assertNoLeftoverContainers(runnerId);
  });

  test('each call reaches the handler in order and returns its answer; a FunctionCallError reaches the function by its type', async () => {
    const seen: FunctionCall[] = [];
    const text = 'x'.repeat(60 * 1024);
    const execution = await container.run({
      requestId: 'request-calls',
      payload: { text, calls: 12 },
      timeoutMs: 60_000,
      onCall: async (call) => {
        seen.push(call);
        if (call.method === 'fail') throw new FunctionCallError('NoSuchKey', 'nothing under that key');
        return call.args;
      },
    });
    assert.equal(execution.status, 'succeeded', JSON.stringify(execution.error));
    assert.deepEqual(execution.response, { lengths: [text.length], order: [...Array(12).keys()], failure: ['NoSuchKey', 'nothing under that key'] });
    assert.deepEqual(seen.map((call) => `${call.service}.${call.method}`), [...Array(12).fill('echo.say'), 'echo.fail']);
    assert.equal(container.reusable, true, 'about 1.4 MB of calls went through caps of 64 KiB: consumed, not counted');
  });

  test('a run without a handler refuses every call with CallUnavailable, and the function goes on', async () => {
    const execution = await container.run({ requestId: 'request-no-calls', payload: { text: '', calls: 0 }, timeoutMs: 60_000 });
    assert.equal(execution.status, 'succeeded');
    assert.deepEqual((execution.response as { failure: string[] }).failure[0], 'CallUnavailable');
  });

  test('the runner routes a call to the service it names, with its caller; an unknown service is refused by name', async () => {
    const caller = { request: { request_id: 'r', tenant_id: 't' } as RequestRecord, fn: { function_id: 'f' } as FunctionRecord };
    const handler = callHandler(new Map([['echo', { call: async (method: string, args: Record<string, unknown>, from: typeof caller) => ({ method, args, tenant: from.request.tenant_id }) }]]), caller);
    assert.deepEqual(await handler({ service: 'echo', method: 'say', args: { a: 1 } }), { method: 'say', args: { a: 1 }, tenant: 't' });
    await assert.rejects(handler({ service: 'nope', method: 'x', args: {} }), (error: unknown) => error instanceof FunctionCallError && error.type === 'UnknownService' && /nope/.test(error.message));
  });
});
