/** Opens the store and the queue the settings name: the adapters every process shares. */
import type { Settings } from './config.js';
import type { Logger } from './log.js';
import type { Keyring } from './secrets/keyring.js';
import type { JobQueue } from './queue/queue.js';
import { openQueue } from './queue/factory.js';
import { openStore } from './store/factory.js';
import type { Store } from './store/store.js';

export interface Adapters {
  store: Store;
  queue: JobQueue;
  /** The keys secrets are sealed under: the API seals with it, runners open with it. */
  keyring: Keyring;
  close(): Promise<void>;
}

/** `keyring`: the process's, as it loaded it (common/secrets/keyring.ts loadKeyring). */
export async function openAdapters(settings: Settings, keyring: Keyring, log?: Logger): Promise<Adapters> {
  const store = await openStore(settings);
  try {
    const queue = await openQueue(settings, log?.child('queue'));
    return {
      store,
      queue,
      keyring,
      close: async () => {
        await queue.close();
        await store.close();
      },
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}
