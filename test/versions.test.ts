/**
 * Versions and aliases on the real in-process platform and real Docker: publishing snapshots the
 * function (the same function twice is one version), an alias runs its version's code while
 * `latest` runs the new one, moving an alias changes the next calls while a request under way
 * finishes on its version, weights split calls, a version an alias targets cannot be deleted and a
 * deleted one loses its image, a job or a subscription runs the version or alias it names (and
 * keeps it from deletion) while a node subscription beside it runs `latest`, and bad input is
 * refused naming the problem with nothing stored.
 * Tenancy with the real Keystone is in test/tenancy.test.ts.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the tests read HTTP JSON bodies, whose shape is what they assert */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { isFinal } from '../common/domain.js';
import { assertNoLeftoverContainers, call, deployFunction, functionImages, removeFunctionImages, startTestPlatform, waitFor, waitForRequest, zipOf, type Json, type TestPlatform } from './helpers/platform.js';

let platform: TestPlatform;
let closed = false;
const deployed: string[] = [];

before(async () => {
  // Warm containers, as production runs: 500 calls of the weights test reuse them.
  platform = await startTestPlatform({ runner: { pool_size: '8', prewarm: '0', concurrency: '4' } });
});
after(async () => {
  if (!closed) await platform?.close();
  removeFunctionImages(deployed);
});

/** Code that says which code it is, and sleeps when asked (a long request). */
const module = (code: string): string =>
  ['import time', 'def main(payload=None):', '    if isinstance(payload, dict) and "sleep" in payload:', '        time.sleep(payload["sleep"])', `    return {"code": "${code}"}`, ''].join('\n');

