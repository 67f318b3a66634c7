/**
 * /v1/runners: each runner's heartbeat, load and images, and draining one: it takes no new jobs,
 * finishes the one it holds, and reports `drained`, while a request that came after waits queued;
 * a dead runner is `down` until the purge forgets it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { call, deployFunction, invoke, removeFunctionImages, startTestPlatform, waitFor, waitForRequest, type TestPlatform } from './helpers/platform.js';

const SLOW = ['import time', 'def main(payload=None):', '    time.sleep(2)', '    return payload', ''].join('\n');

describe('runners', () => {
  let platform: TestPlatform;
  const created: string[] = [];

  before(async () => {
    platform = await startTestPlatform();
  });

  after(async () => {
    await platform?.close();
    removeFunctionImages(created);
  });

  const runner = async (): Promise<Record<string, unknown>> => {
    const { status, body } = await call(`${platform.apiUrl}/v1/runners`);
    assert.equal(status, 200);
    const found = body.runners.find((candidate: { id: string }) => candidate.id === platform.runnerName);
    assert.ok(found, `runner ${platform.runnerName} is not listed`);
    return found;
  };

  test('a runner shows its heartbeat, concurrency, load and runtime images', async () => {
    const shown = await waitFor('a heartbeat with the load', async () => {
      const current = await runner();
      return current.concurrency === null ? undefined : current;
    });
    assert.equal(shown.state, 'active');
    assert.equal(shown.alive, true);
    assert.equal(shown.concurrency, platform.settings.runner.concurrency);
    assert.equal(shown.requests_running, 0);
    assert.deepEqual(shown.images, ['pratai/runtime-python3:latest']);
  });

  test('a drained runner finishes what it holds, takes nothing new and says drained', async () => {
    const fn = await deployFunction(platform, { 'new_module.py': SLOW, 'requirements.txt': '' }, { name: 'slow' });
    created.push(fn.function_id);
    const first = await invoke(platform, fn.function_id, 1);
    await waitFor('the first request to run', async () => ((await call(`${platform.apiUrl}/v1/requests/${first}`)).body.request.status === 'running' ? true : undefined));

    const drain = await call(`${platform.apiUrl}/v1/runners/${platform.runnerName}/drain`, { method: 'POST' });
    assert.equal(drain.status, 202);
    assert.equal(drain.body.runner.state, 'draining');
    await waitFor('the runner to hear it', async () => ((await runner()).drain_requested === true && (await runner()).state === 'draining' ? true : undefined));

    const finished = await waitForRequest(platform, first);
    assert.equal(finished.status, 'succeeded');
    await waitFor('the runner to report drained', async () => ((await runner()).state === 'drained' ? true : undefined), 30_000);
    const second = await invoke(platform, fn.function_id, 2);
    // Past several heartbeats: a drained runner never takes it.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    assert.equal((await call(`${platform.apiUrl}/v1/requests/${second}`)).body.request.status, 'queued');
    assert.equal((await runner()).requests_running, 0);
  });

  test('a runner without a heartbeat for dead_after is listed down, until pratai-manage purge forgets it past dead_runner_retention', async () => {
    const heard = (name: string, secondsAgo: number): Promise<unknown> => {
      const at = new Date(Date.now() - secondsAgo * 1000).toISOString();
      return platform.store.recordHeartbeat({ name, host: 'gone-vm', pid: 7, instanceId: `${name}-instance`, startedAt: at, dockerOk: true, images: [], at, load: { concurrency: 4, running: 1, warm: 0, busy: 1, prewarmed: 0, state: 'active' } }, at);
    };
    const gone = `${platform.runnerName}-gone`;
    const longGone = `${platform.runnerName}-long-gone`;
    await heard(gone, 600);
    await heard(longGone, 7200);
    const listed = async (): Promise<Map<string, Record<string, unknown>>> => new Map((await call(`${platform.apiUrl}/v1/runners`)).body.runners.map((r: { id: string }) => [r.id, r]));
    const before = await listed();
    for (const id of [gone, longGone]) {
      assert.equal(before.get(id)?.alive, false, id);
      assert.equal(before.get(id)?.state, 'down', `${id}: down, whatever its last heartbeat said`);
    }
    assert.deepEqual([before.get(platform.runnerName)?.alive, before.get(platform.runnerName)?.state], [true, 'drained'], 'the live runner, drained by the test before');
    const drain = await call(`${platform.apiUrl}/v1/runners/${gone}/drain`, { method: 'POST' });
    assert.equal(drain.body.runner.state, 'down', 'a dead runner asked to drain is still down');

    const manage = new URL('../dist/bin/pratai-manage.js', import.meta.url).pathname;
    assert.ok(existsSync(manage), 'dist/ is built (npm run build)');
    const purge = spawnSync(process.execPath, [manage, 'purge'], {
      env: { ...process.env, PRATAI_DATABASE_CONNECTION: `sqlite://${platform.statePath}/pratai.db`, PRATAI_RUNNER_DEAD_RUNNER_RETENTION: '3600' },
      encoding: 'utf8',
    });
    const output = `${purge.stdout}${purge.stderr}`;
    assert.equal(purge.status, 0, output);
    assert.match(output, /forgot 1 runner/);
    const after = await listed();
    assert.equal(after.has(longGone), false, 'silent for 2 h: past dead_after + 1 h, forgotten');
    assert.equal(after.get(gone)?.state, 'down', 'silent for 10 min: kept, down');
    assert.equal(after.get(platform.runnerName)?.alive, true, 'a live runner is never forgotten');
  });

  test('draining an unknown runner is a 404 RunnerNotFound', async () => {
    const { status, body } = await call(`${platform.apiUrl}/v1/runners/no-such-runner/drain`, { method: 'POST' });
    assert.equal(status, 404);
    assert.equal(body.error.code, 'RunnerNotFound');
  });
});
