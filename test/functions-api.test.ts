/**
 * The REST API a user meets first: discovery, health, creating, listing, showing and deleting
 * functions, and every refusal of bad input — against the real platform and Docker.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the tests read HTTP JSON bodies, whose shape is what they assert */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import {
  assertNoLeftoverContainers,
  call,
  createFunction,
  deployFunction,
  ECHO_MODULE,
  functionImages,
  invoke,
  removeFunctionImages,
  startTestPlatform,
  waitFor,
  waitForRequest,
  zipOf,
  type TestPlatform,
} from './helpers/platform.js';

let platform: TestPlatform;
before(async () => {
  platform = await startTestPlatform({ api: { max_zip_bytes: String(256 * 1024) } });
});
after(async () => {
  await platform.close();
});
afterEach(() => assertNoLeftoverContainers(platform.runnerName));

const functionCount = async (): Promise<number> => (await call(`${platform.apiUrl}/v1/functions`)).body.functions.length;

/** Asserts the one error body shape, and returns its code. */
function errorCode(response: { status: number; headers: Headers; body: any }, status: number): string {
  assert.equal(response.status, status, JSON.stringify(response.body));
  const { error } = response.body;
  assert.equal(error.status, status);
  assert.match(error.code, /^[A-Z][A-Za-z]+$/);
  assert.equal(typeof error.message, 'string');
  assert.ok(error.message.length > 10, 'the message says what is wrong');
  assert.equal(error.request_id, response.headers.get('x-openstack-request-id'));
  return error.code as string;
}

describe('discovery and health', () => {
  test('GET / answers an OpenStack version document without authentication', async () => {
    const { status, body } = await call(`${platform.apiUrl}/`);
    assert.equal(status, 200);
    const [version] = body.versions;
    assert.equal(version.id, 'v1.0');
    assert.equal(version.status, 'CURRENT');
    assert.deepEqual(version.links, [{ rel: 'self', href: `${platform.apiUrl}/v1/` }]);
    const v1 = await call(`${platform.apiUrl}/v1/`);
    assert.equal(v1.body.version.id, 'v1.0');
  });

  test('GET /healthcheck answers 200 OK when the database, the queue and Docker are usable', async () => {
    const text = await call(`${platform.apiUrl}/healthcheck`);
    assert.equal(text.status, 200);
    assert.equal(text.body, 'OK');
    const json = await call(`${platform.apiUrl}/healthcheck`, { headers: { accept: 'application/json' } });
    assert.deepEqual(json.body, { healthy: true, reasons: [] });
    assert.equal((await call(`${platform.webhookUrl}/healthcheck`)).status, 200);
  });

  test('GET /healthcheck answers 503 naming Docker when no runner can use it', async () => {
    const broken = await startTestPlatform({ runner: { docker_socket: '/nonexistent/docker.sock' } });
    try {
      const health = await call(`${broken.apiUrl}/healthcheck`, { headers: { accept: 'application/json' } });
      assert.equal(health.status, 503);
      assert.equal(health.body.healthy, false);
      assert.match(health.body.reasons.join('\n'), /Docker is not usable/);
      const runtimes = await call(`${broken.apiUrl}/v1/runtimes`);
      assert.equal(runtimes.body.runtimes[0].status, 'unavailable');
    } finally {
      await broken.close();
    }
  });

  test('GET /v1/runtimes lists python3 with its image and status', async () => {
    const { status, body } = await call(`${platform.apiUrl}/v1/runtimes`);
    assert.equal(status, 200);
    assert.deepEqual(
      body.runtimes.map((r: any) => [r.name, r.image, r.status]),
      [['python3', 'pratai/runtime-python3:latest', 'available']],
    );
    assert.match(body.runtimes[0].description, /Python 3/);
  });

  test('runtimes are added, shown and removed through /v1/runtimes, and one in use cannot be removed', async () => {
    const post = (body: unknown) => call(`${platform.apiUrl}/v1/runtimes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const created = await post({ name: 'python3-extra', image: 'pratai/runtime-python3:latest', description: 'the same image, another name' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.runtime, { name: 'python3-extra', image: 'pratai/runtime-python3:latest', description: 'the same image, another name', status: 'available' });
    assert.equal(errorCode(await post({ name: 'python3-extra', image: 'x/y:1' }), 409), 'RuntimeExists');
    assert.equal(errorCode(await post({ name: 'Bad Name', image: 'x/y:1' }), 400), 'InvalidParameter');
    assert.equal(errorCode(await post({ name: 'ok', image: 'not an image' }), 400), 'InvalidParameter');
    assert.equal((await call(`${platform.apiUrl}/v1/runtimes/python3-extra`)).body.runtime.name, 'python3-extra');

    const fn = await deployFunction(platform, { 'new_module.py': ECHO_MODULE }, { name: 'on-extra', runtime: 'python3-extra' });
    assert.equal(fn.status, 'ready');
    assert.equal(errorCode(await call(`${platform.apiUrl}/v1/runtimes/python3-extra`, { method: 'DELETE' }), 409), 'RuntimeInUse');
    assert.equal((await fetch(`${platform.apiUrl}/v1/functions/${fn.function_id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await fetch(`${platform.apiUrl}/v1/runtimes/python3-extra`, { method: 'DELETE' })).status, 204);
    assert.equal(errorCode(await call(`${platform.apiUrl}/v1/runtimes/python3-extra`), 404), 'NotFound');
  });

  test('every answer carries an x-openstack-request-id, and unknown routes get the error body', async () => {
    const response = await call(`${platform.apiUrl}/v1/nothing-here`);
    assert.match(response.headers.get('x-openstack-request-id') ?? '', /^req-[0-9a-f-]{36}$/);
    assert.equal(errorCode(response, 404), 'NotFound');
  });
});

