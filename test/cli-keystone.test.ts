/**
 * The `pratai` CLI against a platform behind the real Keystone: the variables of the original
 * documentation exactly as it wrote them, the endpoint found in the token's service catalog,
 * tokens, application credentials, clouds.yaml with secure.yaml, and each way authentication
 * fails (wrong password, expired token, no endpoint in the catalog) told in one line.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { KeystoneSession } from '../common/keystone/client.js';
import { registerService } from '../common/keystone/catalog.js';
import { TestCli } from './helpers/cli.js';
import { freePort } from './helpers/processes.js';
import { KEYSTONE_ADMIN, startTestKeystone, type TestKeystone, type TestUser } from './helpers/keystone.js';
import { assertNoLeftoverContainers, ECHO_MODULE, startTestPlatform, type TestPlatform } from './helpers/platform.js';

let keystone: TestKeystone;
let platform: TestPlatform;
let member: TestUser;
let admin: TestUser;
let cli: TestCli;
/** This file's own region in the shared Keystone's catalog, so no other file's endpoint is found. */
const region = `cli-test-${process.pid}-${randomBytes(3).toString('hex')}`;
/** The internal endpoint registered for the region: nothing listens there. */
let internalUrl: string;
let folder: string;

/** The variables of the original documentation, as it wrote them, for `user`. */
const documented = (user: TestUser): Record<string, string> => ({
  OS_PRATAI_URL: platform.apiUrl,
  OS_USERNAME: user.name,
  OS_PASSWORD: user.password,
  OS_AUTH_URL: keystone.authUrl,
  OS_TENANT_NAME: user.project.name,
  OS_IDENTITY_API_VERSION: '3',
  OS_PROJECT_DOMAIN_NAME: 'Default',
  OS_USER_DOMAIN_NAME: 'Default',
});

/** The same without OS_PRATAI_URL: the endpoint comes from the catalog of this file's region. */
const fromCatalog = (user: TestUser): Record<string, string | undefined> => ({ ...documented(user), OS_PRATAI_URL: undefined, OS_REGION_NAME: region });

before(async () => {
  keystone = await startTestKeystone();
  const project = await keystone.createProject('cli');
  member = await keystone.createUser(project, 'member');
  admin = await keystone.createUser(project, 'admin');
  platform = await startTestPlatform({ DEFAULT: { auth_strategy: 'keystone' }, keystone_authtoken: keystone.authtokenOverrides() });
  internalUrl = `http://127.0.0.1:${await freePort()}`;
  const adminSession = new KeystoneSession(keystone.client, { method: 'password', username: KEYSTONE_ADMIN.username, password: KEYSTONE_ADMIN.password, scope: { projectName: KEYSTONE_ADMIN.projectName } });
  await registerService(adminSession, { region, urls: { public: platform.apiUrl, internal: internalUrl } });
  cli = new TestCli();
  folder = join(cli.home, 'echo');
  mkdirSync(folder);
  writeFileSync(join(folder, 'new_module.py'), ECHO_MODULE);
});
after(async () => {
  cli?.close();
  await removeRegion().catch(() => undefined);
  await platform?.close();
  await keystone?.close();
});
afterEach(() => assertNoLeftoverContainers(platform.runnerName));

/** Takes this file's endpoints and region out of the shared Keystone again. */
async function removeRegion(): Promise<void> {
  const token = await keystone.adminToken();
  const { body } = await keystone.client.request<{ endpoints: { id: string; region_id: string }[] }>('GET', '/endpoints', { token, query: { region_id: region } });
  for (const endpoint of body.endpoints.filter((e) => e.region_id === region)) await keystone.client.request('DELETE', `/endpoints/${endpoint.id}`, { token });
  await keystone.client.request('DELETE', `/regions/${region}`, { token });
}

