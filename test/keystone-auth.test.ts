/**
 * auth_strategy = keystone against the real Keystone: who gets in, who gets 401 (missing,
 * malformed, expired, revoked tokens) with a WWW-Authenticate naming Keystone, and 503 — with
 * nothing accepted — when Pratai cannot validate (Keystone down, its service user refused).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { TokenCache } from '../api/token-cache.js';
import { startTestKeystone, type TestKeystone, type TestProject, type TestUser } from './helpers/keystone.js';
import { call, createFunction, ECHO_MODULE, functionImages, startTestPlatform, waitFor, zipOf, type Json, type TestPlatform } from './helpers/platform.js';

let keystone: TestKeystone;
let platform: TestPlatform;
let project: TestProject;
let member: TestUser;

before(async () => {
  keystone = await startTestKeystone();
  project = await keystone.createProject();
  member = await keystone.createUser(project, 'member');
  platform = await startTestPlatform({
    DEFAULT: { auth_strategy: 'keystone' },
    keystone_authtoken: keystone.authtokenOverrides({ www_authenticate_uri: 'https://keystone.example.org/v3' }),
  });
});
after(async () => {
  const functions = (await platform?.store.listFunctions('all-tenants')) ?? [];
  await platform?.close();
  const images = functions.flatMap((fn) => functionImages(fn.function_id));
  if (images.length > 0) execFileSync('docker', ['rmi', '--force', ...images], { stdio: 'ignore' });
  await keystone?.close();
});

const functions = (token?: string, on: TestPlatform = platform): Promise<Json> =>
  call(`${on.apiUrl}/v1/functions`, { headers: token === undefined ? {} : { 'x-auth-token': token } });

function assertRefused(response: Json, status: number, code: string): void {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.equal(response.body.error.code, code);
  if (status !== 403) assert.equal(response.headers.get('cache-control'), 'no-store', 'no proxy keeps a refusal of who the caller is');
}

/** `/healthcheck` as a load balancer asking for JSON gets it. */
const healthOf = (on: TestPlatform): Promise<Json> => call(`${on.apiUrl}/healthcheck`, { headers: { accept: 'application/json' } });

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('who gets in', () => {
  test("a member's project token is accepted and the caller acts in the token's project", async () => {
    const token = await keystone.tokenFor(member);
    const created = await createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 'mine' }, { 'x-auth-token': token.token });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual([created.body.function.tenant_id, created.body.function.user_id], [project.id, member.id]);
    const listed = await functions(token.token);
    assert.deepEqual(listed.body.functions.map((fn: { name: string }) => fn.name), ['mine']);
  });

  test('a call without a token is refused with 401 and WWW-Authenticate naming Keystone', async () => {
    const response = await functions();
    assertRefused(response, 401, 'Unauthorized');
    assert.equal(response.headers.get('www-authenticate'), 'Keystone uri="https://keystone.example.org/v3"');
    assert.match(response.body.error.message, /X-Auth-Token/);
  });

  test('a malformed or unknown token is refused with 401', async () => {
    assertRefused(await functions('not a token'), 401, 'Unauthorized');
    assertRefused(await functions('x'.repeat(10_000)), 401, 'Unauthorized');
    const unknown = await functions('gAAAAABnotarealfernettokenatall');
    assertRefused(unknown, 401, 'Unauthorized');
    assert.ok(unknown.headers.get('www-authenticate'));
  });

  test('an expired token is refused with 401, even one validated while it was good', async () => {
    const issuer = await keystone.startShortLivedIssuer(3);
    try {
      const token = await issuer.client.issueToken({ method: 'password', userId: member.id, password: member.password, scope: { projectId: project.id } });
      // Keystone counts whole seconds: the token may be good for less than 3.
      const first = await functions(token.token);
      if (Date.now() < token.expiresAt.getTime() - 500) assert.equal(first.status, 200, JSON.stringify(first.body));
      await sleep(token.expiresAt.getTime() - Date.now() + 200);
      assertRefused(await functions(token.token), 401, 'Unauthorized');
    } finally {
      await issuer.close();
    }
  });

  test('a revoked token is refused once the cache time has passed', async () => {
    const shortCache = await startTestPlatform({ DEFAULT: { auth_strategy: 'keystone' }, keystone_authtoken: keystone.authtokenOverrides({ token_cache_time: '1' }) });
    try {
      const token = await keystone.tokenFor(member);
      assert.equal((await functions(token.token, shortCache)).status, 200);
      await keystone.revoke(token.token);
      await sleep(1_100);
      assertRefused(await functions(token.token, shortCache), 401, 'Unauthorized');
    } finally {
      await shortCache.close();
    }
  });

  test("identity headers a client sends are dropped: only the token's project counts", async () => {
    const other = await keystone.createProject('other');
    const stranger = await keystone.createUser(other, 'member');
    const token = await keystone.tokenFor(stranger);
    const response = await call(`${platform.apiUrl}/v1/functions`, {
      headers: { 'x-auth-token': token.token, 'x-project-id': project.id, 'x-tenant-id': project.id, 'x-roles': 'admin', 'x-identity-status': 'Confirmed' },
    });
    assert.equal(response.status, 200);
    assert.deepEqual(response.body.functions, []);
    const allTenants = await call(`${platform.apiUrl}/v1/functions?all_tenants=true`, { headers: { 'x-auth-token': token.token, 'x-roles': 'admin' } });
    assertRefused(allTenants, 403, 'Forbidden');
  });

  test('a token scoped to no project is refused with 403', async () => {
    const unscopedUser = await keystone.client.request<{ user: { id: string } }>('POST', '/users', {
      token: await keystone.adminToken(),
      body: { user: { name: `unscoped-${process.pid}-${Date.now()}`, password: 'secret-password', domain_id: 'default' } },
    });
    try {
      const unscoped = await keystone.client.issueToken({ method: 'password', userId: unscopedUser.body.user.id, password: 'secret-password' });
      assert.equal(unscoped.project, undefined);
      const response = await functions(unscoped.token);
      assertRefused(response, 403, 'Forbidden');
      assert.match(response.body.error.message, /scoped to a project/);
    } finally {
      await keystone.client.request('DELETE', `/users/${unscopedUser.body.user.id}`, { token: await keystone.adminToken() });
    }
  });

  test('the service user may authenticate with an application credential', async () => {
    const serviceProject = await keystone.createProject('svc');
    const serviceUser = await keystone.createUser(serviceProject, 'member', 'svc');
    await keystone.grantRole(serviceUser, serviceProject, 'service');
    const credential = await keystone.createApplicationCredential(serviceUser);
    const withAppCred = await startTestPlatform({
      DEFAULT: { auth_strategy: 'keystone' },
      keystone_authtoken: {
        auth_url: keystone.authUrl,
        auth_type: 'v3applicationcredential',
        application_credential_id: credential.id,
        application_credential_secret: credential.secret,
      },
    });
    try {
      assert.equal((await functions((await keystone.tokenFor(member)).token, withAppCred)).status, 200);
    } finally {
      await withAppCred.close();
    }
  });
});

