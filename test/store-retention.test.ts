/**
 * Retention: finished requests older than [database] request_retention_days are deleted, by the
 * runner on a timer and by `pratai-manage purge` on demand; unfinished and newer ones stay. So are
 * the rows of runners dead for longer than [runner] dead_after + dead_runner_retention.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterEach, beforeEach, test } from 'node:test';
import type { RequestRecord } from '../common/domain.js';
import { newId } from '../common/ids.js';
import { silentLogger } from '../common/log.js';
import type { Store } from '../common/store/store.js';
import { RetentionPurger } from '../runner/retention.js';
import { createTestDatabase, type TestDatabase } from './helpers/databases.js';
import { waitFor } from './helpers/platform.js';
import { connect } from './store-contract.js';

// A database per test: each counts what the purge deleted.
let database: TestDatabase;
let store: Store;
beforeEach(async () => {
  database = await createTestDatabase('sqlite');
  store = await connect(database.url);
});
afterEach(async () => {
  await store.close();
  await database.drop();
});

const DAY_MS = 86_400_000;
const daysAgo = (days: number): string => new Date(Date.now() - days * DAY_MS).toISOString();

/** Stores a request that finished `days` ago (or is still queued, created then). */
async function requestFinished(days: number, status: RequestRecord['status'] = 'succeeded'): Promise<string> {
  const request_id = newId();
  const finished = status !== 'queued' && status !== 'running';
  await store.createRequest({
    request_id, function_id: newId(), tenant_id: 'tenant-retention', user_id: 'user', status, source: 'webhook', timer_id: null, scheduled_at: null, payload: null, response: null, error: null,
    logs: [], attempts: 1, dead_letter: false, version: 'latest', alias: null, created_at: daysAgo(days), started_at: daysAgo(days), finished_at: finished ? daysAgo(days) : null, duration_ms: finished ? 1 : null,
  });
  return request_id;
}

const exists = async (requestId: string): Promise<boolean> => (await store.getRequest(requestId, 'all-tenants')) !== undefined;

test('a runner purges requests finished longer ago than the retention when it starts and then on its interval', async () => {
  const expired = await requestFinished(31, 'failed');
  const recent = await requestFinished(29);
  const waiting = await requestFinished(40, 'queued');
  const purger = new RetentionPurger({ store, log: silentLogger }, { retentionDays: 30, forgetRunnersAfterSeconds: 0, intervalMs: 50 });
  purger.start();
  try {
    await waitFor('the purge at start', async () => ((await exists(expired)) ? undefined : true), 10_000);
    const later = await requestFinished(60, 'cancelled');
    await waitFor('a purge on the interval', async () => ((await exists(later)) ? undefined : true), 10_000);
  } finally {
    await purger.stop();
  }
  assert.equal(await exists(recent), true, 'a request within the retention stays');
  assert.equal(await exists(waiting), true, 'a request that never finished stays, however old');
});

/** Records a heartbeat of a runner last heard from `seconds` ago. */
async function runnerHeard(name: string, seconds: number): Promise<void> {
  const at = new Date(Date.now() - seconds * 1000).toISOString();
  await store.recordHeartbeat({ name, host: 'vm', pid: 1, instanceId: newId(), startedAt: at, dockerOk: true, images: [], at }, at);
}

const runnerKnown = async (name: string): Promise<boolean> => (await store.listHeartbeats()).some((beat) => beat.name === name);

test('a runner forgets the rows of runners without a heartbeat for longer than dead_after plus dead_runner_retention, and only those', async () => {
  await runnerHeard('gone-for-long', 3 * 3600);
  await runnerHeard('just-died', 120);
  await runnerHeard('alive', 1);
  const purger = new RetentionPurger({ store, log: silentLogger }, { retentionDays: 0, forgetRunnersAfterSeconds: 3600, intervalMs: 50 });
  purger.start();
  try {
    await waitFor('the purge at start', async () => ((await runnerKnown('gone-for-long')) ? undefined : true), 10_000);
    await runnerHeard('gone-later', 2 * 3600);
    await waitFor('a purge on the interval', async () => ((await runnerKnown('gone-later')) ? undefined : true), 10_000);
  } finally {
    await purger.stop();
  }
  assert.deepEqual([await runnerKnown('just-died'), await runnerKnown('alive')], [true, true], 'a runner dead for less stays, shown as down');
});

test('pratai-manage purge deletes requests past the retention (30 days by default, or --days N) and says how many', async () => {
  const manage = new URL('../dist/bin/pratai-manage.js', import.meta.url).pathname;
  assert.ok(existsSync(manage), 'dist/ is built (npm run build)');
  const purge = (...args: string[]): Promise<{ code: number | null; output: string }> => {
    const child = spawn(process.execPath, [manage, 'purge', ...args], { env: { ...process.env, PRATAI_DATABASE_CONNECTION: database.url }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, output })));
  };
  const fortyDays = await requestFinished(40);
  const tenDays = await requestFinished(10, 'timeout');
  const twoDays = await requestFinished(2);

  const byDefault = await purge();
  assert.equal(byDefault.code, 0, byDefault.output);
  assert.match(byDefault.output, /purged 1 request\(s\) finished before .* \(30 days\)/);
  assert.deepEqual([await exists(fortyDays), await exists(tenDays), await exists(twoDays)], [false, true, true]);

  const fiveDays = await purge('--days', '5');
  assert.equal(fiveDays.code, 0, fiveDays.output);
  assert.match(fiveDays.output, /purged 1 request\(s\)/);
  assert.deepEqual([await exists(tenDays), await exists(twoDays)], [false, true]);

  await runnerHeard('dead-for-days', 3 * 86_400);
  await runnerHeard('dead-for-minutes', 600);
  const withRunners = await purge();
  assert.equal(withRunners.code, 0, withRunners.output);
  assert.match(withRunners.output, /forgot 1 runner\(s\) without a heartbeat since before/, 'dead_after (15 s by default) plus dead_runner_retention (a day by default)');
  assert.deepEqual([await runnerKnown('dead-for-days'), await runnerKnown('dead-for-minutes')], [false, true]);

  const refused = await purge('--days', '0');
  assert.notEqual(refused.code, 0);
  assert.match(refused.output, /expected --days to be a whole number of days, 1 or more, got `"0"`/);
  assert.equal(await exists(twoDays), true);
});
