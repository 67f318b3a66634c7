/**
 * The all-in-one platform: API, webhooks and a runner in one process, sharing the embedded store
 * and queue. `pratai-server` runs it; tests start it in-process with their own settings.
 */
import { openAdapters } from '../common/adapters.js';
import type { Settings } from '../common/config.js';
import type { Logger } from '../common/log.js';
import { loadKeyring, type Keyring } from '../common/secrets/keyring.js';
import type { Store } from '../common/store/store.js';
import { startApiRole, startRunnerRole, type Role } from './roles.js';

export interface Platform {
  readonly apiUrl: string;
  readonly webhookUrl: string;
  readonly store: Store;
  readonly keyring: Keyring;
  /** Graceful stop: no new HTTP requests, the runner finishes what it holds, then all closes. */
  stop(): Promise<void>;
}

export async function startPlatform(settings: Settings, log: Logger): Promise<Platform> {
  // One process on one machine: without configured keys, it keeps its own under state_path.
  const keyring = loadKeyring(settings, { process: 'pratai-server', generate: true, log });
  const adapters = await openAdapters(settings, log, { keyring, listen: true });
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
    return { apiUrl: api.apiUrl, webhookUrl: api.webhookUrl, store: adapters.store, keyring, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