describe('failing closed', () => {
  test('a service user Keystone refuses makes calls 503, never lets them in', async () => {
    const misconfigured = await startTestPlatform({ DEFAULT: { auth_strategy: 'keystone' }, keystone_authtoken: keystone.authtokenOverrides({ password: 'wrong' }) });
    try {
      const response = await functions((await keystone.tokenFor(member)).token, misconfigured);
      assertRefused(response, 503, 'ServiceUnavailable');
      assert.match(response.body.error.message, /cannot validate tokens/);
      const health = await healthOf(misconfigured);
      assert.equal(health.status, 503);
      assert.ok(health.body.reasons.some((reason: string) => /cannot validate tokens/.test(reason)), JSON.stringify(health.body));
    } finally {
      await misconfigured.close();
    }
  });

  test('with Keystone stopped, calls with a new token answer 503 naming Keystone and nothing is accepted', async () => {
    const token = await keystone.tokenFor(member);
    const before = await platform.store.listFunctions('all-tenants');
    await waitFor('the platform to be healthy', async () => ((await healthOf(platform)).status === 200 ? true : undefined));
    await keystone.stop();
    try {
      // Its answer is kept a few seconds: the next ones say Keystone is out of reach.
      const health = await waitFor('/healthcheck to report Keystone', async () => {
        const answer = await healthOf(platform);
        return answer.status === 503 ? answer : undefined;
      });
      assert.ok(health.body.reasons.some((reason: string) => reason.includes(keystone.authUrl)), JSON.stringify(health.body));
      const listed = await functions(token.token);
      assertRefused(listed, 503, 'ServiceUnavailable');
      assert.ok(listed.body.error.message.includes(keystone.authUrl), listed.body.error.message);
      const created = await createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 'while-down' }, { 'x-auth-token': token.token });
      assertRefused(created, 503, 'ServiceUnavailable');
      const webhook = await call(`${platform.webhookUrl}/function/${before[0]?.function_id}`, {
        method: 'POST',
        headers: { 'x-auth-token': token.token, 'content-type': 'application/json' },
        body: '{"payload": 1}',
      });
      assertRefused(webhook, 503, 'ServiceUnavailable');
      assert.deepEqual(await platform.store.listFunctions('all-tenants'), before);
      assert.deepEqual(await platform.store.listRequests('all-tenants', { limit: 10 }), []);
    } finally {
      await keystone.start();
    }
    assert.equal((await functions(token.token)).status, 200, 'once Keystone is back, the same token is accepted');
    await waitFor('/healthcheck to be 200 again', async () => ((await healthOf(platform)).status === 200 ? true : undefined));
  });
});

describe('the token cache', () => {
  test('keeps a token until the earlier of the cache time and its expiry, by hash only', () => {
    let now = 1_000_000;
    const cache = new TokenCache<string>(60_000, 10, () => now);
    cache.set('token-a', 'alice', new Date(now + 3_600_000));
    cache.set('token-b', 'bob', new Date(now + 10_000));
    now += 9_999;
    assert.deepEqual([cache.get('token-a'), cache.get('token-b')], ['alice', 'bob']);
    now += 1;
    assert.deepEqual([cache.get('token-a'), cache.get('token-b')], ['alice', undefined], 'never past expires_at');
    now += 50_000;
    assert.equal(cache.get('token-a'), undefined, 'never past the cache time');
    assert.match(TokenCache.keyOf('token-a'), /^[0-9a-f]{64}$/);
  });

  test('keeps nothing with a cache time of 0, and drops the oldest past its size', () => {
    const none = new TokenCache<string>(0);
    none.set('t', 'v', new Date(Date.now() + 60_000));
    assert.equal(none.get('t'), undefined);
    const small = new TokenCache<number>(60_000, 2);
    for (const n of [1, 2, 3]) small.set(`t${n}`, n, new Date(Date.now() + 60_000));
    assert.deepEqual([small.get('t1'), small.get('t2'), small.get('t3'), small.size], [undefined, 2, 3, 2]);
  });
});