describe('creating a function', () => {
  test('a zip with new_module.py answers 201 with every documented field, then becomes ready', async () => {
    const before = Date.now();
    const response = await createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE, 'requirements.txt': '' }), {
      name: 'echo-fields',
      description: 'returns its payload',
    });
    assert.equal(response.status, 201, JSON.stringify(response.body));
    const fn = response.body.function;
    assert.match(fn.function_id, /^[0-9a-f]{32}$/);
    assert.deepEqual(
      { ...fn, function_id: undefined, created_at: undefined, updated_at: undefined, build_log: undefined },
      {
        function_id: undefined,
        user_id: 'noauth',
        tenant_id: 'noauth',
        name: 'echo-fields',
        description: 'returns its payload',
        type: 'async',
        event: 'webhook',
        public: false,
        endpoint: `${platform.webhookUrl}/function/${fn.function_id}`,
        runtime: 'python3',
        memory: 128,
        cpus: 1,
        timeout: 30,
        retries: 0,
        retry_on_error: false,
        max_concurrency: 0,
        network: false,
        context: {},
        secrets: [],
        subscriptions: [],
        openstack_auth: false,
        openstack_roles: [],
        status: 'building',
        created_at: undefined,
        updated_at: undefined,
        build_log: undefined,
      },
    );
    assert.ok(Date.parse(fn.created_at) >= before - 1000);
    const ready = await waitFor('the build', async () => {
      const { body } = await call(`${platform.apiUrl}/v1/functions/${fn.function_id}`);
      return body.function.status === 'building' ? undefined : body.function;
    });
    assert.equal(ready.status, 'ready');
    assert.match(ready.build_log, /Successfully/);
  });

  test('optional fields are taken as given', async () => {
    const response = await createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), {
      name: 'tuned',
      runtime: 'python3',
      memory: '256',
      cpus: '0.5',
      timeout: '5',
      public: 'true',
      network: 'false',
    });
    assert.equal(response.status, 201, JSON.stringify(response.body));
    const fn = response.body.function;
    assert.deepEqual([fn.memory, fn.cpus, fn.timeout, fn.public, fn.network], [256, 0.5, 5, true, false]);
  });

  const refusals: [string, () => Promise<any>, number, string, RegExp][] = [
    ['no name', () => createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), {}), 400, 'InvalidParameter', /`name`/],
    ['memory that is not a number', () => createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 'm', memory: 'lots' }), 400, 'InvalidParameter', /Expected `memory` to be an integer from 64 to 4096 \(MiB\), got `"lots"` \(string\)/],
    ['memory below the minimum', () => createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 'm', memory: '8' }), 400, 'InvalidParameter', /`memory`/],
    ['a timeout over 900 s', () => createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 't', timeout: '901' }), 400, 'InvalidParameter', /`timeout`/],
    ['public that is not a boolean', () => createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 'p', public: 'maybe' }), 400, 'InvalidParameter', /`public`/],
    ['network that is not a boolean', () => createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 'n', network: 'sometimes' }), 400, 'InvalidParameter', /Expected `network` to be true or false, got `"sometimes"`/],
    ['network while the operator gives none ([runner] network = none)', () => createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 'n', network: 'true' }), 403, 'NetworkNotAllowed', /`network`.*\[runner\] network = none/],
    ['an unknown runtime', () => createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 'r', runtime: 'cobol' }), 400, 'RuntimeNotFound', /python3.*`cobol`/],
    ['an unknown field', () => createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 'u', memroy: '256' }), 400, 'InvalidParameter', /`memroy`/],
    ['a name that looks like an id', () => createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 'a'.repeat(32) }), 400, 'InvalidParameter', /`name`/],
    ['no zip', () => createFunction(platform, undefined, { name: 'nozip' }), 400, 'ZipMissing', /`zip`/],
    ['a JSON body instead of multipart', () => call(`${platform.apiUrl}/v1/functions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"x"}' }), 400, 'ZipMissing', /multipart/],
    ['a file that is not a zip', () => createFunction(platform, Buffer.from('def main(payload=None): pass'), { name: 'notzip' }), 400, 'ZipInvalid', /zip/],
    ['a zip without new_module.py', () => createFunction(platform, zipOf({ 'main.py': ECHO_MODULE }), { name: 'nomodule' }), 400, 'ZipMissingModule', /new_module\.py/],
    ['new_module.py in a subfolder', () => createFunction(platform, zipOf({ 'pkg/new_module.py': ECHO_MODULE }), { name: 'nested' }), 400, 'ZipMissingModule', /pkg\/new_module\.py/],
    ['new_module.py without main', () => createFunction(platform, zipOf({ 'new_module.py': 'def handler(payload):\n    return 1\n' }), { name: 'nomain' }), 400, 'ZipMissingMain', /main/],
    ['an entry with ..', () => createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE, '../evil.py': 'x' }), { name: 'dotdot' }), 400, 'ZipUnsafeEntry', /\.\.\/evil\.py/],
    ['requirements.txt with a pip option', () => createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE, 'requirements.txt': '--index-url http://127.0.0.1:1/simple\nsix\n' }), { name: 'pipopt' }), 400, 'ZipBadRequirements', /line 1/],
    ['a zip over the upload limit', () => createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE, 'noise.bin': randomBytes(300 * 1024) }), { name: 'huge' }), 400, 'ZipTooLarge', /262144 bytes/],
  ];
  for (const [what, send, status, code, message] of refusals) {
    test(`${what} is refused with ${status} ${code}, and nothing is stored`, async () => {
      const count = await functionCount();
      const response = await send();
      assert.equal(errorCode(response, status), code);
      assert.match(response.body.error.message, message);
      assert.equal(await functionCount(), count);
    });
  }

  test('a second function of the same name in the project is refused with 409', async () => {
    await deployFunction(platform, { 'new_module.py': ECHO_MODULE }, { name: 'twice' });
    const count = await functionCount();
    const response = await createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 'twice' });
    assert.equal(errorCode(response, 409), 'FunctionNameTaken');
    assert.equal(await functionCount(), count);
  });

  test('extra files in the zip are ignored but counted', async () => {
    const response = await createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE, 'README.md': 'hi', 'data/x.json': '{}' }), { name: 'extras' });
    assert.equal(response.status, 201);
    assert.equal(response.body.ignored_entries, 2);
  });
});

describe('updating a function', () => {
  const patchJson = (id: string, body: unknown) =>
    call(`${platform.apiUrl}/v1/functions/${id}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  test('PATCH with JSON changes settings without a rebuild', async () => {
    const fn = await deployFunction(platform, { 'new_module.py': ECHO_MODULE }, { name: 'settings-only' });
    const response = await patchJson(fn.function_id, { memory: 256, description: 'more memory', timeout: 10 });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.deepEqual([response.body.function.memory, response.body.function.description, response.body.function.timeout, response.body.function.status], [256, 'more memory', 10, 'ready']);
    const shown = await call(`${platform.apiUrl}/v1/functions/${fn.function_id}`);
    assert.equal(shown.body.function.memory, 256);
    assert.ok(shown.body.function.updated_at > fn.updated_at);
  });

  test('PATCH with a new zip rebuilds the image, later requests run the new code, and the old image goes', async () => {
    const fn = await deployFunction(platform, { 'new_module.py': 'def main(payload=None):\n    return "v1"\n' }, { name: 'versioned' });
    const [oldImage] = functionImages(fn.function_id);
    const form = new FormData();
    form.append('zip', new Blob([zipOf({ 'new_module.py': 'def main(payload=None):\n    return "v2"\n' })]), 'package.zip');
    const response = await call(`${platform.apiUrl}/v1/functions/${fn.function_id}`, { method: 'PATCH', body: form });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.equal(response.body.function.status, 'building');
    const ready = await waitFor('the rebuild', async () => {
      const { body } = await call(`${platform.apiUrl}/v1/functions/${fn.function_id}`);
      return body.function.status === 'building' ? undefined : body.function;
    });
    assert.equal(ready.status, 'ready');
    const request = await waitForRequest(platform, await invoke(platform, fn.function_id, null));
    assert.equal(request.response, 'v2');
    const images = functionImages(fn.function_id);
    assert.equal(images.length, 1);
    assert.notEqual(images[0], oldImage);
  });

  test('a bad PATCH is refused and changes nothing', async () => {
    const fn = await deployFunction(platform, { 'new_module.py': ECHO_MODULE }, { name: 'stable' });
    await deployFunction(platform, { 'new_module.py': ECHO_MODULE }, { name: 'taken' });
    assert.equal(errorCode(await patchJson(fn.function_id, { memory: 'lots' }), 400), 'InvalidParameter');
    assert.equal(errorCode(await patchJson(fn.function_id, { colour: 'red' }), 400), 'InvalidParameter');
    assert.equal(errorCode(await patchJson(fn.function_id, { name: 'taken' }), 409), 'FunctionNameTaken');
    assert.equal(errorCode(await patchJson(fn.function_id, { runtime: 'cobol' }), 400), 'RuntimeNotFound');
    const network = await patchJson(fn.function_id, { network: true, description: 'with network' });
    assert.equal(errorCode(network, 403), 'NetworkNotAllowed');
    assert.match(network.body.error.message, /\[runner\] network = none/);
    const form = new FormData();
    form.append('zip', new Blob([zipOf({ 'new_module.py': 'def handler(x):\n    pass\n' })]), 'package.zip');
    assert.equal(errorCode(await call(`${platform.apiUrl}/v1/functions/${fn.function_id}`, { method: 'PATCH', body: form }), 400), 'ZipMissingMain');
    assert.equal(errorCode(await patchJson('0'.repeat(32), { memory: 256 }), 404), 'FunctionNotFound');
    const shown = await call(`${platform.apiUrl}/v1/functions/${fn.function_id}`);
    assert.deepEqual({ ...shown.body.function, build_log: undefined }, { ...fn, build_log: undefined });
  });
});

