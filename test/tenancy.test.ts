/**
 * Multi-tenancy with the real Keystone: two projects with a member each, a reader, an admin.
 * Project B can neither see nor change anything of project A's (every route answers 404 and
 * changes nothing, its versions and aliases included), listings stay within the project, the
 * admin sees all with all_tenants, the reader reads but cannot write, and webhooks admit whom they
 * should — then run as the owner.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestKeystone, type TestKeystone, type TestProject, type TestUser } from './helpers/keystone.js';
import {
  assertNoLeftoverContainers,
  call,
  createFunction,
  deployFunction,
  ECHO_MODULE,
  functionImages,
  invoke,
  startTestPlatform,
  waitFor,
  waitForRequest,
  zipOf,
  type Json,
  type TestPlatform,
} from './helpers/platform.js';


let keystone: TestKeystone;
let platform: TestPlatform;
let policyDir: string;
let policyFile: string;
const projects: Record<'a' | 'b', TestProject> = {} as never;
const users: Record<'a' | 'a2' | 'aReader' | 'b' | 'admin', TestUser> = {} as never;
const tokens: Record<keyof typeof users, Record<string, string>> = {} as never;
/** Project A's private and public functions, B's function, and a finished request of A's. */
let fA: string;
let fPublic: string;
let fB: string;
let rA: string;

before(async () => {
  keystone = await startTestKeystone();
  projects.a = await keystone.createProject('a');
  projects.b = await keystone.createProject('b');
  users.a = await keystone.createUser(projects.a, 'member', 'a-member');
  users.a2 = await keystone.createUser(projects.a, 'member', 'a-member2');
  users.aReader = await keystone.createUser(projects.a, 'reader', 'a-reader');
  users.b = await keystone.createUser(projects.b, 'member', 'b-member');
  users.admin = await keystone.createUser(await keystone.createProject('ops'), 'admin', 'cloud-admin');
  for (const [name, user] of Object.entries(users)) tokens[name as keyof typeof users] = { 'x-auth-token': (await keystone.tokenFor(user)).token };

  policyDir = mkdtempSync(join(tmpdir(), 'pratai-policy-'));
  policyFile = join(policyDir, 'policy.yaml');
  writeFileSync(policyFile, '{}\n');
  platform = await startTestPlatform({
    DEFAULT: { auth_strategy: 'keystone' },
    keystone_authtoken: keystone.authtokenOverrides(),
    oslo_policy: { policy_file: policyFile },
    api: { public_webhook_rate: '1', public_webhook_burst: '3' },
  });

  fA = (await deployFunction(platform, { 'new_module.py': ECHO_MODULE }, { name: 'a-private' }, tokens.a)).function_id;
  fPublic = (await deployFunction(platform, { 'new_module.py': ECHO_MODULE }, { name: 'a-public', public: 'true' }, tokens.a)).function_id;
  fB = (await createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 'b-function' }, tokens.b)).body.function.function_id;
  rA = await invoke(platform, fA, 0, tokens.a);
  await waitForRequest(platform, rA, undefined, tokens.a);
});

after(async () => {
  await platform?.close();
  if (platform) assertNoLeftoverContainers(platform.runnerName);
  const images = [fA, fPublic, fB].filter(Boolean).flatMap(functionImages);
  if (images.length > 0) execFileSync('docker', ['rmi', '--force', ...images], { stdio: 'ignore' });
  await keystone?.close();
  if (policyDir) rmSync(policyDir, { recursive: true, force: true });
});

const api = (path: string, headers: Record<string, string>, init: RequestInit = {}): Promise<Json> =>
  call(`${platform.apiUrl}${path}`, { ...init, headers: { ...headers, ...(init.headers as Record<string, string> | undefined) } });

