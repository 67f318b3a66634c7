/**
 * The notification path: both adapters held to one contract (LocalNotifier in one process,
 * AmqpNotifier over the real RabbitMQ between two connections, as between a runner and an API
 * process), what only a broker does (a lost connection), and the wait for a request's outcome
 * built on it (common/notifications/await-final.ts) against the real SQLite store.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { connect as amqpConnect } from 'amqplib';
import { AmqpNotifier } from '../common/notifications/amqp-notifier.js';
import { amqpUrl } from '../common/amqp/connection.js';
import { watchFinal } from '../common/notifications/await-final.js';
import { LocalNotifier } from '../common/notifications/local-notifier.js';
import { requestChange, type Notifier } from '../common/notifications/notifier.js';
import type { Store } from '../common/store/store.js';
import { Heard, aChange, logOf, notifierContract } from './notifier-contract.js';
import { aFunction, aRequest, connect } from './store-contract.js';
import { RABBIT_URL, closeConnections } from './helpers/rabbitmq.js';


notifierContract('LocalNotifier', async () => {
  const notifier = new LocalNotifier();
  return { publisher: notifier, listener: notifier, cleanup: () => notifier.close() };
});

async function amqpPair(name = `pratai-test-${randomBytes(6).toString('hex')}`): Promise<{ publisher: AmqpNotifier; listener: AmqpNotifier; exchange: string; cleanup(): Promise<void> }> {
  const exchange = `${name}.notifications`;
  const publisher = await AmqpNotifier.connect(RABBIT_URL, { exchange, listen: false, connectionName: `${name}-publisher` });
  const listener = await AmqpNotifier.connect(RABBIT_URL, { exchange, listen: true, connectionName: `${name}-listener` });
  return {
    publisher,
    listener,
    exchange,
    cleanup: async () => {
      await publisher.close();
      await listener.close();
      const connection = await amqpConnect(amqpUrl(RABBIT_URL));
      const channel = await connection.createChannel();
      await channel.deleteExchange(exchange);
      await connection.close();
    },
  };
}

notifierContract('AmqpNotifier', () => amqpPair());

test('AmqpNotifier carries a final change across processes without the outcome a runner attaches in its own', async () => {
  const pair = await amqpPair();
  try {
    const change = aChange({ status: 'succeeded' });
    const heard = new Heard(pair.listener, { kinds: ['request'], requestId: change.request_id });
    pair.publisher.publish({ kind: 'request', request: change, outcome: { response: { secret: 'not for the broker' }, error: null } });
    await heard.until(1);
    assert.deepEqual(heard.notifications, [{ kind: 'request', request: change }]);
  } finally {
    await pair.cleanup();
  }
});

describe('AmqpNotifier when the broker connection is lost', () => {
  let name: string;
  let pair: Awaited<ReturnType<typeof amqpPair>>;
  beforeEach(async () => {
    name = `pratai-test-${randomBytes(6).toString('hex')}`;
    pair = await amqpPair(name);
  });
  afterEach(() => pair.cleanup());

  test("a listener's subscribers are told to resync once it is back, and hear new notifications again", async () => {
    const change = aChange();
    const heard = new Heard(pair.listener, { kinds: ['request', 'log'], requestId: change.request_id });
    assert.equal(closeConnections(`${name}-listener`), 1);
    await waitUntil(() => heard.resyncs === 1, 'the resync');
    pair.publisher.publish(logOf(change, 0));
    await heard.until(1);
  });

  test("what a publisher publishes while its connection is down goes out once it is back, in order", async () => {
    const change = aChange();
    const heard = new Heard(pair.listener, { kinds: ['log'], requestId: change.request_id });
    assert.equal(closeConnections(`${name}-publisher`), 1);
    for (let index = 0; index < 5; index += 1) pair.publisher.publish(logOf(change, index));
    await heard.until(5);
    assert.deepEqual(heard.notifications.map((n) => (n.kind === 'log' ? n.index : -1)), [0, 1, 2, 3, 4]);
  });
});

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('waiting for an outcome (watchFinal)', () => {
  let folder: string;
  let store: Store;
  let reads: number;
  let notifier: Notifier;
  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'pratai-await-'));
    const real = await connect(`sqlite:///${join(folder, 'pratai.db')}`);
    reads = 0;
    // The real store, its reads of requests counted.
    store = new Proxy(real, {
      get: (target, property, receiver) => {
        if (property === 'getRequest') reads += 1;
        const value = Reflect.get(target, property, receiver) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    notifier = new LocalNotifier();
  });
  afterEach(async () => {
    await store.close();
    await rm(folder, { recursive: true, force: true });
  });

  const queuedRequest = async () => {
    const fn = aFunction('tenant-await');
    await store.createFunction(fn, { module: 'def main(payload=None):\n    return payload\n', requirements: '' });
    const request = aRequest(fn);
    await store.createRequest(request);
    return request;
  };
  const succeed = async (requestId: string): Promise<void> => {
    await store.startRequest(requestId, { jobId: 'job', at: new Date().toISOString() });
    await store.finishRequest(requestId, { status: 'succeeded', response: { ok: true }, error: null, logs: [], finishedAt: new Date().toISOString(), durationMs: 1 });
  };

  test('reads the store once, when the final notification comes, and answers the stored outcome', async () => {
    const request = await queuedRequest();
    const watch = watchFinal(store, notifier, request.request_id);
    const waited = watch.wait(60_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const readsBefore = reads;
    notifier.publish({ kind: 'request', request: { ...requestChange(request), status: 'running' } });
    await succeed(request.request_id);
    const readsWhileRunning = reads;
    notifier.publish({ kind: 'request', request: { ...requestChange(request), status: 'succeeded' } });
    const outcome = await waited;
    assert.equal(outcome?.status, 'succeeded');
    assert.deepEqual(outcome?.response, { ok: true });
    assert.equal(readsBefore, 0, 'nothing read while nothing was heard');
    assert.equal(readsWhileRunning, 0, 'a running notification reads nothing');
    assert.equal(reads, 1);
  });

  test('a final notification that carries the stored outcome (a runner in this process) is answered with it, nothing read', async () => {
    const request = await queuedRequest();
    const watch = watchFinal(store, notifier, request.request_id);
    const waited = watch.wait(60_000);
    await succeed(request.request_id);
    notifier.publish({ kind: 'request', request: { ...requestChange(request), status: 'succeeded' }, outcome: { response: { ok: true }, error: null } });
    const outcome = await waited;
    assert.equal(outcome?.status, 'succeeded');
    assert.deepEqual(outcome?.response, { ok: true });
    assert.equal(reads, 0);
  });

  test('a waiter that hears nothing reads the store once before it gives up, and finds the outcome there', async () => {
    const request = await queuedRequest();
    const watch = watchFinal(store, notifier, request.request_id);
    await succeed(request.request_id); // its notification lost
    const outcome = await watch.wait(300);
    assert.equal(outcome?.status, 'succeeded');
    assert.equal(reads, 1);
  });

  test('past its deadline a waiter answers the latest state, not final', async () => {
    const request = await queuedRequest();
    const outcome = await watchFinal(store, notifier, request.request_id).wait(200);
    assert.equal(outcome?.status, 'queued');
  });

  test('a resync reads the store: still running, the wait goes on until the outcome is heard', async () => {
    const request = await queuedRequest();
    const watch = watchFinal(store, notifier, request.request_id);
    const waited = watch.wait(60_000);
    await store.startRequest(request.request_id, { jobId: 'job', at: new Date().toISOString() });
    // What a broker reconnection does to every subscriber of a listening process.
    const resync = new Heard(notifier, { kinds: ['request'], requestId: request.request_id });
    resync.subscription.close();
    (notifier as unknown as { dispatcher: { resync(): void } }).dispatcher.resync();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(reads, 1);
    await succeed(request.request_id);
    notifier.publish({ kind: 'request', request: { ...requestChange(request), status: 'succeeded' } });
    assert.equal((await waited)?.status, 'succeeded');
    assert.equal(reads, 2);
  });

  test('a caller that hung up stops the wait without reading', async () => {
    const request = await queuedRequest();
    const gone = new AbortController();
    const waited = watchFinal(store, notifier, request.request_id).wait(60_000, gone.signal);
    gone.abort();
    assert.equal(await waited, undefined);
    assert.equal(reads, 0);
  });
});
