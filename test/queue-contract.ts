/**
 * The behaviour every JobQueue adapter must have. An adapter's test file calls queueContract()
 * with a factory; the tests it registers use only the port (common/queue/queue.ts).
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Job } from '../common/domain.js';
import type { Delivery, JobQueue } from '../common/queue/queue.js';

export interface QueueUnderTest {
  /** An open, empty queue for one test. */
  queue: JobQueue;
  /** Opens the same queue again, as a restarted process would; the test closes `queue` first. */
  reopen?: () => Promise<JobQueue>;
  /** Closes every queue this factory opened and removes what the test left (files, broker queues). */
  cleanup: () => Promise<void>;
}

/** Generous bound on waiting for something that should happen: reached only when it never does. */
const EVENTUALLY_MS = 10_000;

export const job = (id: string): Job => ({ kind: 'run', request_id: id, job_id: id });

export const idOf = (job: Job): string => (job.kind === 'run' ? job.request_id : job.function_id);

interface Seen {
  id: string;
  deliveryCount: number;
}

/** Records deliveries and lets a test wait until what it expects has been seen. */
export class Recorder {
  readonly seen: Seen[] = [];
  private readonly waiters = new Set<() => void>();

  record(delivery: Delivery): void {
    this.seen.push({ id: idOf(delivery.job), deliveryCount: delivery.deliveryCount });
    for (const check of this.waiters) check();
  }

  /** Deliveries of job `id`, in order. */
  of(id: string): Seen[] {
    return this.seen.filter((seen) => seen.id === id);
  }

  ids(): string[] {
    return this.seen.map((seen) => seen.id);
  }

  /** Resolves once `done()` holds; rejects, naming `what`, if it does not within EVENTUALLY_MS. */
  until(done: () => boolean, what: string): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`Waited ${EVENTUALLY_MS} ms for ${what}; saw ${JSON.stringify(this.seen)}`));
      }, EVENTUALLY_MS);
      const check = (): void => {
        if (!done()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }

  /** Re-checks waiters after something other than a delivery changed (an ack resolving). */
  poke(): void {
    for (const check of this.waiters) check();
  }
}

