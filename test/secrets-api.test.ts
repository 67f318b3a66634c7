/**
 * Secrets and function context through the REST API of the real in-process platform: a value
 * goes in and never comes back out (no answer, no log line, no file under state_path holds it),
 * keys rotate with pratai-manage, functions name secrets and carry a context, and bad input is a
 * 400 that names the problem and stores nothing. The separate processes refuse to start without
 * keys. Tenancy is in test/tenancy.test.ts (with the real Keystone).
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the tests read HTTP JSON bodies, whose shape is what they assert */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { createLogger } from '../common/log.js';
import { keyIdOf } from '../common/secrets/cipher.js';
import { Keyring } from '../common/secrets/keyring.js';
import { resolveSecrets } from '../common/secrets/resolve.js';
import { assertNoLeftoverContainers, call, createFunction, deployFunction, ECHO_MODULE, removeFunctionImages, startTestPlatform, zipOf, type Json, type TestPlatform } from './helpers/platform.js';
import { startPratai } from './helpers/processes.js';

let platform: TestPlatform;
/** Every line the platform logged, at debug level. */
const logLines: string[] = [];
/** Every value given to a secret here: none may come back. */
const values: string[] = [];
const deployed: string[] = [];
/** This platform's project (noauth). */
const PROJECT = 'noauth';

before(async () => {
  platform = await startTestPlatform({}, { log: createLogger('test', { debug: true, write: (line) => logLines.push(line) }) });
});
after(async () => {
  await platform?.close();
  removeFunctionImages(deployed);
});
afterEach(() => assertNoLeftoverContainers(platform.runnerName));

/** A value no file or answer holds by chance. */
const secretValue = (label: string): string => {
  const value = `${label}-${randomBytes(12).toString('hex')}`;
  values.push(value);
  return value;
};

