/**
 * A function's OpenStack identity with the real Keystone: `openstack_auth=true` makes a trust from
 * the creating user to Pratai's service user; each request's `context.openstack` carries a token
 * of that trust, valid in Keystone as the user in their project; deleting the function (or
 * PATCHing the flag off) deletes the trust and its tokens stop working; a trust revoked behind
 * Pratai's back fails the next request with TrustInvalid, without retrying it.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the tests read HTTP JSON bodies, whose shape is what they assert */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PrataiError } from '../common/errors.js';
import { startTestKeystone, type TestKeystone, type TestProject, type TestUser } from './helpers/keystone.js';
import { assertNoLeftoverContainers, call, deployFunction, invoke, removeFunctionImages, startTestPlatform, waitForRequest, type TestPlatform } from './helpers/platform.js';

let keystone: TestKeystone;
let platform: TestPlatform;
let project: TestProject;
let user: TestUser;
let auth: Record<string, string>;
const deployed: string[] = [];

/** Hands back what it got, the token reversed: the runner redacts the token itself from what is stored. */
const MODULE = `def main(payload, context):
    o = context.openstack
    return None if o is None else {"auth_url": o.auth_url, "project_id": o.project_id, "region": o.region, "reversed_token": o.token[::-1], "expires_at": o.expires_at, "echo": o.token}
`;

before(async () => {
  keystone = await startTestKeystone();
  project = await keystone.createProject('identity');
  user = await keystone.createUser(project, 'member', 'identity-member');
  auth = { 'x-auth-token': (await keystone.tokenFor(user)).token };
  platform = await startTestPlatform({ DEFAULT: { auth_strategy: 'keystone' }, keystone_authtoken: keystone.authtokenOverrides({ region_name: 'RegionOne' }) });
});
after(async () => {
  await platform?.close();
  if (platform) assertNoLeftoverContainers(platform.runnerName);
  removeFunctionImages(deployed);
  await keystone?.close();
});

async function deploy(fields: Record<string, string>): Promise<any> {
  const fn = await deployFunction(platform, { 'new_module.py': MODULE }, { name: `identity-${deployed.length}`, ...fields }, auth);
  deployed.push(fn.function_id as string);
  return fn;
}

async function run(functionId: string): Promise<any> {
  const requestId = await invoke(platform, functionId, null, auth);
  await waitForRequest(platform, requestId, undefined, auth);
  return (await call(`${platform.apiUrl}/v1/requests/${requestId}`, { headers: auth })).body.request;
}

/** The function's trust id, as stored (the API does not show it). */
const trustOf = async (functionId: string): Promise<string | undefined> => (await platform.store.getFunction(functionId, 'all-tenants'))?.openstack?.trust_id;

/** Keystone's answer about a token: its body, or the status it refused it with. */
async function validate(token: string): Promise<any> {
  try {
    return (await keystone.client.request('GET', '/auth/tokens', { token: await keystone.adminToken(), subjectToken: token })).body;
  } catch (error) {
    if (error instanceof PrataiError) return { refused: error.details?.keystone_status };
    throw error;
  }
}

const trustExists = async (trustId: string): Promise<boolean> => {
  try {
    await keystone.client.request('GET', `/OS-TRUST/trusts/${trustId}`, { token: auth['x-auth-token'] as string });
    return true;
  } catch (error) {
    if (error instanceof PrataiError && error.details?.keystone_status === 404) return false;
    throw error;
  }
};

test("a request's token validates in Keystone as the owner in their project, and stops working once the function is deleted", async () => {
  const fn = await deploy({ openstack_auth: 'true' });
  assert.equal(fn.openstack_auth, true);
  assert.deepEqual(fn.openstack_roles, ['member']);
  const trustId = await trustOf(fn.function_id as string);
  assert.ok(trustId !== undefined && (await trustExists(trustId)), 'the trust is in Keystone');

  const request = await run(fn.function_id);
  assert.equal(request.status, 'succeeded', JSON.stringify(request.error));
  const seen = request.response;
  assert.equal(seen.echo, '***', 'the token itself is not stored');
  assert.equal(seen.auth_url, keystone.authUrl);
  assert.equal(seen.project_id, project.id);
  assert.equal(seen.region, 'RegionOne');
  const token = (seen.reversed_token as string).split('').reverse().join('');
  const validated = await validate(token);
  assert.equal(validated.token.project.id, project.id);
  assert.equal(validated.token.user.id, user.id, 'impersonation: the token acts as the owner');
  const roles = validated.token.roles.map((role: any) => role.name as string);
  assert.ok(roles.includes('member') && !roles.includes('admin'), `the trust's roles (and those they imply): ${roles.join(', ')}`);
  assert.equal(validated.token['OS-TRUST:trust'].id, trustId);

  assert.equal((await call(`${platform.apiUrl}/v1/functions/${fn.function_id}`, { method: 'DELETE', headers: auth })).status, 204);
  assert.equal(await trustExists(trustId), false, 'the trust is deleted with the function');
  assert.deepEqual(await validate(token), { refused: 404 }, "the function's token no longer works");
});

test('a trust revoked in Keystone fails the next request with TrustInvalid, not retried', async () => {
  const fn = await deploy({ openstack_auth: 'true', retries: '2' });
  const trustId = (await trustOf(fn.function_id as string)) as string;
  await keystone.client.deleteTrust(auth['x-auth-token'] as string, trustId);
  const request = await run(fn.function_id);
  assert.equal(request.status, 'failed');
  assert.equal(request.error.type, 'TrustInvalid');
  assert.match(request.error.message, /trust/);
  assert.equal(request.attempts, 1, 'not retried: another attempt would not help');
});

test('PATCHing openstack_auth off deletes the trust; on again makes a new one with the roles asked', async () => {
  const fn = await deploy({ openstack_auth: 'true' });
  const first = (await trustOf(fn.function_id as string)) as string;
  const json = (body: unknown): RequestInit => ({ method: 'PATCH', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const off = await call(`${platform.apiUrl}/v1/functions/${fn.function_id}`, json({ openstack_auth: false }));
  assert.equal(off.status, 200, JSON.stringify(off.body));
  assert.equal(off.body.function.openstack_auth, false);
  assert.equal(await trustExists(first), false);
  assert.equal((await run(fn.function_id)).response, null, 'no identity, no context.openstack');

  const refused = await call(`${platform.apiUrl}/v1/functions/${fn.function_id}`, json({ openstack_auth: true, openstack_roles: ['admin'] }));
  assert.equal(refused.status, 400, JSON.stringify(refused.body));
  assert.equal(refused.body.error.code, 'TrustInvalid', 'a role the user lacks');
  const on = await call(`${platform.apiUrl}/v1/functions/${fn.function_id}`, json({ openstack_auth: true, openstack_roles: 'member' }));
  assert.equal(on.status, 200, JSON.stringify(on.body));
  const second = (await trustOf(fn.function_id as string)) as string;
  assert.ok(second !== first && (await trustExists(second)));
  assert.equal((await run(fn.function_id)).response.project_id, project.id);
});
