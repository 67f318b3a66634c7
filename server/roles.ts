/**
 * The two roles a Pratai process can play, over adapters it was given: serving the API and the
 * webhooks, and running jobs. `pratai-server` plays both; `pratai-api` and `pratai-runner` one each.
 */
import { createAuthenticator } from '../api/auth-factory.js';
import { Policy } from '../api/policy.js';
import { startApi } from '../api/server.js';
import type { Adapters } from '../common/adapters.js';
import { runnerForgetAfterSeconds, type Settings } from '../common/config.js';
import { FunctionTrusts } from '../common/keystone/trusts.js';
import { createCoordination } from '../common/coordination/factory.js';
import type { Logger } from '../common/log.js';
import { TimerScheduler } from '../common/timers/scheduler.js';
import { CoordinationService } from '../runner/coordination-service.js';
import { createRunner } from '../runner/factory.js';
import { serveMetrics } from './metrics-server.js';
import type { FunctionService } from '../runner/function-services.js';
import { RetentionPurger } from '../runner/retention.js';
import { Sweeper } from '../runner/sweeper.js';
import { runnerWorkflows } from '../runner/workflows.js';

/** Whether functions may have an OpenStack identity here: Keystone is the auth strategy. */
const withKeystone = (settings: Settings): boolean => settings.DEFAULT.auth_strategy === 'keystone';

/**
 * A runner's way to functions' OpenStack tokens. A runner that cannot make one (no
 * [keystone_authtoken] here) still starts: only the requests of functions with an identity fail.
 */
function runnerTrusts(settings: Settings, log: Logger): FunctionTrusts | undefined {
  try {
    return new FunctionTrusts(settings.keystone_authtoken);
  } catch (error) {
    log.warning(`functions with an OpenStack identity cannot run here (TrustInvalid): ${(error as Error).message}`);
    return undefined;
  }
}

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
    const { store, queue, notifier, metrics } = adapters;
    const scheduler = new TimerScheduler({ store, queue, notifier, metrics, log: log.child('timers') }, { pollIntervalMs: settings.scheduler.poll_interval_ms, batch: settings.scheduler.batch });
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
  const { store, queue, notifier, keyring, metrics } = adapters;
  const coordination = createCoordination(settings, { store, queue, notifier, metrics, log: log.child('coordination') });
  coordination?.start();
  const timers = joinScheduler(settings, adapters, log);
  const api = await startApi({
    store,
    queue,
    notifier,
    keyring,
    metrics,
    auth: createAuthenticator(settings, log),
    policy: Policy.fromSettings(settings, log.child('policy')),
    settings,
    log,
    ...(withKeystone(settings) && { trusts: new FunctionTrusts(settings.keystone_authtoken) }),
    ...(coordination && { coordination }),
    ...(timers.scheduler && { timersChanged: () => timers.scheduler?.wake() }),
  }).catch(async (error: unknown) => {
    await timers.leave();
    await coordination?.stop();
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
      await coordination?.stop();
    },
  };
}

export interface RunnerRoleOptions {
  /** Serve GET /metrics on `[runner] metrics_port` (pratai-runner); the all-in-one serves them on the API port. */
  serveMetrics?: boolean;
}

export async function startRunnerRole(settings: Settings, adapters: Adapters, log: Logger, options: RunnerRoleOptions = {}): Promise<Role> {
  const { store, queue, notifier, metrics, keyring } = adapters;
  const identities = withKeystone(settings) ? runnerTrusts(settings, log) : undefined;
  const coordination = createCoordination(settings, { store, queue, notifier, metrics, log: log.child('coordination') });
  const coordinationService = coordination && new CoordinationService({ coordination, log: log.child('coordination') }, { sessionTimeoutMs: settings.coordination.session_timeout_ms });
  const workflows = runnerWorkflows(settings, { store, queue, notifier, keyring, log });
  const services = new Map<string, FunctionService>([...(coordinationService ? [['coordination', coordinationService] as const] : []), ...(workflows?.services ?? [])]);
  const runner = createRunner(settings, { store, queue, notifier, metrics, log, keyring, services, ...(identities && { identities }), ...(workflows && { afterOutcome: workflows.afterOutcome }) });
  const sweeper = new Sweeper(
    { store, queue, log: log.child('sweeper') },
    { requeueAfterMs: settings.runner.requeue_after * 1000, intervalMs: settings.runner.sweep_interval * 1000, batch: 1000 },
  );
  const retention = { retentionDays: settings.database.request_retention_days, forgetRunnersAfterSeconds: runnerForgetAfterSeconds(settings) };
  const purger = RetentionPurger.needed(retention) ? new RetentionPurger({ store, log: log.child('retention') }, { ...retention, intervalMs: settings.runner.purge_interval * 1000 }) : undefined;
  await runner.start();
  const { metrics_port: metricsPort } = settings.runner;
  const metricsServer = options.serveMetrics && metricsPort > 0 ? await serveMetrics(adapters.metrics, settings.api.host, metricsPort, log).catch(async (error: unknown) => {
    await runner.stop();
    throw error;
  }) : undefined;
  if (metricsServer !== undefined) log.info(`metrics on ${settings.api.host}:${metricsServer.port}/metrics`);
  sweeper.start();
  coordination?.start();
  purger?.start();
  workflows?.start();
  const timers = joinScheduler(settings, adapters, log);
  return {
    stop: async () => {
      await timers.leave();
      await metricsServer?.close();
      await workflows?.stop();
      await purger?.stop();
      await sweeper.stop();
      await runner.stop();
      coordinationService?.stop();
      await coordination?.stop();
    },
  };
}
