/**
 * Retention: a finished request (its payload, response and logs) is kept for
 * [database] request_retention_days, then deleted, so the requests table does not grow without
 * bound. Every runner purges on a timer ([runner] purge_interval); two runners purging at once
 * is harmless (a row deleted by one is simply not there for the other). `pratai-manage purge`
 * runs the same purge once.
 */
import type { Logger } from '../common/log.js';
import type { Store } from '../common/store/store.js';
import { Periodic } from './periodic.js';

const DAY_MS = 86_400_000;

/** The ISO time before which a finished request has outlived `days` of retention. */
export const retentionCutoff = (days: number, now: Date = new Date()): string => new Date(now.getTime() - days * DAY_MS).toISOString();

/** Deletes the requests finished more than `days` ago; returns the cutoff and how many went. */
export async function purgeExpiredRequests(store: Store, days: number, now: Date = new Date()): Promise<{ cutoff: string; purged: number }> {
  const cutoff = retentionCutoff(days, now);
  return { cutoff, purged: await store.purgeFinishedRequests(cutoff) };
}

export interface RetentionOptions {
  /** Days a finished request is kept. */
  retentionDays: number;
  /** Time between purges; the first runs at start. */
  intervalMs: number;
}

export class RetentionPurger {
  private readonly periodic: Periodic<void>;

  constructor(
    private readonly deps: { store: Store; log: Logger },
    private readonly options: RetentionOptions,
  ) {
    this.periodic = new Periodic(() => this.purgeOnce(), options.intervalMs);
  }

  /** Purges now, then every interval. */
  start(): void {
    this.periodic.start({ immediately: true });
  }

  /** Stops the timer and waits for a purge under way. */
  stop(): Promise<void> {
    return this.periodic.stop();
  }

  /** One purge (joining one under way); failures are logged, and the next interval tries again. */
  purge(): Promise<void> {
    return this.periodic.run();
  }

  private async purgeOnce(): Promise<void> {
    const { store, log } = this.deps;
    try {
      const { cutoff, purged } = await purgeExpiredRequests(store, this.options.retentionDays);
      if (purged > 0) log.info(`purged ${purged} request(s) finished before ${cutoff} ([database] request_retention_days = ${this.options.retentionDays})`);
    } catch (error) {
      log.error(`purge of expired requests failed: ${(error as Error).message}`);
    }
  }
}