const jsonBody = (body: unknown): RequestInit => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** Everything of project A's that a caller could change. */
async function snapshotOfA(): Promise<unknown> {
  const { store } = platform;
  return {
    functions: await store.listFunctions({ tenantId: projects.a.id }),
    code: await store.getFunctionCode(fA),
    request: await store.getRequest(rA, 'all-tenants'),
    requestCount: (await store.listRequests({ tenantId: projects.a.id }, { limit: 1000 })).length,
  };
}

function assertStatus(response: Json, status: number, code?: string): void {
  assert.equal(response.status, status, JSON.stringify(response.body));
  if (code !== undefined) assert.equal(response.body.error.code, code);
}

describe('isolation between projects', () => {
  test("every route called by project B on project A's function and requests answers 404 and changes nothing", async () => {
    const before = await snapshotOfA();
    const zip = new FormData();
    zip.append('zip', new Blob([zipOf({ 'new_module.py': 'def main(payload=None):\n    return "taken over"\n' })]), 'package.zip');
    const matrix: [string, string, RequestInit, string][] = [
      ['GET', `/v1/functions/${fA}`, {}, 'FunctionNotFound'],
      ['PATCH', `/v1/functions/${fA}`, jsonBody({ description: 'changed by B', public: true }), 'FunctionNotFound'],
      ['PATCH', `/v1/functions/${fA}`, { body: zip }, 'FunctionNotFound'],
      ['DELETE', `/v1/functions/${fA}`, {}, 'FunctionNotFound'],
      ['GET', `/v1/requests/${rA}`, {}, 'RequestNotFound'],
      ['GET', `/v1/requests/${rA}/logs`, {}, 'RequestNotFound'],
      ['POST', `/v1/requests/${rA}/cancel`, {}, 'RequestNotFound'],
      ['POST', `/v1/requests/${rA}/redrive`, {}, 'RequestNotFound'],
    ];
    for (const [method, path, init, code] of matrix) {
      const response = await api(path, tokens.b, { ...init, method });
      assert.equal(response.status, 404, `${method} ${path}: ${JSON.stringify(response.body)}`);
      assert.equal(response.body.error.code, code, `${method} ${path}`);
      assert.doesNotMatch(JSON.stringify(response.body), new RegExp(projects.a.id), 'no trace of project A in the answer');
    }
    const webhook = await call(`${platform.webhookUrl}/function/${fA}`, { method: 'POST', ...jsonBody({ payload: 0 }), headers: { 'content-type': 'application/json', ...tokens.b } });
    assertStatus(webhook, 404, 'FunctionNotFound');
    assert.deepEqual(await snapshotOfA(), before);
    // Where B found nothing, A's own member reaches the request (finished, so not cancelled).
    assertStatus(await api(`/v1/requests/${rA}/cancel`, tokens.a, { method: 'POST' }), 409, 'RequestAlreadyFinished');
  });

  test("listings never show another project's functions or requests, whatever the filters", async () => {
    const names = async (who: keyof typeof users): Promise<string[]> => (await api('/v1/functions', tokens[who])).body.functions.map((fn: { name: string }) => fn.name).sort();
    assert.deepEqual(await names('a'), ['a-private', 'a-public']);
    assert.deepEqual(await names('b'), ['b-function']);
    const aRequests = (await api('/v1/requests', tokens.a)).body.requests;
    assert.ok(aRequests.length >= 1);
    assert.ok(aRequests.every((request: { tenant_id: string }) => request.tenant_id === projects.a.id));
    for (const query of ['', `?function_id=${fA}`, `?request_id=${rA}`, '?status=succeeded', '?dead_letter=false']) {
      const listed = await api(`/v1/requests${query}`, tokens.b);
      assertStatus(listed, 200);
      assert.deepEqual(listed.body.requests, [], `B's /v1/requests${query}`);
    }
    // A's request as a paging marker is to B what an id that does not exist is.
    const marker = await api(`/v1/requests?marker=${rA}`, tokens.b);
    assertStatus(marker, 400, 'InvalidParameter');
    assert.equal(marker.body.error.message.replace(rA, 'ID'), (await api(`/v1/requests?marker=${'0'.repeat(32)}`, tokens.b)).body.error.message.replace('0'.repeat(32), 'ID'));
  });

  test('a tenant_id or user_id in a body is refused, never taken', async () => {
    const created = await createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 'smuggled', tenant_id: projects.a.id }, tokens.b);
    assertStatus(created, 400, 'InvalidParameter');
    const patched = await api(`/v1/functions/${fB}`, tokens.b, { method: 'PATCH', ...jsonBody({ user_id: users.a.id }) });
    assertStatus(patched, 400, 'InvalidParameter');
    assert.deepEqual((await api('/v1/functions', tokens.a)).body.functions.map((fn: { name: string }) => fn.name).sort(), ['a-private', 'a-public']);
  });
});

