/**
 * Retries, dead letters and the maximum request age on a real platform (in-process, real Docker):
 * what a user sees of a function's `retries` and `retry_on_error`, and what an admin does with a
 * request that ran out of them.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { Policy } from '../api/policy.js';
import type { RequestRecord } from '../common/domain.js';
import { newId } from '../common/ids.js';
import { silentLogger } from '../common/log.js';
import {
  assertNoLeftoverContainers,
  call,
  createFunction,
  deployFunction,
  functionImages,
  invoke,
  removeFunctionImages,
  startTestPlatform,
  waitFor,
  waitForRequest,
  zipOf,
  type TestPlatform,
} from './helpers/platform.js';

const FAILING = 'def main(payload=None):\n    raise ValueError("always fails")\n';
const FIXED = 'def main(payload=None):\n    return {"fixed": payload}\n';

let platform: TestPlatform;
const deployed: string[] = [];
before(async () => {
  // The sweeper looks every second, for requests queued over 5 s: longer than the retries' backoff
  // here (1 s, then 2 s), so it only finds the request the expiry test leaves for it.
  platform = await startTestPlatform({ runner: { requeue_after: '5', sweep_interval: '1' } });
});
after(async () => {
  await platform.close();
  removeFunctionImages(deployed);
});
afterEach(() => assertNoLeftoverContainers(platform.runnerName));

async function deploy(module: string, fields: Record<string, string>): Promise<string> {
  const fn = await deployFunction(platform, { 'new_module.py': module }, fields);
  deployed.push(fn.function_id);
  return fn.function_id as string;
}

const requests = async (query: string): Promise<RequestRecord[]> => (await call(`${platform.apiUrl}/v1/requests?${query}`)).body.requests;

describe('function settings', () => {
  test('retries, retry_on_error and max_concurrency are taken on create, shown, changed by PATCH, and checked', async () => {
    const created = await createFunction(platform, zipOf({ 'new_module.py': FIXED }), { name: 'settings', retries: '3', retry_on_error: 'true', max_concurrency: '5' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.function.function_id as string;
    deployed.push(id);
    assert.deepEqual([created.body.function.retries, created.body.function.retry_on_error, created.body.function.max_concurrency], [3, true, 5]);
    const patched = await call(`${platform.apiUrl}/v1/functions/${id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ retries: 0, retry_on_error: false, max_concurrency: 0 }),
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const shown = (await call(`${platform.apiUrl}/v1/functions/${id}`)).body.function;
    assert.deepEqual([shown.retries, shown.retry_on_error, shown.max_concurrency], [0, false, 0]);

    const defaults = await createFunction(platform, zipOf({ 'new_module.py': FIXED }), { name: 'defaults' });
    deployed.push(defaults.body.function.function_id);
    assert.deepEqual([defaults.body.function.retries, defaults.body.function.retry_on_error, defaults.body.function.max_concurrency], [0, false, 0]);
    for (const [field, value] of [['retries', '11'], ['retries', '-1'], ['retry_on_error', 'maybe'], ['max_concurrency', '-1']] as const) {
      const refused = await createFunction(platform, zipOf({ 'new_module.py': FIXED }), { name: `bad-${field}`, [field]: value });
      assert.equal(refused.status, 400, `${field}=${value}`);
      assert.equal(refused.body.error.code, 'InvalidParameter');
      assert.match(refused.body.error.message, new RegExp(`\`${field}\``));
    }
  });
});

describe('retries and dead letters', () => {
  let retried: RequestRecord;
  let notRetried: RequestRecord;
  let failingId: string;

  test('with retry_on_error, a function that keeps failing is tried 1 + retries times, then ends failed and dead-lettered', async () => {
    failingId = await deploy(FAILING, { name: 'retried', retries: '2', retry_on_error: 'true' });
    const requestId = await invoke(platform, failingId, { n: 1 });
    retried = await waitForRequest(platform, requestId);
    assert.equal(retried.status, 'failed');
    assert.equal(retried.attempts, 3, 'the first attempt and two retries');
    assert.equal(retried.dead_letter, true);
    assert.equal(retried.error?.type, 'ValueError', "the last attempt's error is the reason");
    assert.match(retried.error?.message ?? '', /always fails/);
  });

  test('without retry_on_error, a failing function is tried once and is not dead-lettered', async () => {
    const functionId = await deploy(FAILING, { name: 'not-retried', retries: '2' });
    notRetried = await waitForRequest(platform, await invoke(platform, functionId, null));
    assert.equal(notRetried.status, 'failed');
    assert.equal(notRetried.attempts, 1);
    assert.equal(notRetried.dead_letter, false);
  });

  test('dead-lettered requests are listed; an admin redrives one after fixing its function, and it runs again from attempt 1', async () => {
    const dead = await requests('dead_letter=true');
    assert.ok(dead.some((request) => request.request_id === retried.request_id));
    assert.ok(dead.every((request) => request.dead_letter));
    assert.ok(!dead.some((request) => request.request_id === notRetried.request_id));
    assert.ok((await requests('dead_letter=false')).some((request) => request.request_id === notRetried.request_id));

    const refused = await call(`${platform.apiUrl}/v1/requests/${notRetried.request_id}/redrive`, { method: 'POST' });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, 'RequestNotDeadLettered');

    const form = new FormData();
    form.append('zip', new Blob([zipOf({ 'new_module.py': FIXED })]), 'package.zip');
    assert.equal((await call(`${platform.apiUrl}/v1/functions/${failingId}`, { method: 'PATCH', body: form })).status, 200);
    await waitFor('the fixed code to be built', async () => ((await call(`${platform.apiUrl}/v1/functions/${failingId}`)).body.function.status === 'ready' ? true : undefined));

    const redriven = await call(`${platform.apiUrl}/v1/requests/${retried.request_id}/redrive`, { method: 'POST' });
    assert.equal(redriven.status, 202, JSON.stringify(redriven.body));
    assert.equal(redriven.body.request.dead_letter, false);
    const done = await waitForRequest(platform, retried.request_id);
    assert.equal(done.status, 'succeeded');
    assert.deepEqual(done.response, { fixed: { n: 1 } });
    assert.equal(done.attempts, 1);
    assert.equal(done.dead_letter, false);
    assert.equal(done.error, null);

    const again = await call(`${platform.apiUrl}/v1/requests/${retried.request_id}/redrive`, { method: 'POST' });
    assert.equal(again.status, 409, 'a request that succeeded is not dead-lettered any more');
  });

  test('an image removed from Docker after it was built is built again, and the request succeeds in its first attempt', async () => {
    const functionId = await deploy(FIXED, { name: 'image-gone' });
    // The runner believes the image is there; Docker no longer has it.
    removeFunctionImages([functionId]);
    const done = await waitForRequest(platform, await invoke(platform, functionId, 'again'));
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    assert.deepEqual(done.response, { fixed: 'again' });
    assert.equal(done.attempts, 1);
    assert.equal(functionImages(functionId).length, 1, 'the image is there again');
  });

  test('a platform failure (Docker refuses the container) is retried up to retries + [runner] platform_retries (2), then ends failed with PlatformError, dead-lettered', async () => {
    const functionId = await deploy(FIXED, { name: 'refused', retries: '1' });
    // Below Docker's smallest memory limit (6 MB), which the API never lets a function ask for:
    // every container of it is refused by the engine.
    assert.ok(await platform.store.updateFunction(functionId, { memory: 4, updated_at: new Date().toISOString() }));
    const failed = await waitForRequest(platform, await invoke(platform, functionId, null));
    assert.equal(failed.status, 'failed');
    assert.equal(failed.error?.type, 'PlatformError');
    assert.match(failed.error?.message ?? '', /Minimum memory limit/);
    assert.equal(failed.attempts, 4, 'the first attempt, its one retry and 2 platform retries: platform failures need no retry_on_error');
    assert.equal(failed.dead_letter, true);
  });

  test('only an admin may redrive, by the default policy', () => {
    const policy = new Policy(undefined, silentLogger);
    const caller = (roles: string[]) => ({ user_id: 'u', project_id: 'p', roles });
    assert.equal(policy.allows('request:redrive', caller(['member', 'reader']), { project_id: 'p' }), false);
    assert.equal(policy.allows('request:redrive', caller(['admin']), { project_id: 'p' }), true);
  });
});

describe('maximum request age', () => {
  test('a request older than [runner] max_request_age (6 h) when a runner takes it ends failed with RequestExpired, dead-lettered, never run', async () => {
    const functionId = await deploy(FIXED, { name: 'expiring' });
    const fn = await platform.store.getFunction(functionId, 'all-tenants');
    assert.ok(fn);
    // Stored seven hours ago and its job lost: the sweeper publishes it again, and the runner that
    // takes it finds it too old.
    const old = new Date(Date.now() - 7 * 3600_000).toISOString();
    const requestId = newId();
    await platform.store.createRequest({
      request_id: requestId,
      function_id: functionId,
      tenant_id: fn.tenant_id,
      user_id: fn.user_id,
      status: 'queued',
      source: 'webhook',
      timer_id: null,
      scheduled_at: null,
      payload: 'stale',
      response: null,
      error: null,
      logs: [],
      attempts: 0,
      dead_letter: false,
      version: 'latest',
      alias: null,
      created_at: old,
      started_at: null,
      finished_at: null,
      duration_ms: null,
    });
    const expired = await waitForRequest(platform, requestId, 30_000);
    assert.equal(expired.status, 'failed');
    assert.equal(expired.error?.type, 'RequestExpired');
    assert.match(expired.error?.message ?? '', /max_request_age \(21600 s\)/);
    assert.equal(expired.dead_letter, true);
    assert.equal(expired.attempts, 0, 'it never ran');
    assert.ok((await requests('dead_letter=true')).some((request) => request.request_id === requestId));
  });
});