const api = (path: string, init: RequestInit = {}): Promise<Json> => call(`${platform.apiUrl}${path}`, init);
const json = (method: string, body: unknown): RequestInit => ({ method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const webhook = (path: string, payload: unknown, wait = false): Promise<Json> =>
  call(`${platform.webhookUrl}${path}${wait ? '?wait=true' : ''}`, json('POST', { payload }));

async function deploy(code: string, name: string): Promise<string> {
  const fn = await deployFunction(platform, { 'new_module.py': module(code) }, { name });
  deployed.push(fn.function_id as string);
  assert.equal(fn.status, 'ready');
  return fn.function_id as string;
}

async function changeCode(functionId: string, code: string): Promise<void> {
  const form = new FormData();
  form.append('zip', new Blob([zipOf({ 'new_module.py': module(code) })]), 'package.zip');
  const patched = await api(`/v1/functions/${functionId}`, { method: 'PATCH', body: form });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  const ready = await waitFor('the rebuild', async () => {
    const { body } = await api(`/v1/functions/${functionId}`);
    return body.function.status === 'building' ? undefined : body.function;
  });
  assert.equal(ready.status, 'ready');
}

const publish = (functionId: string, description = ''): Promise<Json> => api(`/v1/functions/${functionId}/versions`, json('POST', { description }));

/** Calls and waits for the answer (`?wait=true`): main's return value, with the request id in a header. */
async function run(path: string, payload: unknown = null): Promise<{ code: string; requestId: string }> {
  const answer = await webhook(path, payload, true);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return { code: answer.body.code as string, requestId: answer.headers.get('x-pratai-request-id') ?? '' };
}

const request = async (requestId: string): Promise<any> => (await api(`/v1/requests/${requestId}`)).body.request;

function imageExists(tag: string): boolean {
  return execFileSync('docker', ['images', '-q', tag], { encoding: 'utf8' }).trim() !== '';
}

function refused(response: Json, status: number, code: string, names: RegExp): void {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.equal(response.body.error.code, code);
  assert.match(response.body.error.message, names);
}

describe('versions and aliases', () => {
  let functionId: string;
  let v1: any;
  let v2: any;

  test('publishing snapshots the function as version 1; publishing it unchanged answers version 1 again', async () => {
    functionId = await deploy('A', 'versioned');
    const first = await publish(functionId, 'first release');
    assert.equal(first.status, 201, JSON.stringify(first.body));
    v1 = first.body.version;
    assert.equal(v1.version, 1);
    assert.equal(v1.description, 'first release');
    assert.equal(v1.memory, 128);
    assert.match(v1.endpoint, new RegExp(`/function/${functionId}/versions/1$`));
    const again = await publish(functionId, 'same again');
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(again.body.published, false);
    assert.equal(again.body.version.version, 1);
    assert.equal(again.body.version.description, 'first release');
    const listed = await api(`/v1/functions/${functionId}/versions`);
    assert.deepEqual(listed.body.versions.map((v: any) => v.version), [1]);
  });

  test('after a code change version 2 is published; an alias on version 1 runs the old code, latest the new', async () => {
    await changeCode(functionId, 'B');
    const second = await publish(functionId);
    assert.equal(second.status, 201, JSON.stringify(second.body));
    v2 = second.body.version;
    assert.equal(v2.version, 2);
    assert.notEqual(v2.code_sha256, v1.code_sha256);

    const alias = await api(`/v1/functions/${functionId}/aliases`, json('POST', { name: 'prod', version: 1, description: 'what users run' }));
    assert.equal(alias.status, 201, JSON.stringify(alias.body));
    assert.match(alias.body.alias.endpoint, new RegExp(`/function/${functionId}/aliases/prod$`));

    const viaAlias = await run(`/function/${functionId}/aliases/prod`);
    assert.equal(viaAlias.code, 'A');
    const latest = await run(`/function/${functionId}`);
    assert.equal(latest.code, 'B');
    const version1 = await run(`/function/${functionId}/versions/1`);
    assert.equal(version1.code, 'A');

    const aliasRecord = await request(viaAlias.requestId);
    assert.equal(aliasRecord.version, 1);
    assert.equal(aliasRecord.alias, 'prod');
    const latestRecord = await request(latest.requestId);
    assert.equal(latestRecord.version, 'latest');
    assert.equal(latestRecord.alias, null);
    const versionRecord = await request(version1.requestId);
    assert.equal(versionRecord.version, 1);
    assert.equal(versionRecord.alias, null);

    const shown = (await api(`/v1/functions/${functionId}`)).body.function;
    assert.deepEqual(shown.versions.map((v: any) => v.version), [1, 2]);
    assert.deepEqual(shown.aliases.map((a: any) => [a.name, a.version]), [['prod', 1]]);

    const byAlias = await api(`/v1/requests?function_id=${functionId}&alias=prod`);
    assert.deepEqual(byAlias.body.requests.map((r: any) => r.request_id), [viaAlias.requestId]);
    const byVersion = await api(`/v1/requests?function_id=${functionId}&version=1`);
    assert.deepEqual(new Set(byVersion.body.requests.map((r: any) => r.request_id)), new Set([viaAlias.requestId, version1.requestId]));
    const byLatest = await api(`/v1/requests?function_id=${functionId}&version=latest`);
    assert.deepEqual(byLatest.body.requests.map((r: any) => r.request_id), [latest.requestId]);
  });

  test('moving an alias switches the next calls, while a request started on the old version finishes on it', async () => {
    const long = await webhook(`/function/${functionId}/aliases/prod`, { sleep: 4 });
    assert.equal(long.status, 202, JSON.stringify(long.body));
    const longId = long.body.request_id as string;
    await waitFor('the long request to run', async () => ((await request(longId)).status === 'running' ? true : undefined));

    const moved = await api(`/v1/functions/${functionId}/aliases/prod`, json('PATCH', { version: 2 }));
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.equal(moved.body.alias.version, 2);
    assert.equal((await request(longId)).status, 'running', 'the long request ended before the alias moved: the test proves nothing');

    const next = await run(`/function/${functionId}/aliases/prod`);
    assert.equal(next.code, 'B');
    assert.equal((await request(next.requestId)).version, 2);

    const finished = await waitForRequest(platform, longId);
    assert.equal(finished.status, 'succeeded');
    assert.deepEqual(finished.response, { code: 'A' });
    assert.equal(finished.version, 1);
    assert.equal(finished.alias, 'prod');
  });

  test('weights {"2": 0.2} on an alias send about a fifth of 500 calls to version 2, the rest to version 1, as the records say', async () => {
    const canary = await api(`/v1/functions/${functionId}/aliases`, json('POST', { name: 'canary', version: 1, weights: { '2': 0.2 } }));
    assert.equal(canary.status, 201, JSON.stringify(canary.body));
    assert.deepEqual(canary.body.alias.weights, { '2': 0.2 });
    const ids = new Set<string>();
    for (let batch = 0; batch < 10; batch++) {
      const answers = await Promise.all(Array.from({ length: 50 }, () => webhook(`/function/${functionId}/aliases/canary`, null)));
      for (const answer of answers) {
        assert.equal(answer.status, 202, JSON.stringify(answer.body));
        ids.add(answer.body.request_id as string);
      }
    }
    assert.equal(ids.size, 500);
    const records = await waitFor(
      'the 500 requests to finish',
      async () => {
        const listed = (await api(`/v1/requests?function_id=${functionId}&alias=canary&limit=1000`)).body.requests as any[];
        return listed.length === 500 && listed.every((r) => isFinal(r.status)) ? listed : undefined;
      },
      180_000,
    );
    const onTwo = records.filter((r) => r.version === 2);
    const onOne = records.filter((r) => r.version === 1);
    assert.ok(onTwo.length >= 70 && onTwo.length <= 130, `expected 70 to 130 calls on version 2, got ${onTwo.length}`);
    assert.equal(onOne.length, 500 - onTwo.length);
    for (const r of records) {
      assert.equal(r.status, 'succeeded');
      assert.deepEqual(r.response, { code: r.version === 2 ? 'B' : 'A' });
    }
    const filtered = (await api(`/v1/requests?function_id=${functionId}&alias=canary&version=2&limit=1000`)).body.requests as any[];
    assert.equal(filtered.length, onTwo.length);
  });

  test('a version an alias targets (or weighs) cannot be deleted: 409 VersionInUse naming the aliases', async () => {
    const refusal = await api(`/v1/functions/${functionId}/versions/1`, { method: 'DELETE' });
    refused(refusal, 409, 'VersionInUse', /canary/);
    assert.deepEqual(refusal.body.error.details.aliases, ['canary']);
    const weighed = await api(`/v1/functions/${functionId}/versions/2`, { method: 'DELETE' });
    refused(weighed, 409, 'VersionInUse', /canary.*prod|prod/);
    assert.equal((await api(`/v1/functions/${functionId}/versions/1`)).status, 200);
  });

  test('a job and a subscription run the version or alias they name, resolved at each firing; what they run cannot be deleted', async () => {
    const jobRequests = async (jobId: string): Promise<any[]> =>
      (await api(`/v1/requests?job_id=${jobId}&limit=100`)).body.requests.sort((a: any, b: any) => (a.created_at < b.created_at ? -1 : 1));
    const fired = (jobId: string, executions: number): Promise<unknown> =>
      waitFor(`job ${jobId} to fire ${executions} time(s)`, async () => ((await api(`/v1/jobs/${jobId}`)).body.job.executions >= executions ? true : undefined), 30_000);
    refused(await api('/v1/jobs', json('POST', { function_id: `${functionId}:nope`, pattern: '* * * * *' })), 404, 'AliasNotFound', /`nope`/);
    refused(await api('/v1/jobs', json('POST', { function_id: `versioned:9`, pattern: '* * * * *' })), 404, 'VersionNotFound', /version 9/);
    refused(await api('/v1/jobs', json('POST', { function_id: `${functionId}:0`, pattern: '* * * * *' })), 400, 'InvalidParameter', /NAME:QUALIFIER/);
    assert.deepEqual((await api(`/v1/jobs?function_id=${functionId}`)).body.jobs, [], 'nothing stored');

    // A job on alias prod (now on version 2) fires once; the alias moves to 1; the job, given a new count, fires again on 1.
    const created = await api('/v1/jobs', json('POST', { function_id: 'versioned:prod', pattern: '* * * * * *', count: 1 }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const job = created.body.job;
    assert.deepEqual([job.function_id, job.qualifier], [functionId, 'prod']);
    await fired(job.job_id, 1);
    assert.equal((await api(`/v1/functions/${functionId}/aliases/prod`, json('PATCH', { version: 1 }))).status, 200);
    assert.equal((await api(`/v1/jobs/${job.job_id}`, json('PATCH', { count: 1 }))).status, 200);
    await fired(job.job_id, 2);
    const ticks = await Promise.all((await jobRequests(job.job_id)).map((r: any) => waitForRequest(platform, r.request_id)));
    assert.deepEqual(ticks.map((r) => [r.version, r.alias, (r.response as any)?.code]), [[2, 'prod', 'B'], [1, 'prod', 'A']], 'each tick ran what the alias targeted then');
    assert.equal((await api(`/v1/functions/${functionId}/aliases/prod`, json('PATCH', { version: 2 }))).status, 200);

    // A subscription to `deploys` on version 1: a message runs version 1, latest being other code.
    assert.equal((await api('/v1/events', json('POST', { name: 'deploys' }))).status, 201);
    refused(await api(`/v1/functions/${functionId}`, json('PATCH', { subscriptions: ['deploys:nope'] })), 404, 'AliasNotFound', /`nope`/);
    const form = new FormData();
    form.append('name', 'subscribed-at-birth');
    form.append('subscriptions', 'deploys:1');
    form.append('zip', new Blob([zipOf({ 'new_module.py': module('X') })]), 'package.zip');
    refused(await api('/v1/functions', { method: 'POST', body: form }), 400, 'InvalidParameter', /new function.*`deploys:1`/);
    refused(await api(`/v1/functions/${functionId}`, json('PATCH', { subscriptions: ['deploys:1', 'deploys'] })), 400, 'InvalidParameter', /`deploys` twice/);
    // Beside it, a node subscription: its changes run `latest`, whatever the event's qualifier.
    const node = { path: '/deploys', children: false };
    const subscribed = await api(`/v1/functions/${functionId}`, json('PATCH', { subscriptions: ['deploys:1', node] }));
    assert.equal(subscribed.status, 200, JSON.stringify(subscribed.body));
    assert.deepEqual(subscribed.body.function.subscriptions, ['deploys:1', node]);
    assert.deepEqual((await api('/v1/events/deploys')).body.event.functions, [{ function_id: functionId, name: 'versioned', qualifier: '1' }]);
    const published = await api('/v1/events/deploys/messages', json('POST', { payload: null }));
    assert.equal(published.status, 202, JSON.stringify(published.body));
    const message = await waitForRequest(platform, published.body.request_ids[0]);
    assert.deepEqual([message.source, message.version, message.alias, message.response], ['event', 1, null, { code: 'A' }]);
    assert.equal((await api('/v1/coordination/nodes/deploys', json('POST', {}))).status, 201);
    const [changed] = await waitFor('the node change to make a request', async () => {
      const made = (await api(`/v1/requests?function_id=${functionId}&source=node`)).body.requests as any[];
      return made.length > 0 ? made : undefined;
    });
    const byNode = await waitForRequest(platform, changed.request_id);
    assert.deepEqual([byNode.source, byNode.version, byNode.alias, byNode.status], ['node', 'latest', null, 'succeeded'], 'a node change runs latest');

    // What a job or a subscription runs stays until they no longer do.
    const aliasRefusal = await api(`/v1/functions/${functionId}/aliases/prod`, { method: 'DELETE' });
    refused(aliasRefusal, 409, 'AliasInUse', new RegExp(job.job_id));
    assert.deepEqual(aliasRefusal.body.error.details, { jobs: [job.job_id], subscriptions: [] });
    const versionRefusal = await api(`/v1/functions/${functionId}/versions/1`, { method: 'DELETE' });
    refused(versionRefusal, 409, 'VersionInUse', /deploys/);
    assert.deepEqual(versionRefusal.body.error.details.subscriptions, ['deploys'], 'its node subscription names no version');

    assert.equal((await api(`/v1/jobs/${job.job_id}`, { method: 'DELETE' })).status, 204);
    const latestAgain = await api(`/v1/functions/${functionId}`, json('PATCH', { subscriptions: ['deploys:latest'] }));
    assert.deepEqual(latestAgain.body.function.subscriptions, ['deploys'], '`:latest` is the function itself; the node subscription left out is gone');
    assert.equal((await api('/v1/coordination/nodes/deploys', { method: 'DELETE' })).status, 200);
    assert.equal((await api(`/v1/functions/${functionId}`, json('PATCH', { subscriptions: [] }))).status, 200);
    assert.equal((await api('/v1/events/deploys', { method: 'DELETE' })).status, 204);
  });

  test('bad input is refused naming the problem, and nothing is stored', async () => {
    const aliases = async (): Promise<string[]> => (await api(`/v1/functions/${functionId}/aliases`)).body.aliases.map((a: any) => a.name);
    const before = await aliases();
    const create = (body: unknown): Promise<Json> => api(`/v1/functions/${functionId}/aliases`, json('POST', body));
    refused(await create({ name: 'x', version: 9 }), 404, 'VersionNotFound', /version 9/);
    refused(await create({ name: 'x', version: 1, weights: { '9': 0.1 } }), 404, 'VersionNotFound', /version 9/);
    refused(await create({ name: 'x', version: 0 }), 400, 'InvalidParameter', /`version`.*got `0`/);
    refused(await create({ name: 'latest', version: 1 }), 400, 'InvalidParameter', /`latest`/);
    refused(await create({ name: 'x', version: 1, weights: { '2': 1.5 } }), 400, 'InvalidParameter', /version 2.*from 0 to 1.*1\.5/);
    refused(await create({ name: 'x', version: 1, weights: { '2': -0.1 } }), 400, 'InvalidParameter', /from 0 to 1/);
    refused(await create({ name: 'x', version: 1, weights: { '2': 0.6, '3': 0.6 } }), 400, 'InvalidParameter', /sum to at most 1, got 1\.2/);
    refused(await create({ name: 'x', version: 1, weights: { '1': 0.5 } }), 400, 'InvalidParameter', /other than the alias's own/);
    refused(await create({ name: 'prod', version: 1 }), 409, 'AliasExists', /prod/);
    refused(await create({ name: '3', version: 1 }), 400, 'InvalidParameter', /`name`/);
    refused(await api(`/v1/functions/${functionId}/aliases/prod`, json('PATCH', { version: 7 })), 404, 'VersionNotFound', /version 7/);
    refused(await api(`/v1/functions/${functionId}/aliases/prod`, json('PATCH', { weights: { '1': 2 } })), 400, 'InvalidParameter', /from 0 to 1/);
    assert.deepEqual(await aliases(), before);
    assert.equal((await api(`/v1/functions/${functionId}/aliases/prod`)).body.alias.version, 2);

    refused(await api(`/v1/functions/${functionId}/versions/0`), 400, 'InvalidParameter', /version number.*got `0`/);
    refused(await api(`/v1/functions/${functionId}/versions/42`), 404, 'VersionNotFound', /version 42/);
    refused(await api(`/v1/functions/${functionId}/aliases/nope`), 404, 'AliasNotFound', /nope/);
    refused(await webhook(`/function/${functionId}/versions/42`, null), 404, 'VersionNotFound', /version 42/);
    refused(await webhook(`/function/${functionId}/versions/0`, null), 400, 'InvalidParameter', /got `0`/);
    refused(await webhook(`/function/${functionId}/aliases/nope`, null), 404, 'AliasNotFound', /nope/);
    refused(await publish('0'.repeat(32)), 404, 'FunctionNotFound', /0{32}/);
    const unknownField = await api(`/v1/functions/${functionId}/versions`, json('POST', { memory: 256 }));
    refused(unknownField, 400, 'InvalidParameter', /memory/);
    assert.deepEqual((await api(`/v1/functions/${functionId}/versions`)).body.versions.map((v: any) => v.version), [1, 2]);
  });

  test('a deleted version loses its image once no request uses it; its number is never given again', async () => {
    assert.equal((await api(`/v1/functions/${functionId}/aliases/canary`, { method: 'DELETE' })).status, 204);
    assert.ok(imageExists(v1.image), `the image ${v1.image} of version 1 is kept while version 1 exists`);
    const deleted = await api(`/v1/functions/${functionId}/versions/1`, { method: 'DELETE' });
    assert.equal(deleted.status, 204, JSON.stringify(deleted.body));
    refused(await api(`/v1/functions/${functionId}/versions/1`), 404, 'VersionNotFound', /version 1/);
    await waitFor('the image of version 1 to go', async () => (imageExists(v1.image) ? undefined : true));
    assert.ok(imageExists(v2.image), 'the image of version 2 (and latest) stays');
    assert.equal((await run(`/function/${functionId}/aliases/prod`)).code, 'B');

    await changeCode(functionId, 'C');
    const third = await publish(functionId);
    assert.equal(third.body.version.version, 3);
    // Deleting the highest version does not free its number.
    assert.equal((await api(`/v1/functions/${functionId}/versions/3`, { method: 'DELETE' })).status, 204);
    await changeCode(functionId, 'D');
    assert.equal((await publish(functionId)).body.version.version, 4);
  });

  test('a version keeps its own settings: a later change of the function does not reach it', async () => {
    const patched = await api(`/v1/functions/${functionId}`, json('PATCH', { timeout: 1 }));
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const onLatest = await waitForRequest(platform, (await webhook(`/function/${functionId}`, { sleep: 3 })).body.request_id as string);
    assert.equal(onLatest.status, 'timeout');
    const onVersion = await waitForRequest(platform, (await webhook(`/function/${functionId}/versions/4`, { sleep: 3 })).body.request_id as string);
    assert.equal(onVersion.status, 'succeeded');
    assert.deepEqual(onVersion.response, { code: 'D' });
    const v5 = await publish(functionId);
    assert.equal(v5.status, 201, 'a change of settings alone makes a new version');
    assert.equal(v5.body.version.timeout, 1);
  });

  test('function-delete removes its versions, aliases and every image', async () => {
    const images = functionImages(functionId);
    assert.ok(images.length >= 1);
    assert.equal((await api(`/v1/functions/${functionId}`, { method: 'DELETE' })).status, 204);
    refused(await api(`/v1/functions/${functionId}/versions`), 404, 'FunctionNotFound', new RegExp(functionId));
    await waitFor('its images to go', async () => (functionImages(functionId).length === 0 ? true : undefined));
    assert.deepEqual(await platform.store.listVersions(functionId), []);
    assert.deepEqual(await platform.store.listAliases(functionId), []);
  });

  test('no container is left once the platform stops (warm ones stay until then)', async () => {
    closed = true;
    await platform.close();
    assertNoLeftoverContainers(platform.runnerName);
  });
});