describe('roles', () => {
  test("an admin sees every project's functions and requests with all_tenants, and only its own without", async () => {
    assert.deepEqual((await api('/v1/functions', tokens.admin)).body.functions, []);
    const all = await api('/v1/functions?all_tenants=true', tokens.admin);
    assertStatus(all, 200);
    const ids = all.body.functions.map((fn: { function_id: string }) => fn.function_id);
    for (const id of [fA, fPublic, fB]) assert.ok(ids.includes(id), `admin sees ${id}`);
    const requests = await api('/v1/requests?all_tenants=true', tokens.admin);
    assert.ok(requests.body.requests.some((request: { request_id: string }) => request.request_id === rA));
    assertStatus(await api(`/v1/functions/${fA}`, tokens.admin), 200);
  });

  test('only an admin adds and removes runtimes', async () => {
    const runtime = { name: `rt-${Date.now().toString(36)}`, image: 'example/runtime:1' };
    for (const who of ['b', 'aReader'] as const) {
      assertStatus(await api('/v1/runtimes', tokens[who], { method: 'POST', ...jsonBody(runtime) }), 403, 'Forbidden');
    }
    assertStatus(await api('/v1/runtimes', tokens.admin, { method: 'POST', ...jsonBody(runtime) }), 201);
    assertStatus(await api(`/v1/runtimes/${runtime.name}`, tokens.b, { method: 'DELETE' }), 403, 'Forbidden');
    assertStatus(await api(`/v1/runtimes/${runtime.name}`, tokens.admin, { method: 'DELETE' }), 204);
  });

  test('a member or reader asking for all_tenants is refused with 403', async () => {
    for (const who of ['b', 'aReader'] as const) {
      assertStatus(await api('/v1/functions?all_tenants=true', tokens[who]), 403, 'Forbidden');
      assertStatus(await api('/v1/requests?all_tenants=true', tokens[who]), 403, 'Forbidden');
    }
  });

  test("a reader reads the project's functions, requests and logs, and every write is refused with 403, changing nothing", async () => {
    const { aReader } = tokens;
    assertStatus(await api('/v1/functions', aReader), 200);
    assertStatus(await api(`/v1/functions/${fA}`, aReader), 200);
    assertStatus(await api(`/v1/requests/${rA}`, aReader), 200);
    assertStatus(await api(`/v1/requests/${rA}/logs`, aReader), 200);
    assertStatus(await api('/v1/runtimes', aReader), 200);
    const before = await snapshotOfA();
    assertStatus(await createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 'by-reader' }, aReader), 403, 'Forbidden');
    assertStatus(await api(`/v1/functions/${fA}`, aReader, { method: 'PATCH', ...jsonBody({ description: 'by reader' }) }), 403, 'Forbidden');
    assertStatus(await api(`/v1/functions/${fA}`, aReader, { method: 'DELETE' }), 403, 'Forbidden');
    assertStatus(await api(`/v1/requests/${rA}/cancel`, aReader, { method: 'POST' }), 403, 'Forbidden');
    assertStatus(await api(`/v1/requests/${rA}/redrive`, aReader, { method: 'POST' }), 403, 'Forbidden');
    const webhook = await call(`${platform.webhookUrl}/function/${fA}`, { method: 'POST', headers: { 'content-type': 'application/json', ...aReader }, body: '{"payload": 0}' });
    assertStatus(webhook, 403, 'Forbidden');
    assert.deepEqual(await snapshotOfA(), before);
  });

  test("an operator's change to the policy file applies without a restart", async () => {
    const attempt = (): Promise<Json> => createFunction(platform, undefined, { name: 'by-reader' }, tokens.aReader);
    assertStatus(await attempt(), 403, 'Forbidden');
    try {
      writeFileSync(policyFile, '"function:create": "rule:owner and rule:reader"\n');
      // Past the policy now, the reader's upload fails on what it lacks: the zip.
      assertStatus(await attempt(), 400, 'ZipMissing');
    } finally {
      writeFileSync(policyFile, '{}\n');
    }
    assertStatus(await attempt(), 403, 'Forbidden');
  });
});

