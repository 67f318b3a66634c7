/**
 * The console's jobs, events, versions and workflows pages in a real headless Chromium against a real
 * platform under noauth: a job with a seconds pattern and a count of 2 makes its two requests;
 * a job is paused, resumed and deleted; a version is published, an alias made on it and moved to
 * the next; an event is made and a message published to it queues its subscriber's request.
 * A workflow's invocation, started from its page, shows each action's instance succeeded.
 * Screenshots go to var/screenshots/ as in console.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { call, deployFunction, ECHO_MODULE, removeFunctionImages, startTestPlatform, type TestPlatform } from './helpers/platform.js';
import { deployWorkflow } from './helpers/workflows.js';

const ROOT = join(import.meta.dirname, '..');
const SHOTS = join(ROOT, 'var', 'screenshots');
const TIMEOUT_MS = 60_000;
const LOCAL = { Endpoint: 'local', Bucket: 'faasr-bucket', Region: '', Writable: 'TRUE', Anonymous: false };
const TWO_STEPS_CODE = { 'steps.py': 'def begin():\n    return None\n\ndef end():\n    return None\n' };
const action = (fn: string, next: string[] = []): Record<string, unknown> => ({ FunctionName: fn, FaaSServer: 'x', Type: 'Python', Arguments: {}, InvokeNext: next });
const TWO_STEPS = { WorkflowName: 'two-steps', FunctionInvoke: 'begin', DefaultDataStore: 'S3', ComputeServers: {}, DataStores: { S3: LOCAL }, ActionList: { begin: action('begin', ['end']), end: action('end') } };

describe('console pages: jobs, versions, events, workflows (noauth)', () => {
  let platform: TestPlatform;
  let browser: Browser;
  let page: Page;
  let functionId: string;
  const workflowFunctions: string[] = [];

  before(async () => {
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-console.mjs')], { stdio: 'inherit' });
    mkdirSync(SHOTS, { recursive: true });
    platform = await startTestPlatform();
    const fn = await deployFunction(platform, { 'new_module.py': ECHO_MODULE, 'requirements.txt': '' }, { name: 'paged' });
    assert.equal(fn.status, 'ready', fn.build_log);
    functionId = fn.function_id;
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true });
    page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    page.setDefaultTimeout(TIMEOUT_MS);
    page.on('dialog', (dialog) => void dialog.accept());
  });

  after(async () => {
    await browser?.close();
    await platform?.close();
    removeFunctionImages([...(functionId ? [functionId] : []), ...workflowFunctions]);
  });

  const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

  test('a job firing every second, twice, makes two requests; another is paused, resumed and deleted', async () => {
    await page.goto(`${platform.apiUrl}/console/#/jobs`);
    await page.getByRole('heading', { name: 'Jobs' }).waitFor();
    await page.getByText('No job yet.').waitFor();
    await page.getByLabel('Function').selectOption({ label: 'paged' });
    await page.getByLabel('Job name').fill('twice');
    await page.getByLabel(/^Pattern/).fill('* * * * * *');
    await page.getByLabel(/^Count/).fill('2');
    await page.getByLabel('Job payload (JSON)').fill('{"from": "job"}');
    await page.getByRole('button', { name: 'Create job' }).click();
    const row = page.locator('tr[data-job]').filter({ hasText: 'twice' });
    await row.locator('.status-done').waitFor();
    await row.getByRole('cell', { name: '2 (0 left)' }).waitFor();
    assert.equal(await row.locator('a.request-link').count(), 2);
    await shot('jobs');

    const { body } = await call(`${platform.apiUrl}/v1/requests?function_id=${functionId}`);
    assert.equal(body.requests.length, 2, JSON.stringify(body));

    await page.getByLabel('Job name').fill('yearly');
    await page.getByLabel(/^Pattern/).fill('0 0 0 1 1 *');
    await page.getByLabel(/^Count/).fill('');
    await page.getByRole('button', { name: 'Create job' }).click();
    await page.getByRole('button', { name: 'Pause job yearly' }).click();
    await page.locator('tr[data-job]').filter({ hasText: 'yearly' }).locator('.status-paused').waitFor();
    await page.getByRole('button', { name: 'Resume job yearly' }).click();
    await page.locator('tr[data-job]').filter({ hasText: 'yearly' }).locator('.status-running').waitFor();
    await page.getByRole('button', { name: 'Delete job yearly' }).click();
    await page.getByRole('button', { name: 'Delete job twice' }).click();
    await page.getByText('No job yet.').waitFor();

    await page.getByLabel(/^Pattern/).fill('not a pattern');
    await page.getByRole('button', { name: 'Create job' }).click();
    await page.getByRole('alert').filter({ hasText: 'InvalidSchedule' }).waitFor();
  });

  test('publish a version, make an alias on it, move it to the next version, delete it', async () => {
    await page.goto(`${platform.apiUrl}/console/#/functions/${functionId}`);
    await page.getByRole('heading', { name: 'Versions & aliases' }).waitFor();
    await page.getByText('No version yet').waitFor();
    await page.getByLabel('Version description').fill('first');
    await page.getByRole('button', { name: 'Publish version' }).click();
    await page.getByRole('status').filter({ hasText: 'Published version 1.' }).waitFor();
    await page.locator('tr[data-version="1"]').filter({ hasText: 'first' }).waitFor();

    await page.getByLabel('Alias name').fill('live');
    await page.getByLabel('On version').selectOption('1');
    await page.getByRole('button', { name: 'Create alias' }).click();
    await page.locator('tr[data-alias="live"]').waitFor();

    await page.getByLabel('Alias name').fill('live');
    await page.getByRole('button', { name: 'Create alias' }).click();
    await page.getByRole('alert').filter({ hasText: 'AliasExists' }).waitFor();

    await page.getByLabel('Timeout (s)').fill('9');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    await page.getByLabel('Version description').fill('longer timeout');
    await page.getByRole('button', { name: 'Publish version' }).click();
    await page.getByRole('status').filter({ hasText: 'Published version 2.' }).waitFor();
    await page.getByLabel('Version of alias live').selectOption('2');
    await page.getByRole('status').filter({ hasText: 'Alias live moved to version 2.' }).waitFor();
    const alias = await call(`${platform.apiUrl}/v1/functions/${functionId}/aliases/live`);
    assert.equal(alias.body.alias.version, 2);
    await shot('versions');

    await page.getByRole('button', { name: 'Delete alias live' }).click();
    await page.locator('tr[data-alias]').first().waitFor({ state: 'detached' });
    assert.equal((await call(`${platform.apiUrl}/v1/functions/${functionId}/aliases/live`)).status, 404);
  });

  test('create an event, publish a message to it and follow its subscriber\'s request', async () => {
    await page.goto(`${platform.apiUrl}/console/#/events`);
    await page.getByRole('heading', { name: 'Events' }).waitFor();
    await page.getByLabel('Event name').fill('orders');
    await page.getByRole('button', { name: 'Create event' }).click();
    await page.locator('tr[data-event="orders"]').waitFor();

    await page.getByRole('button', { name: 'Publish' }).click();
    await page.locator('.published').filter({ hasText: '0 request(s) queued: no function subscribes to it' }).waitFor();

    const subscribed = await call(`${platform.apiUrl}/v1/functions/${functionId}`, { method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ subscriptions: ['orders'] }) });
    assert.equal(subscribed.status, 200, JSON.stringify(subscribed.body));
    await page.reload();
    await page.locator('tr[data-event="orders"]').getByRole('link', { name: 'paged' }).waitFor();
    await page.getByLabel('Message payload (JSON)').fill('{"order": 7}');
    await page.getByRole('button', { name: 'Publish' }).click();
    const link = page.locator('.published a');
    await page.locator('.published').filter({ hasText: '1 request(s) queued' }).waitFor();
    await shot('events');
    await link.click();
    await page.getByRole('heading', { name: /^Request/ }).waitFor();
    await page.locator('pre.response').filter({ hasText: '"order": 7' }).waitFor();

    await page.goto(`${platform.apiUrl}/console/#/events`);
    await call(`${platform.apiUrl}/v1/functions/${functionId}`, { method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ subscriptions: [] }) });
    await page.getByRole('button', { name: 'Delete event orders' }).click();
    await page.getByText('No event yet.').waitFor();
    assert.equal((await call(`${platform.apiUrl}/v1/events/orders`)).status, 404);
  });

  test('a workflow started from its page shows each action succeeded, with its request', async () => {
    const workflow = await deployWorkflow(platform, TWO_STEPS, TWO_STEPS_CODE);
    workflowFunctions.push(workflow.function_id);
    assert.equal(workflow.status, 'ready', workflow.build_log);
    await page.goto(`${platform.apiUrl}/console/#/workflows`);
    await page.getByRole('link', { name: 'two-steps' }).click();
    await page.getByRole('heading', { name: 'two-steps' }).waitFor();
    await page.getByText('No invocation yet.').waitFor();
    await page.getByRole('button', { name: 'Start an invocation' }).click();
    await page.locator('tr[data-invocation] .status-succeeded').waitFor();
    const instances = page.locator('tr[data-action]');
    await page.locator('tr[data-action="end"] .status-succeeded').waitFor();
    assert.equal(await page.locator('tr[data-action="begin"] .status-succeeded').count(), 1);
    assert.equal(await instances.count(), 2);
    await shot('workflow');
    await page.locator('tr[data-action="end"] a').click();
    await page.getByRole('heading', { name: /^Request/ }).waitFor();
  });
});
