/**
 * The console in a real headless Chromium (Debian's package, driven by playwright-core) against
 * a real platform under noauth: create functions from the editor and from a zip, invoke, watch a
 * request turn succeeded without reloading, read its logs, change a setting, read a failed
 * request's traceback, delete. Each page's screenshot goes to var/screenshots/ (not committed; a few are copied to docs/console/).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { call, removeFunctionImages, startTestPlatform, zipOf, type TestPlatform } from './helpers/platform.js';

const ROOT = join(import.meta.dirname, '..');
const SHOTS = join(ROOT, 'var', 'screenshots');
const FAILS_ON_ASK = ['def main(payload=None):', '    if payload == "fail":', "        raise ValueError('asked to fail')", '    return {"got": payload}', ''].join('\n');
const TIMEOUT_MS = 90_000;

describe('console (noauth)', () => {
  let platform: TestPlatform;
  let browser: Browser;
  let page: Page;
  const created: string[] = [];

  before(async () => {
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-console.mjs')], { stdio: 'inherit' });
    mkdirSync(SHOTS, { recursive: true });
    platform = await startTestPlatform();
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true });
    page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    page.setDefaultTimeout(TIMEOUT_MS);
  });

  after(async () => {
    await browser?.close();
    await platform?.close();
    removeFunctionImages(created);
  });

  const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const functionIdOfPage = (): string => /#\/functions\/([0-9a-f]{32})/.exec(page.url())?.[1] ?? assert.fail(`not on a function's page: ${page.url()}`);

  test('the console is served with its assets cached for good and its page revalidated', async () => {
    const index = await fetch(`${platform.apiUrl}/console/`);
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    const asset = /src="(assets\/main-[A-Z0-9]+\.js)"/.exec(await index.text())?.[1];
    assert.ok(asset);
    const script = await fetch(`${platform.apiUrl}/console/${asset}`);
    assert.equal(script.status, 200);
    assert.match(script.headers.get('cache-control') ?? '', /immutable/);
  });

  test('create from the editor, invoke, see the request succeed live, read its logs, change a setting', async () => {
    await page.goto(`${platform.apiUrl}/console/`);
    await page.getByRole('heading', { name: 'Functions' }).waitFor();
    await page.getByLabel('Name').fill('from-editor');
    await page.getByRole('button', { name: 'Create function' }).click();
    await page.getByRole('heading', { name: 'from-editor' }).waitFor();
    created.push(functionIdOfPage());
    await page.locator('.status-ready').first().waitFor();
    // Marks this page load: a reload would lose it.
    await page.evaluate("window.loadedOnce = true");

    await page.getByLabel('Payload (JSON)').fill('{"name": "console"}');
    await page.getByRole('button', { name: 'Invoke' }).click();
    const queued = page.locator('.outcome a');
    await queued.waitFor();
    const requestId = (await queued.textContent())?.replace('request ', '') ?? '';
    await page.locator(`tr[data-request="${requestId}"] .status-succeeded`).waitFor();
    assert.equal(await page.evaluate("window.loadedOnce"), true, 'the page was reloaded');
    await shot('function');

    await page.getByLabel('Timeout (s)').fill('7');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    const { body } = await call(`${platform.apiUrl}/v1/functions/${created[0]}`);
    assert.equal(body.function.timeout, 7);

    await page.locator(`tr[data-request="${requestId}"] a`).click();
    await page.getByRole('heading', { name: /^Request/ }).waitFor();
    await page.locator('pre.response').filter({ hasText: '"hello"' }).waitFor();
    await page.locator('pre.log').filter({ hasText: "called with {'name': 'console'}" }).waitFor();
    await shot('request');
  });

  test('a sync call from a zip-made function shows the API error and the request its traceback; then delete', async () => {
    await page.goto(`${platform.apiUrl}/console/#/functions`);
    await page.getByLabel('Name').fill('from-zip');
    await page.getByLabel('Upload a zip').check();
    await page.getByLabel(/^Zip holding/).setInputFiles({ name: 'f.zip', mimeType: 'application/zip', buffer: zipOf({ 'new_module.py': FAILS_ON_ASK, 'requirements.txt': '' }) });
    await shot('functions');
    await page.getByRole('button', { name: 'Create function' }).click();
    await page.getByRole('heading', { name: 'from-zip' }).waitFor();
    created.push(functionIdOfPage());
    await page.locator('.status-ready').first().waitFor();

    await page.getByLabel('Payload (JSON)').fill('"fail"');
    await page.getByLabel('Wait for the outcome (sync)').check();
    await page.getByRole('button', { name: 'Invoke' }).click();
    await page.getByRole('alert').filter({ hasText: 'FunctionFailed' }).waitFor();
    const failedRow = page.locator('tr:has(.status-failed) a').first();
    await failedRow.click();
    await page.locator('pre.traceback').filter({ hasText: "ValueError: asked to fail" }).waitFor();
    await shot('request-failed');

    await page.goto(`${platform.apiUrl}/console/#/runtimes`);
    await page.getByRole('cell', { name: 'python3', exact: true }).waitFor();
    await shot('runtimes');

    await page.goto(`${platform.apiUrl}/console/#/functions/${created[1]}`);
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Delete function' }).click();
    await page.getByRole('heading', { name: 'Functions' }).waitFor();
    await page.getByRole('link', { name: 'from-editor' }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'from-zip' }).count(), 0);
    assert.equal((await call(`${platform.apiUrl}/v1/functions/${created[1]}`)).status, 404);
  });
});