describe('secrets', () => {
  test("project B can neither read, list, change, delete nor give a function project A's secret; the reader reads metadata only; names are per project", async () => {
    const value = `a-only-${Date.now().toString(36)}`;
    const created = await api('/v1/secrets', tokens.a, { method: 'POST', ...jsonBody({ name: 'shared_name', value }) });
    assertStatus(created, 201);
    const before = await platform.store.getSecret(projects.a.id, 'shared_name');
    for (const [method, init] of [['GET', {}], ['PUT', jsonBody({ value: 'by B' })], ['DELETE', {}]] as const) {
      const response = await api('/v1/secrets/shared_name', tokens.b, { ...init, method });
      assertStatus(response, 404, 'SecretNotFound');
      assert.doesNotMatch(JSON.stringify(response.body), new RegExp(projects.a.id), 'no trace of project A in the answer');
    }
    assert.deepEqual((await api('/v1/secrets', tokens.b)).body.secrets, []);
    const functionsOfB = (await api('/v1/functions', tokens.b)).body.functions.length;
    assertStatus(await createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 'b-thief', secrets: 'shared_name' }, tokens.b), 400, 'UnknownSecret');
    assertStatus(await api(`/v1/functions/${fB}`, tokens.b, { method: 'PATCH', ...jsonBody({ secrets: ['shared_name'] }) }), 400, 'UnknownSecret');
    assert.equal((await api('/v1/functions', tokens.b)).body.functions.length, functionsOfB);
    assert.deepEqual(await platform.store.getSecret(projects.a.id, 'shared_name'), before, "A's secret is unchanged");
    assert.deepEqual(await platform.store.listSecretUses(projects.a.id), []);

    // B may have a secret of the same name: its own.
    assertStatus(await api('/v1/secrets', tokens.b, { method: 'POST', ...jsonBody({ name: 'shared_name', value: 'b value' }) }), 201);
    assertStatus(await api('/v1/secrets/shared_name', tokens.b, { method: 'DELETE' }), 204);

    const { aReader } = tokens;
    assert.deepEqual((await api('/v1/secrets', aReader)).body.secrets.map((secret: { name: string }) => secret.name), ['shared_name']);
    const read = await api('/v1/secrets/shared_name', aReader);
    assertStatus(read, 200);
    assert.ok(!JSON.stringify(read.body).includes(value), 'no value in the answer');
    assertStatus(await api('/v1/secrets', aReader, { method: 'POST', ...jsonBody({ name: 'by_reader', value: 'x' }) }), 403, 'Forbidden');
    assertStatus(await api('/v1/secrets/shared_name', aReader, { method: 'PUT', ...jsonBody({ value: 'x' }) }), 403, 'Forbidden');
    assertStatus(await api('/v1/secrets/shared_name', aReader, { method: 'DELETE' }), 403, 'Forbidden');
    assert.deepEqual(await platform.store.getSecret(projects.a.id, 'shared_name'), before);
    // An admin of another project reaches secrets by name in its own project only.
    assertStatus(await api('/v1/secrets/shared_name', tokens.admin), 404, 'SecretNotFound');
    assertStatus(await api('/v1/secrets/shared_name', tokens.a, { method: 'DELETE' }), 204);
  });
});