describe('listing, showing and deleting functions', () => {
  test('GET /v1/functions lists functions newest first, and GET /v1/functions/<id> shows one', async () => {
    const fn = await deployFunction(platform, { 'new_module.py': ECHO_MODULE }, { name: 'listed' });
    const list = await call(`${platform.apiUrl}/v1/functions`);
    assert.equal(list.status, 200);
    assert.equal(list.body.functions[0].function_id, fn.function_id);
    assert.equal(list.body.functions[0].build_log, undefined, 'lists leave the build log out');
    const shown = await call(`${platform.apiUrl}/v1/functions/${fn.function_id}`);
    assert.equal(shown.body.function.name, 'listed');
  });

  test('an unknown function id is a 404 FunctionNotFound on every route', async () => {
    const id = '0'.repeat(32);
    assert.equal(errorCode(await call(`${platform.apiUrl}/v1/functions/${id}`), 404), 'FunctionNotFound');
    assert.equal(errorCode(await call(`${platform.apiUrl}/v1/functions/${id}`, { method: 'DELETE' }), 404), 'FunctionNotFound');
    const webhook = await call(`${platform.webhookUrl}/function/${id}`, { method: 'POST', body: '{"payload": 1}' });
    assert.equal(errorCode(webhook, 404), 'FunctionNotFound');
  });

  test('a method a route does not support is a 405 naming the ones it does', async () => {
    const response = await call(`${platform.apiUrl}/v1/functions`, { method: 'PUT' });
    assert.equal(errorCode(response, 405), 'MethodNotAllowed');
    assert.equal(response.headers.get('allow'), 'GET, POST');
  });

  test('deleting a function answers 204, cancels its queued requests, and removes its image', async () => {
    const slow = 'import time\n\ndef main(payload=None):\n    time.sleep(payload)\n    return payload\n';
    const fn = await deployFunction(platform, { 'new_module.py': slow }, { name: 'doomed' });
    assert.equal(functionImages(fn.function_id).length, 1);
    // Fill the runner (4 at once) with slow requests so the last ones wait in the queue.
    const running = await Promise.all([1, 2, 3, 4].map(() => invoke(platform, fn.function_id, 2)));
    await waitFor('the slow requests to start', async () => {
      const { body } = await call(`${platform.apiUrl}/v1/requests?function_id=${fn.function_id}&status=running`);
      return body.requests.length === 4 ? true : undefined;
    });
    const queued = await Promise.all([1, 2].map(() => invoke(platform, fn.function_id, 0)));

    const response = await fetch(`${platform.apiUrl}/v1/functions/${fn.function_id}`, { method: 'DELETE' });
    assert.equal(response.status, 204);
    assert.equal((await call(`${platform.apiUrl}/v1/functions/${fn.function_id}`)).status, 404);

    for (const id of queued) {
      const request = await waitForRequest(platform, id);
      assert.equal(request.status, 'cancelled');
      assert.equal(request.error?.type, 'Cancelled');
    }
    for (const id of running) assert.equal((await waitForRequest(platform, id)).status, 'succeeded');
    await waitFor('the image to be removed', async () => (functionImages(fn.function_id).length === 0 ? true : undefined));
    const webhook = await call(`${platform.webhookUrl}/function/${fn.function_id}`, { method: 'POST', body: '{"payload": 1}' });
    assert.equal(webhook.status, 404);
  });
});