/** A promise a test resolves by hand, to hold handlers until it has looked. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open = (): void => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

export function queueContract(name: string, makeQueue: () => Promise<QueueUnderTest>): void {
  describe(`JobQueue contract: ${name}`, () => {
    let subject: QueueUnderTest;
    beforeEach(async () => {
      subject = await makeQueue();
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    test('published jobs are delivered once each, in publish order, with prefetch 1', async () => {
      const { queue } = subject;
      const recorder = new Recorder();
      const consumer = queue.consume(
        async (delivery) => {
          recorder.record(delivery);
          await delivery.ack();
        },
        { prefetch: 1 },
      );
      const ids = Array.from({ length: 10 }, (_, i) => `job-${i}`);
      for (const id of ids) await queue.publish(job(id));
      // A job published last comes after any duplicate of the ones before it.
      await queue.publish(job('last'));
      await recorder.until(() => recorder.of('last').length > 0, 'the last job');
      await consumer.stop();
      assert.deepEqual(recorder.ids(), [...ids, 'last']);
      assert.ok(recorder.seen.every((seen) => seen.deliveryCount === 1));
    });

    test('never more than `prefetch` handlers hold unacked jobs at once', async () => {
      const { queue } = subject;
      for (let i = 0; i < 50; i++) await queue.publish(job(`job-${i}`));
      const recorder = new Recorder();
      let holding = 0;
      let mostHolding = 0;
      const consumer = queue.consume(
        async (delivery) => {
          holding += 1;
          mostHolding = Math.max(mostHolding, holding);
          recorder.record(delivery);
          await sleep(5);
          // Counted down before ack: the ack is what frees the slot for the next delivery.
          holding -= 1;
          await delivery.ack();
        },
        { prefetch: 4 },
      );
      await recorder.until(() => recorder.seen.length === 50, '50 deliveries');
      await consumer.stop();
      assert.equal(mostHolding, 4, 'with 50 jobs waiting, 4 handlers should run side by side, never more');
      assert.equal(new Set(recorder.ids()).size, 50);
    });

    test('an acked job is never delivered again', async () => {
      const { queue, reopen } = subject;
      const recorder = new Recorder();
      const handler = async (delivery: Delivery): Promise<void> => {
        recorder.record(delivery);
        await delivery.ack();
      };
      let consumer = queue.consume(handler, { prefetch: 1 });
      await queue.publish(job('acked'));
      await queue.publish(job('after'));
      await recorder.until(() => recorder.of('after').length > 0, 'the job published after');
      await consumer.stop();
      assert.deepEqual(recorder.ids(), ['acked', 'after']);
      assert.equal(await queue.depth(), 0);
      if (!reopen) return;

      await queue.close();
      const reopened = await reopen();
      consumer = reopened.consume(handler, { prefetch: 1 });
      await reopened.publish(job('after reopen'));
      await recorder.until(() => recorder.of('after reopen').length > 0, 'the job published after reopen');
      await consumer.stop();
      assert.deepEqual(recorder.ids(), ['acked', 'after', 'after reopen']);
    });

    test('a retried job is delivered again with deliveryCount 2', async () => {
      const { queue } = subject;
      const recorder = new Recorder();
      const consumer = queue.consume(
        async (delivery) => {
          recorder.record(delivery);
          if (delivery.deliveryCount === 1) await delivery.retry();
          else await delivery.ack();
        },
        { prefetch: 1 },
      );
      await queue.publish(job('retried'));
      await recorder.until(() => recorder.seen.length === 2, 'the second delivery');
      await consumer.stop();
      assert.deepEqual(recorder.seen, [
        { id: 'retried', deliveryCount: 1 },
        { id: 'retried', deliveryCount: 2 },
      ]);
    });

    test('a job retried with a delay is not delivered before it is due', async () => {
      const { queue } = subject;
      const recorder = new Recorder();
      const retried = gate();
      let retriedAt = 0;
      let redeliveredAt = 0;
      const consumer = queue.consume(
        async (delivery) => {
          recorder.record(delivery);
          if (idOf(delivery.job) === 'delayed' && delivery.deliveryCount === 1) {
            retriedAt = Date.now();
            await delivery.retry(300);
            retried.open();
            return;
          }
          if (idOf(delivery.job) === 'delayed') redeliveredAt = Date.now();
          await delivery.ack();
        },
        { prefetch: 1 },
      );
      await queue.publish(job('delayed'));
      await retried.opened;
      await queue.publish(job('published after the retry'));
      await recorder.until(() => recorder.of('published after the retry').length > 0, 'the job published after the retry');
      assert.equal(recorder.of('delayed').length, 1, 'a job due in 300 ms went ahead of one published after its retry');

      await recorder.until(() => recorder.of('delayed').length === 2, 'the delayed job, once due');
      await consumer.stop();
      assert.deepEqual(recorder.of('delayed')[1], { id: 'delayed', deliveryCount: 2 });
      // A lower bound only, with room for clock granularity: lateness is never a failure.
      assert.ok(redeliveredAt - retriedAt >= 250, `redelivered ${redeliveredAt - retriedAt} ms after a 300 ms retry`);
    });

    test('a dead-lettered job is never delivered again and leaves the queue', async () => {
      const { queue } = subject;
      const recorder = new Recorder();
      const consumer = queue.consume(
        async (delivery) => {
          recorder.record(delivery);
          if (idOf(delivery.job) === 'given up') await delivery.deadLetter();
          else await delivery.ack();
        },
        { prefetch: 1 },
      );
      await queue.publish(job('given up'));
      await queue.publish(job('after'));
      await recorder.until(() => recorder.of('after').length > 0, 'the job published after');
      // Can only pass wrongly, never fail wrongly: a redelivery would show within this pause.
      await sleep(200);
      await consumer.stop();
      assert.deepEqual(recorder.seen, [
        { id: 'given up', deliveryCount: 1 },
        { id: 'after', deliveryCount: 1 },
      ]);
      assert.equal(await queue.depth(), 0);
    });

    test('a job whose handler throws is delivered again', async () => {
      const { queue } = subject;
      const recorder = new Recorder();
      const consumer = queue.consume(
        async (delivery) => {
          recorder.record(delivery);
          if (delivery.deliveryCount === 1) throw new Error('the handler failed');
          await delivery.ack();
        },
        { prefetch: 1 },
      );
      await queue.publish(job('thrown'));
      await recorder.until(() => recorder.seen.length === 2, 'the delivery after the handler threw');
      await consumer.stop();
      assert.deepEqual(recorder.seen, [
        { id: 'thrown', deliveryCount: 1 },
        { id: 'thrown', deliveryCount: 2 },
      ]);
    });

    test('a job delivered but not acked when the queue closes is delivered again after reopen', async (t) => {
      const { queue, reopen } = subject;
      if (!reopen) return t.skip('the adapter cannot reopen its queue');
      const before = new Recorder();
      // The handler returns without acking: the job stays with this consumer until the queue closes.
      queue.consume(async (delivery) => before.record(delivery), { prefetch: 1 });
      await queue.publish(job('unacked'));
      await queue.publish(job('waiting'));
      await before.until(() => before.seen.length === 1, 'the first delivery');
      await queue.close();

      const reopened = await reopen();
      const after = new Recorder();
      const consumer = reopened.consume(
        async (delivery) => {
          after.record(delivery);
          await delivery.ack();
        },
        { prefetch: 1 },
      );
      await after.until(() => after.seen.length === 2, 'both jobs after reopen');
      await consumer.stop();
      assert.deepEqual(before.seen, [{ id: 'unacked', deliveryCount: 1 }]);
      assert.deepEqual(after.ids().sort(), ['unacked', 'waiting']);
      assert.ok((after.of('unacked')[0]?.deliveryCount ?? 0) > 1, 'the job that came back counts its first delivery');
      assert.equal(after.of('waiting')[0]?.deliveryCount, 1);
      assert.equal(await reopened.depth(), 0);
    });

    test('jobs published before any consumer exists are delivered when one starts', async () => {
      const { queue } = subject;
      for (const id of ['early-0', 'early-1', 'early-2']) await queue.publish(job(id));
      const recorder = new Recorder();
      const consumer = queue.consume(
        async (delivery) => {
          recorder.record(delivery);
          await delivery.ack();
        },
        { prefetch: 2 },
      );
      await recorder.until(() => recorder.seen.length === 3, 'the three early jobs');
      await consumer.stop();
      assert.deepEqual(recorder.ids(), ['early-0', 'early-1', 'early-2']);
    });

    test('stop() waits for the handlers under way, then nothing more is delivered', async () => {
      const { queue } = subject;
      for (const id of ['held-0', 'held-1', 'left']) await queue.publish(job(id));
      const recorder = new Recorder();
      const release = gate();
      const events: string[] = [];
      const consumer = queue.consume(
        async (delivery) => {
          recorder.record(delivery);
          await release.opened;
          await delivery.ack();
          events.push(`finished ${idOf(delivery.job)}`);
        },
        { prefetch: 2 },
      );
      await recorder.until(() => recorder.seen.length === 2, 'two held deliveries');
      const stopped = consumer.stop().then(() => events.push('stopped'));
      await sleep(20);
      assert.deepEqual(events, [], 'stop() returned while handlers were still running');
      release.open();
      await stopped;
      assert.deepEqual(events, ['finished held-0', 'finished held-1', 'stopped']);

      await queue.publish(job('after stop'));
      // Can only pass wrongly, never fail wrongly: a late delivery would show within this pause.
      await sleep(200);
      assert.deepEqual(recorder.ids(), ['held-0', 'held-1']);
      assert.equal(await queue.depth(), 2, 'the jobs not delivered stay queued');
    });

    test('depth counts jobs waiting and jobs delivered but not acked', async () => {
      const { queue } = subject;
      assert.equal(await queue.depth(), 0);
      for (const id of ['depth-0', 'depth-1', 'depth-2']) await queue.publish(job(id));
      assert.equal(await queue.depth(), 3);

      const recorder = new Recorder();
      const release = gate();
      let acked = 0;
      const consumer = queue.consume(
        async (delivery) => {
          recorder.record(delivery);
          await release.opened;
          await delivery.ack();
          acked += 1;
          recorder.poke();
        },
        { prefetch: 1 },
      );
      await recorder.until(() => recorder.seen.length === 1, 'the first delivery');
      assert.equal(await queue.depth(), 3, 'one delivered and unacked, two waiting');
      release.open();
      await recorder.until(() => acked === 3, 'three acks');
      await consumer.stop();
      assert.equal(await queue.depth(), 0);
    });

    test('ping resolves on an open queue', async () => {
      await subject.queue.ping();
    });
  });
}