describe('jobs and events', () => {
  test("project B can neither see, change, delete nor make a job of project A's, nor see, publish to, delete or subscribe to A's event; the reader only reads", async () => {
    const created = await api('/v1/jobs', tokens.a, { method: 'POST', ...jsonBody({ function_id: fA, pattern: '0 0 1 1 *', payload: 'a only' }) });
    assertStatus(created, 201);
    const jobId = created.body.job.job_id as string;
    const before = await platform.store.getTimer(jobId, 'all-tenants');
    for (const [method, init] of [['GET', {}], ['PATCH', jsonBody({ status: 'paused' })], ['DELETE', {}]] as const) {
      assertStatus(await api(`/v1/jobs/${jobId}`, tokens.b, { ...init, method }), 404, 'JobNotFound');
    }
    assert.deepEqual((await api('/v1/jobs', tokens.b)).body.jobs, []);
    assertStatus(await api('/v1/jobs', tokens.b, { method: 'POST', ...jsonBody({ function_id: fA, pattern: '* * * * *' }) }), 404, 'FunctionNotFound');
    assertStatus(await api('/v1/jobs', tokens.b, { method: 'POST', ...jsonBody({ function_id: 'a-private', pattern: '* * * * *' }) }), 404, 'FunctionNotFound');
    assertStatus(await api(`/v1/jobs/${jobId}`, tokens.aReader), 200);
    assertStatus(await api(`/v1/jobs/${jobId}`, tokens.aReader, { method: 'PATCH', ...jsonBody({ status: 'paused' }) }), 403, 'Forbidden');
    assertStatus(await api(`/v1/jobs/${jobId}`, tokens.aReader, { method: 'DELETE' }), 403, 'Forbidden');
    assert.deepEqual(await platform.store.getTimer(jobId, 'all-tenants'), before, "A's job is unchanged");
    assert.deepEqual(await platform.store.listTimers({ tenantId: projects.b.id }), [], 'B has no job');

    assertStatus(await api('/v1/events', tokens.a, { method: 'POST', ...jsonBody({ name: 'a.event' }) }), 201);
    assertStatus(await api(`/v1/functions/${fA}`, tokens.a, { method: 'PATCH', ...jsonBody({ subscriptions: ['a.event'] }) }), 200);
    assertStatus(await api('/v1/events/a.event', tokens.b), 404, 'EventNotFound');
    assertStatus(await api('/v1/events/a.event/messages', tokens.b, { method: 'POST', ...jsonBody({ payload: 1 }) }), 404, 'EventNotFound');
    assertStatus(await api('/v1/events/a.event', tokens.b, { method: 'DELETE' }), 404, 'EventNotFound');
    assertStatus(await api(`/v1/functions/${fB}`, tokens.b, { method: 'PATCH', ...jsonBody({ subscriptions: ['a.event'] }) }), 400, 'UnknownEvent');
    assert.deepEqual((await api('/v1/events', tokens.b)).body.events, []);
    assertStatus(await api('/v1/events/a.event/messages', tokens.aReader, { method: 'POST', ...jsonBody({ payload: 1 }) }), 403, 'Forbidden');
    assert.equal((await platform.store.listRequests({ tenantId: projects.a.id }, { source: 'event', limit: 10 })).length, 0, 'no message got through');
    // B may have an event of the same name: its own, with its own subscribers.
    assertStatus(await api('/v1/events', tokens.b, { method: 'POST', ...jsonBody({ name: 'a.event' }) }), 201);
    const none = await api('/v1/events/a.event/messages', tokens.b, { method: 'POST', ...jsonBody({ payload: 1 }) });
    assertStatus(none, 202);
    assert.deepEqual(none.body.request_ids, [], "B's message reaches none of A's functions");
    assertStatus(await api('/v1/events/a.event', tokens.b, { method: 'DELETE' }), 204);
    assertStatus(await api(`/v1/functions/${fA}`, tokens.a, { method: 'PATCH', ...jsonBody({ subscriptions: [] }) }), 200);
    assertStatus(await api('/v1/events/a.event', tokens.a, { method: 'DELETE' }), 204);
    assertStatus(await api(`/v1/jobs/${jobId}`, tokens.a, { method: 'DELETE' }), 204);
  });

  test("a function subscribes only to its own project's nodes: a change of a node of the same path in another project makes no request of it", async () => {
    const subscribe = (fn: string, token: Record<string, string>, subscriptions: unknown) => api(`/v1/functions/${fn}`, token, { method: 'PATCH', ...jsonBody({ subscriptions }) });
    const nodeRequests = async (fn: string, token: Record<string, string>): Promise<string[]> =>
      ((await api(`/v1/requests?function_id=${fn}&source=node`, token)).body.requests as { payload: { type: string; path: string } }[]).map((r) => `${r.payload.type} ${r.payload.path}`).sort();
    assertStatus(await subscribe(fA, tokens.a, [{ path: '/tenancy', children: true }]), 200);
    assertStatus(await subscribe(fB, tokens.b, [{ path: '/tenancy', children: true }]), 200);
    assertStatus(await api('/v1/coordination/nodes/tenancy', tokens.a, { method: 'POST', ...jsonBody({}) }), 201);
    assertStatus(await api('/v1/coordination/nodes/tenancy/x', tokens.a, { method: 'POST', ...jsonBody({}) }), 201);
    assertStatus(await api('/v1/coordination/nodes/tenancy', tokens.b, { method: 'POST', ...jsonBody({}) }), 201);
    assert.deepEqual(await nodeRequests(fA, tokens.a), ['NodeCreated /tenancy', 'NodeCreated /tenancy/x']);
    assert.deepEqual(await nodeRequests(fB, tokens.b), ['NodeCreated /tenancy'], "B's own tree only");
    assertStatus(await subscribe(fA, tokens.a, []), 200);
    assertStatus(await subscribe(fB, tokens.b, []), 200);
  });
});

