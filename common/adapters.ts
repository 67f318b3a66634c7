/** Opens the store and the queue the settings name: the adapters every process shares. */
import type { Settings } from './config.js';
import type { Logger } from './log.js';
import type { JobQueue } from './queue/queue.js';
import { openQueue } from './queue/factory.js';
import { openStore } from './store/factory.js';
import type { Store } from './store/store.js';

export interface Adapters {
  store: Store;
  queue: JobQueue;
  close(): Promise<void>;
}

export async function openAdapters(settings: Settings, log?: Logger): Promise<Adapters> {
  const store = await openStore(settings);
  try {
    const queue = await openQueue(settings, log?.child('queue'));
    return {
      store,
      queue,
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
