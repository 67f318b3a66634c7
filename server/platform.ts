/**
 * The all-in-one platform: API, webhooks and a runner in one process, sharing the embedded store
 * and queue. `pratai-server` runs it; tests start it in-process with their own settings.
 */
import { openAdapters } from '../common/adapters.js';
import type { Settings } from '../common/config.js';
import type { Logger } from '../common/log.js';
import type { Store } from '../common/store/store.js';
import { startApiRole, startRunnerRole, type Role } from './roles.js';

export interface Platform {
  readonly apiUrl: string;
  readonly webhookUrl: string;
  readonly store: Store;
  /** Graceful stop: no new HTTP requests, the runner finishes what it holds, then all closes. */
  stop(): Promise<void>;
}

export async function startPlatform(settings: Settings, log: Logger): Promise<Platform> {
  const adapters = await openAdapters(settings, log, { listen: true });
  const started: Role[] = [];
  const stopAll = async (): Promise<void> => {
    // The API first, so nothing new arrives while the runner finishes what it holds.
    for (const role of started.reverse()) await role.stop();
    await adapters.close();
  };
  try {
    started.push(await startRunnerRole(settings, adapters, log.child('runner')));
    const api = await startApiRole(settings, adapters, log.child('api'));
    started.push(api);
    return { apiUrl: api.apiUrl, webhookUrl: api.webhookUrl, store: adapters.store, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
