/**
 * Triggers beyond the webhook, through the REST API of the real in-process platform: jobs (timers)
 * fire their function at each tick and stop when their count is spent or they are paused; an
 * event's message makes a request of each subscribed function; a bulk call makes one request per
 * payload; `event=timer` with a frequency makes a job; bad input is a 400 or 404 naming the
 * problem with nothing stored. Many processes racing for ticks: test/triggers-multi-node.test.ts;
 * tenancy: test/tenancy.test.ts.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the tests read HTTP JSON bodies, whose shape is what they assert */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { TestCli } from './helpers/cli.js';
import { assertNoLeftoverContainers, call, createFunction, deployFunction, ECHO_MODULE, removeFunctionImages, startTestPlatform, waitFor, waitForRequest, zipOf, type Json, type TestPlatform } from './helpers/platform.js';

let platform: TestPlatform;
const deployed: string[] = [];
/** A ready echo function, shared by the tests that only need one to call. */
let echo: { function_id: string; name: string };

before(async () => {
  // A public function takes 5 anonymous calls at once, then one a minute: no test waits that long.
  platform = await startTestPlatform({ api: { public_webhook_rate: '1', public_webhook_burst: '5' } });
  echo = await deployFunction(platform, { 'new_module.py': ECHO_MODULE }, { name: 'echo' });
  deployed.push(echo.function_id);
});
after(async () => {
  await platform?.close();
  removeFunctionImages(deployed);
});