describe('the variables of the original documentation', () => {
  test('as written there, they create and list functions in the user project', async () => {
    const created = await cli.ok(['function-create', 'echo', '--zip', folder, '-f', 'value', '-c', 'tenant_id', '-c', 'user_id'], { env: documented(member) });
    assert.equal(created, `${member.id}\n${member.project.id}\n`);
    assert.equal(await cli.ok(['function-list', '-f', 'value', '-c', 'Name'], { env: documented(member) }), 'echo\n');
  });

  test('the webhook of a private function is called with the token, and the request followed', async () => {
    const result = await cli.run(['function-execute', 'echo', '--payload', '{"a": 1}', '--wait', '-f', 'json', '-c', 'response', '-c', 'tenant_id'], { env: documented(member) });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { response: { a: 1 }, tenant_id: member.project.id });
  });

  test('a wrong password fails with one line saying Keystone refused the user', async () => {
    const line = await cli.fails(['function-list'], { env: { ...documented(member), OS_PASSWORD: 'wrong' } });
    assert.match(line, new RegExp(`^Authentication as user \`${member.name}\` failed: Keystone refused the credentials: `));
  });

  test('--os-password wins over OS_PASSWORD', async () => {
    assert.equal(await cli.ok(['--os-password', member.password, 'function-list', '-f', 'value', '-c', 'Name'], { env: { ...documented(member), OS_PASSWORD: 'wrong' } }), 'echo\n');
  });

  test('OS_PROJECT_NAME names the project as OS_TENANT_NAME does', async () => {
    const env = { ...documented(member), OS_TENANT_NAME: undefined, OS_PROJECT_NAME: member.project.name };
    assert.equal(await cli.ok(['function-list', '-f', 'value', '-c', 'Name'], { env }), 'echo\n');
  });

  test('without credentials against a Keystone-backed Pratai, the line says what to set', async () => {
    assert.match(await cli.fails(['function-list'], { env: { OS_PRATAI_URL: platform.apiUrl } }), /; set OS_AUTH_URL, OS_USERNAME, OS_PASSWORD and OS_PROJECT_NAME \(or OS_CLOUD\) to authenticate \(HTTP 401 Unauthorized\)/);
  });
});

describe('the service catalog', () => {
  test('without OS_PRATAI_URL the endpoint is the public function-engine one of OS_REGION_NAME', async () => {
    const result = await cli.run(['--debug', 'function-list', '-f', 'value', '-c', 'Name'], { env: fromCatalog(member) });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'echo\n');
    assert.ok(result.stderr.includes(`REQ: GET ${platform.apiUrl}/v1/functions -H "X-Auth-Token: {SHA256}`), result.stderr);
  });

  test('OS_INTERFACE=internal takes the internal endpoint', async () => {
    const line = await cli.fails(['function-list'], { env: { ...fromCatalog(member), OS_INTERFACE: 'internal' } });
    assert.match(line, new RegExp(`^Unable to establish connection to ${internalUrl}: connect ECONNREFUSED`));
  });

  test('a catalog without a function-engine endpoint in the region fails with one line', async () => {
    const line = await cli.fails(['function-list'], { env: { ...fromCatalog(member), OS_REGION_NAME: 'nowhere' } });
    assert.equal(line, `No function-engine endpoint (interface public, region nowhere) in the service catalog of Keystone at ${keystone.authUrl}; set OS_PRATAI_URL, or register Pratai in the catalog`);
  });
});