const api = (path: string, init: RequestInit = {}): Promise<Json> => call(`${platform.apiUrl}${path}`, init);
const json = (method: string, body: unknown): RequestInit => ({ method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const createSecret = (name: string, value: unknown): Promise<Json> => api('/v1/secrets', json('POST', { name, value }));

/** Asserts the status and error code, that the message names `names`, and that no secret value is in the answer. */
function refused(response: Json, status: number, code: string, names?: RegExp): string {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.equal(response.body.error.code, code);
  if (names) assert.match(response.body.error.message, names);
  assertNoValueIn(JSON.stringify(response.body));
  return response.body.error.message as string;
}

function assertNoValueIn(text: string, where = 'the answer'): void {
  for (const value of values) assert.ok(!text.includes(value), `${where} holds a secret's value`);
}

/** Every regular file under `folder`, with its bytes. */
function filesUnder(folder: string): [string, Buffer][] {
  return readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .map((name) => join(folder, name))
    .filter((path) => statSync(path).isFile())
    .map((path) => [path, readFileSync(path)]);
}

const functionCount = async (): Promise<number> => (await api('/v1/functions')).body.functions.length;

describe('the keys', () => {
  test('without [secrets] keys the platform makes one under state_path, mode 0600, and says so in its log', () => {
    const file = join(platform.statePath, 'secrets.key');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    assert.equal(key.length, 32);
    assert.equal(platform.keyring.primaryKeyId, keyIdOf(key));
    const said = logLines.filter((line) => line.includes('[secrets] keys is not set'));
    assert.equal(said.length, 1, logLines.join(''));
    assert.match(said[0] as string, new RegExp(`WARNING .*${file}.*key ${keyIdOf(key)}`));
    assert.ok(!said[0]?.includes(key.toString('base64')), 'the log names the key by its id, never shows it');
  });

  test('pratai-api and pratai-runner refuse to start without [secrets] keys, or with a bad one, naming the option and never the key', async () => {
    const statePath = mkdtempSync(join(tmpdir(), 'pratai-nokeys-'));
    try {
      const env = { PRATAI_DEFAULT_STATE_PATH: statePath, PRATAI_DEFAULT_TRANSPORT_URL: 'rabbit://guest:guest@127.0.0.1:5672/' };
      for (const executable of ['pratai-api', 'pratai-runner'] as const) {
        const missing = startPratai(executable, { env: { ...env, PRATAI_SECRETS_KEYS: '' } });
        assert.equal(await missing.exited(), 2, missing.output());
        assert.match(missing.output(), new RegExp(`ERROR .*${executable} needs \\[secrets\\] keys \\(environment PRATAI_SECRETS_KEYS\\).*base64-encoded 32-byte keys`));
        const short = randomBytes(16).toString('base64');
        const bad = startPratai(executable, { env: { ...env, PRATAI_SECRETS_KEYS: `${randomBytes(32).toString('base64')},${short}` } });
        assert.equal(await bad.exited(), 2, bad.output());
        assert.match(bad.output(), /ERROR .*\[secrets\] keys key 2 is not a base64-encoded 32-byte key \(it decodes to 16 bytes\)/);
        assert.ok(!bad.output().includes(short), 'the bad key is not shown');
      }
      assert.deepEqual(readdirSync(statePath), [], 'no key was made for them');
    } finally {
      rmSync(statePath, { recursive: true, force: true });
    }
  });
});

describe('secrets', () => {
  test('a secret is created, listed, shown and changed, each answer carrying its metadata and never its value', async () => {
    const created = await createSecret('db_password', secretValue('first'));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { secret } = created.body;
    assert.deepEqual(Object.keys(secret).sort(), ['created_at', 'functions', 'name', 'updated_at', 'version']);
    assert.deepEqual([secret.name, secret.version, secret.functions], ['db_password', 1, []]);
    assert.equal(secret.created_at, secret.updated_at);
    assert.deepEqual((await api('/v1/secrets/db_password')).body.secret, secret);
    const changed = await api('/v1/secrets/db_password', json('PUT', { value: secretValue('second') }));
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.equal(changed.body.secret.version, 2);
    assert.ok(changed.body.secret.updated_at > secret.updated_at);
    assert.equal(changed.body.secret.created_at, secret.created_at);
    await createSecret('Api.Key-2', secretValue('other'));
    const listed = await api('/v1/secrets');
    assert.deepEqual(listed.body.secrets.map((each: any) => [each.name, each.version]), [['Api.Key-2', 1], ['db_password', 2]]);
    for (const answer of [created, changed, listed]) assertNoValueIn(JSON.stringify(answer.body));
    assert.equal((await api('/v1/secrets/Api.Key-2', { method: 'DELETE' })).status, 204);
    refused(await api('/v1/secrets/Api.Key-2'), 404, 'SecretNotFound', /`Api\.Key-2`/);
    refused(await api('/v1/secrets/Api.Key-2', { method: 'DELETE' }), 404, 'SecretNotFound');
    refused(await api('/v1/secrets/Api.Key-2', json('PUT', { value: 'x' })), 404, 'SecretNotFound');
  });

  test('a second secret of one name is refused with SecretExists, and the first keeps its value', async () => {
    const value = secretValue('kept');
    assert.equal((await createSecret('unique_one', value)).status, 201);
    refused(await createSecret('unique_one', secretValue('intruder')), 409, 'SecretExists', /`unique_one`/);
    assert.deepEqual(await resolveSecrets(platform.store, platform.keyring, PROJECT, ['unique_one']), { unique_one: value });
  });

  test('bad secrets are refused with 400 naming the problem, never quoting the value, and nothing is stored', async () => {
    const huge = secretValue('huge').padEnd(64 * 1024 + 1, 'x');
    values.push(huge);
    refused(await createSecret('too_big', huge), 400, 'InvalidParameter', /`value` to take at most 65536 bytes \(UTF-8\), got 65537 bytes/);
    refused(await createSecret('not_text', 12345), 400, 'InvalidParameter', /`value` to be a string, got a number/);
    refused(await api('/v1/secrets', json('POST', { name: 'no_value' })), 400, 'InvalidParameter', /Expected `value`/);
    refused(await createSecret('9starts-with-digit', 'x'), 400, 'InvalidParameter', /`name` to be a name of letters/);
    refused(await createSecret('a'.repeat(129), 'x'), 400, 'InvalidParameter', /`name`/);
    refused(await api('/v1/secrets', json('POST', { name: 'extra', value: 'x', tenant_id: 'other' })), 400, 'InvalidParameter', /Unknown field `tenant_id`/);
    const broken = secretValue('broken');
    const notJson = await api('/v1/secrets', { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"name": "broken", "value": "${broken}` });
    refused(notJson, 400, 'InvalidJson', /not valid JSON/);
    refused(await api('/v1/secrets', { method: 'POST', body: 'name=form' }), 400, 'InvalidJson', /Content-Type application\/json/);
    for (const name of ['too_big', 'not_text', 'no_value', 'broken', 'extra']) refused(await api(`/v1/secrets/${name}`), 404, 'SecretNotFound');
    refused(await api('/v1/secrets/unique_one', json('PUT', { value: huge })), 400, 'InvalidParameter', /at most 65536 bytes/);
    assert.equal((await api('/v1/secrets/unique_one')).body.secret.version, 1, 'unchanged');
  });

  test('a function names secrets and carries a context; a secret it names is not deleted (SecretInUse names it) until it no longer does', async () => {
    await createSecret('smtp_password', secretValue('smtp'));
    await createSecret('api_token', secretValue('token'));
    const contextFile = '# FaaSpot style\naccess_key_is = "XYZ"\n\nsecret_access_key = \'123\'\nexport REGION=eu-west=1\n';
    const fn = await deployFunction(platform, { 'new_module.py': ECHO_MODULE }, { name: 'mailer', context: contextFile, secrets: 'smtp_password, api_token' });
    deployed.push(fn.function_id);
    assert.equal(fn.status, 'ready');
    assert.deepEqual(fn.context, { access_key_is: 'XYZ', secret_access_key: '123', REGION: 'eu-west=1' });
    assert.deepEqual(fn.secrets, ['smtp_password', 'api_token']);
    assert.deepEqual((await api('/v1/secrets/api_token')).body.secret.functions, [{ function_id: fn.function_id, name: 'mailer' }]);

    const inUse = refused(await api('/v1/secrets/smtp_password', { method: 'DELETE' }), 409, 'SecretInUse', /function `mailer`/);
    assert.ok(inUse.includes(fn.function_id));
    assert.deepEqual((await api('/v1/secrets/smtp_password', { method: 'DELETE' })).body.error.details, { functions: [{ function_id: fn.function_id, name: 'mailer' }] });

    const patched = await api(`/v1/functions/${fn.function_id}`, json('PATCH', { secrets: ['api_token'], context: { MODE: 'test' } }));
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.deepEqual([patched.body.function.secrets, patched.body.function.context, patched.body.function.status], [['api_token'], { MODE: 'test' }, 'ready']);
    const shown = (await api(`/v1/functions/${fn.function_id}`)).body.function;
    assert.deepEqual([shown.secrets, shown.context], [['api_token'], { MODE: 'test' }]);
    assert.equal((await api('/v1/secrets/smtp_password', { method: 'DELETE' })).status, 204);

    const form = new FormData();
    form.append('context', '{"FROM": "multipart"}');
    form.append('secrets', '');
    const multipart = await api(`/v1/functions/${fn.function_id}`, { method: 'PATCH', body: form });
    assert.equal(multipart.status, 200, JSON.stringify(multipart.body));
    assert.deepEqual([multipart.body.function.context, multipart.body.function.secrets], [{ FROM: 'multipart' }, []]);
    assert.equal((await api(`/v1/functions/${fn.function_id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await api('/v1/secrets/api_token', { method: 'DELETE' })).status, 204);
  });

  test('a function with bad context or secrets is refused with 400 naming the problem, and nothing is stored or changed', async () => {
    await createSecret('present', secretValue('present'));
    const before = await functionCount();
    const attempt = (fields: Record<string, string>): Promise<Json> => createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 'refused', ...fields });
    refused(await attempt({ secrets: 'present,absent' }), 400, 'UnknownSecret', /`absent`/);
    refused(await attempt({ secrets: '["present", 7]' }), 400, 'InvalidParameter', /`secrets`.*got `7` \(number\)/);
    refused(await attempt({ context: '{"A": 1}' }), 400, 'InvalidParameter', /`context\.A` to be a string, got a number/);
    refused(await attempt({ context: '{"A": ' }), 400, 'InvalidParameter', /not valid JSON/);
    const malformed = refused(await attempt({ context: 'GOOD=1\n# fine\nthis line has no equals sign\n' }), 400, 'InvalidParameter', /^Line 3 of the context file has no `=`/);
    assert.ok(!malformed.includes('no equals sign'), 'the line itself is not quoted');
    refused(await attempt({ context: 'A=1\nA=2\n' }), 400, 'InvalidParameter', /Line 2 of the context file sets `A` again \(line 1 set it first\)/);
    refused(await attempt({ context: '1BAD=x\n' }), 400, 'InvalidParameter', /Line 1 of the context file: expected a key/);
    refused(await attempt({ context: `BIG=${'x'.repeat(64 * 1024)}` }), 400, 'InvalidParameter', /`context` to take at most 65536 bytes as JSON/);
    assert.equal(await functionCount(), before, 'nothing was stored');
    assert.deepEqual((await api('/v1/secrets/present')).body.secret.functions, []);

    const fn = (await attempt({ name: 'kept-as-is', context: 'K=v', secrets: 'present' })).body.function;
    deployed.push(fn.function_id);
    refused(await api(`/v1/functions/${fn.function_id}`, json('PATCH', { secrets: ['present', 'absent'], memory: 256 })), 400, 'UnknownSecret', /`absent`/);
    refused(await api(`/v1/functions/${fn.function_id}`, json('PATCH', { context: { K: ['v'] }, memory: 256 })), 400, 'InvalidParameter', /`context\.K` to be a string, got an array/);
    const unchanged = (await api(`/v1/functions/${fn.function_id}`)).body.function;
    assert.deepEqual([unchanged.memory, unchanged.context, unchanged.secrets], [128, { K: 'v' }, ['present']]);
    assert.equal((await api(`/v1/functions/${fn.function_id}`, { method: 'DELETE' })).status, 204);
  });
});

describe('at rest', () => {
  test('no file under state_path (database, WAL, queue) nor any log line holds a secret value; a context value is found there', async () => {
    const value = secretValue('at-rest');
    await createSecret('at_rest', value);
    await api('/v1/secrets/at_rest', json('PUT', { value: secretValue('at-rest-changed') }));
    // The search must be able to find what is stored in clear: a context value is.
    const contextValue = `plain-${randomBytes(8).toString('hex')}`;
    const fn = (await createFunction(platform, zipOf({ 'new_module.py': ECHO_MODULE }), { name: 'at-rest', context: `VISIBLE=${contextValue}`, secrets: 'at_rest' })).body.function;
    deployed.push(fn.function_id);
    const files = filesUnder(platform.statePath);
    assert.ok(files.some(([path]) => path.endsWith('-wal')), `a WAL file is searched too: ${files.map(([path]) => path).join(', ')}`);
    assert.ok(files.some(([, bytes]) => bytes.includes(contextValue)), 'the context value is found in the database files');
    for (const [path, bytes] of files) {
      for (const each of values) assert.ok(!bytes.includes(each), `${path} holds a secret's value`);
    }
    assertNoValueIn(logLines.join(''), 'the log');
    assert.ok(logLines.some((line) => line.includes('secret at_rest created')), 'the log names the secret');
    assert.equal((await api(`/v1/functions/${fn.function_id}`, { method: 'DELETE' })).status, 204);
  });

  test('key rotation: with a new key first, pratai-manage secrets-rotate seals every secret under it, and the new key alone opens them all', async () => {
    const oldKey = readFileSync(join(platform.statePath, 'secrets.key'), 'utf8').trim();
    const newKey = randomBytes(32);
    const names = (await platform.store.listSecrets({ tenantId: PROJECT })).map((secret) => secret.name);
    assert.ok(names.length >= 3, names.join(', '));
    const before = await resolveSecrets(platform.store, platform.keyring, PROJECT, names);
    const rotate = async (keys: string): Promise<{ code: number | null; output: string }> => {
      const manage = startPratai('pratai-manage', {
        args: ['secrets-rotate'],
        env: { PRATAI_DEFAULT_STATE_PATH: platform.statePath, PRATAI_DATABASE_CONNECTION: `sqlite://${platform.statePath}/pratai.db`, PRATAI_SECRETS_KEYS: keys },
      });
      return { code: await manage.exited(), output: manage.output() };
    };
    const first = await rotate(`${newKey.toString('base64')},${oldKey}`);
    assert.equal(first.code, 0, first.output);
    assert.match(first.output, new RegExp(`secrets under key ${keyIdOf(newKey)}: ${names.length} re-encrypted, 0 already under it`));
    const stored = await platform.store.listSecrets({ tenantId: PROJECT });
    assert.deepEqual([...new Set(stored.map((secret) => secret.key_id))], [keyIdOf(newKey)], 'none is left under the old key');
    assert.deepEqual(await resolveSecrets(platform.store, new Keyring([newKey]), PROJECT, names), before);
    assert.deepEqual(stored.map((secret) => secret.version), (await api('/v1/secrets')).body.secrets.map((secret: any) => secret.version), 'versions unchanged');

    const again = await rotate(`${newKey.toString('base64')},${oldKey}`);
    assert.match(again.output, new RegExp(`0 re-encrypted, ${names.length} already under it`));
    const lacking = await rotate(oldKey);
    assert.equal(lacking.code, 1, lacking.output);
    assert.match(lacking.output, new RegExp(`ERROR .*secret ${names[0]} of project ${PROJECT} is under key ${keyIdOf(newKey)}, which \\[secrets\\] keys lacks`));
    for (const output of [first.output, again.output, lacking.output]) {
      assertNoValueIn(output, "pratai-manage's output");
      assert.ok(!output.includes(oldKey) && !output.includes(newKey.toString('base64')), 'no key in the output');
    }
  });
});
