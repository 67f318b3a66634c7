/**
 * The all-in-one platform: API, webhooks and a runner in one process, sharing the embedded store
 * and queue. `pratai-server` runs it; tests start it in-process with their own settings.
 */
import { openAdapters } from '../common/adapters.js';
import type { Settings } from '../common/config.js';
import type { Logger } from '../common/log.js';
import { NoAuthAuthenticator } from '../api/auth.js';
import { startApi } from '../api/server.js';
import { createRunner } from '../runner/factory.js';
import type { Store } from '../common/store.js';

export interface Platform {
  readonly apiUrl: string;
  readonly webhookUrl: string;
  readonly store: Store;
  /** Graceful stop: no new HTTP requests, the runner finishes what it holds, then all closes. */
  stop(): Promise<void>;
}

export async function startPlatform(settings: Settings, log: Logger): Promise<Platform> {
  const adapters = await openAdapters(settings);
  const { store, queue } = adapters;
  const runner = createRunner(settings, { store, queue, log: log.child('runner') });
  try {
    await runner.start();
    const api = await startApi({ store, queue, auth: new NoAuthAuthenticator(), settings, log: log.child('api') });
    const host = settings.api.host === '0.0.0.0' || settings.api.host === '::' ? '127.0.0.1' : settings.api.host;
    return {
      apiUrl: `http://${host}:${api.apiPort}`,
      webhookUrl: `http://${host}:${api.webhookPort}`,
      store,
      stop: async () => {
        await api.close();
        await runner.stop();
        await adapters.close();
      },
    };
  } catch (error) {
    await runner.stop();
    await adapters.close();
    throw error;
  }
}