describe('tokens, application credentials and clouds.yaml', () => {
  test('OS_TOKEN is used as it is with OS_PRATAI_URL, and re-scoped through Keystone with OS_AUTH_URL', async () => {
    const { token } = await keystone.tokenFor(member);
    assert.equal(await cli.ok(['function-list', '-f', 'value', '-c', 'Name'], { env: { OS_PRATAI_URL: platform.apiUrl, OS_TOKEN: token } }), 'echo\n');
    const rescoped = { OS_AUTH_URL: keystone.authUrl, OS_TOKEN: token, OS_PROJECT_ID: member.project.id, OS_REGION_NAME: region };
    assert.equal(await cli.ok(['function-list', '-f', 'value', '-c', 'Name'], { env: rescoped }), 'echo\n');
  });

  test('an expired token fails with one line, from Pratai or from Keystone', async () => {
    const issuer = await keystone.startShortLivedIssuer(1);
    let token: string;
    try {
      const issued = await issuer.client.issueToken({ method: 'password', userId: member.id, password: member.password, scope: { projectId: member.project.id } });
      token = issued.token;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, issued.expiresAt.getTime() - Date.now()) + 200));
    } finally {
      await issuer.close();
    }
    assert.match(await cli.fails(['function-list'], { env: { OS_PRATAI_URL: platform.apiUrl, OS_TOKEN: token } }), /\(HTTP 401 Unauthorized\) \(Request-ID: req-[0-9a-f-]+\)$/);
    assert.match(await cli.fails(['function-list'], { env: { OS_AUTH_URL: keystone.authUrl, OS_TOKEN: token, OS_PROJECT_ID: member.project.id, OS_PRATAI_URL: platform.apiUrl } }), /^Authentication as the given token failed: /);
  });

  test('an application credential authenticates without a password', async () => {
    const credential = await keystone.createApplicationCredential(member);
    const env = { OS_AUTH_URL: keystone.authUrl, OS_APPLICATION_CREDENTIAL_ID: credential.id, OS_APPLICATION_CREDENTIAL_SECRET: credential.secret, OS_REGION_NAME: region };
    assert.equal(await cli.ok(['function-list', '-f', 'value', '-c', 'Name'], { env }), 'echo\n');
    assert.match(await cli.fails(['function-list'], { env: { ...env, OS_APPLICATION_CREDENTIAL_SECRET: 'wrong' } }), new RegExp(`^Authentication as application credential \`${credential.id}\` failed: `));
  });

  test('OS_CLOUD takes the cloud from clouds.yaml and its password from secure.yaml', async () => {
    const config = join(cli.home, 'cloudy');
    mkdirSync(config);
    const auth = `auth_url: ${keystone.authUrl}\n      username: ${member.name}\n      project_name: ${member.project.name}\n      user_domain_name: Default\n      project_domain_name: Default`;
    writeFileSync(join(config, 'clouds.yaml'), `clouds:\n  mine:\n    auth:\n      ${auth}\n    region_name: ${region}\n    identity_api_version: 3\n`);
    writeFileSync(join(config, 'secure.yaml'), `clouds:\n  mine:\n    auth:\n      password: ${member.password}\n`);
    assert.equal(await cli.ok(['function-list', '-f', 'value', '-c', 'Name'], { env: { OS_CLOUD: 'mine' }, cwd: config }), 'echo\n');
  });
});

describe("a function's OpenStack identity", () => {
  test('--openstack-auth makes the trust with the roles of --openstack-role, function-show shows them, --no-openstack-auth takes it away', async () => {
    const env = documented(member);
    const shownFields = ['-f', 'json', '-c', 'function_id', '-c', 'openstack_auth', '-c', 'openstack_roles'];
    const created = JSON.parse(await cli.ok(['function-create', 'identified', '--zip', folder, '--openstack-auth', '--openstack-role', 'member', ...shownFields], { env }));
    assert.deepEqual([created.openstack_auth, created.openstack_roles], [true, ['member']]);
    const trust = (await platform.store.getFunction(created.function_id, 'all-tenants'))?.openstack;
    assert.deepEqual([trust?.roles, trust?.trustor_user_id], [['member'], member.id], 'a trust from the user, with the roles asked for');
    assert.equal(await cli.ok(['function-show', 'identified', '-f', 'value', '-c', 'openstack_auth', '-c', 'openstack_roles'], { env }), 'True\nmember\n');
    assert.match(await cli.fails(['function-update', 'identified', '--openstack-role', 'admin'], { env }), /\(HTTP 400 TrustInvalid\)/, 'a role the user lacks is refused by Keystone, and the user reads why');
    const off = JSON.parse(await cli.ok(['function-update', 'identified', '--no-openstack-auth', ...shownFields], { env }));
    assert.deepEqual([off.openstack_auth, off.openstack_roles], [false, []]);
    assert.equal((await platform.store.getFunction(created.function_id, 'all-tenants'))?.openstack, undefined);
    await cli.ok(['function-delete', 'identified'], { env });
  });
});

describe('across projects', () => {
  test('--all-tenants is refused to a member in one line, and lists every project for an admin', async () => {
    assert.match(await cli.fails(['function-list', '--all-tenants'], { env: documented(member) }), /\(HTTP 403 Forbidden\)/);
    const rows = await cli.ok(['function-list', '--all-tenants', '-f', 'value', '-c', 'Name', '-c', 'Project'], { env: documented(admin) });
    assert.ok(rows.split('\n').includes(`echo ${member.project.id}`), rows);
  });

  test('function-delete removes the function', async () => {
    await cli.ok(['function-delete', 'echo'], { env: documented(member) });
    assert.equal(await cli.ok(['function-list'], { env: documented(member) }), '');
  });
});
