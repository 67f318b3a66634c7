/**
 * The sweeper: finds requests that have waited in `queued` longer than any queue should keep them
 * (the API process died between storing a request and publishing its job, or a job was lost) and
 * publishes their run jobs again, each with a new `job_id`. A duplicate job is harmless: the first
 * job to start the request holds it, and any other finds it running under another job, or final,
 * and is acked without running it. The wait is measured from when the request was last queued
 * (created, retried or redriven); a request waiting for one of its function's slots stays queued
 * and may get a duplicate job after requeue_after, harmless the same way.
 */
import { runJob } from '../common/domain.js';
import { newId } from '../common/ids.js';
import type { Logger } from '../common/log.js';
import type { JobQueue } from '../common/queue/queue.js';
import type { Store } from '../common/store/store.js';
import { Periodic } from './periodic.js';

export interface SweeperOptions {
  /** A request queued longer than this is taken for lost. */
  requeueAfterMs: number;
  /** Time between sweeps. */
  intervalMs: number;
  /** Most requests published again in one sweep. */
  batch: number;
}

export class Sweeper {
  private readonly periodic: Periodic<number>;
  /** When this runner last published each request again: once per requeue_after is enough. */
  private readonly republished = new Map<string, number>();

  constructor(
    private readonly deps: { store: Store; queue: JobQueue; log: Logger },
    private readonly options: SweeperOptions,
  ) {
    this.periodic = new Periodic(() => this.republishStale(), options.intervalMs);
  }

  start(): void {
    this.periodic.start();
  }

  stop(): Promise<void> {
    return this.periodic.stop();
  }

  /** One sweep; returns how many jobs it published again. */
  sweep(): Promise<number> {
    return this.periodic.run();
  }

  private async republishStale(): Promise<number> {
    const { store, queue, log } = this.deps;
    try {
      const cutoff = new Date(Date.now() - this.options.requeueAfterMs).toISOString();
      const now = Date.now();
      for (const [requestId, at] of this.republished) if (at < now - this.options.requeueAfterMs) this.republished.delete(requestId);
      const queued = await store.listRequests('all-tenants', { status: 'queued', queuedBefore: cutoff, limit: this.options.batch });
      const stale = queued.filter((request) => !this.republished.has(request.request_id));
      for (const request of stale) {
        await queue.publish(runJob(request, newId()));
        this.republished.set(request.request_id, now);
      }
      if (stale.length > 0) log.warning(`published the jobs of ${stale.length} request(s) queued since before ${cutoff} again`);
      return stale.length;
    } catch (error) {
      log.error(`sweep failed: ${(error as Error).message}`);
      return 0;
    }
  }
}