describe('network and the policy', () => {
  test('where the operator gives network but the policy rule function:network denies the caller, network=true is refused on create and PATCH, and nothing changes', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'pratai-policy-'));
    const policyFile = join(folder, 'policy.yaml');
    // noauth callers are admin and member: a role they do not hold.
    writeFileSync(policyFile, '"function:network": "role:network-user"\n');
    const guarded = await startTestPlatform({ runner: { network: 'bridge' }, oslo_policy: { policy_file: policyFile } });
    let functionId: string | undefined;
    try {
      const count = async (): Promise<number> => (await call(`${guarded.apiUrl}/v1/functions`)).body.functions.length;
      const refused = await createFunction(guarded, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 'wants-network', network: 'true' });
      assert.equal(errorCode(refused, 403), 'NetworkNotAllowed');
      assert.match(refused.body.error.message, /policy rule function:network does not allow it with the roles admin, member/);
      assert.equal(await count(), 0, 'nothing was created');

      const created = await createFunction(guarded, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 'no-network', network: 'false' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      functionId = created.body.function.function_id as string;
      const patch = (body: unknown) =>
        call(`${guarded.apiUrl}/v1/functions/${functionId}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const before = (await call(`${guarded.apiUrl}/v1/functions/${functionId}`)).body.function;
      assert.equal(errorCode(await patch({ network: true, description: 'changed' }), 403), 'NetworkNotAllowed');
      const after = (await call(`${guarded.apiUrl}/v1/functions/${functionId}`)).body.function;
      assert.deepEqual([after.network, after.description, after.updated_at], [false, before.description, before.updated_at], 'nothing was changed');
      const off = await patch({ network: false });
      assert.equal(off.status, 200, JSON.stringify(off.body));
      assert.equal(off.body.function.network, false, 'network=false needs no permission');
    } finally {
      await guarded.close();
      rmSync(folder, { recursive: true, force: true });
      assertNoLeftoverContainers(guarded.runnerName);
      if (functionId !== undefined) removeFunctionImages([functionId]);
    }
  });
});