describe('versions and aliases', () => {
  test("project B can neither see, call, publish, alias nor delete project A's versions and aliases, nor list A's requests by version or alias; A's stay as they were", async () => {
    const published = await api(`/v1/functions/${fA}/versions`, tokens.a, { method: 'POST', ...jsonBody({ description: 'a v1' }) });
    assertStatus(published, 201);
    assert.equal(published.body.version.version, 1);
    assertStatus(await api(`/v1/functions/${fA}/aliases`, tokens.a, { method: 'POST', ...jsonBody({ name: 'prod', version: 1 }) }), 201);
    // Requests of A's through the version and the alias, for B's listings to leave out.
    const viaVersion = await call(`${platform.webhookUrl}/function/${fA}/versions/1`, { method: 'POST', ...jsonBody({ payload: 'v1' }), headers: { 'content-type': 'application/json', ...tokens.a } });
    assertStatus(viaVersion, 202);
    const viaAlias = await call(`${platform.webhookUrl}/function/${fA}/aliases/prod`, { method: 'POST', ...jsonBody({ payload: 'prod' }), headers: { 'content-type': 'application/json', ...tokens.a } });
    assertStatus(viaAlias, 202);
    for (const requestId of [viaVersion.body.request_id as string, viaAlias.body.request_id as string]) {
      assert.equal((await waitForRequest(platform, requestId, undefined, tokens.a)).status, 'succeeded');
    }

    const snapshot = async (): Promise<unknown> => ({
      ofA: await snapshotOfA(),
      versions: await platform.store.listVersions(fA),
      aliases: await platform.store.listAliases(fA),
    });
    const before = await snapshot();
    const missing = '0'.repeat(32);
    const matrix: [string, string, RequestInit][] = [
      ['GET', '/versions', {}],
      ['POST', '/versions', jsonBody({ description: 'published by B' })],
      ['GET', '/versions/1', {}],
      ['DELETE', '/versions/1', {}],
      ['GET', '/aliases', {}],
      ['POST', '/aliases', jsonBody({ name: 'by-b', version: 1 })],
      ['GET', '/aliases/prod', {}],
      ['PATCH', '/aliases/prod', jsonBody({ version: 1, description: 'moved by B', weights: {} })],
      ['DELETE', '/aliases/prod', {}],
    ];
    for (const [method, suffix, init] of matrix) {
      const response = await api(`/v1/functions/${fA}${suffix}`, tokens.b, { ...init, method });
      assert.equal(response.status, 404, `${method} ${suffix}: ${JSON.stringify(response.body)}`);
      assert.equal(response.body.error.code, 'FunctionNotFound', `${method} ${suffix}`);
      assert.doesNotMatch(JSON.stringify(response.body), new RegExp(projects.a.id), 'no trace of project A in the answer');
      // A's function is to B what a function that does not exist is.
      const nowhere = await api(`/v1/functions/${missing}${suffix}`, tokens.b, { ...init, method });
      assert.equal(response.body.error.message.replace(fA, 'ID'), nowhere.body.error.message.replace(missing, 'ID'), `${method} ${suffix}`);
    }
    for (const target of ['versions/1', 'aliases/prod']) {
      const webhook = await call(`${platform.webhookUrl}/function/${fA}/${target}`, { method: 'POST', ...jsonBody({ payload: 'by B' }), headers: { 'content-type': 'application/json', ...tokens.b } });
      assertStatus(webhook, 404, 'FunctionNotFound');
      assert.doesNotMatch(JSON.stringify(webhook.body), new RegExp(projects.a.id), 'no trace of project A in the answer');
    }
    assert.deepEqual(await snapshot(), before, "A's versions, aliases, function and requests are unchanged");

    // As A: still version 1 only, `prod` still on it; and A's listings find the requests B's do not.
    assert.deepEqual((await api(`/v1/functions/${fA}/versions`, tokens.a)).body.versions.map((version: { version: number }) => version.version), [1]);
    const aliases = (await api(`/v1/functions/${fA}/aliases`, tokens.a)).body.aliases;
    assert.deepEqual(aliases.map((alias: { name: string; version: number; description: string }) => [alias.name, alias.version, alias.description]), [['prod', 1, '']]);
    for (const query of ['?version=1', '?alias=prod', `?function_id=${fA}&version=1`, `?function_id=${fA}&alias=prod`]) {
      const ofA = await api(`/v1/requests${query}`, tokens.a);
      assertStatus(ofA, 200);
      assert.ok(ofA.body.requests.length >= 1, `A's /v1/requests${query} finds A's request`);
      const ofB = await api(`/v1/requests${query}`, tokens.b);
      assertStatus(ofB, 200);
      assert.deepEqual(ofB.body.requests, [], `B's /v1/requests${query}`);
    }
  });
});

