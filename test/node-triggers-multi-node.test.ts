/**
 * Each node change makes exactly one request of each subscriber, however many processes write:
 * two pratai-api processes and a pratai-runner over RabbitMQ and one database (a SQLite file
 * shared on this machine, and PostgreSQL) take sets of one node from two writers at once while
 * one API is SIGKILLed mid-stream; the requests then number the sets that committed (the node's
 * version), one per zxid, and all run. And a write whose jobs were never published (its process
 * died between the commit and the publish) has them published by a runner's sweeper.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the tests read HTTP JSON bodies, whose shape is what they assert */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Coordination } from '../common/coordination/coordination.js';
import { isFinal, type Job } from '../common/domain.js';
import { silentLogger } from '../common/log.js';
import { Metrics } from '../common/metrics.js';
import { LocalNotifier } from '../common/notifications/local-notifier.js';
import { EmbeddedJobQueue } from '../common/queue/embedded-job-queue.js';
import { Sweeper } from '../runner/sweeper.js';
import type { Platform } from '../server/platform.js';
import { Cluster } from './helpers/cluster.js';
import { createTestDatabase, type TestDatabaseKind } from './helpers/databases.js';
import { call, deployFunction, ECHO_MODULE, removeFunctionImages, waitFor } from './helpers/platform.js';
import { aFunction, connect } from './store-contract.js';

const json = (method: string, body: unknown): RequestInit => ({ method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

const functions: string[] = [];
after(() => removeFunctionImages(functions));

for (const kind of ['sqlite', 'postgres'] as const satisfies readonly TestDatabaseKind[]) {
  describe(`two API processes and a runner on ${kind === 'sqlite' ? 'one shared SQLite file' : 'PostgreSQL'}`, () => {
    test('sets of a subscribed node from two writers, one API SIGKILLed mid-stream, make exactly one request per committed set, and all run', async (t) => {
      // A job lost with the killed API is found by the runner's sweeper within seconds.
      const cluster = new Cluster(await createTestDatabase(kind), { name: 'nodesubs', runners: 1, env: { PRATAI_RUNNER_REQUEUE_AFTER: '2', PRATAI_RUNNER_SWEEP_INTERVAL: '1' } });
      t.after(() => cluster.close());
      await cluster.start();
      const [a, b] = [cluster.api(0), cluster.api(1)];
      const path = `/mn${process.pid}`;
      const fn = await deployFunction(a as Platform, { 'new_module.py': ECHO_MODULE }, { name: 'watcher', subscriptions: JSON.stringify([{ path }]) });
      functions.push(fn.function_id);
      const api = (route: string, init: RequestInit = {}, via: Pick<Platform, 'apiUrl'> = a) => call(`${via.apiUrl}${route}`, init);
      assert.equal((await api(`/v1/coordination/nodes${path}`, json('POST', {}))).status, 201);

      const answered: number[] = [];
      const writer = async (via: Pick<Platform, 'apiUrl'>, sets: number): Promise<void> => {
        for (let i = 0; i < sets; i += 1) {
          try {
            const { status, body } = await api(`/v1/coordination/nodes${path}`, json('PUT', { data: '' }), via);
            if (status === 200) answered.push(body.zxid as number);
          } catch {
            // The killed API: its connection reset. The set may have committed or not; the count below says.
          }
        }
      };
      const killer = (async () => {
        await waitFor('some sets through the API to be killed', async () => (answered.length >= 10 ? true : undefined), 30_000);
        await cluster.processes[1]?.stop('SIGKILL');
      })();
      await Promise.all([writer(a, 25), writer(b, 25), killer]);

      const version = (await api(`/v1/coordination/nodes${path}`)).body.stat.version as number;
      const requests = ((await api(`/v1/requests?function_id=${fn.function_id}&source=node&limit=1000`)).body.requests as any[]).filter((r) => r.payload.type === 'NodeDataChanged');
      const zxids = requests.map((r) => r.payload.zxid as number);
      console.log(`${kind}: sets answered=${answered.length} committed=${version} requests=${requests.length} distinct zxids=${new Set(zxids).size}`);
      assert.ok(answered.length >= 25, 'the live API took all of its writer’s sets');
      assert.equal(requests.length, version, 'one request per committed set: none lost, none twice');
      assert.equal(new Set(zxids).size, requests.length);
      for (const zxid of answered) assert.ok(zxids.includes(zxid), `the set at zxid ${zxid} made its request`);
      const ended = await waitFor('every request to run', async () => {
        const listed = (await api(`/v1/requests?function_id=${fn.function_id}&source=node&limit=1000`)).body.requests as any[];
        return listed.every((r) => isFinal(r.status)) ? listed : undefined;
      }, 120_000);
      assert.deepEqual([...new Set(ended.map((r) => r.status))], ['succeeded']);
      for (const request of ended) assert.deepEqual(request.response, request.payload);
    });
  });
}

describe('a crash between a write’s commit and the publish of its requests’ jobs', () => {
  test('leaves them queued, and a runner’s sweeper publishes them: late, never lost', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pratai-nodesubs-'));
    const store = await connect(`sqlite://${join(dir, 'pratai.db')}`);
    // The writer's queue is gone (its process died right after the commit): nothing it publishes gets out.
    const lost = EmbeddedJobQueue.open(join(dir, 'lost.db'));
    await lost.close();
    const queue = EmbeddedJobQueue.open(join(dir, 'queue.db'));
    try {
      const fn = aFunction('tenant-crash', { subscriptions: [{ path: '/crash', children: false }] });
      await store.createFunction(fn, { module: ECHO_MODULE, requirements: '' });
      const coordination = new Coordination({ store: store.coordination(), queue: lost, notifier: new LocalNotifier(), metrics: new Metrics(), log: silentLogger }, { sweepIntervalMs: 0 });
      const written = await coordination.write('tenant-crash', undefined, [{ op: 'create', path: '/crash', data: Buffer.from(''), ephemeral: false, sequential: false }]);
      const [request] = written.requests;
      assert.ok(request, 'the write made its request');
      assert.equal((await store.getRequest(request.request_id, 'all-tenants'))?.status, 'queued', 'stored with the write, its job lost');

      await new Promise((resolve) => setTimeout(resolve, 5));
      const sweeper = new Sweeper({ store, queue, log: silentLogger }, { requeueAfterMs: 1, intervalMs: 60_000, batch: 100 });
      assert.equal(await sweeper.sweep(), 1);
      const jobs: Job[] = [];
      const consumer = queue.consume(async (delivery) => {
        jobs.push(delivery.job);
        await delivery.ack();
      }, { prefetch: 1 });
      await waitFor('the job', async () => (jobs.length > 0 ? true : undefined), 10_000);
      await consumer.stop();
      assert.deepEqual(jobs.map((job) => job.kind === 'run' && job.request_id), [request.request_id]);
    } finally {
      await queue.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
