import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EmbeddedJobQueue } from '../common/queue/embedded-job-queue.js';
import { PrataiError } from '../common/errors.js';
import { Recorder, job, queueContract } from './queue-contract.js';

const QUEUE_MODULE = new URL('../common/queue/embedded-job-queue.ts', import.meta.url).href;

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'pratai-queue-'));
}

queueContract('EmbeddedJobQueue', async () => {
  const dir = await tempDir();
  const file = join(dir, 'queue.db');
  const opened = [EmbeddedJobQueue.open(file)];
  return {
    queue: opened[0]!,
    reopen: async () => {
      const queue = EmbeddedJobQueue.open(file);
      opened.push(queue);
      return queue;
    },
    cleanup: async () => {
      for (const queue of opened) await queue.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

/** Runs `source` as an ES module in a child Node (with tsx), and returns how it ended. */
function runChild(source: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', source], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Timers and immediates this process has pending: a polling loop shows up here. */
function pendingTimers(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout' || kind === 'Immediate').length;
}

describe('EmbeddedJobQueue', () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await tempDir();
    file = join(dir, 'nested', 'queue.db');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('a job delivered when the process is killed runs again after reopen; no published job is lost', async () => {
    const published = 20;
    const child = await runChild(`
      import { writeSync } from 'node:fs';
      const { EmbeddedJobQueue } = await import(${JSON.stringify(QUEUE_MODULE)});
      const queue = EmbeddedJobQueue.open(${JSON.stringify(file)});
      for (let i = 0; i < ${published}; i++) await queue.publish({ kind: 'run', request_id: 'job-' + i, job_id: 'job-' + i });
      queue.consume(async (delivery) => {
        writeSync(1, delivery.job.request_id + '\\n');
        process.kill(process.pid, 'SIGKILL');
      }, { prefetch: 1 });
    `);
    assert.equal(child.signal, 'SIGKILL', `the child should die by SIGKILL; stderr: ${child.stderr}`);
    const killedWith = child.stdout.trim();
    assert.equal(killedWith, 'job-0');

    const queue = EmbeddedJobQueue.open(file);
    try {
      assert.equal(await queue.depth(), published);
      const recorder = new Recorder();
      const consumer = queue.consume(
        async (delivery) => {
          recorder.record(delivery);
          await delivery.ack();
        },
        { prefetch: 8 },
      );
      await recorder.until(() => recorder.seen.length === published, `${published} deliveries`);
      await consumer.stop();
      assert.deepEqual(recorder.ids(), Array.from({ length: published }, (_, i) => `job-${i}`));
      assert.deepEqual(recorder.of(killedWith), [{ id: killedWith, deliveryCount: 2 }]);
      assert.ok(recorder.seen.filter((seen) => seen.id !== killedWith).every((seen) => seen.deliveryCount === 1));
      assert.equal(await queue.depth(), 0);
    } finally {
      await queue.close();
    }
  });

  test('an idle consumer keeps no timer; a delayed job keeps exactly one', async () => {
    const queue = EmbeddedJobQueue.open(file);
    try {
      const baseline = pendingTimers();
      const recorder = new Recorder();
      const consumer = queue.consume(
        async (delivery) => {
          recorder.record(delivery);
          await delivery.retry(60_000);
        },
        { prefetch: 4 },
      );
      await sleep(50);
      assert.equal(pendingTimers(), baseline, 'an empty queue with a consumer should schedule nothing');

      await queue.publish(job('delayed a minute'));
      await queue.publish(job('delayed a minute too'));
      await recorder.until(() => recorder.seen.length === 2, 'both deliveries');
      await sleep(50);
      assert.equal(pendingTimers(), baseline + 1, 'two delayed jobs should share one timer');

      await consumer.stop();
      assert.equal(pendingTimers(), baseline, 'with no consumer left the timer should go');
    } finally {
      await queue.close();
    }
  });

  test('a file already open in this process cannot be opened again', async () => {
    const queue = EmbeddedJobQueue.open(file);
    try {
      assert.throws(() => EmbeddedJobQueue.open(file), /already open in this process/);
      assert.throws(() => EmbeddedJobQueue.open(join(dir, 'nested', '..', 'nested', 'queue.db')), /already open/);
    } finally {
      await queue.close();
    }
    const again = EmbeddedJobQueue.open(file);
    await again.close();
  });

  test('a file open in another process cannot be opened', async () => {
    const queue = EmbeddedJobQueue.open(file);
    try {
      const child = await runChild(`
        const { EmbeddedJobQueue } = await import(${JSON.stringify(QUEUE_MODULE)});
        try {
          EmbeddedJobQueue.open(${JSON.stringify(file)});
          console.log('opened');
        } catch (error) {
          console.log(error.code + ': ' + error.message);
        }
      `);
      assert.match(child.stdout, /^ServiceUnavailable: .*in use by another process/, child.stderr);
    } finally {
      await queue.close();
    }
  });

  test('a closed queue answers ServiceUnavailable', async () => {
    const queue = EmbeddedJobQueue.open(file);
    await queue.close();
    const unavailable = (error: unknown): boolean => error instanceof PrataiError && error.code === 'ServiceUnavailable';
    await assert.rejects(queue.ping(), unavailable);
    await assert.rejects(queue.publish(job('too late')), unavailable);
    await assert.rejects(queue.depth(), unavailable);
    assert.throws(() => queue.consume(async () => {}, { prefetch: 1 }), unavailable);
  });

  test('throughput of publish, consume and ack (printed, not asserted)', async () => {
    const queue = EmbeddedJobQueue.open(file);
    try {
      const total = 20_000;
      let acked = 0;
      let allAcked = (): void => {};
      const done = new Promise<void>((resolve) => (allAcked = resolve));
      const started = performance.now();
      const consumer = queue.consume(
        async (delivery) => {
          await delivery.ack();
          if (++acked === total) allAcked();
        },
        { prefetch: 64 },
      );
      // One publisher awaiting each publish, as one API request does: the slowest way to fill it.
      for (let i = 0; i < total; i++) await queue.publish(job(`job-${i}`));
      await done;
      const elapsedMs = performance.now() - started;
      await consumer.stop();
      console.log(
        `EmbeddedJobQueue: ${total} jobs published, consumed and acked (prefetch 64) in ${Math.round(elapsedMs)} ms: ` +
          `${Math.round((total / elapsedMs) * 1000)} jobs/s`,
      );
      assert.equal(await queue.depth(), 0);
    } finally {
      await queue.close();
    }
  });
});