const api = (path: string, init: RequestInit = {}): Promise<Json> => call(`${platform.apiUrl}${path}`, init);
const json = (method: string, body: unknown): RequestInit => ({ method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function refused(response: Json, status: number, code: string, names: RegExp): void {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.equal(response.body.error.code, code);
  assert.match(response.body.error.message, names);
}

/** The requests a job made, oldest tick first. */
async function requestsOf(jobId: string): Promise<any[]> {
  const { body } = await api(`/v1/requests?job_id=${jobId}&limit=1000`);
  return (body.requests as any[]).sort((a, b) => (a.scheduled_at < b.scheduled_at ? -1 : 1));
}

/** Waits for every request of these ids to end: no container outlives a test. */
const allFinished = (ids: readonly string[]): Promise<unknown> => Promise.all(ids.map((id) => waitForRequest(platform, id)));

describe('jobs', () => {
  afterEach(() => assertNoLeftoverContainers(platform.runnerName));

  test('a job of a seconds pattern with count 5 makes exactly 5 requests of its function with its payload, one a tick, then is done', async () => {
    const created = await api('/v1/jobs', json('POST', { function_id: echo.name, name: 'five', pattern: '*/1 * * * * *', payload: { n: 1 }, count: 5 }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const job = created.body.job;
    assert.equal(job.status, 'running');
    assert.equal(job.function_id, echo.function_id, 'named by its function name');
    assert.ok(Date.parse(job.next_execution_time) > Date.parse(job.created_at));
    const done = await waitFor('the job to be done', async () => {
      const { body } = await api(`/v1/jobs/${job.job_id}`);
      return body.job.status === 'done' ? body.job : undefined;
    }, 30_000);
    assert.equal(done.executions, 5);
    assert.equal(done.count, 0);
    assert.equal(done.next_execution_time, null);
    await sleep(1500);
    const requests = await requestsOf(job.job_id);
    assert.equal(requests.length, 5, 'no request after it is done');
    assert.deepEqual(done.last_request_ids.slice().sort(), requests.map((r) => r.request_id).sort());
    const ticks = requests.map((r) => Date.parse(r.scheduled_at));
    for (const [i, tick] of ticks.entries()) {
      assert.equal(tick % 1000, 0, 'each on a whole second');
      if (i > 0) assert.equal(tick - (ticks[i - 1] as number), 1000, 'one a second, none skipped');
    }
    for (const request of requests) {
      assert.equal(request.source, 'job');
      assert.equal(request.job_id, job.job_id);
      assert.deepEqual(request.payload, { n: 1 });
    }
    await allFinished(requests.map((r) => r.request_id));
    const listed = (await api('/v1/requests?source=job&limit=1000')).body.requests as any[];
    assert.ok(requests.every((r) => listed.some((each) => each.request_id === r.request_id)), 'listed by source');
    assert.equal((await api('/v1/requests?source=webhook&limit=1000')).body.requests.filter((r: any) => r.job_id === job.job_id).length, 0);
  });

  test('a paused job fires nothing; resumed it fires again; deleted it is gone', async () => {
    const first = new Date(Date.now() + 4000).toISOString();
    const created = await api('/v1/jobs', json('POST', { function_id: echo.function_id, pattern: '* * * * * *', first_execution_time: first }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const jobId = created.body.job.job_id;
    assert.ok(created.body.job.next_execution_time >= first, 'not before its first execution time');
    const paused = await api(`/v1/jobs/${jobId}`, json('PATCH', { status: 'paused' }));
    assert.equal(paused.status, 200, JSON.stringify(paused.body));
    assert.equal(paused.body.job.status, 'paused');
    await sleep(Date.parse(first) - Date.now() + 3000);
    assert.deepEqual(await requestsOf(jobId), [], 'nothing fired while paused');
    assert.equal((await api(`/v1/jobs/${jobId}`)).body.job.executions, 0);

    const resumed = await api(`/v1/jobs/${jobId}`, json('PATCH', { status: 'running', payload: 'again' }));
    assert.equal(resumed.body.job.status, 'running');
    assert.ok(Date.parse(resumed.body.job.next_execution_time) > Date.now() - 1000, 'resumed from now, not from the ticks it was paused for');
    const fired = await waitFor('a request after the resume', async () => ((await requestsOf(jobId)).length > 0 ? requestsOf(jobId) : undefined), 10_000);
    assert.equal(fired[0].payload, 'again');
    assert.equal((await api(`/v1/jobs/${jobId}`)).body.job.skipped, 0, 'the ticks of a pause are not missed ones');
    assert.equal((await api(`/v1/jobs/${jobId}`, { method: 'DELETE' })).status, 204);
    refused(await api(`/v1/jobs/${jobId}`), 404, 'JobNotFound', new RegExp(jobId));
    const left = (await requestsOf(jobId)).length;
    await sleep(2000);
    assert.equal((await requestsOf(jobId)).length, left, 'a deleted job fires no more');
    await allFinished((await requestsOf(jobId)).map((r) => r.request_id));
  });

  test('a job changes its pattern and count with PATCH, and a done one runs again with a new count', async () => {
    const created = await api('/v1/jobs', json('POST', { function_id: echo.function_id, pattern: '0 0 1 1 *', timezone: 'Europe/Madrid', count: 3 }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const jobId = created.body.job.job_id;
    assert.equal(new Date(created.body.job.next_execution_time).getUTCHours(), 23, 'midnight in Madrid is 23:00 UTC in winter');
    const patched = await api(`/v1/jobs/${jobId}`, json('PATCH', { pattern: '*/1 * * * * *', count: 1 }));
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const done = await waitFor('the job to be done', async () => ((await api(`/v1/jobs/${jobId}`)).body.job.status === 'done' ? true : undefined), 10_000);
    assert.ok(done);
    refused(await api(`/v1/jobs/${jobId}`, json('PATCH', { status: 'running' })), 400, 'InvalidParameter', /new `count`/);
    const again = await api(`/v1/jobs/${jobId}`, json('PATCH', { count: 1 }));
    assert.equal(again.body.job.status, 'running');
    await waitFor('the job to be done again', async () => ((await api(`/v1/jobs/${jobId}`)).body.job.executions === 2 ? true : undefined), 10_000);
    const listed = (await api(`/v1/jobs?function_id=${echo.function_id}`)).body.jobs as any[];
    assert.ok(listed.some((job) => job.job_id === jobId));
    await allFinished((await requestsOf(jobId)).map((r) => r.request_id));
    assert.equal((await api(`/v1/jobs/${jobId}`, { method: 'DELETE' })).status, 204);
  });

  test('bad jobs are refused naming the problem, and nothing is stored', async () => {
    const before = (await api('/v1/jobs')).body.jobs.length;
    const post = (body: unknown): Promise<Json> => api('/v1/jobs', json('POST', body));
    refused(await post({ function_id: echo.function_id, pattern: 'every minute' }), 400, 'InvalidSchedule', /`every minute`/);
    refused(await post({ function_id: echo.function_id, pattern: '61 * * * *' }), 400, 'InvalidSchedule', /`61 \* \* \* \*`/);
    refused(await post({ function_id: echo.function_id, pattern: '* * * * * * *' }), 400, 'InvalidSchedule', /7 fields/);
    refused(await post({ function_id: echo.function_id, pattern: '0 0 30 2 *' }), 400, 'InvalidSchedule', /never fires/);
    refused(await post({ function_id: echo.function_id, pattern: '* * * * *', timezone: 'Mars/Olympus_Mons' }), 400, 'InvalidSchedule', /Mars\/Olympus_Mons/);
    refused(await post({ function_id: echo.function_id, pattern: '* * * * *', count: 0 }), 400, 'InvalidParameter', /`count`.*got `0`/);
    refused(await post({ function_id: echo.function_id, pattern: '* * * * *', first_execution_time: 'tomorrow' }), 400, 'InvalidParameter', /first_execution_time/);
    refused(await post({ function_id: 'no-such-function', pattern: '* * * * *' }), 404, 'FunctionNotFound', /no-such-function/);
    refused(await post({ function_id: echo.function_id, pattern: '* * * * *', colour: 'red' }), 400, 'InvalidParameter', /`colour`/);
    refused(await post({ pattern: '* * * * *' }), 400, 'InvalidParameter', /function_id/);
    refused(await api('/v1/jobs/0123456789abcdef0123456789abcdef', json('PATCH', { status: 'paused' })), 404, 'JobNotFound', /0123456789abcdef0123456789abcdef/);
    const kept = await post({ function_id: echo.function_id, pattern: '0 0 1 1 *' });
    refused(await api(`/v1/jobs/${kept.body.job.job_id}`, json('PATCH', { pattern: 'nope' })), 400, 'InvalidSchedule', /`nope`/);
    refused(await api(`/v1/jobs/${kept.body.job.job_id}`, json('PATCH', { status: 'done' })), 400, 'InvalidParameter', /running, paused/);
    assert.equal((await api(`/v1/jobs/${kept.body.job.job_id}`)).body.job.pattern, '0 0 1 1 *', 'unchanged');
    assert.equal((await api(`/v1/jobs/${kept.body.job.job_id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await api('/v1/jobs')).body.jobs.length, before, 'no job stored');
  });

  test("the original guide's event=timer with a frequency makes a job of the function, deleted with it", async () => {
    const created = await createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 'every-five', event: 'timer', frequency: '5' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const fn = created.body.function;
    deployed.push(fn.function_id);
    assert.equal(fn.event, 'timer');
    const jobs = (await api(`/v1/jobs?function_id=${fn.function_id}`)).body.jobs as any[];
    assert.equal(jobs.length, 1);
    assert.equal(jobs[0].pattern, '*/5 * * * *');
    assert.equal(new Date(jobs[0].next_execution_time).getUTCMinutes() % 5, 0);
    refused(await createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 'every-seven', event: 'timer', frequency: '7' }), 400, 'InvalidParameter', /`frequency`.*divide an hour/);
    refused(await createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 'no-frequency', event: 'timer' }), 400, 'InvalidParameter', /`frequency`/);
    assert.equal((await api('/v1/functions')).body.functions.filter((each: any) => each.name.startsWith('every-seven') || each.name === 'no-frequency').length, 0);
    await waitFor('its build', async () => ((await api(`/v1/functions/${fn.function_id}`)).body.function.status === 'building' ? undefined : true));
    assert.equal((await api(`/v1/functions/${fn.function_id}`, { method: 'DELETE' })).status, 204);
    refused(await api(`/v1/jobs/${jobs[0].job_id}`), 404, 'JobNotFound', /./);
  });
});

describe('events', () => {
  afterEach(() => assertNoLeftoverContainers(platform.runnerName));

  test('a message to an event with two subscribers makes two requests with its payload; with none, an empty list', async () => {
    assert.equal((await api('/v1/events', json('POST', { name: 'orders.created', description: 'a new order' }))).status, 201);
    refused(await api('/v1/events', json('POST', { name: 'orders.created' })), 409, 'EventExists', /orders\.created/);
    const lonely = await api('/v1/events', json('POST', { name: 'nobody.listens' }));
    assert.equal(lonely.status, 201);
    const none = await api('/v1/events/nobody.listens/messages', json('POST', { payload: 1 }));
    assert.equal(none.status, 202);
    assert.deepEqual(none.body.request_ids, []);

    const first = await deployFunction(platform, { 'new_module.py': ECHO_MODULE }, { name: 'sub-one', event: 'message', subscriptions: 'orders.created' });
    deployed.push(first.function_id);
    assert.deepEqual(first.subscriptions, ['orders.created']);
    assert.equal(first.event, 'message');
    const second = await deployFunction(platform, { 'new_module.py': 'def main(payload=None):\n    return {"got": payload}\n' }, { name: 'sub-two' });
    deployed.push(second.function_id);
    const patched = await api(`/v1/functions/${second.function_id}`, json('PATCH', { subscriptions: ['orders.created'] }));
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const shown = await api('/v1/events/orders.created');
    assert.deepEqual(shown.body.event.functions.map((fn: any) => fn.name), ['sub-one', 'sub-two']);

    const published = await api('/v1/events/orders.created/messages', json('POST', { payload: { order: 42 } }));
    assert.equal(published.status, 202, JSON.stringify(published.body));
    assert.equal(published.body.request_ids.length, 2);
    const records = await Promise.all((published.body.request_ids as string[]).map((id) => waitForRequest(platform, id)));
    assert.deepEqual(records.map((r) => r.function_id).sort(), [first.function_id, second.function_id].sort());
    for (const record of records) {
      assert.equal(record.source, 'event');
      assert.deepEqual(record.payload, { order: 42 });
      assert.equal(record.status, 'succeeded');
    }
    refused(await api('/v1/events/orders.created', { method: 'DELETE' }), 409, 'EventInUse', /sub-one/);
    for (const fn of [first, second]) assert.equal((await api(`/v1/functions/${fn.function_id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await api('/v1/events/orders.created', { method: 'DELETE' })).status, 204);
    assert.equal((await api('/v1/events/nobody.listens', { method: 'DELETE' })).status, 204);
  });

  test('an unknown event is a 404 to publish, show or delete, and a 400 to subscribe to; nothing is stored', async () => {
    const functionsBefore = (await api('/v1/functions')).body.functions.length;
    refused(await api('/v1/events/ghost/messages', json('POST', { payload: 1 })), 404, 'EventNotFound', /`ghost`/);
    refused(await api('/v1/events/ghost'), 404, 'EventNotFound', /`ghost`/);
    refused(await api('/v1/events/ghost', { method: 'DELETE' }), 404, 'EventNotFound', /`ghost`/);
    refused(await createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 'haunted', subscriptions: 'ghost' }), 400, 'UnknownEvent', /`ghost`/);
    refused(await createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 'deaf', event: 'message' }), 400, 'InvalidParameter', /`subscriptions`/);
    refused(await api(`/v1/functions/${echo.function_id}`, json('PATCH', { subscriptions: ['ghost'] })), 400, 'UnknownEvent', /`ghost`/);
    refused(await api('/v1/events', json('POST', { name: 'bad name!' })), 400, 'InvalidParameter', /`name`/);
    refused(await api('/v1/events/x/messages', json('POST', { nopayload: 1 })), 400, 'InvalidParameter', /`nopayload`/);
    assert.equal((await api('/v1/functions')).body.functions.length, functionsBefore);
    assert.deepEqual((await api(`/v1/functions/${echo.function_id}`)).body.function.subscriptions, []);
    assert.deepEqual((await api('/v1/events')).body.events, []);
  });
});

describe('bulk calls', () => {
  afterEach(() => assertNoLeftoverContainers(platform.runnerName));

  test('a webhook body of payloads makes one request each, ids in the same order, fetched at once by request_id=A,B,C', async () => {
    const payloads = [{ i: 0 }, 'one', 2, null, [4]];
    const answer = await call(`${platform.webhookUrl}/function/${echo.function_id}`, json('POST', { payloads }));
    assert.equal(answer.status, 202, JSON.stringify(answer.body));
    const ids = answer.body.request_ids as string[];
    assert.equal(ids.length, payloads.length);
    const records = await Promise.all(ids.map((id) => waitForRequest(platform, id)));
    assert.deepEqual(records.map((r) => r.payload), payloads, 'each id is the request of the payload at its place');
    assert.deepEqual(records.map((r) => r.response), payloads);
    const some = await api(`/v1/requests?request_id=${ids[0]},${ids[2]},${ids[4]}`);
    assert.equal(some.status, 200);
    assert.deepEqual((some.body.requests as any[]).map((r) => r.request_id).sort(), [ids[0], ids[2], ids[4]].sort());
  });

  test('a bulk call of none, or of more than 1,000 payloads, is refused and makes nothing', async () => {
    const before = (await api(`/v1/requests?function_id=${echo.function_id}&limit=1000`)).body.requests.length;
    const bulk = (payloads: unknown): Promise<Json> => call(`${platform.webhookUrl}/function/${echo.function_id}`, json('POST', { payloads }));
    refused(await bulk([]), 400, 'InvalidParameter', /`payloads`.*1 to 1000.*0/);
    refused(await bulk(Array.from({ length: 1001 }, (_, i) => i)), 400, 'InvalidParameter', /1001/);
    refused(await bulk('many'), 400, 'InvalidParameter', /`payloads`/);
    assert.equal((await api(`/v1/requests?function_id=${echo.function_id}&limit=1000`)).body.requests.length, before);
  });
});

describe('bulk calls of a public function', () => {
  afterEach(() => assertNoLeftoverContainers(platform.runnerName));

  test("each payload of an anonymous bulk call takes one call of the function's rate limit, all or none", async () => {
    const fn = await deployFunction(platform, { 'new_module.py': ECHO_MODULE }, { name: 'public-echo', public: 'true' });
    deployed.push(fn.function_id);
    const bulk = (payloads: unknown[]): Promise<Json> => call(`${platform.webhookUrl}/function/${fn.function_id}`, json('POST', { payloads }));
    const stored = async (): Promise<number> => (await api(`/v1/requests?function_id=${fn.function_id}&limit=1000`)).body.requests.length;
    const accepted: string[] = [];

    refused(await bulk([1, 2, 3, 4, 5, 6]), 400, 'InvalidParameter', /at most 5 payloads.*got 6/);
    const three = await bulk([1, 2, 3]);
    assert.equal(three.status, 202, JSON.stringify(three.body));
    accepted.push(...(three.body.request_ids as string[]));
    // 2 calls are left: 3 payloads are refused, and take none of them.
    const tooMany = await bulk([4, 5, 6]);
    refused(tooMany, 429, 'TooManyRequests', new RegExp(fn.function_id));
    const retryAfter = Number(tooMany.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal(await stored(), 3, 'nothing stored of a refused bulk call');
    const two = await bulk([4, 5]);
    assert.equal(two.status, 202, JSON.stringify(two.body));
    accepted.push(...(two.body.request_ids as string[]));
    // Express's spelling (the lean route serves `/function/…`) takes from the same limit.
    refused(await call(`${platform.webhookUrl}/Function/${fn.function_id}`, json('POST', { payload: 6 })), 429, 'TooManyRequests', /call again/);
    assert.equal(await stored(), 5);

    // A private function's calls (the caller's token is its project's) are not rate-limited.
    const many = await call(`${platform.webhookUrl}/function/${echo.function_id}`, json('POST', { payloads: Array.from({ length: 8 }, (_, i) => i) }));
    assert.equal(many.status, 202, JSON.stringify(many.body));
    accepted.push(...(many.body.request_ids as string[]));
    await allFinished(accepted);
  });
});

describe('the CLI', () => {
  afterEach(() => assertNoLeftoverContainers(platform.runnerName));

  test('job-create, job-show, job-pause, job-resume, job-update, job-list and job-delete; event-create, event-publish, event-list, event-delete; request-list --source; function-execute --payloads-file', async () => {
    const cli = new TestCli({ OS_PRATAI_URL: platform.apiUrl });
    const jobId = (await cli.ok(['job-create', 'echo', '--pattern', '0 0 1 1 *', '--payload', '{"k": 1}', '--count', '3', '--timezone', 'Europe/Madrid', '--name', 'yearly', '-f', 'value', '-c', 'job_id'])).trim();
    const shown = JSON.parse(await cli.ok(['job-show', jobId, '-f', 'json']));
    assert.deepEqual([shown.pattern, shown.timezone, shown.count, shown.payload, shown.status, shown.name], ['0 0 1 1 *', 'Europe/Madrid', 3, { k: 1 }, 'running', 'yearly']);
    assert.equal((await cli.ok(['job-pause', jobId, '-f', 'value', '-c', 'status'])).trim(), 'paused');
    assert.equal((await cli.ok(['job-resume', jobId, '-f', 'value', '-c', 'status'])).trim(), 'running');
    assert.equal((await cli.ok(['job-update', jobId, '--pattern', '0 0 2 1 *', '-f', 'value', '-c', 'pattern'])).trim(), '0 0 2 1 *');
    assert.match(await cli.ok(['job-list', '--function', 'echo', '-f', 'value', '-c', 'ID']), new RegExp(jobId));
    assert.match(await cli.fails(['job-create', 'echo', '--pattern', 'soon']), /`soon`/);
    await cli.ok(['job-delete', jobId]);
    assert.match(await cli.fails(['job-show', jobId]), /No job/);

    await cli.ok(['event-create', 'cli.event', '--description', 'from the CLI']);
    await cli.ok(['function-update', 'echo', '--subscribe-to', 'cli.event']);
    assert.match(await cli.ok(['event-list', '-f', 'value']), /cli\.event from the CLI echo/);
    const published = (await cli.ok(['event-publish', 'cli.event', '--payload', '"hello"', '-f', 'value', '-c', 'Request ID'])).trim().split('\n');
    assert.equal(published.length, 1);
    const request = await waitForRequest(platform, published[0] as string);
    assert.equal(request.payload, 'hello');
    assert.match(await cli.ok(['request-list', '--source', 'event', '-f', 'value', '-c', 'ID']), new RegExp(published[0] as string));
    await cli.ok(['function-update', 'echo', '--subscribe-to', '']);
    await cli.ok(['event-delete', 'cli.event']);

    const ids = (await cli.ok(['function-execute', 'echo', '--payloads-file', '-', '-f', 'value'], { input: '1\n{"two": 2}\n\n"three"\n' })).trim().split('\n');
    assert.equal(ids.length, 3);
    const records = await Promise.all(ids.map((id) => waitForRequest(platform, id)));
    assert.deepEqual(records.map((r) => r.payload), [1, { two: 2 }, 'three']);
    assert.match(await cli.fails(['function-execute', 'echo', '--payloads-file', '-'], { input: 'not json\n', code: 2 }), /line 1/);
  });
});
