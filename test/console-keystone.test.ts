/**
 * Signing in with Keystone: `POST /v1/auth/tokens` against the real Keystone (a project-scoped
 * token for right credentials, 401 for wrong ones, 503 when Keystone cannot be reached, 404 under
 * noauth; never the password or the token in the log), and the console in a real headless
 * Chromium signing in with a member's credentials, working in that member's project, being sent
 * back to sign in when its token is refused, and signing out. Screenshots go to var/screenshots/.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createLogger } from '../common/log.js';
import { startTestKeystone, type TestKeystone, type TestProject, type TestUser } from './helpers/keystone.js';
import { call, removeFunctionImages, startTestPlatform, type Json, type TestPlatform } from './helpers/platform.js';
import { freePort } from './helpers/processes.js';

const ROOT = join(import.meta.dirname, '..');
const SHOTS = join(ROOT, 'var', 'screenshots');
const TIMEOUT_MS = 90_000;

let keystone: TestKeystone;
let platform: TestPlatform;
let project: TestProject;
let member: TestUser;
const logLines: string[] = [];
const created: string[] = [];

before(async () => {
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-console.mjs')], { stdio: 'inherit' });
  keystone = await startTestKeystone();
  project = await keystone.createProject('console');
  member = await keystone.createUser(project, 'member', 'console');
  platform = await startTestPlatform(
    { DEFAULT: { auth_strategy: 'keystone' }, keystone_authtoken: keystone.authtokenOverrides() },
    { log: createLogger('test', { debug: true, write: (line) => logLines.push(line) }) },
  );
});
after(async () => {
  await platform?.close();
  removeFunctionImages(created);
  await keystone?.close();
});

const signIn = (body: unknown, on: TestPlatform = platform): Promise<Json> =>
  call(`${on.apiUrl}/v1/auth/tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('POST /v1/auth/tokens', () => {
  test("a member's password gets a token scoped to the project, which the API then takes", async () => {
    const answer = await signIn({ username: member.name, password: member.password, project_name: project.name });
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    assert.equal(answer.headers.get('cache-control'), 'no-store');
    assert.deepEqual(answer.body.project, { id: project.id, name: project.name });
    assert.deepEqual(answer.body.user, { id: member.id, name: member.name });
    assert.ok(answer.body.roles.includes('member'), JSON.stringify(answer.body.roles));
    assert.ok(Date.parse(answer.body.expires_at) > Date.now());
    const listed = await call(`${platform.apiUrl}/v1/functions`, { headers: { 'x-auth-token': answer.body.token } });
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    assert.ok(logLines.some((line) => line.includes('/v1/auth/tokens')), 'the sign-in was logged at all');
    assert.ok(!logLines.some((line) => line.includes(member.password) || line.includes(answer.body.token)), 'the log holds the password or the token');
  });

  test('wrong credentials are 401 Unauthorized, saying nothing of which part was wrong', async () => {
    const wrongPassword = await signIn({ username: member.name, password: 'not-the-password', project_name: project.name });
    const unknownUser = await signIn({ username: 'nobody-at-all', password: member.password, project_name: project.name });
    const otherProject = await signIn({ username: member.name, password: member.password, project_name: 'admin' });
    for (const answer of [wrongPassword, unknownUser, otherProject]) {
      assert.equal(answer.status, 401, JSON.stringify(answer.body));
      assert.equal(answer.body.error.code, 'Unauthorized');
      assert.equal(answer.body.error.details, undefined);
    }
    assert.match(wrongPassword.body.error.message, /wrong password, unknown user or project/);
    assert.ok(!logLines.some((line) => line.includes('not-the-password')), 'the log holds the password');
  });

  test('a body without the fields is 400 InvalidParameter', async () => {
    const answer = await signIn({ username: member.name, project_name: project.name });
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error.code, 'InvalidParameter');
    assert.match(answer.body.error.message, /`password`/);
  });

  test('Keystone unreachable is 503 ServiceUnavailable', async () => {
    const closed = `http://127.0.0.1:${await freePort()}/v3`;
    const lost = await startTestPlatform({ DEFAULT: { auth_strategy: 'keystone' }, keystone_authtoken: keystone.authtokenOverrides({ auth_url: closed }) });
    try {
      const answer = await signIn({ username: member.name, password: member.password, project_name: project.name }, lost);
      assert.equal(answer.status, 503, JSON.stringify(answer.body));
      assert.equal(answer.body.error.code, 'ServiceUnavailable');
    } finally {
      await lost.close();
    }
  });

  test('under noauth there is no sign-in: 404, and the console is told to go straight in', async () => {
    const open = await startTestPlatform();
    try {
      const answer = await signIn({ username: 'a', password: 'b', project_name: 'c' }, open);
      assert.equal(answer.status, 404);
      assert.equal(answer.body.error.code, 'NotFound');
      assert.deepEqual((await call(`${open.apiUrl}/console/config.json`)).body, { auth_strategy: 'noauth' });
      assert.deepEqual((await call(`${platform.apiUrl}/console/config.json`)).body, { auth_strategy: 'keystone' });
    } finally {
      await open.close();
    }
  });
});

describe('the console with Keystone', () => {
  let browser: Browser;
  let page: Page;

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true });
    page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    page.setDefaultTimeout(TIMEOUT_MS);
  });
  after(async () => {
    await browser?.close();
  });

  const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const fillSignIn = async (password: string): Promise<void> => {
    await page.getByLabel('User', { exact: true }).fill(member.name);
    await page.getByLabel('Password').fill(password);
    await page.getByLabel('Project', { exact: true }).fill(project.name);
    await page.getByRole('button', { name: 'Sign in' }).click();
  };

  test('a wrong password shows the error and stays on the sign-in form', async () => {
    await page.goto(`${platform.apiUrl}/console/`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await fillSignIn('not-the-password');
    await page.getByRole('alert').filter({ hasText: 'Unauthorized' }).waitFor();
    await shot('keystone-sign-in-refused');
    assert.equal(await page.evaluate('sessionStorage.length'), 0);
  });

  test('a member signs in, creates a function from the editor, invokes it and sees its request succeed', async () => {
    await fillSignIn(member.password);
    await page.getByRole('heading', { name: 'Functions' }).waitFor();
    await page.getByText(`${member.name} in ${project.name}`).waitFor();
    const kept = JSON.parse(String(await page.evaluate("sessionStorage.getItem('pratai.session')"))) as { token: string };
    assert.ok(kept.token.length > 0);

    await page.getByLabel('Name').fill('signed-in');
    await page.getByRole('button', { name: 'Create function' }).click();
    await page.getByRole('heading', { name: 'signed-in' }).waitFor();
    const functionId = /#\/functions\/([0-9a-f]{32})/.exec(page.url())?.[1] ?? assert.fail(`not on a function's page: ${page.url()}`);
    created.push(functionId);
    await page.locator('.status-ready').first().waitFor();
    await page.getByLabel('Payload (JSON)').fill('{"name": "keystone"}');
    await page.getByRole('button', { name: 'Invoke' }).click();
    const queued = page.locator('.outcome a');
    await queued.waitFor();
    const requestId = (await queued.textContent())?.replace('request ', '') ?? '';
    await page.locator(`tr[data-request="${requestId}"] .status-succeeded`).waitFor();
    await shot('keystone-function');

    // The function is the member's, in the member's project: the API says so to the same token.
    const { body } = await call(`${platform.apiUrl}/v1/functions/${functionId}`, { headers: { 'x-auth-token': kept.token } });
    assert.deepEqual([body.function.tenant_id, body.function.user_id], [project.id, member.id]);
  });

  test('a token the API refuses sends the console back to sign in, with why', async () => {
    await page.evaluate(`(() => { const kept = JSON.parse(sessionStorage.getItem('pratai.session')); kept.token = 'gAAAAABrevokedorneverissued'; sessionStorage.setItem('pratai.session', JSON.stringify(kept)); })()`);
    await page.goto(`${platform.apiUrl}/console/#/functions`);
    await page.reload();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByRole('status').filter({ hasText: 'You were signed out' }).waitFor();
    assert.equal(await page.evaluate('sessionStorage.length'), 0);
  });

  test('signing out forgets the token', async () => {
    await fillSignIn(member.password);
    await page.getByRole('link', { name: 'signed-in' }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByRole('status').filter({ hasText: 'You signed out.' }).waitFor();
    assert.equal(await page.evaluate('sessionStorage.length'), 0);
    await page.reload();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  });
});
