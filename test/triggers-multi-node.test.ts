/**
 * Each tick fires exactly once however many processes run: two pratai-api and two pratai-runner
 * processes over RabbitMQ and one database (SQLite shared on this machine, and PostgreSQL) race
 * for the ticks of a one-second job for 20 s while one of them is SIGKILLed and restarted; then,
 * after a 10 s stop of every process, the job fires once for the ticks it missed, not ten times,
 * and its record counts the skipped ones.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the tests read HTTP JSON bodies, whose shape is what they assert */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Platform } from '../server/platform.js';
import { Cluster } from './helpers/cluster.js';
import { createTestDatabase, type TestDatabaseKind } from './helpers/databases.js';
import { call, deployFunction, ECHO_MODULE, removeFunctionImages, waitFor } from './helpers/platform.js';
import type { PrataiProcess } from './helpers/processes.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const json = (method: string, body: unknown): RequestInit => ({ method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const SECOND = 1000;

const functions: string[] = [];
after(() => removeFunctionImages(functions));

for (const kind of ['sqlite', 'postgres'] as const satisfies readonly TestDatabaseKind[]) {
  describe(`two API and two runner processes on ${kind === 'sqlite' ? 'one shared SQLite file' : 'PostgreSQL'}`, () => {
    test('a one-second job fires each tick exactly once while a process is SIGKILLed and restarted, and once (not ten times) after a 10 s stop of every process', async (t) => {
      // Processes 0 and 1 are APIs, 2 and 3 runners.
      const cluster = new Cluster(await createTestDatabase(kind), { name: 'triggers' });
      t.after(() => cluster.close());
      await cluster.start();
      const [a, b] = [cluster.api(0), cluster.api(1)];
      const fn = await deployFunction(a as Platform, { 'new_module.py': ECHO_MODULE }, { name: 'ticker' });
      functions.push(fn.function_id);
      const api = (path: string, init: RequestInit = {}, via = a) => call(`${via.apiUrl}${path}`, init);

      const created = await api('/v1/jobs', json('POST', { function_id: fn.function_id, pattern: '* * * * * *', payload: 'tick' }), b);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const jobId = created.body.job.job_id as string;
      const from = Date.parse(created.body.job.created_at);
      await sleep(8 * SECOND);
      const killed = cluster.processes[1] as PrataiProcess;
      await killed.stop('SIGKILL');
      await sleep(2 * SECOND);
      await cluster.startOne(1);
      await sleep(10 * SECOND);
      const paused = await api(`/v1/jobs/${jobId}`, json('PATCH', { status: 'paused' }));
      assert.equal(paused.status, 200, JSON.stringify(paused.body));
      const to = Date.parse(paused.body.job.updated_at);

      const requests = (await api(`/v1/requests?job_id=${jobId}&limit=1000`)).body.requests as any[];
      const ticks = requests.map((r) => Date.parse(r.scheduled_at)).sort((x, y) => x - y);
      const expected: number[] = [];
      for (let tick = Math.floor(from / SECOND) * SECOND + SECOND; tick <= to; tick += SECOND) expected.push(tick);
      const missing = expected.filter((tick) => !ticks.includes(tick));
      const counts = { expected: expected.length, fired: ticks.length, distinct: new Set(ticks).size, unexpected: ticks.filter((tick) => !expected.includes(tick)).length, missing: missing.length };
      console.log(`${kind}, 2 APIs + 2 runners, one API SIGKILLed and restarted: ${Object.entries(counts).map(([k, v]) => `${k}=${v}`).join(' ')}`);
      assert.equal(counts.distinct, counts.fired, 'no tick fired twice');
      assert.equal(counts.unexpected, 0, 'no tick outside the job’s run');
      assert.ok(missing.every((tick) => tick === expected[0] || tick === expected.at(-1)), `only the first and last tick may be missing, missed ${missing.map((tick) => new Date(tick).toISOString()).join(', ')}`);
      assert.ok(expected.length >= 18);
      assert.equal(paused.body.job.skipped, 0, 'no tick was late by a whole second');

      // Every process stopped for 10 s: the ticks of that time fire once, when they come back.
      assert.equal((await api(`/v1/jobs/${jobId}`, json('PATCH', { status: 'running' }))).status, 200);
      await sleep(2 * SECOND);
      await cluster.stopAll('SIGTERM');
      const down = Date.now();
      await sleep(10 * SECOND);
      // Ticks up to here came while nothing ran; later ones may fire as processes come up one by one.
      const up = Date.now();
      await Promise.all([0, 1, 2, 3].map((i) => cluster.startOne(i)));
      const caughtUp = await waitFor('the job to fire after the restart', async () => {
        const { body } = await api(`/v1/jobs/${jobId}`);
        return Date.parse(body.job.last_execution_time) > down ? body.job : undefined;
      }, 20 * SECOND);
      await sleep(2 * SECOND);
      assert.equal((await api(`/v1/jobs/${jobId}`, json('PATCH', { status: 'paused' }))).status, 200);
      const after = ((await api(`/v1/requests?job_id=${jobId}&limit=1000`)).body.requests as any[]).filter((r) => Date.parse(r.scheduled_at) > down);
      const duringDowntime = after.filter((r) => Date.parse(r.scheduled_at) <= up);
      console.log(`${kind}, every process stopped ${up - down} ms: fired for that time=${duringDowntime.length} skipped=${caughtUp.skipped} fired since=${after.length}`);
      assert.ok(duringDowntime.length <= 1, `the ticks missed while every process was down fire once, got ${duringDowntime.length}`);
      assert.ok(caughtUp.skipped >= 9, `the job counts the ticks it skipped, got ${caughtUp.skipped}`);
      assert.equal(new Set(after.map((r) => r.scheduled_at)).size, after.length, 'no tick fired twice');
      assert.ok(after.length >= 2, 'and it goes on firing each second');
      const since = after.map((r) => Date.parse(r.scheduled_at)).sort((x, y) => x - y);
      assert.ok(after.length <= ((since.at(-1) as number) - (since[0] as number)) / SECOND + 1, 'no burst: at most one request a second since it came back');
      // Its requests end before the processes stop: no container outlives the test.
      await waitFor('its requests to end', async () => {
        const { body } = await api(`/v1/requests?job_id=${jobId}&status=queued&limit=1`);
        const running = await api(`/v1/requests?job_id=${jobId}&status=running&limit=1`);
        return body.requests.length === 0 && running.body.requests.length === 0 ? true : undefined;
      }, 60 * SECOND);
    });
  });
}
