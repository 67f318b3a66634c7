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
import { createRunner } from '../runner/factory.js';
import { RetentionPurger } from '../runner/retention.js';
import { Sweeper } from '../runner/sweeper.js';
import { runnerWorkflows } from '../runner/workflows.js';

export interface Role {
  /** Graceful: the API stops accepting and drains; a runner finishes what it holds. */
  stop(): Promise<void>;
}

export interface ApiRole extends Role {
  readonly apiUrl: string;
  readonly webhookUrl: string;
}

export async function startApiRole(settings: Settings, adapters: Adapters, log: Logger): Promise<ApiRole> {
  const { store, queue, notifier, keyring } = adapters;
  const api = await startApi({
    store,
    queue,
    notifier,
    keyring,
    auth: createAuthenticator(settings, log),
    policy: Policy.fromSettings(settings, log.child('policy')),
    settings,
    log,
  });
  // Where a local client reaches it: a wildcard listen address is not one.
  const host = settings.api.host === '0.0.0.0' || settings.api.host === '::' ? '127.0.0.1' : settings.api.host;
  return {
    apiUrl: `http://${host}:${api.apiPort}`,
    webhookUrl: `http://${host}:${api.webhookPort}`,
    stop: () => api.close(),
  };
}

export async function startRunnerRole(settings: Settings, adapters: Adapters, log: Logger): Promise<Role> {
  const { store, queue, notifier, keyring } = adapters;
  const workflows = runnerWorkflows(settings, { store, queue, notifier, keyring, log });
  const runner = createRunner(settings, { store, queue, notifier, log, ...(workflows && { services: workflows.services, afterOutcome: workflows.afterOutcome }) });
  const sweeper = new Sweeper(
    { store, queue, log: log.child('sweeper') },
    { requeueAfterMs: settings.runner.requeue_after * 1000, intervalMs: settings.runner.sweep_interval * 1000, batch: 1000 },
  );
  const { request_retention_days: retentionDays } = settings.database;
  const purger = retentionDays > 0 ? new RetentionPurger({ store, log: log.child('retention') }, { retentionDays, intervalMs: settings.runner.purge_interval * 1000 }) : undefined;
  await runner.start();
  sweeper.start();
  purger?.start();
  workflows?.start();
  return {
    stop: async () => {
      await workflows?.stop();
      await purger?.stop();
      await sweeper.stop();
      await runner.stop();
    },
  };
}
