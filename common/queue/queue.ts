import type { Job } from '../domain.js';

/** One job handed to a consumer. Exactly one of ack/retry/deadLetter must be called. */
export interface Delivery {
  readonly job: Job;
  /** 1 on the first delivery, more when the job came back (a consumer died or asked to retry). */
  readonly deliveryCount: number;
  /** The job is done (its outcome is stored): remove it from the queue. */
  ack(): Promise<void>;
  /** Put the job back to be delivered again, not before `delayMs` (default 0). */
  retry(delayMs?: number): Promise<void>;
  /**
   * The job was given up (its request exhausted its retries or expired): it is never delivered
   * again. A broker keeps it in a dead-letter queue for operators; the embedded queue drops it
   * (the store marks the request dead-lettered either way).
   */
  deadLetter(): Promise<void>;
  /**
   * Aborted when this consumer can no longer settle the job: its connection to the broker was
   * lost, and the broker gives the job to a consumer again. What runs for it should stop: its
   * outcome could not be acked, and the job runs again. Never aborted by the embedded queue.
   */
  readonly lost?: AbortSignal;
}

export type JobHandler = (delivery: Delivery) => Promise<void>;

export interface Consumer {
  /** Stops taking new jobs, waits for the handlers under way, and returns. Jobs not acked stay queued. */
  stop(): Promise<void>;
}

/**
 * The queue port: carries jobs from the API to runners, durably.
 * Adapters: EmbeddedJobQueue (SQLite file, one process) and AmqpJobQueue (RabbitMQ).
 * test/queue-contract.ts holds every adapter to the same behaviour.
 */
export interface JobQueue {
  /** Resolves only once the job is stored durably (committed to disk, or confirmed by the broker). */
  publish(job: Job): Promise<void>;
  /**
   * Delivers jobs to `handler`, at most `prefetch` unacknowledged at once. A job whose handler
   * throws is delivered again after a short delay. Jobs delivered but neither acked nor retried
   * when the process dies are delivered again after a restart.
   */
  consume(handler: JobHandler, options: { prefetch: number }): Consumer;
  /** Throws a ServiceUnavailable PrataiError when the queue cannot be used. */
  ping(): Promise<void>;
  /** Jobs waiting or delivered but not yet acked. */
  depth(): Promise<number>;
  close(): Promise<void>;
}
