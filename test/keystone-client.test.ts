/**
 * The Keystone v3 client (common/keystone/client.ts) and `pratai-manage register-service`, against the
 * real Keystone: tokens by password, application credential and token; validation, revocation,
 * the catalog, and the errors a caller sees when Keystone refuses or cannot be reached.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { PrataiError } from '../common/errors.js';
import { findEndpoint, identityV3Url, KeystoneClient, KeystoneSession, type KeystoneToken } from '../common/keystone/client.js';
import { SERVICE_TYPE } from '../common/keystone/catalog.js';
import { freePort } from './helpers/processes.js';
import { KEYSTONE_ADMIN, KEYSTONE_SERVICE_USER, startTestKeystone, type TestKeystone, type TestProject, type TestUser } from './helpers/keystone.js';

let keystone: TestKeystone;
let project: TestProject;
let member: TestUser;
let serviceToken: KeystoneToken;

before(async () => {
  keystone = await startTestKeystone();
  project = await keystone.createProject();
  member = await keystone.createUser(project, 'member');
  serviceToken = await keystone.client.issueToken({
    method: 'password',
    username: KEYSTONE_SERVICE_USER.username,
    password: KEYSTONE_SERVICE_USER.password,
    scope: { projectName: KEYSTONE_SERVICE_USER.projectName, projectDomainName: 'Default' },
  });
});
after(() => keystone.close());

async function refusal(promise: Promise<unknown>): Promise<PrataiError> {
  const error = await promise.then(
    () => assert.fail('expected a refusal'),
    (thrown: unknown) => thrown,
  );
  assert.ok(error instanceof PrataiError, String(error));
  return error;
}

describe('getting tokens', () => {
  test('a password with user and project names gives a project token with its user, roles, expiry and catalog', async () => {
    const token = await keystone.client.issueToken({
      method: 'password',
      username: member.name,
      userDomainName: 'Default',
      password: member.password,
      scope: { projectName: project.name, projectDomainName: 'Default' },
    });
    assert.match(token.token, /^\S{100,}$/);
    assert.deepEqual([token.user.id, token.user.name, token.user.domain.id], [member.id, member.name, 'default']);
    assert.deepEqual([token.project?.id, token.project?.name], [project.id, project.name]);
    assert.ok(token.roles.includes('member'));
    assert.ok(token.expiresAt.getTime() > Date.now());
    assert.deepEqual(token.methods, ['password']);
    assert.ok(token.catalog.some((service) => service.type === 'identity'));
  });

  test('a password with user and project ids works the same, and the catalog can be left out', async () => {
    const token = await keystone.client.issueToken({ method: 'password', userId: member.id, password: member.password, scope: { projectId: project.id } }, { catalog: false });
    assert.equal(token.project?.id, project.id);
    assert.deepEqual(token.catalog, []);
  });

  test('an application credential gives a token of its project', async () => {
    const credential = await keystone.createApplicationCredential(member);
    const token = await keystone.client.issueToken({ method: 'application_credential', ...credential });
    assert.equal(token.user.id, member.id);
    assert.equal(token.project?.id, project.id);
    assert.deepEqual(token.methods, ['application_credential']);
  });

  test('an existing token is re-scoped to another project of the same user', async () => {
    const other = await keystone.createProject('other');
    await keystone.grantRole(member, other, 'reader');
    const first = await keystone.tokenFor(member);
    const rescoped = await keystone.client.issueToken({ method: 'token', token: first.token, scope: { projectId: other.id } });
    assert.equal(rescoped.project?.id, other.id);
    assert.ok(rescoped.roles.includes('reader'));
    assert.ok(!rescoped.roles.includes('member'));
  });

  test('a wrong password is Unauthorized', async () => {
    const error = await refusal(keystone.client.issueToken({ method: 'password', userId: member.id, password: 'wrong', scope: { projectId: project.id } }));
    assert.equal(error.code, 'Unauthorized');
    assert.match(error.message, /refused the credentials/);
  });

  test('a Keystone that cannot be reached is ServiceUnavailable naming its URL', async () => {
    const url = `http://127.0.0.1:${await freePort()}/v3`;
    const error = await refusal(new KeystoneClient({ authUrl: url }).issueToken({ method: 'password', userId: member.id, password: member.password }));
    assert.equal(error.code, 'ServiceUnavailable');
    assert.ok(error.message.includes(url), error.message);
    assert.match(error.message, /ECONNREFUSED/);
  });
});

describe('validating and revoking', () => {
  test('a service user validates a token and sees its user, project and roles', async () => {
    const token = await keystone.tokenFor(member);
    const seen = await keystone.client.validateToken(serviceToken.token, token.token, { catalog: false });
    assert.deepEqual([seen.user.id, seen.project?.id, seen.token], [member.id, project.id, token.token]);
    assert.ok(seen.roles.includes('member'));
    assert.equal(seen.expiresAt.getTime(), token.expiresAt.getTime());
  });

  test('a revoked token no longer validates: Unauthorized, Keystone status 404', async () => {
    const token = await keystone.tokenFor(member);
    await keystone.client.revokeToken(token.token);
    const error = await refusal(keystone.client.validateToken(serviceToken.token, token.token));
    assert.equal(error.code, 'Unauthorized');
    assert.equal(error.details?.keystone_status, 404);
  });

  test("a validation with a refused service token is Unauthorized with Keystone's status 401", async () => {
    const token = await keystone.tokenFor(member);
    const error = await refusal(keystone.client.validateToken('not-a-token', token.token));
    assert.equal(error.code, 'Unauthorized');
    assert.equal(error.details?.keystone_status, 401);
  });

  test('a session whose token was revoked authenticates again once and goes on', async () => {
    const session = new KeystoneSession(keystone.client, {
      method: 'password',
      username: KEYSTONE_SERVICE_USER.username,
      password: KEYSTONE_SERVICE_USER.password,
      scope: { projectName: KEYSTONE_SERVICE_USER.projectName },
    });
    const subject = await keystone.tokenFor(member);
    const first = await session.token();
    await keystone.client.revokeToken(first.token);
    const seen = await session.call((token) => keystone.client.validateToken(token, subject.token));
    assert.equal(seen.user.id, member.id);
    assert.notEqual((await session.token()).token, first.token);
  });
});

describe('the service catalog', () => {
  test('findEndpoint picks by service type, interface (either spelling) and region', async () => {
    const { catalog } = await keystone.tokenFor(member);
    assert.equal(findEndpoint(catalog, { type: 'identity' }), 'http://127.0.0.1:5000/v3/');
    assert.equal(findEndpoint(catalog, { type: 'identity', interface: 'publicURL', region: 'RegionOne' }), 'http://127.0.0.1:5000/v3/');
    assert.equal(findEndpoint(catalog, { type: 'identity', region: 'Elsewhere' }), undefined);
    assert.equal(findEndpoint(catalog, { type: 'identity', interface: 'internal' }), undefined);
    assert.equal(findEndpoint(catalog, { type: 'no-such-service' }), undefined);
  });

  test('identity URLs are taken with or without /v3 and a trailing slash; v2.0 is refused', () => {
    for (const url of ['http://k:5000', 'http://k:5000/', 'http://k:5000/v3', 'http://k:5000/v3/']) assert.equal(identityV3Url(url), 'http://k:5000/v3');
    assert.equal(identityV3Url('https://cloud.example.org/identity/v3'), 'https://cloud.example.org/identity/v3');
    assert.throws(() => identityV3Url('http://k:5000/v2.0'), /v2\.0 is not supported/);
    assert.throws(() => identityV3Url('keystone:5000'), /Expected a Keystone URL/);
  });

  test('pratai-manage register-service puts function-engine in the catalog, and a second run changes only the URL that changed', async () => {
    const run = async (...args: string[]): Promise<string> => {
      const { stderr } = await promisify(execFile)(process.execPath, [join(import.meta.dirname, '..', 'dist', 'bin', 'pratai-manage.js'), 'register-service', ...args], {
        env: {
          PATH: process.env.PATH,
          PRATAI_KEYSTONE_AUTHTOKEN_AUTH_URL: keystone.authUrl,
          PRATAI_KEYSTONE_AUTHTOKEN_USERNAME: KEYSTONE_ADMIN.username,
          PRATAI_KEYSTONE_AUTHTOKEN_PASSWORD: KEYSTONE_ADMIN.password,
          PRATAI_KEYSTONE_AUTHTOKEN_PROJECT_NAME: KEYSTONE_ADMIN.projectName,
        },
      });
      return stderr;
    };
    // A region of this file's own keeps the catalog of other test files as it was.
    const region = `test-${process.pid}`;
    try {
      const first = await run('--public-url', 'http://pratai.example.org:9998', '--internal-url', 'http://10.0.0.5:9998', '--region', region);
      assert.match(first, /public endpoint http:\/\/pratai\.example\.org:9998: created/);
      assert.match(first, /internal endpoint http:\/\/10\.0\.0\.5:9998: created/);
      const { catalog } = await keystone.tokenFor(member);
      assert.equal(findEndpoint(catalog, { type: SERVICE_TYPE, interface: 'public', region }), 'http://pratai.example.org:9998');
      assert.equal(findEndpoint(catalog, { type: SERVICE_TYPE, interface: 'internal', region }), 'http://10.0.0.5:9998');

      const second = await run('--public-url', 'https://pratai.example.org', '--internal-url', 'http://10.0.0.5:9998', '--region', region);
      assert.match(second, /public endpoint https:\/\/pratai\.example\.org: updated/);
      assert.match(second, /internal endpoint http:\/\/10\.0\.0\.5:9998: unchanged/);
      const again = await keystone.tokenFor(member);
      assert.equal(findEndpoint(again.catalog, { type: SERVICE_TYPE, region }), 'https://pratai.example.org');
    } finally {
      const token = await keystone.adminToken();
      const { body } = await keystone.client.request<{ endpoints: { id: string }[] }>('GET', '/endpoints', { token, query: { region_id: region } });
      for (const endpoint of body.endpoints) await keystone.client.request('DELETE', `/endpoints/${endpoint.id}`, { token });
      await keystone.client.request('DELETE', `/regions/${region}`, { token });
    }
  });
});
