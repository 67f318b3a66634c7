/**
 * The two roles a Pratai process can play, over adapters it was given: serving the API and the
 * webhooks, and running jobs. `pratai-server` plays both; `pratai-api` and `pratai-runner` one each.
 */
import { createAuthenticator } from '../api/auth-factory.js';
import { Policy } from '../api/policy.js';
import { startApi } from '../api/server.js';
import type { Adapters } from '../common/adapters.js';
import type { Settings } from '../common/config.js';
import type { Logger } from '../common/log.js';
import { TimerScheduler } from '../common/timers/scheduler.js';
import { createRunner } from '../runner/factory.js';
import { RetentionPurger } from '../runner/retention.js';
import { Sweeper } from '../runner/sweeper.js';

export interface Role {
  /** Graceful: the API stops accepting and drains; a runner finishes what it holds. */
  stop(): Promise<void>;
}

export interface ApiRole extends Role {
  readonly apiUrl: string;
  readonly webhookUrl: string;
}

/** Each process's one scheduler, shared by its roles (pratai-server plays both), stopped with the last. */
const schedulers = new WeakMap<Adapters, { scheduler: TimerScheduler; users: number }>();

/** The process's timer scheduler, started with its first role ([scheduler] enabled). */
function joinScheduler(settings: Settings, adapters: Adapters, log: Logger): { scheduler?: TimerScheduler; leave(): Promise<void> } {
  if (!settings.scheduler.enabled) return { leave: async () => undefined };
  let shared = schedulers.get(adapters);
  if (shared === undefined) {
    const { store, queue, notifier } = adapters;
    const scheduler = new TimerScheduler({ store, queue, notifier, log: log.child('timers') }, { pollIntervalMs: settings.scheduler.poll_interval_ms, batch: settings.scheduler.batch });
    scheduler.start();
    shared = { scheduler, users: 0 };
    schedulers.set(adapters, shared);
  }
  shared.users += 1;
  const joined = shared;
  return {
    scheduler: joined.scheduler,
    leave: async () => {
      joined.users -= 1;
      if (joined.users > 0) return;
      schedulers.delete(adapters);
      await joined.scheduler.stop();
    },
  };
}

export async function startApiRole(settings: Settings, adapters: Adapters, log: Logger): Promise<ApiRole> {
  const { store, queue, notifier, keyring } = adapters;
  const timers = joinScheduler(settings, adapters, log);
  const api = await startApi({
    store,
    queue,
    notifier,
    keyring,
    auth: createAuthenticator(settings, log),
    policy: Policy.fromSettings(settings, log.child('policy')),
    settings,
    log,
    ...(timers.scheduler && { timersChanged: () => timers.scheduler?.wake() }),
  }).catch(async (error: unknown) => {
    await timers.leave();
    throw error;
  });
  // Where a local client reaches it: a wildcard listen address is not one.
  const host = settings.api.host === '0.0.0.0' || settings.api.host === '::' ? '127.0.0.1' : settings.api.host;
  return {
    apiUrl: `http://${host}:${api.apiPort}`,
    webhookUrl: `http://${host}:${api.webhookPort}`,
    stop: async () => {
      await api.close();
      await timers.leave();
    },
  };
}

export async function startRunnerRole(settings: Settings, adapters: Adapters, log: Logger): Promise<Role> {
  const { store, queue, notifier } = adapters;
  const runner = createRunner(settings, { store, queue, notifier, log });
  const sweeper = new Sweeper(
    { store, queue, log: log.child('sweeper') },
    { requeueAfterMs: settings.runner.requeue_after * 1000, intervalMs: settings.runner.sweep_interval * 1000, batch: 1000 },
  );
  const { request_retention_days: retentionDays } = settings.database;
  const purger = retentionDays > 0 ? new RetentionPurger({ store, log: log.child('retention') }, { retentionDays, intervalMs: settings.runner.purge_interval * 1000 }) : undefined;
  await runner.start();
  sweeper.start();
  purger?.start();
  const timers = joinScheduler(settings, adapters, log);
  return {
    stop: async () => {
      await timers.leave();
      await purger?.stop();
      await sweeper.stop();
      await runner.stop();
    },
  };
}