describe('webhooks', () => {
  test("a private function's webhook without a token is refused with 401 naming Keystone", async () => {
    const response = await call(`${platform.webhookUrl}/function/${fA}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"payload": 0}' });
    assertStatus(response, 401, 'Unauthorized');
    assert.equal(response.headers.get('www-authenticate'), `Keystone uri="${keystone.authUrl}"`);
  });

  test("another member of the function's project may call it; the request runs as the function's owner", async () => {
    const requestId = await invoke(platform, fA, 0, tokens.a2);
    const request = await waitForRequest(platform, requestId, undefined, tokens.a2);
    assert.deepEqual([request.status, request.tenant_id, request.user_id], ['succeeded', projects.a.id, users.a.id]);
  });

  test("a public function's webhook takes an anonymous call (202); the request runs as the function's owner", async () => {
    const requestId = await invoke(platform, fPublic, 0);
    const request = await waitForRequest(platform, requestId, undefined, tokens.a);
    assert.deepEqual([request.status, request.tenant_id, request.user_id], ['succeeded', projects.a.id, users.a.id]);
  });

  test("a public function's anonymous calls past its rate limit are refused with 429 and Retry-After", async () => {
    const anonymous = (): Promise<Json> => call(`${platform.webhookUrl}/function/${fPublic}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"payload": 0}' });
    // The burst is 3 and one call went before; refilling takes a minute a call.
    const statuses: number[] = [];
    let refused: Json | undefined;
    for (let i = 0; i < 5 && refused === undefined; i += 1) {
      const response = await anonymous();
      statuses.push(response.status);
      if (response.status === 429) refused = response;
    }
    assert.ok(refused, `no 429 in ${statuses.join(', ')}`);
    assert.equal(refused.body.error.code, 'TooManyRequests');
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    // The accepted calls all end before the platform stops.
    await waitFor('the accepted anonymous requests to end', async () => {
      const listed = await api(`/v1/requests?function_id=${fPublic}&status=queued`, tokens.a);
      const running = await api(`/v1/requests?function_id=${fPublic}&status=running`, tokens.a);
      return listed.body.requests.length + running.body.requests.length === 0 ? true : undefined;
    });
  });

});

