/**
 * AmqpJobQueue against the real RabbitMQ on 127.0.0.1:5672: the queue contract every adapter
 * passes, plus what only a broker does (a lost connection, a consumer's channel dying).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { AmqpJobQueue } from '../common/queue/amqp-job-queue.js';
import { PrataiError } from '../common/errors.js';
import { Recorder, job, queueContract } from './queue-contract.js';
import { RABBIT_URL, closeConnections } from './helpers/rabbitmq.js';


queueContract('AmqpJobQueue', async () => {
  const name = `pratai-test-${randomBytes(6).toString('hex')}`;
  const opened = [await AmqpJobQueue.connect(RABBIT_URL, { queue: name })];
  return {
    queue: opened[0]!,
    reopen: async () => {
      const queue = await AmqpJobQueue.connect(RABBIT_URL, { queue: name });
      opened.push(queue);
      return queue;
    },
    cleanup: async () => {
      const cleaner = await AmqpJobQueue.connect(RABBIT_URL, { queue: name });
      for (const queue of opened) await queue.close();
      // The contract retries with a 300 ms delay, and after a handler throws (1 s).
      await cleaner.destroy([300, 1000]);
      await cleaner.close();
    },
  };
});

describe('AmqpJobQueue when the broker goes away', () => {
  let name: string;
  let queue: AmqpJobQueue;
  beforeEach(async () => {
    name = `pratai-test-${randomBytes(6).toString('hex')}`;
    queue = await AmqpJobQueue.connect(RABBIT_URL, { queue: name, connectionName: name });
  });
  afterEach(async () => {
    await queue.close();
    const cleaner = await AmqpJobQueue.connect(RABBIT_URL, { queue: name });
    await cleaner.destroy([1000]);
    await cleaner.close();
  });

  test('publish fails at once with ServiceUnavailable while the connection is down, and succeeds after it recovers', async () => {
    await queue.publish(job('before'));
    assert.equal(closeConnections(name), 1);
    await assert.rejects(queue.publish(job('during')), (error: unknown) => {
      assert.ok(error instanceof PrataiError);
      assert.equal(error.code, 'ServiceUnavailable');
      assert.match(error.message, /127\.0\.0\.1:5672/);
      assert.doesNotMatch(error.message, /guest/, 'the password is never shown');
      return true;
    });
    await waitUntil(async () => queue.ping().then(() => true, () => false));
    await queue.publish(job('after'));
    assert.equal(await queue.depth(), 2, 'the job confirmed before the outage is still there');
  });

  test('a job held unacked when the connection drops is delivered again once it is back', async () => {
    await queue.publish(job('held'));
    const recorder = new Recorder();
    let first = true;
    const consumer = queue.consume(
      async (delivery) => {
        recorder.record(delivery);
        if (first) {
          first = false;
          closeConnections(name);
          return; // never settled: its channel is gone
        }
        await delivery.ack();
      },
      { prefetch: 1 },
    );
    await recorder.until(() => recorder.of('held').length === 2, 'the job delivered again after the reconnect');
    assert.deepEqual(recorder.of('held').map((seen) => seen.deliveryCount), [1, 2]);
    await consumer.stop();
    assert.equal(await queue.depth(), 0);
  });
});

test('a dead-lettered job lands in <queue>.dead, where operators find it', async () => {
  const name = `pratai-test-${randomBytes(6).toString('hex')}`;
  const queue = await AmqpJobQueue.connect(RABBIT_URL, { queue: name });
  try {
    const recorder = new Recorder();
    const consumer = queue.consume(
      async (delivery) => {
        recorder.record(delivery);
        await delivery.deadLetter();
      },
      { prefetch: 1 },
    );
    await queue.publish(job('given up'));
    await recorder.until(() => recorder.seen.length === 1, 'the delivery');
    await consumer.stop();
    const dead = () => execFileSync('rabbitmqctl', ['-q', 'list_queues', 'name', 'messages'], { encoding: 'utf8' }).split('\n').find((line) => line.startsWith(`${name}.dead\t`));
    await waitUntil(async () => dead()?.endsWith('\t1') ?? false);
    assert.equal(await queue.depth(), 0);
  } finally {
    await queue.destroy();
    await queue.close();
  }
});

async function waitUntil(probe: () => Promise<boolean>): Promise<void> {
  for (let tries = 0; tries < 200; tries += 1) {
    if (await probe()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the queue did not recover within 20 s');
}

test('connecting to a broker that is not there fails at once with ServiceUnavailable naming it', async () => {
  await assert.rejects(AmqpJobQueue.connect('rabbit://guest:guest@127.0.0.1:1/', { queue: 'pratai-test-nowhere' }), (error: unknown) => {
    assert.ok(error instanceof PrataiError);
    assert.equal(error.code, 'ServiceUnavailable');
    assert.match(error.message, /message broker at 127\.0\.0\.1:1 cannot be reached/);
    return true;
  });
});
