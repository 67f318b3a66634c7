/**
 * Retention: a finished request (its payload, response and logs) is kept for
 * [database] request_retention_days, then deleted, so the requests table does not grow without
 * bound; a dead runner's heartbeat row is kept [runner] dead_runner_retention seconds past
 * [runner] dead_after (listed as `down` meanwhile), then deleted, so runner-list shows no runner
 * long gone. Every runner purges on a timer ([runner] purge_interval); two runners purging at once
 * is harmless (a row deleted by one is simply not there for the other). `pratai-manage purge`
 * runs the same purge once.
 *
 * Deleting a dead runner's row is safe: a runner treats a runner id the database does not know
 * as a dead one's when it reaps containers and channels (invariant 13), and a runner started
 * under that id later simply takes it.
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

/** Deletes the rows of runners without a heartbeat for `seconds` (`runnerForgetAfterSeconds`); returns the cutoff and how many went. */
export async function pruneDeadRunners(store: Store, seconds: number, now: Date = new Date()): Promise<{ cutoff: string; pruned: number }> {
  const cutoff = new Date(now.getTime() - seconds * 1000).toISOString();
  return { cutoff, pruned: await store.pruneHeartbeats(cutoff) };
}

export interface RetentionOptions {
  /** Days a finished request is kept; 0: forever. */
  retentionDays: number;
  /** Seconds without a heartbeat after which a runner's row is deleted; 0: never. */
  forgetRunnersAfterSeconds: number;
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

  /** Whether there is anything to purge with these options. */
  static needed(options: Omit<RetentionOptions, 'intervalMs'>): boolean {
    return options.retentionDays > 0 || options.forgetRunnersAfterSeconds > 0;
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
    const { retentionDays, forgetRunnersAfterSeconds } = this.options;
    if (retentionDays > 0) {
      try {
        const { cutoff, purged } = await purgeExpiredRequests(store, retentionDays);
        if (purged > 0) log.info(`purged ${purged} request(s) finished before ${cutoff} ([database] request_retention_days = ${retentionDays})`);
      } catch (error) {
        log.error(`purge of expired requests failed: ${(error as Error).message}`);
      }
    }
    if (forgetRunnersAfterSeconds > 0) {
      try {
        const { cutoff, pruned } = await pruneDeadRunners(store, forgetRunnersAfterSeconds);
        if (pruned > 0) log.info(`forgot ${pruned} runner(s) without a heartbeat since before ${cutoff} ([runner] dead_after + dead_runner_retention)`);
      } catch (error) {
        log.error(`purge of dead runners failed: ${(error as Error).message}`);
      }
    }
  }
}
