/**
 * What a function sees beside its payload, against the real platform and Docker, with warm
 * containers (pool_size > 0): `main(payload, context)` gets its context values, its secrets and
 * the request's facts; `main(payload)` and FaaSpot's `main(args, context)` keep working; a secret's
 * value never comes back out (logs stored or streamed, response, error, API answers) and is nowhere
 * at rest (database and queue files, WAL included, a warm container's `docker inspect`, the
 * function's image); a changed secret reaches the next request of the same warm container; a
 * function gets only the secrets it names.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the tests read HTTP JSON bodies, whose shape is what they assert */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { call, deployFunction, ECHO_MODULE, invoke, leftoverContainers, removeFunctionImages, startTestPlatform, waitForRequest, type Json, type TestPlatform, zipOf } from './helpers/platform.js';

let platform: TestPlatform;
/** Every value a secret was given here: none may come back. */
const values: string[] = [];
const deployed: string[] = [];
/** Every API answer read here, to look for values in at the end. */
const answers: string[] = [];

const secretValue = (label: string): string => {
  const value = `${label}-${randomBytes(12).toString('hex')}`;
  values.push(value);
  return value;
};
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

const api = async (path: string, init: RequestInit = {}): Promise<Json> => {
  const answer = await call(`${platform.apiUrl}${path}`, init);
  answers.push(JSON.stringify(answer.body));
  return answer;
};
const json = (method: string, body: unknown): RequestInit => ({ method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function deploy(module: string, fields: Record<string, string> = {}): Promise<any> {
  const fn = await deployFunction(platform, { 'new_module.py': module }, { name: `ctx-${randomBytes(4).toString('hex')}`, ...fields });
  deployed.push(fn.function_id as string);
  assert.equal(fn.status, 'ready', fn.build_log);
  return fn;
}

/** Calls the function and waits for its outcome, as the API shows it. */
async function run(functionId: string, payload: unknown, headers: Record<string, string> = {}): Promise<any> {
  const requestId = await invoke(platform, functionId, payload, headers);
  await waitForRequest(platform, requestId);
  return (await api(`/v1/requests/${requestId}`)).body.request;
}

/** Whether `haystack` holds any secret value. */
const leaked = (haystack: string | Buffer): string | undefined => values.find((value) => haystack.includes(value));

let dbPassword: string;

before(async () => {
  platform = await startTestPlatform({ runner: { pool_size: '4', pool_pause_after: '0', pool_idle_timeout: '600' } });
  dbPassword = secretValue('db-password');
  assert.equal((await api('/v1/secrets', json('POST', { name: 'db_password', value: dbPassword }))).status, 201);
  assert.equal((await api('/v1/secrets', json('POST', { name: 'other_secret', value: secretValue('other') }))).status, 201);
});
after(async () => {
  await platform?.close();
  removeFunctionImages(deployed);
});

/** Says what it was given, without ever returning a secret's value: its hash. */
const INSPECTOR = `import hashlib, os, time
INSTANCE = os.urandom(8).hex()

def main(payload, context):
    first = context.remaining_time_ms()
    time.sleep(0.05)
    return {
        "instance": INSTANCE,
        "db_host": context["DB_HOST"],
        "values": dict(context),
        "secret_names": sorted(context.secrets),
        "secret_sha": {name: hashlib.sha256(value.encode()).hexdigest() for name, value in context.secrets.items()},
        "request_id": context.request_id,
        "env_request_id": os.environ.get("PRATAI_REQUEST_ID"),
        "function_id": context.function_id,
        "function_name": context.function_name,
        "attempt": context.attempt,
        "deadline": context.deadline,
        "now": time.time(),
        "remaining": [first, context.remaining_time_ms()],
        "headers": context.headers,
        "openstack": context.openstack,
        "secrets_in_env": [key for key, value in os.environ.items() if value in context.secrets.values()],
        "repr": repr(context) + repr(context.secrets),
    }
`;

describe('main(payload, context)', () => {
  let fn: any;
  before(async () => {
    fn = await deploy(INSPECTOR, { context: JSON.stringify({ DB_HOST: 'db.example.org' }), secrets: 'db_password', timeout: '20' });
  });

  test('gets its context values, its secrets by name and the request facts', async () => {
    const request = await run(fn.function_id, null, { 'x-request-id': 'trace-1', 'user-agent': 'context-test/1', 'x-auth-token': 'not-for-functions', cookie: 'session=1' });
    assert.equal(request.status, 'succeeded', JSON.stringify(request.error));
    const seen = request.response;
    assert.equal(seen.db_host, 'db.example.org');
    assert.deepEqual(seen.values, { DB_HOST: 'db.example.org' }, 'the mapping is over the context values only: no secret in dict(context)');
    assert.deepEqual(seen.secret_names, ['db_password'], 'only the secret it names');
    assert.equal(seen.secret_sha.db_password, sha256(dbPassword));
    assert.equal(seen.request_id, request.request_id);
    assert.equal(seen.env_request_id, request.request_id);
    assert.equal(seen.function_id, fn.function_id);
    assert.equal(seen.function_name, fn.name);
    assert.equal(seen.attempt, 1);
    assert.ok(seen.deadline > seen.now && seen.deadline <= seen.now + 20, `deadline ${seen.deadline} within the timeout from ${seen.now}`);
    const [first, second] = seen.remaining as [number, number];
    assert.ok(first <= 20_000 && second < first, `remaining_time_ms decreases: ${first} then ${second}`);
    assert.equal(seen.headers['x-request-id'], 'trace-1');
    assert.equal(seen.headers['user-agent'], 'context-test/1');
    assert.equal(seen.headers['content-type'], 'application/json');
    assert.equal(seen.headers['x-auth-token'], undefined, 'the auth header is never passed');
    assert.equal(seen.headers.cookie, undefined, 'nor cookies');
    assert.equal(seen.openstack, null, 'no OpenStack identity without openstack_auth');
    assert.deepEqual(seen.secrets_in_env, [], 'no secret in the environment');
    assert.doesNotMatch(seen.repr, /db-password-/, "a context's repr names no value");
    assert.deepEqual(request.headers, { 'content-type': 'application/json', 'user-agent': 'context-test/1', 'x-request-id': 'trace-1' }, 'the headers passed are kept with the request');
    const listed = (await api(`/v1/requests?function_id=${fn.function_id}`)).body.requests[0];
    assert.equal(listed.headers, undefined, 'listings leave the headers out');
  });

  test('a secret changed, or a context PATCHed, reaches the next request of the same warm container', async () => {
    const before = (await run(fn.function_id, null)).response;
    const changed = secretValue('db-password-2');
    assert.equal((await api('/v1/secrets/db_password', json('PUT', { value: changed }))).status, 200);
    assert.equal((await api(`/v1/functions/${fn.function_id}`, json('PATCH', { context: { DB_HOST: 'db2.example.org' } }))).status, 200);
    const after = (await run(fn.function_id, null)).response;
    assert.equal(after.instance, before.instance, 'the same warm container (the module was not imported again)');
    assert.equal(after.secret_sha.db_password, sha256(changed));
    assert.equal(after.db_host, 'db2.example.org');
  });
});

test('main(payload) keeps working, secrets named or not', async () => {
  const fn = await deploy(ECHO_MODULE, { secrets: 'db_password' });
  const request = await run(fn.function_id, { hello: 'world' });
  assert.equal(request.status, 'succeeded', JSON.stringify(request.error));
  assert.deepEqual(request.response, { hello: 'world' });
});

test("FaaSpot's main(args, context) reads its context file's keys as a dict", async () => {
  const module = 'def main(args, context):\n    return {"greeting": "%s, %s" % (context["GREETING"], args["name"]), "port": int(context.get("PORT", "0")), "keys": sorted(context.keys()), "missing": context.get("NOPE")}\n';
  const fn = await deploy(module, { context: '# a FaaSpot context file\nGREETING=hello\nexport PORT = "5432"\n' });
  const request = await run(fn.function_id, { name: 'world' });
  assert.equal(request.status, 'succeeded', JSON.stringify(request.error));
  assert.deepEqual(request.response, { greeting: 'hello, world', port: 5432, keys: ['GREETING', 'PORT'], missing: null });
});

test('a keyword-only context parameter is given by name', async () => {
  const fn = await deploy('def main(payload, *, context=None):\n    return [payload, dict(context)]\n', { context: JSON.stringify({ A: 'b' }) });
  assert.deepEqual((await run(fn.function_id, 1)).response, [1, { A: 'b' }]);
});

test('a function that names no secret receives none', async () => {
  const fn = await deploy('def main(payload, context):\n    return {"secrets": dict(context.secrets), "values": dict(context)}\n');
  const request = await run(fn.function_id, null);
  assert.deepEqual(request.response, { secrets: {}, values: {} });
});

test('openstack_auth is refused without Keystone (TrustInvalid), and nothing is stored', async () => {
  const form = new FormData();
  form.append('name', 'no-keystone-here');
  form.append('openstack_auth', 'true');
  form.append('zip', new Blob([zipOf({ 'new_module.py': ECHO_MODULE })]), 'package.zip');
  const refused = await api('/v1/functions', { method: 'POST', body: form });
  assert.equal(refused.status, 400, JSON.stringify(refused.body));
  assert.equal(refused.body.error.code, 'TrustInvalid');
  assert.match(refused.body.error.message, /auth_strategy = keystone/);
  const names = (await api('/v1/functions')).body.functions.map((fn: any) => fn.name);
  assert.ok(!names.includes('no-keystone-here'));
});

describe("a secret's value never comes back out", () => {
  const LEAKER = `import logging, time

def main(payload, context):
    secret = context.secrets["db_password"]
    time.sleep(payload.get("sleep", 0))
    print("the password is", secret)
    logging.getLogger("pratai").warning("logged %s", secret)
    if payload.get("raise"):
        raise ValueError("could not connect with " + secret)
    return {"echo": secret, secret: "as a key", "nested": ["x" + secret + "y"]}
`;
  let fn: any;
  before(async () => {
    fn = await deploy(LEAKER, { secrets: 'db_password' });
  });

  test('in the stored logs and response, and the logs streamed as they come', async () => {
    const requestId = await invoke(platform, fn.function_id, { sleep: 1 });
    const follow = await fetch(`${platform.apiUrl}/v1/requests/${requestId}/logs?follow=true`, { headers: { accept: 'text/plain' } });
    const streamed = await follow.text();
    await waitForRequest(platform, requestId);
    const request = (await api(`/v1/requests/${requestId}`)).body.request;
    assert.equal(request.status, 'succeeded', JSON.stringify(request.error));
    assert.deepEqual(request.response, { echo: '***', '***': 'as a key', nested: ['x***y'] });
    assert.deepEqual(request.logs.map((record: any) => record.message), ['the password is ***', 'logged ***']);
    assert.match(streamed, /the password is \*\*\*/);
    assert.equal(leaked(streamed), undefined, 'the streamed logs hold no secret');
    assert.equal(leaked((await api(`/v1/requests/${requestId}/logs`)).body as string), undefined);
  });

  test('in the error', async () => {
    const request = await run(fn.function_id, { raise: true });
    assert.equal(request.status, 'failed');
    assert.equal(request.error.type, 'ValueError');
    assert.equal(request.error.message, 'could not connect with ***');
    assert.match(request.error.traceback, /could not connect with \*\*\*/);
    assert.equal(leaked(JSON.stringify(request)), undefined);
  });
});

describe('no value at rest, nor in any answer', () => {
  test("nor in a warm container's docker inspect, nor in the function's image", async () => {
    const containers = leftoverContainers(platform.runnerName);
    assert.ok(containers.length > 0, 'warm containers are kept (pool_size > 0)');
    const inspected = execFileSync('docker', ['inspect', ...containers], { encoding: 'utf8' });
    assert.equal(leaked(inspected), undefined, 'docker inspect shows no secret');
    const image = deployed[0] as string;
    const tags = execFileSync('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}', '--filter', `label=pratai.function_id=${image}`], { encoding: 'utf8' }).split('\n').filter(Boolean);
    assert.equal(tags.length, 1);
    const folder = mkdtempSync(join(tmpdir(), 'pratai-image-'));
    try {
      const tar = join(folder, 'image.tar');
      execFileSync('docker', ['save', '-o', tar, tags[0] as string]);
      // The layers are tars inside the tar, uncompressed: a value in any file would be in these bytes.
      assert.equal(leaked(readFileSync(tar)), undefined, "the function's image holds no secret");
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test('nor in the API answers read here', async () => {
    for (const path of ['/v1/functions', '/v1/secrets', '/v1/secrets/db_password', '/v1/requests?limit=100']) await api(path);
    for (const answer of answers) assert.equal(leaked(answer), undefined, `an answer holds a secret: ${answer.slice(0, 200)}`);
  });

  test('nor in the database and queue files, their WAL included', async () => {
    const files = readdirSync(platform.statePath, { recursive: true, encoding: 'utf8' })
      .map((name) => join(platform.statePath, name))
      .filter((path) => statSync(path).isFile());
    assert.ok(files.some((path) => path.endsWith('pratai.db')) && files.some((path) => path.endsWith('queue.db')), files.join(', '));
    for (const path of files) assert.equal(leaked(readFileSync(path)), undefined, `${path} holds a secret`);
  });
});
