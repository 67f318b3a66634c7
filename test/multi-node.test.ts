/**
 * Pratai as it runs across machines: two pratai-api and two pratai-runner processes sharing
 * MariaDB and RabbitMQ. Every request accepted by either API finishes exactly once.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Platform } from '../server/platform.js';
import { createTestDatabase, type TestDatabase } from './helpers/databases.js';
import { call, deployFunction, invoke, waitForRequest } from './helpers/platform.js';
import { freePort, startPratai, type PrataiProcess } from './helpers/processes.js';

const VHOST = `pratai-test-${randomBytes(4).toString('hex')}`;
const rabbitmqctl = (...args: string[]): string => execFileSync('rabbitmqctl', ['-q', ...args], { encoding: 'utf8' });

let database: TestDatabase;
const processes: PrataiProcess[] = [];
const apis: Pick<Platform, 'apiUrl' | 'webhookUrl'>[] = [];

before(async () => {
  database = await createTestDatabase('mysql');
  rabbitmqctl('add_vhost', VHOST);
  rabbitmqctl('set_permissions', '-p', VHOST, 'guest', '.*', '.*', '.*');
  const shared = {
    PRATAI_DATABASE_CONNECTION: database.url,
    PRATAI_DEFAULT_TRANSPORT_URL: `rabbit://guest:guest@127.0.0.1:5672/${VHOST}`,
    PRATAI_RUNNER_HEARTBEAT_INTERVAL: '1',
    // Separate processes need the keys secrets are sealed under, the same for all.
    PRATAI_SECRETS_KEYS: randomBytes(32).toString('base64'),
  };
  for (const node of ['a', 'b']) {
    const [port, webhookPort] = [await freePort(), await freePort()];
    const api = startPratai('pratai-api', { env: { ...shared, PRATAI_API_HOST: '127.0.0.1', PRATAI_API_PORT: String(port), PRATAI_API_WEBHOOK_PORT: String(webhookPort) } });
    const runner = startPratai('pratai-runner', { env: { ...shared, PRATAI_RUNNER_NAME: `multi-node-${node}-${process.pid}` } });
    processes.push(api, runner);
    await api.started(/webhooks on/);
    await runner.started(/runner multi-node-\w+-\d+ started/);
    apis.push({ apiUrl: `http://127.0.0.1:${port}`, webhookUrl: `http://127.0.0.1:${webhookPort}` });
  }
});

after(async () => {
  for (const proc of processes) await proc.stop('SIGKILL');
  rabbitmqctl('delete_vhost', VHOST);
  await database.drop();
});

test("sync calls and log follows through either API process hear the outcomes and lines that the runners announce over RabbitMQ", async () => {
  const [first, second] = apis as [Pick<Platform, 'apiUrl' | 'webhookUrl'>, Pick<Platform, 'apiUrl' | 'webhookUrl'>];
  const module = [
    'import logging, time',
    "logger = logging.getLogger('pratai')",
    '',
    'def main(payload=None):',
    "    logger.info('first of %s', payload)",
    '    time.sleep(0.3)',
    "    logger.info('second of %s', payload)",
    '    return payload + 1',
    '',
  ].join('\n');
  const fn = await deployFunction(first as Platform, { 'new_module.py': module }, { name: 'announcer' });
  for (let i = 0; i < 6; i += 1) {
    const api = i % 2 === 0 ? first : second;
    const answer = await call(`${api.webhookUrl}/function/${fn.function_id}?wait=true`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ payload: i }) });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body, i + 1);
  }
  const requestId = await invoke(first as Platform, fn.function_id, 100);
  const follow = await fetch(`${second.apiUrl}/v1/requests/${requestId}/logs?follow=true`);
  assert.equal(follow.status, 200);
  const lines = (await follow.text()).trim().split('\n');
  // Each line exactly once. Their order depends on when the follow joined: one that joins after
  // the first line was announced writes it at the end, from the stored logs (invariant 16).
  assert.deepEqual(
    lines.map((line) => line.replace(/^\S+ /, '')).sort(),
    ['INFO [pratai] first of 100', 'INFO [pratai] second of 100'],
  );
  assert.equal((await waitForRequest(second as Platform, requestId)).status, 'succeeded');
});

test('200 requests through two API processes and two runners on MariaDB and RabbitMQ all finish exactly once', async () => {
  const [first, second] = apis as [Pick<Platform, 'apiUrl' | 'webhookUrl'>, Pick<Platform, 'apiUrl' | 'webhookUrl'>];
  const fn = await deployFunction(first as Platform, { 'new_module.py': 'def main(payload=None):\n    return payload * 2\n' }, { name: 'doubler' });
  assert.equal((await call(`${second.apiUrl}/v1/functions/${fn.function_id}`)).body.function.status, 'ready', 'both APIs see one database');

  const ids: string[] = [];
  await Promise.all(
    Array.from({ length: 8 }, async (_, worker) => {
      for (let i = worker; i < 200; i += 8) ids[i] = await invoke((i % 2 === 0 ? first : second) as Platform, fn.function_id, i);
    }),
  );
  const records = await Promise.all(ids.map((id) => waitForRequest(first as Platform, id)));
  const counts = {
    accepted: ids.length,
    succeeded: records.filter((r) => r.status === 'succeeded').length,
    rightAnswers: records.filter((r, i) => r.response === i * 2).length,
    ranMoreThanOnce: records.filter((r) => r.attempts !== 1).length,
    ranAfterCompletion: processes.reduce((sum, proc) => sum + (proc.output().match(/already had an outcome/g)?.length ?? 0), 0),
  };
  console.log(`two APIs, two runners, MariaDB, RabbitMQ: ${Object.entries(counts).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  assert.deepEqual(counts, { accepted: 200, succeeded: 200, rightAnswers: 200, ranMoreThanOnce: 0, ranAfterCompletion: 0 });

  const beats = await call(`${second.apiUrl}/healthcheck`, { headers: { accept: 'application/json' } });
  assert.deepEqual(beats.body, { healthy: true, reasons: [] });
  for (const proc of processes) assert.equal(await proc.stop('SIGTERM'), 0, proc.output().slice(-2000));
});
