/**
 * What happens after the webhook answers 202: the request runs in a container of the function's
 * image and ends succeeded, failed or timeout with its response, error and logs — real Docker.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the tests read HTTP JSON bodies, whose shape is what they assert */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  assertNoLeftoverContainers,
  call,
  deployFunction,
  ECHO_MODULE,
  invoke,
  leftoverContainers,
  startTestPlatform,
  waitFor,
  waitForRequest,
  type TestPlatform,
} from './helpers/platform.js';
import { writeWheel } from './helpers/wheel.js';

let platform: TestPlatform;
let wheels: string;
before(async () => {
  wheels = mkdtempSync(join(tmpdir(), 'pratai-wheels-'));
  writeWheel(wheels);
  platform = await startTestPlatform({ build: { pip_find_links: wheels, pip_no_index: 'true' }, api: { wait_timeout: '3' } });
});
after(async () => {
  await platform.close();
  rmSync(wheels, { recursive: true, force: true });
});
afterEach(() => assertNoLeftoverContainers(platform.runnerName));

const webhook = (functionId: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  call(`${platform.webhookUrl}/function/${functionId}`, { method: 'POST', headers, body });

describe('a request that succeeds', () => {
  test('main returns the payload: 202 at once, then succeeded with the response, times and logs', async () => {
    const module = [
      'import logging, sys',
      "logger = logging.getLogger('pratai')",
      '',
      'def main(payload=None):',
      "    logger.info('got %s', payload['key'])",
      "    logger.error('an error record')",
      "    print('to stdout')",
      "    print('to stderr', file=sys.stderr)",
      '    return {"echo": payload}',
      '',
    ].join('\n');
    const fn = await deployFunction(platform, { 'new_module.py': module, 'requirements.txt': '' }, { name: 'logs' });
    const accepted = await webhook(fn.function_id, JSON.stringify({ payload: { key: 'value' } }));
    assert.equal(accepted.status, 202);
    assert.deepEqual(Object.keys(accepted.body), ['request_id']);
    assert.match(accepted.body.request_id, /^[0-9a-f]{32}$/);

    const request = await waitForRequest(platform, accepted.body.request_id);
    assert.equal(request.status, 'succeeded');
    assert.deepEqual(request.payload, { key: 'value' });
    assert.deepEqual(request.response, { echo: { key: 'value' } });
    assert.equal(request.error, null);
    assert.equal(request.attempts, 1);
    assert.ok(request.created_at <= (request.started_at as string) && (request.started_at as string) <= (request.finished_at as string));
    assert.equal(typeof request.duration_ms, 'number');
    assert.deepEqual(
      request.logs.map((r) => [r.level, r.source, r.message]),
      [
        ['INFO', 'pratai', 'got value'],
        ['ERROR', 'pratai', 'an error record'],
        ['INFO', 'stdout', 'to stdout'],
        ['ERROR', 'stderr', 'to stderr'],
      ],
    );
    for (const record of request.logs) assert.ok(!Number.isNaN(Date.parse(record.time)), `${record.time} is a time`);

    const text = await call(`${platform.apiUrl}/v1/requests/${request.request_id}/logs`);
    assert.equal(text.status, 200);
    assert.match(text.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(text.body, /^\S+Z INFO \[pratai\] got value\n\S+Z ERROR \[pratai\] an error record\n/);
  });

  test('a payload of any JSON type reaches main unchanged, null included', async () => {
    const fn = await deployFunction(platform, { 'new_module.py': ECHO_MODULE }, { name: 'echo-types' });
    for (const payload of [null, 0, 'text', [1, 'two', { three: 3 }], { nested: { list: [true, false] } }]) {
      const request = await waitForRequest(platform, await invoke(platform, fn.function_id, payload));
      assert.equal(request.status, 'succeeded');
      assert.deepEqual(request.response, payload);
    }
  });

  test('a dependency from requirements.txt is installed into the image and imported by main', async () => {
    const module = 'import pratai_testdep\n\ndef main(payload=None):\n    return pratai_testdep.VALUE\n';
    const fn = await deployFunction(platform, { 'new_module.py': module, 'requirements.txt': 'pratai-testdep==1.0\n' }, { name: 'with-dep' });
    assert.equal(fn.status, 'ready', fn.build_log);
    assert.match(fn.build_log, /Successfully installed pratai-testdep-1.0/);
    const request = await waitForRequest(platform, await invoke(platform, fn.function_id, null));
    assert.equal(request.status, 'succeeded', JSON.stringify(request.error));
    assert.equal(request.response, 42);
  });
});

describe('the box a function runs in', () => {
  test('main runs as an unprivileged user, on a read-only root with a writable /tmp, with no network and no capabilities', async () => {
    const module = [
      'import os',
      '',
      'def main(payload=None):',
      '    found = {"uid": os.getuid(), "gid": os.getgid(), "interfaces": sorted(os.listdir("/sys/class/net"))}',
      '    try:',
      '        open("/opt/pratai/function/written", "w").write("x")',
      '        found["root_writable"] = True',
      '    except OSError as error:',
      '        found["root_writable"] = error.strerror',
      '    open("/tmp/scratch", "w").write("ok")',
      '    found["tmp"] = open("/tmp/scratch").read()',
      '    status = open("/proc/self/status").read()',
      '    found["cap_eff"] = [l.split()[1] for l in status.splitlines() if l.startswith("CapEff")][0]',
      '    found["no_new_privs"] = [l.split()[1] for l in status.splitlines() if l.startswith("NoNewPrivs")][0]',
      '    return found',
      '',
    ].join('\n');
    const fn = await deployFunction(platform, { 'new_module.py': module }, { name: 'boxed' });
    const request = await waitForRequest(platform, await invoke(platform, fn.function_id, null));
    assert.equal(request.status, 'succeeded', JSON.stringify(request.error));
    assert.deepEqual(request.response, {
      uid: 65534,
      gid: 65534,
      interfaces: ['lo'],
      root_writable: 'Read-only file system',
      tmp: 'ok',
      cap_eff: '0000000000000000',
      no_new_privs: '1',
    });
  });
});

describe('a request that fails', () => {
  test('an exception in main ends the request failed with type, message and traceback, keeping earlier logs', async () => {
    const module = "import logging\n\ndef main(payload=None):\n    logging.getLogger('pratai').warning('about to fail')\n    raise ValueError('bad input: ' + str(payload))\n";
    const fn = await deployFunction(platform, { 'new_module.py': module }, { name: 'raises' });
    const request = await waitForRequest(platform, await invoke(platform, fn.function_id, 7));
    assert.equal(request.status, 'failed');
    assert.equal(request.response, null);
    assert.equal(request.error?.type, 'ValueError', JSON.stringify(request.error));
    assert.equal(request.error?.message, 'bad input: 7');
    assert.match(request.error?.traceback ?? '', /Traceback[\s\S]*new_module\.py[\s\S]*ValueError: bad input: 7/);
    assert.deepEqual(request.logs.map((r) => [r.level, r.message]), [['WARNING', 'about to fail']]);
  });

  test('a return value that is not JSON fails the request, naming the type', async () => {
    const fn = await deployFunction(platform, { 'new_module.py': 'def main(payload=None):\n    return {1, 2}\n' }, { name: 'returns-set' });
    const request = await waitForRequest(platform, await invoke(platform, fn.function_id, null));
    assert.equal(request.status, 'failed');
    assert.equal(request.error?.type, 'ResponseNotSerializable');
    assert.match(request.error?.message ?? '', /set/);
  });

  test('main running past the timeout ends the request as timeout, keeps its logs so far, and kills its container', async () => {
    const module = 'import time\n\ndef main(payload=None):\n    print("started")\n    time.sleep(60)\n';
    const fn = await deployFunction(platform, { 'new_module.py': module }, { name: 'sleeps', timeout: '1' });
    const request = await waitForRequest(platform, await invoke(platform, fn.function_id, null));
    assert.equal(request.status, 'timeout');
    assert.equal(request.error?.type, 'Timeout');
    assert.match(request.error?.message ?? '', /1 s/);
    assert.deepEqual(request.logs.map((r) => [r.source, r.message]), [['stdout', 'started']], 'what it logged before the timeout is kept');
  });

  test('main allocating past the memory limit ends the request failed with MemoryLimitExceeded', async () => {
    const module = 'def main(payload=None):\n    hog = []\n    while True:\n        hog.append(bytearray(16 * 1024 * 1024))\n';
    const fn = await deployFunction(platform, { 'new_module.py': module }, { name: 'memory-hog', memory: '64' });
    const request = await waitForRequest(platform, await invoke(platform, fn.function_id, null));
    assert.equal(request.status, 'failed');
    assert.equal(request.error?.type, 'MemoryLimitExceeded');
    assert.match(request.error?.message ?? '', /64 MiB/);
  });

  test('a function whose requirement cannot be installed ends in error with the build log, and its webhook answers 409', async () => {
    const fn = await deployFunction(platform, { 'new_module.py': ECHO_MODULE, 'requirements.txt': 'no-such-package-anywhere==9.9\n' }, { name: 'bad-dep' });
    assert.equal(fn.status, 'error');
    assert.match(fn.build_log, /no-such-package-anywhere/);
    const refused = await webhook(fn.function_id, '{"payload": 1}');
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, 'FunctionNotReady');
  });

  test('a module that fails to import fails each request with the import error', async () => {
    const fn = await deployFunction(platform, { 'new_module.py': 'import not_installed_anywhere\n\ndef main(payload=None):\n    return 1\n' }, { name: 'bad-import' });
    const request = await waitForRequest(platform, await invoke(platform, fn.function_id, null));
    assert.equal(request.status, 'failed');
    assert.equal(request.error?.type, 'ModuleNotFoundError');
    assert.match(request.error?.message ?? '', /not_installed_anywhere/);
  });
});

describe('waiting for the response', () => {
  const MODULE = [
    'import time',
    '',
    'def main(payload=None):',
    '    if payload == "fail":',
    '        raise KeyError("missing")',
    '    if isinstance(payload, (int, float)):',
    '        time.sleep(payload)',
    '    return {"got": payload}',
    '',
  ].join('\n');

  test('the webhook of a wait_for_response function answers 200 with what main returned', async () => {
    const fn = await deployFunction(platform, { 'new_module.py': MODULE }, { name: 'sync', type: 'wait_for_response' });
    assert.equal(fn.type, 'wait_for_response');
    const response = await webhook(fn.function_id, JSON.stringify({ payload: 'hi' }));
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.deepEqual(response.body, { got: 'hi' });
    const requestId = response.headers.get('x-pratai-request-id') ?? '';
    assert.equal((await call(`${platform.apiUrl}/v1/requests/${requestId}`)).body.request.status, 'succeeded');
  });

  test('?wait=true on an async function answers with the outcome: 502 FunctionFailed naming the error', async () => {
    const fn = await deployFunction(platform, { 'new_module.py': MODULE, 'requirements.txt': '' }, { name: 'async-waited', timeout: '1' });
    const failed = await call(`${platform.webhookUrl}/function/${fn.function_id}?wait=true`, { method: 'POST', body: JSON.stringify({ payload: 'fail' }) });
    assert.equal(failed.status, 502);
    assert.equal(failed.body.error.code, 'FunctionFailed');
    assert.match(failed.body.error.message, /KeyError/);
    assert.equal(failed.body.error.details.error.type, 'KeyError');
    assert.match(failed.body.error.details.request_id, /^[0-9a-f]{32}$/);

    const slow = await call(`${platform.webhookUrl}/function/${fn.function_id}?wait=true`, { method: 'POST', body: JSON.stringify({ payload: 2 }) });
    assert.equal(slow.status, 504);
    assert.equal(slow.body.error.code, 'FunctionTimedOut');

    const plain = await webhook(fn.function_id, JSON.stringify({ payload: 'x' }));
    assert.equal(plain.status, 202, 'without ?wait an async function answers at once');
    await waitForRequest(platform, plain.body.request_id as string);
  });

  test('a wait past [api] wait_timeout answers 202 with the request id, and the request still finishes', async () => {
    const fn = await deployFunction(platform, { 'new_module.py': MODULE }, { name: 'sync-slow', type: 'wait_for_response' });
    const response = await webhook(fn.function_id, JSON.stringify({ payload: 5 }));
    assert.equal(response.status, 202);
    const request = await waitForRequest(platform, response.body.request_id as string);
    assert.deepEqual(request.response, { got: 5 });
  });

  test('a bad ?wait value is refused with 400 before anything is queued', async () => {
    const fn = await deployFunction(platform, { 'new_module.py': MODULE }, { name: 'bad-wait' });
    const response = await call(`${platform.webhookUrl}/function/${fn.function_id}?wait=maybe`, { method: 'POST', body: '{"payload": 1}' });
    assert.equal(response.status, 400);
    assert.match(response.body.error.message, /`wait`/);
    assert.equal((await call(`${platform.apiUrl}/v1/requests?function_id=${fn.function_id}`)).body.requests.length, 0);
  });
});

describe('cancelling a request', () => {
  const cancel = (requestId: string) => call(`${platform.apiUrl}/v1/requests/${requestId}/cancel`, { method: 'POST' });
  const SLEEPER = 'import time\n\ndef main(payload=None):\n    time.sleep(payload)\n    return "finished"\n';

  test('a running request is cancelled: its container is killed and it ends cancelled, not finished', async () => {
    const fn = await deployFunction(platform, { 'new_module.py': SLEEPER }, { name: 'cancel-running' });
    const id = await invoke(platform, fn.function_id, 60);
    await waitFor('the request to run', async () => ((await call(`${platform.apiUrl}/v1/requests/${id}`)).body.request.status === 'running' ? true : undefined));
    // `running` is stored before the container exists: wait for the container, so that what
    // goes away below is the container of a running request, not one not yet made.
    await waitFor('its container to start', async () => (leftoverContainers(platform.runnerName).length > 0 ? true : undefined), 30_000);
    const response = await cancel(id);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.equal(response.body.request.status, 'cancelled');
    await waitFor('its container to go', async () => (leftoverContainers(platform.runnerName).length === 0 ? true : undefined), 30_000);
    const request = await waitForRequest(platform, id);
    assert.equal(request.status, 'cancelled');
    assert.equal(request.response, null);
    assert.equal(request.error?.type, 'Cancelled');
  });

  test('a queued request that is cancelled never runs', async () => {
    const fn = await deployFunction(platform, { 'new_module.py': SLEEPER }, { name: 'cancel-queued' });
    // Occupy every slot of the runner so the next request waits in the queue.
    const busy = await Promise.all([1, 2, 3, 4].map(() => invoke(platform, fn.function_id, 3)));
    await waitFor('the runner to be full', async () => ((await call(`${platform.apiUrl}/v1/requests?function_id=${fn.function_id}&status=running`)).body.requests.length === 4 ? true : undefined));
    const queued = await invoke(platform, fn.function_id, 0);
    assert.equal((await cancel(queued)).status, 200);
    for (const id of busy) assert.equal((await waitForRequest(platform, id)).status, 'succeeded');
    const request = await waitForRequest(platform, queued);
    assert.equal(request.status, 'cancelled');
    assert.equal(request.attempts, 0, 'it never started');
  });

  test('cancelling a finished request is a 409, and an unknown one a 404', async () => {
    const fn = await deployFunction(platform, { 'new_module.py': ECHO_MODULE }, { name: 'cancel-late' });
    const id = await invoke(platform, fn.function_id, 1);
    await waitForRequest(platform, id);
    const late = await cancel(id);
    assert.equal(late.status, 409);
    assert.equal(late.body.error.code, 'RequestAlreadyFinished');
    assert.equal((await waitForRequest(platform, id)).status, 'succeeded');
    assert.equal((await cancel('0'.repeat(32))).status, 404);
  });
});

describe('the webhook refuses bad calls', () => {
  let functionId: string;
  before(async () => {
    functionId = (await deployFunction(platform, { 'new_module.py': ECHO_MODULE }, { name: 'webhook-target' })).function_id;
  });
  const count = async (): Promise<number> => (await call(`${platform.apiUrl}/v1/requests?function_id=${functionId}`)).body.requests.length;

  const cases: [string, string, Record<string, string> | undefined, string, RegExp][] = [
    ['a body that is not JSON', 'payload=1', { 'content-type': 'application/x-www-form-urlencoded' }, 'InvalidJson', /not valid JSON/],
    ['an empty body', '', undefined, 'InvalidJson', /empty/],
    ['JSON without a payload key', '{"data": 1}', undefined, 'PayloadMissing', /`payload` key/],
    ['a JSON array', '[1, 2]', undefined, 'PayloadMissing', /`payload` key/],
  ];
  for (const [what, body, headers, code, message] of cases) {
    test(`${what} gets 400 ${code} and queues nothing`, async () => {
      const before = await count();
      const response = await webhook(functionId, body, headers);
      assert.equal(response.status, 400);
      assert.equal(response.body.error.code, code);
      assert.match(response.body.error.message, message);
      assert.equal(await count(), before);
    });
  }

  test('a body over the payload limit gets 413 PayloadTooLarge', async () => {
    const response = await webhook(functionId, JSON.stringify({ payload: 'x'.repeat(platform.settings.api.max_payload_bytes) }));
    assert.equal(response.status, 413);
    assert.equal(response.body.error.code, 'PayloadTooLarge');
  });

  test('GET on a webhook is a 405 that names POST', async () => {
    const response = await call(`${platform.webhookUrl}/function/${functionId}`);
    assert.equal(response.status, 405);
    assert.equal(response.headers.get('allow'), 'POST');
  });

  test('the webhook spelled otherwise (a trailing slash: Express, not the lean route) answers alike, on both ports', async () => {
    const accepted: string[] = [];
    for (const origin of [platform.webhookUrl, platform.apiUrl]) {
      for (const [body, status, code] of [['{"payload": 1}', 202, undefined], ['{"data": 1}', 400, 'PayloadMissing'], ['', 400, 'InvalidJson']] as const) {
        const answers = await Promise.all([`/function/${functionId}`, `/function/${functionId}/`].map((path) => call(`${origin}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })));
        for (const answer of answers) {
          assert.equal(answer.status, status, `${origin} ${body}`);
          assert.equal(answer.headers.get('content-type'), 'application/json; charset=utf-8');
          assert.match(answer.headers.get('x-openstack-request-id') ?? '', /^req-/);
          if (code === undefined) accepted.push(answer.body.request_id as string);
          else assert.deepEqual({ ...answer.body.error, request_id: '' }, { status, code, title: 'Bad Request', message: answers[0]?.body.error.message, request_id: '' });
        }
      }
    }
    for (const requestId of accepted) assert.equal((await waitForRequest(platform, requestId)).status, 'succeeded');
  });
});

describe('listing requests', () => {
  test('requests are listed newest first, filtered, and paged with limit and marker', async () => {
    const fn = await deployFunction(platform, { 'new_module.py': 'def main(payload=None):\n    if payload == "fail":\n        raise RuntimeError("no")\n    return payload\n' }, { name: 'paged' });
    const ids: string[] = [];
    for (const payload of [1, 2, 'fail', 4, 5]) ids.push(await invoke(platform, fn.function_id, payload));
    for (const id of ids) await waitForRequest(platform, id);
    const newestFirst = [...ids].reverse();

    const all = await call(`${platform.apiUrl}/v1/requests?function_id=${fn.function_id}`);
    assert.deepEqual(all.body.requests.map((r: any) => r.request_id), newestFirst);
    assert.equal(all.body.requests[0].logs, undefined, 'listings leave the logs out');

    const first = await call(`${platform.apiUrl}/v1/requests?function_id=${fn.function_id}&limit=2`);
    assert.deepEqual(first.body.requests.map((r: any) => r.request_id), newestFirst.slice(0, 2));
    const next = first.body.requests_links.find((link: any) => link.rel === 'next');
    assert.ok(next, 'a full page links to the next');
    const second = await call(`${platform.apiUrl}${next.href}`);
    assert.deepEqual(second.body.requests.map((r: any) => r.request_id), newestFirst.slice(2, 4));

    const failed = await call(`${platform.apiUrl}/v1/requests?function_id=${fn.function_id}&status=failed`);
    assert.deepEqual(failed.body.requests.map((r: any) => r.request_id), [ids[2]]);
    const one = await call(`${platform.apiUrl}/v1/requests?request_id=${ids[0]}`);
    assert.deepEqual(one.body.requests.map((r: any) => r.response), [1]);
  });

  test('bad filters are refused with 400 naming the parameter', async () => {
    for (const [query, name] of [['status=done', 'status'], ['limit=0', 'limit'], ['limit=many', 'limit'], ['colour=red', 'colour'], [`marker=${'f'.repeat(32)}`, 'marker']]) {
      const response = await call(`${platform.apiUrl}/v1/requests?${query}`);
      assert.equal(response.status, 400, query);
      assert.equal(response.body.error.code, 'InvalidParameter');
      assert.match(response.body.error.message, new RegExp(`\`${name}\``));
    }
  });

  test('an unknown request id is a 404 RequestNotFound', async () => {
    for (const path of ['', '/logs']) {
      const response = await call(`${platform.apiUrl}/v1/requests/${'0'.repeat(32)}${path}`);
      assert.equal(response.status, 404);
      assert.equal(response.body.error.code, 'RequestNotFound');
    }
  });
});

describe("a runner's concurrency", () => {
  test('the queue hands a runner jobs ahead ([runner] prefetch), yet it runs at most [runner] concurrency requests at once, in the order they came', async () => {
    const narrow = await startTestPlatform({ runner: { concurrency: '2', prefetch: '6', pool_size: '4' } });
    try {
      const fn = await deployFunction(narrow, { 'new_module.py': 'import time\n\ndef main(payload=None):\n    time.sleep(0.3)\n    return payload\n' }, { name: 'narrow' });
      const ids: string[] = [];
      for (let i = 0; i < 8; i += 1) ids.push(await invoke(narrow, fn.function_id as string, i));
      const running = `${narrow.apiUrl}/v1/requests?function_id=${fn.function_id as string}&status=running&limit=100`;
      let mostRunning = 0;
      await waitFor('the 8 requests to finish', async () => {
        const now = (await call(running)).body.requests.length as number;
        mostRunning = Math.max(mostRunning, now);
        const records = await Promise.all(ids.map((id) => narrow.store.getRequest(id, 'all-tenants')));
        return records.every((record) => record?.status === 'succeeded') ? true : undefined;
      }, 60_000);
      assert.ok(mostRunning <= 2, `at most 2 running at once, saw ${mostRunning}`);
      assert.ok(mostRunning >= 1, 'the sampling saw requests running');
      const records = await Promise.all(ids.map((id) => narrow.store.getRequest(id, 'all-tenants')));
      const started = records.map((record) => record?.started_at ?? '');
      assert.deepEqual(started, [...started].sort(), 'started in the order they were posted');
    } finally {
      await narrow.close();
      assertNoLeftoverContainers(narrow.runnerName);
    }
  });
});
