/** Opens the store and the queue the settings name: the adapters every process shares. */
import { join } from 'node:path';
import { databaseUrl, type Settings } from './config.js';
import { EmbeddedJobQueue } from './embedded-job-queue.js';
import type { JobQueue } from './queue.js';
import { SqlStore } from './sql-store.js';
import type { Store } from './store.js';

export interface Adapters {
  store: Store;
  queue: JobQueue;
  close(): Promise<void>;
}

export async function openAdapters(settings: Settings): Promise<Adapters> {
  const store = SqlStore.open(databaseUrl(settings));
  try {
    await store.migrate();
    const queue = EmbeddedJobQueue.open(join(settings.DEFAULT.state_path, 'queue.db'));
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