describe('coordination', () => {
  // The plain spelling is served by a lean route, the other by Express: both must hold tenancy and policy.
  for (const base of ['/v1/coordination', '/V1/Coordination']) {
    test(`project B sees none of project A's tree, A's reader reads but cannot write, and no token is a 401 (${base})`, async () => {
      const path = `${base}/nodes/tenancy-${process.pid}-${base === '/v1/coordination' ? 'plain' : 'other'}`;
      const data = (text: string): RequestInit => jsonBody({ data: Buffer.from(text).toString('base64') });
      assertStatus(await api(path, tokens.a, { method: 'POST', ...data('of A') }), 201);

      assertStatus(await api(path, tokens.b), 404, 'NoNode');
      assertStatus(await api(path, tokens.b, { method: 'PUT', ...data('by B') }), 404, 'NoNode');
      assertStatus(await api(path, tokens.b, { method: 'DELETE' }), 404, 'NoNode');
      // B's tree is its own: the same path there is another node.
      assertStatus(await api(path, tokens.b, { method: 'POST', ...data('of B') }), 201);

      assertStatus(await api(`${path}?children=true`, tokens.aReader), 200);
      assertStatus(await api(path, tokens.aReader, { method: 'PUT', ...data('by the reader') }), 403, 'Forbidden');
      assertStatus(await api(`${path}/child`, tokens.aReader, { method: 'POST', ...data('') }), 403, 'Forbidden');
      assertStatus(await api(path, tokens.aReader, { method: 'DELETE' }), 403, 'Forbidden');
      assertStatus(await api(`${base}/multi`, tokens.aReader, { method: 'POST', ...jsonBody({ ops: [{ op: 'delete', path: '/x' }] }) }), 403, 'Forbidden');

      const anonymous = await call(`${platform.apiUrl}${path}`);
      assertStatus(anonymous, 401, 'Unauthorized');
      assert.equal(anonymous.headers.get('www-authenticate'), `Keystone uri="${keystone.authUrl}"`);

      const read = await api(path, tokens.aReader);
      assertStatus(read, 200);
      assert.equal(Buffer.from(read.body.data as string, 'base64').toString(), 'of A');
      assert.equal(read.body.stat.version, 0, 'nothing of B nor of the reader changed it');
    });
  }
});
