/** Opens the store, the queue and the notifier the settings name: the adapters every process shares. */
import type { Settings } from './config.js';
import type { Logger } from './log.js';
import { openNotifier } from './notifications/factory.js';
import type { Notifier } from './notifications/notifier.js';
import type { JobQueue } from './queue/queue.js';
import { openQueue } from './queue/factory.js';
import { openStore } from './store/factory.js';
import type { Store } from './store/store.js';

export interface Adapters {
  store: Store;
  queue: JobQueue;
  notifier: Notifier;
  close(): Promise<void>;
}

export interface AdapterOptions {
  /** Whether this process has subscribers to notifications (it serves the API); a runner only publishes them. */
  listen: boolean;
}

export async function openAdapters(settings: Settings, log: Logger | undefined, options: AdapterOptions): Promise<Adapters> {
  const opened: { close(): Promise<void> }[] = [];
  const closeAll = async (): Promise<void> => {
    for (const adapter of opened.reverse()) await adapter.close();
  };
  try {
    const store = await openStore(settings);
    opened.push(store);
    const queue = await openQueue(settings, log?.child('queue'));
    opened.push(queue);
    const notifier = await openNotifier(settings, { listen: options.listen, log: log?.child('notifications') });
    opened.push(notifier);
    return { store, queue, notifier, close: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
